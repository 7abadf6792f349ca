"""Layers that move data without arithmetic: zero padding of a map's spatial axes, padding
of any axes (a constant, the mirror image or the edge repeated), and channel shuffle."""
from __future__ import annotations

from cnncost.errors import ShapeError, SpecError
from cnncost.layers import geometry
from cnncost.layers.base import (Arg, Kind, NoMults, OutputSized, PointWise, SavesNothing, register,
                                 require_rank, same_map_in_groups)


@register
class ZeroPad(SavesNothing, NoMults, OutputSized, Kind):
    name, family = "zero_pad", "reshape"
    doc = ("pad the spatial axes of a 1-D, 2-D or 3-D map with zeros: p | one per axis | one per side "
           "([before, after]; [top, bottom, left, right]; six for a volume)")
    args = {"padding": Arg("padding_nd")}

    def validate(self, a):
        if a.padding == "same":
            raise SpecError("Invalid value for argument `padding`. Expected explicit padding. "
                            "Received padding='same'.")

    def pairs(self, a, shape) -> list[tuple[int, int]]:
        require_rank(shape, (2, 3, 4))
        pads = geometry.sides(a.padding, len(shape) - 1)
        return [(pads[2 * i], pads[2 * i + 1]) for i in range(len(shape) - 1)]

    def output_shape(self, a, ins):
        return (*(n + lo + hi for n, (lo, hi) in zip(ins[0], self.pairs(a, ins[0]))), ins[0][-1])

    def window(self, a, ins):
        d = len(ins[0]) - 1
        return (1,) * d, (1,) * d, (1,) * d, tuple(lo for lo, _ in self.pairs(a, ins[0]))

    def forward(self, a, w, xs, ops):
        return ops.np.pad(xs[0], [(0, 0), *self.pairs(a, xs[0].shape[1:]), (0, 0)])

    def onnx(self, a, ins, out, b):
        pairs = self.pairs(a, ins[0])
        x = b.inputs[0] if len(pairs) == 2 else b.channels_first(b.inputs[0], len(pairs))
        lo, hi = [lo for lo, _ in pairs], [hi for _, hi in pairs]
        y = b.op("Pad", [x, b.const([0, 0, *lo, 0, 0, *hi])])
        return y if len(pairs) == 2 else b.channels_last(y, len(pairs))


@register
class Pad(SavesNothing, NoMults, OutputSized, Kind):
    """ONNX's Pad on any tensor: one (before, after) pair per axis of an example, filled
    with `value` (mode constant: EfficientViT's linear attention pads its values with a row
    of ones; a map's channels may be padded too), with the mirror image without the edge
    (reflect: PyTorch's ReflectionPad, TensorFlow's REFLECT) or with the edge repeated
    (edge: PyTorch's ReplicationPad, NumPy's edge). A reflection needs each pad smaller than
    its axis, as PyTorch and onnxruntime require."""

    name, family = "pad", "reshape"
    doc = ("pad every axis of an example with `value` (default 0): `padding` lists a (before, after) pair per "
           "axis, batch excluded: a map's [top, bottom, left, right, channels before, channels after]")
    args = {"padding": Arg("ints", minimum=0, doc="before, after for each axis of an example, in order"),
            "value": Arg("float", 0.0, doc="the constant padded in (mode constant)"),
            "mode": Arg("choice", "constant", choices=("constant", "reflect", "edge"),
                        doc="constant | reflect (mirror, edge excluded) | edge (the edge repeated)")}
    onnx_layout = "any"

    def validate(self, a):
        if a.mode != "constant" and a.value:
            raise SpecError(f"Invalid argument `value`: mode {a.mode} pads no constant.")

    def pairs(self, a, shape) -> list[tuple[int, int]]:
        if len(a.padding) != 2 * len(shape):
            raise ShapeError(f"padding has {len(a.padding)} values; an input of rank {len(shape)} takes "
                             f"{2 * len(shape)} (before and after for each axis)")
        pairs = [(a.padding[2 * k], a.padding[2 * k + 1]) for k in range(len(shape))]
        if a.mode == "reflect":
            for axis, (n, (lo, hi)) in enumerate(zip(shape, pairs)):
                if max(lo, hi) >= n:
                    raise ShapeError(f"a reflection pad of {max(lo, hi)} along axis {axis} needs more than "
                                     f"{max(lo, hi)} positions there (it has {n})")
        return pairs

    def output_shape(self, a, ins):
        return tuple(d + lo + hi for d, (lo, hi) in zip(ins[0], self.pairs(a, ins[0])))

    def window(self, a, ins):
        pairs = self.pairs(a, ins[0])
        if len(ins[0]) not in (2, 3, 4) or any(pairs[-1]):
            return "n/a"           # padded channels (or no map): not a window over positions
        d = len(pairs) - 1
        return (1,) * d, (1,) * d, (1,) * d, tuple(lo for lo, _ in pairs[:-1])

    def forward(self, a, w, xs, ops):
        x = xs[0]
        pairs = [(0, 0), *self.pairs(a, x.shape[1:])]
        if a.mode != "constant":
            return ops.np.pad(x, pairs, mode=a.mode)
        return ops.np.pad(x, pairs, constant_values=x.dtype.type(a.value))

    def onnx(self, a, ins, out, b):
        rank = len(ins[0])
        pads = [0] * (2 * (rank + 1))
        for k, (lo, hi) in enumerate(self.pairs(a, ins[0])):
            axis = b.axis(k, rank)
            pads[axis], pads[rank + 1 + axis] = lo, hi
        if a.mode != "constant":
            return b.op("Pad", [b.inputs[0], b.const(pads)], mode=a.mode)
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
