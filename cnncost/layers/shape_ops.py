"""Layers that move data without arithmetic: zero padding and channel shuffle."""
from __future__ import annotations

from cnncost.errors import SpecError
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
