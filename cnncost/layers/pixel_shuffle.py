"""Depth to space and back (PyTorch PixelShuffle / PixelUnshuffle): the sub-pixel
convolution of super-resolution networks. No arithmetic, data moves only.

pixel_shuffle r: H x W x C r^2 -> rH x rW x C, out[h r + i, w r + j, c] = in[h, w, c r^2 + i r + j];
pixel_unshuffle r is its inverse.
"""
from __future__ import annotations


from cnncost.errors import ShapeError
from cnncost.layers.base import Arg, Kind, NoMults, OutputSized, SavesNothing, register, require_rank


@register
class PixelShuffle(SavesNothing, NoMults, OutputSized, Kind):
    name, family = "pixel_shuffle", "reshape"
    doc = "depth to space (PyTorch PixelShuffle): H x W x C*r^2 -> rH x rW x C"
    args = {"factor": Arg("int", doc="upscale factor r")}

    def output_shape(self, a, ins):
        require_rank(ins[0], (3,))
        h, w, c = ins[0]
        r2 = a.factor * a.factor
        if c % r2:
            raise ShapeError(f"channels ({c}) must be a multiple of factor^2 ({r2})")
        return (h * a.factor, w * a.factor, c // r2)

    def window(self, a, ins):
        from fractions import Fraction   # only receptive fields need it: not at start-up

        step = Fraction(1, a.factor)
        return (1, 1), (step, step), (1, 1), (0, 0)

    def forward(self, a, w, xs, ops):
        x, r = xs[0], a.factor
        n, h, wd, c = x.shape
        return x.reshape(n, h, wd, c // (r * r), r, r).transpose(0, 1, 4, 2, 5, 3).reshape(n, h * r, wd * r, c // (r * r))

    def onnx(self, a, ins, out, b):
        return b.op("DepthToSpace", [b.inputs[0]], blocksize=a.factor, mode="CRD")   # PyTorch's order


@register
class PixelUnshuffle(SavesNothing, NoMults, OutputSized, Kind):
    name, family = "pixel_unshuffle", "reshape"
    doc = "space to depth (PyTorch PixelUnshuffle): H x W x C -> H/r x W/r x C*r^2"
    args = {"factor": Arg("int", doc="downscale factor r")}

    def output_shape(self, a, ins):
        require_rank(ins[0], (3,))
        h, w, c = ins[0]
        if h % a.factor or w % a.factor:
            raise ShapeError(f"height and width ({h}x{w}) must be multiples of factor {a.factor}")
        return (h // a.factor, w // a.factor, c * a.factor * a.factor)

    def window(self, a, ins):
        return (a.factor, a.factor), (a.factor, a.factor), (1, 1), (0, 0)

    def forward(self, a, w, xs, ops):
        x, r = xs[0], a.factor
        n, h, wd, c = x.shape
        return x.reshape(n, h // r, r, wd // r, r, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, h // r, wd // r, c * r * r)

    def onnx(self, a, ins, out, b):
        # ONNX's SpaceToDepth orders channels (i, j, c); PyTorch's unshuffle (c, i, j)
        h, w, c = ins[0]
        r = a.factor
        y = b.op("Reshape", [b.inputs[0], b.const([0, c, h // r, r, w // r, r])])
        y = b.op("Transpose", [y], perm=[0, 1, 3, 5, 2, 4])
        return b.op("Reshape", [y, b.const([0, c * r * r, h // r, w // r])])
