"""Taking part of a map: `crop` (centre crop to a size or to a second input's size, as the
original U-Net crops its skip connections) and `slice` (a range of channels: a split into
parts is one slice per part, each an input of later layers, as CSP, C2f and GhostNet
blocks use them). Data moves only."""
from __future__ import annotations

from cnncost.errors import ShapeError, SpecError
from cnncost.layers.base import Arg, Kind, NoMults, OutputSized, PointWise, register, require_rank


@register
class Crop(NoMults, OutputSized, Kind):
    name, family = "crop", "reshape"
    doc = "centre crop to `size` or to a second input's H x W (offsets floor((in - out) / 2))"
    arity = (1, 2)
    args = {"size": Arg("pair", None, doc="[h, w] to keep")}

    def target(self, a, ins):
        if (a.size is None) == (len(ins) == 1):
            raise ShapeError("crop needs exactly one of `size` or a second input to match")
        if a.size is not None:
            return a.size
        require_rank(ins[1], (3,), "second input")
        return ins[1][:2]

    def offsets(self, a, ins):
        (h, w, _), (th, tw) = ins[0], self.target(a, ins)
        if th > h or tw > w:
            raise ShapeError(f"cannot crop {h}x{w} to a larger {th}x{tw}")
        return (h - th) // 2, (w - tw) // 2, th, tw

    def output_shape(self, a, ins):
        require_rank(ins[0], (3,))
        _, _, th, tw = self.offsets(a, ins)
        return (th, tw, ins[0][2])

    def window(self, a, ins):
        top, left, _, _ = self.offsets(a, ins)
        return (1, 1), (1, 1), (1, 1), (-top, -left)      # the first unit sits top, left in

    def forward(self, a, w, xs, ops):
        top, left, th, tw = self.offsets(a, [tuple(x.shape[1:]) for x in xs])
        return xs[0][:, top: top + th, left: left + tw].copy()

    def onnx(self, a, ins, out, b):
        top, left, th, tw = self.offsets(a, ins)
        return b.op("Slice", [b.inputs[0], b.const([top, left]), b.const([top + th, left + tw]), b.const([2, 3])])


@register
class Slice(PointWise, NoMults, OutputSized, Kind):
    name, family = "slice", "reshape"
    doc = "channels start..stop-1 (a split is one slice per part)"
    args = {"start": Arg("int", 0, minimum=0), "stop": Arg("int", doc="one past the last channel")}

    def validate(self, a):
        if a.stop <= a.start:
            raise SpecError(f"Invalid value for argument `stop`. Expected more than start ({a.start}). "
                            f"Received stop={a.stop}.")

    def output_shape(self, a, ins):
        c = ins[0][-1]
        if a.stop > c:
            raise ShapeError(f"channels {a.start}..{a.stop - 1} do not fit in {c} channels")
        return tuple(ins[0][:-1]) + (a.stop - a.start,)

    def forward(self, a, w, xs, ops):
        return xs[0][..., a.start: a.stop].copy()

    def onnx(self, a, ins, out, b):
        return b.op("Slice", [b.inputs[0], b.const([a.start]), b.const([a.stop]), b.const([1])])
