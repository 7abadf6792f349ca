"""Layers that move data without arithmetic: zero padding, constant padding of any axes,
and channel shuffle."""
from __future__ import annotations

from cnncost.errors import ShapeError, SpecError
from cnncost.layers.base import (Arg, Kind, NoMults, OutputSized, PointWise, SavesNothing, register,
                                 require_rank, same_map_in_groups)


@register
class ZeroPad(SavesNothing, NoMults, OutputSized, Kind):
    name, family = "zero_pad", "reshape"
    doc = "pad H and W with zeros: p | [ph, pw] | [top, bottom, left, right]"
    args = {"padding": Arg("padding")}

    def validate(self, a):
        if a.padding == "same":
            raise SpecError("Invalid value for argument `padding`. Expected explicit padding. "
                            "Received padding='same'.")

    def output_shape(self, a, ins):
        require_rank(ins[0], (3,))
        t, b, l, r = a.padding
        h, w, c = ins[0]
        return (h + t + b, w + l + r, c)

    def window(self, a, ins):
        return (1, 1), (1, 1), (1, 1), (a.padding[0], a.padding[2])

    def forward(self, a, w, xs, ops):
        t, b, l, r = a.padding
        return ops.np.pad(xs[0], ((0, 0), (t, b), (l, r), (0, 0)))

    def onnx(self, a, ins, out, b):
        t, bo, l, r = a.padding
        return b.op("Pad", [b.inputs[0], b.const([0, 0, t, l, 0, 0, bo, r])])


@register
class Pad(SavesNothing, NoMults, OutputSized, Kind):
    """ONNX's Pad in constant mode on any tensor: one (before, after) pair per axis of an
    example, filled with `value` (EfficientViT's linear attention pads its values with a
    row of ones; a map's channels may be padded too)."""

    name, family = "pad", "reshape"
    doc = ("pad every axis of an example with `value` (default 0): `padding` lists a (before, after) pair per "
           "axis, batch excluded: a map's [top, bottom, left, right, channels before, channels after]")
    args = {"padding": Arg("ints", minimum=0, doc="before, after for each axis of an example, in order"),
            "value": Arg("float", 0.0, doc="the constant padded in")}
    onnx_layout = "any"

    def pairs(self, a, shape) -> list[tuple[int, int]]:
        if len(a.padding) != 2 * len(shape):
            raise ShapeError(f"padding has {len(a.padding)} values; an input of rank {len(shape)} takes "
                             f"{2 * len(shape)} (before and after for each axis)")
        return [(a.padding[2 * k], a.padding[2 * k + 1]) for k in range(len(shape))]

    def output_shape(self, a, ins):
        return tuple(d + lo + hi for d, (lo, hi) in zip(ins[0], self.pairs(a, ins[0])))

    def window(self, a, ins):
        if len(ins[0]) != 3 or any(self.pairs(a, ins[0])[2]):
            return "n/a"
        (t, _), (l, _), _ = self.pairs(a, ins[0])
        return (1, 1), (1, 1), (1, 1), (t, l)

    def forward(self, a, w, xs, ops):
        x = xs[0]
        return ops.np.pad(x, [(0, 0), *self.pairs(a, x.shape[1:])], constant_values=x.dtype.type(a.value))

    def onnx(self, a, ins, out, b):
        rank = len(ins[0])
        pads = [0] * (2 * (rank + 1))
        for k, (lo, hi) in enumerate(self.pairs(a, ins[0])):
            axis = b.axis(k, rank)
            pads[axis], pads[rank + 1 + axis] = lo, hi
        return b.op("Pad", [b.inputs[0], b.const(pads), b.const(float(a.value), "float32")])


@register
class ChannelShuffle(SavesNothing, PointWise, NoMults, OutputSized, Kind):
    name, family = "channel_shuffle", "reshape"
    doc = "ShuffleNet channel shuffle: (groups, C/groups) -> (C/groups, groups)"
    args = {"groups": Arg("int")}

    def output_shape(self, a, ins):
        return same_map_in_groups(a.groups, ins)

    def forward(self, a, w, xs, ops):
        x = xs[0]
        n, h, wd, c = x.shape
        return x.reshape(n, h, wd, a.groups, c // a.groups).transpose(0, 1, 2, 4, 3).reshape(x.shape)

    def onnx(self, a, ins, out, b):
        h, w, c = ins[0]
        y = b.op("Reshape", [b.inputs[0], b.const([0, a.groups, c // a.groups, h, w])])
        y = b.op("Transpose", [y], perm=[0, 2, 1, 3, 4])
        return b.op("Reshape", [y, b.const([0, c, h, w])])
