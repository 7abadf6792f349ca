"""Taking part of a map: `crop` (centre crop to a size or to a second input's size, as the
original U-Net crops its skip connections) and `slice` (a range of channels: a split into
parts is one slice per part, each an input of later layers, as CSP, C2f and GhostNet
blocks use them). Data moves only."""
from __future__ import annotations

from cnncost.errors import ShapeError, SpecError
from cnncost.layers.base import (Arg, Kind, NoMults, OutputSized, PointWise, SavesNothing, example_axes,
                                 register, require_rank)


@register
class Crop(SavesNothing, NoMults, OutputSized, Kind):
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
class Slice(SavesNothing, PointWise, NoMults, OutputSized, Kind):
    name, family = "slice", "reshape"
    doc = ("positions start..stop-1 (every step-th) along `axis`, the channels by default (a split is one slice "
           "per part); a negative step runs backwards, start down to stop+1 (stop -1: to position 0), as "
           "Python's range(start, stop, step): start: 2, stop: -1, step: -1 reverses 3 colour channels")
    args = {"start": Arg("int", 0, minimum=0), "stop": Arg("int", minimum=-1, doc="one past the last position"),
            "axis": Arg("int", -1, minimum=None, doc="batch counted as 0; -1: the last (channels)"),
            "step": Arg("int", 1, minimum=None, doc="every step-th position; negative: backwards")}
    onnx_layout = "any"

    def window(self, a, ins):
        return None if len(ins[0]) != 3 or example_axes([a.axis], 3)[0] == 2 else "n/a"

    def validate(self, a):
        if a.step == 0:
            raise SpecError("Invalid value for argument `step`. Expected a non-zero integer. Received step=0.")
        if a.step > 0 and a.stop <= a.start:
            raise SpecError(f"Invalid value for argument `stop`. Expected more than start ({a.start}). "
                            f"Received stop={a.stop}.")
        if a.step < 0 and a.stop >= a.start:
            raise SpecError(f"Invalid value for argument `stop`. Expected less than start ({a.start}) with a "
                            f"negative step ({a.step}). Received stop={a.stop}.")
        if a.step > 0 and a.stop < 0:
            raise SpecError(f"Invalid value for argument `stop`. Expected a position (0 or more). Received stop={a.stop}.")

    def output_shape(self, a, ins):
        (axis,) = example_axes([a.axis], len(ins[0]))
        c = ins[0][axis]
        if max(a.start, a.stop) + (a.step < 0) > c:
            what = ("channels", "channels") if axis == len(ins[0]) - 1 else (f"positions of axis {a.axis}", "positions")
            span = f"{a.start}..{a.stop - 1}" if a.step > 0 else f"{a.start} down to {a.stop + 1}"
            raise ShapeError(f"{what[0]} {span} do not fit in {c} {what[1]}")
        shape = list(ins[0])
        shape[axis] = len(range(a.start, a.stop, a.step))
        return tuple(shape)

    def forward(self, a, w, xs, ops):
        axis = example_axes([a.axis], xs[0].ndim - 1)[0] + 1
        index = [slice(None)] * xs[0].ndim
        index[axis] = slice(a.start, None if a.stop < 0 else a.stop, a.step)
        return xs[0][tuple(index)].copy()

    def onnx(self, a, ins, out, b):
        rank = len(ins[0])
        (ours,) = example_axes([a.axis], rank)
        axis = b.axis(ours, rank)
        # ONNX adds the size to a negative end: -(size + 1) is -1 there, past position 0
        stop = a.stop if a.stop >= 0 else -(ins[0][ours] + 1)
        return b.op("Slice", [b.inputs[0], b.const([a.start]), b.const([stop]), b.const([axis]),
                              b.const([a.step])])
