"""Taking part of a map: `crop` (centre crop to a size or to a second input's size, as the
original U-Net crops its skip connections) and `slice` (a range of channels: a split into
parts is one slice per part, each an input of later layers, as CSP, C2f and GhostNet
blocks use them). Data moves only."""
from __future__ import annotations

from cnncost.errors import ShapeError, SpecError
from cnncost.layers import geometry
from cnncost.layers.base import (Arg, Kind, NoMults, OutputSized, PointWise, SavesNothing, example_axes,
                                 register, require_rank)


@register
class Crop(SavesNothing, NoMults, OutputSized, Kind):
    name, family = "crop", "reshape"
    doc = ("centre crop of a 1-D, 2-D or 3-D map to `size` or to a second input's spatial sizes (offsets "
           "floor((in - out) / 2))")
    arity = (1, 2)
    args = {"size": Arg("axes", None, doc="the sizes to keep: one per spatial axis ([h, w] of an image)")}

    def target(self, a, ins) -> tuple:
        if (a.size is None) == (len(ins) == 1):
            raise ShapeError("crop needs exactly one of `size` or a second input to match")
        d = len(ins[0]) - 1
        if a.size is not None:
            return geometry.per_axis("size", a.size, d)
        require_rank(ins[1], (len(ins[0]),), "second input")
        return tuple(ins[1][:-1])

    def offsets(self, a, ins) -> list[tuple[int, int]]:
        """(first kept position, kept size) per spatial axis."""
        require_rank(ins[0], (2, 3, 4))
        sizes, target = ins[0][:-1], self.target(a, ins)
        if any(t > n for t, n in zip(target, sizes)):
            raise ShapeError(f"cannot crop {'x'.join(map(str, sizes))} to a larger {'x'.join(map(str, target))}")
        return [((n - t) // 2, t) for n, t in zip(sizes, target)]

    def output_shape(self, a, ins):
        return (*(t for _, t in self.offsets(a, ins)), ins[0][-1])

    def window(self, a, ins):
        d = len(ins[0]) - 1      # the first unit sits `first` in along each axis
        return (1,) * d, (1,) * d, (1,) * d, tuple(-first for first, _ in self.offsets(a, ins))

    def forward(self, a, w, xs, ops):
        kept = self.offsets(a, [tuple(x.shape[1:]) for x in xs])
        return xs[0][(slice(None), *(slice(first, first + t) for first, t in kept))].copy()

    def onnx(self, a, ins, out, b):
        kept = self.offsets(a, ins)
        d = len(kept)
        axes = [2, 3] if d == 2 else list(range(1, d + 1))     # an image is NCHW there; others channels last
        return b.op("Slice", [b.inputs[0], b.const([f for f, _ in kept]), b.const([f + t for f, t in kept]),
                              b.const(axes)])


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
        # len(range(start, stop, step)) in integer arithmetic (a size may be an expression: formula/)
        span, step = (a.stop - a.start, a.step) if a.step > 0 else (a.start - a.stop, -a.step)
        shape[axis] = max(0, (span + step - 1) // step)
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
