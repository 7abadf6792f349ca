"""Upsampling by interpolation (PyTorch nn.Upsample / F.interpolate): nearest or bilinear
(align_corners both ways), by an integer scale, to a size, or to the size of a second
input (the FCN / DeepLab head upsamples to the image's size: `inputs: [x, input]`).

Interpolation is separable: one (out x in) weight matrix per axis, the same matrices for
the NumPy forward and the exact FLOP count. mults = 0 (our convention: only conv and
dense layers multiply).
"""
from __future__ import annotations

import math
import struct

from cnncost.errors import ShapeError, SpecError
from cnncost.layers.base import Arg, Kind, NoMults, OutputSized, SavesNothing, numel, register, require_rank


def f32(x: float) -> float:
    """x rounded to float32, as PyTorch and onnxruntime hold a resize scale (a double
    quotient of two integers rounds to the same float32 as the exact quotient)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def nearest_source(d: int, size: int, out: int, coordinates: str, scale: int | None = None) -> int:
    """The input index output `d` copies, in the float32 arithmetic each framework uses
    (exact arithmetic differs at about 1% of size pairs: float32(14/46) * 23 = 6.9999995).
    pytorch: floor(d * float32(in / out)), or float32(1 / scale) when a scale is given, with
    PyTorch's exact shortcuts for out = in and out = 2 in; onnx (Resize, asymmetric, floor,
    as onnxruntime computes it): floor(d / float32(out / in)); tensorflow (tf.image.resize,
    half-pixel centres, as Keras resizes): floor((d + 1/2) x float32(in / out))."""
    if coordinates == "onnx":
        src = math.floor(f32(d / f32(out / size)))
    elif coordinates == "tensorflow":
        src = math.floor(f32(f32(d + 0.5) * f32(1 / scale if scale else size / out)))
    elif out == size:
        src = d
    elif out == 2 * size:
        src = d >> 1
    else:
        src = math.floor(f32(d * f32(1 / scale if scale else size / out)))
    return min(src, size - 1)


def source_weights(size: int, out: int, mode: str, align_corners: bool, coordinates: str = "pytorch",
                   scale: int | None = None) -> list[list[tuple[int, float]]]:
    """For each output index, the (input index, weight) pairs it interpolates, as PyTorch:
    nearest: `nearest_source`; bilinear src = (dst + 1/2) x in / out - 1/2 clamped at 0, or
    dst x (in - 1) / (out - 1) with align_corners. An output of size 1 samples the middle,
    (in - 1) / 2, under PyTorch's rule and the first input under ONNX's pytorch_half_pixel
    (which PyTorch's exporter writes, so eager PyTorch and onnxruntime differ there); 0 with
    align_corners under both."""
    from fractions import Fraction   # only the executor needs it: not at start-up

    rows = []
    for d in range(out):
        if mode == "nearest":
            rows.append([(nearest_source(d, size, out, coordinates, scale), 1.0)])
            continue
        if out == 1 and (align_corners or coordinates == "onnx"):
            src = Fraction(0)
        elif align_corners:
            src = Fraction(d * (size - 1), out - 1)
        else:
            src = max(Fraction(2 * d + 1, 2) * Fraction(size, out) - Fraction(1, 2), Fraction(0))
        lo = min(int(src), size - 1)
        hi = min(lo + 1, size - 1)
        frac = float(src - lo)
        rows.append([(lo, 1.0)] if hi == lo or not frac else [(lo, 1.0 - frac), (hi, frac)])
    return rows


@register
class Upsample(SavesNothing, NoMults, OutputSized, Kind):
    name, family = "upsample", "resize"
    doc = "nearest / bilinear upsampling by `scale`, to `size`, or to a second input's size"
    arity = (1, 2)
    args = {"mode": Arg("choice", "nearest", choices=("nearest", "bilinear")),
            "scale": Arg("pair", None, doc="integer factor s or [sh, sw]"),
            "size": Arg("pair", None, doc="[h, w] of the output"),
            "align_corners": Arg("bool", False, doc="bilinear only (PyTorch's align_corners)"),
            "coordinates": Arg("choice", "pytorch", choices=("pytorch", "onnx", "tensorflow"),
                               doc="pytorch: F.interpolate's arithmetic; onnx: Resize's as onnxruntime "
                                   "computes it (they differ for bilinear to size 1 and at some "
                                   "nearest ratios; docs/spec.md); tensorflow: tf.image.resize's "
                                   "half-pixel centres (Keras), nearest rows differing from pytorch's "
                                   "when shrinking")}
    flops_rule = "nearest 0; bilinear 7 per output element (4 multiplies, 3 adds)"

    def validate(self, a):
        if a.align_corners and a.mode != "bilinear":
            raise SpecError("Invalid argument `align_corners`: only mode bilinear takes it.")
        if a.scale is not None and a.size is not None:
            raise SpecError("Give `scale` or `size`, not both.")

    def output_shape(self, a, ins):
        require_rank(ins[0], (3,))
        h, w, c = ins[0]
        given = [a.scale is not None, a.size is not None, len(ins) == 2]
        if sum(given) != 1:
            raise ShapeError("upsample needs exactly one of `scale`, `size` or a second input to match")
        if a.scale is not None:
            return (h * a.scale[0], w * a.scale[1], c)
        if a.size is not None:
            return (a.size[0], a.size[1], c)
        require_rank(ins[1], (3,), "second input")
        return (ins[1][0], ins[1][1], c)

    def flops(self, a, ins, out):
        return 0 if a.mode == "nearest" else 7 * numel(out)

    def window(self, a, ins):
        (h, w, _), oh, ow = ins[0], *self.output_shape(a, ins)[:2]
        k = 1 if a.mode == "nearest" else 2
        from fractions import Fraction

        return (k, k), (Fraction(h, oh), Fraction(w, ow)), (1, 1), (0, 0)

    def forward(self, a, w, xs, ops):
        np = ops.np
        x = xs[0]
        oh, ow, _ = self.output_shape(a, [tuple(t.shape[1:]) for t in xs])

        def matrix(size, out, scale):
            m = np.zeros((out, size), x.dtype)
            for d, pairs in enumerate(source_weights(size, out, a.mode, a.align_corners, a.coordinates,
                                                     scale)):
                for src, weight in pairs:
                    m[d, src] += weight
            return m

        return np.einsum("nhwc,ph,qw->npqc", x, matrix(x.shape[1], oh, self._scale(a, 0)),
                         matrix(x.shape[2], ow, self._scale(a, 1)), optimize=True)

    @staticmethod
    def _scale(a, axis):
        return a.scale[axis] if a.scale is not None else None

    def onnx(self, a, ins, out, b):
        (h, w, _), (oh, ow) = ins[0], out[:2]
        axes = ((2, h, oh, self._scale(a, 0)), (3, w, ow, self._scale(a, 1)))
        rows = {axis: [p[0][0] for p in source_weights(size, n, "nearest", False, a.coordinates, scale)]
                for axis, size, n, scale in axes} if a.mode == "nearest" else {}
        if any(r != [nearest_source(d, size, n, "onnx") for d in range(n)]
               for (axis, size, n, _), r in zip(axes, rows.values())):
            # Resize's float32 rows are not ours at this ratio: name each output row's source
            y = b.inputs[0]
            for axis, r in rows.items():
                y = b.op("Gather", [y, b.const(r)], axis=axis)
            return y
        if a.mode == "nearest":
            attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        else:
            # half_pixel is PyTorch's rule at every size (an output of 1 samples the middle)
            ctm = "pytorch_half_pixel" if a.coordinates == "onnx" else "half_pixel"   # tensorflow's is pytorch's
            attrs = dict(mode="linear", coordinate_transformation_mode="align_corners" if a.align_corners else ctm)
        n = b.op("Shape", [b.inputs[0]], start=0, end=2)        # N and C as they come
        sizes = b.op("Concat", [n, b.const([out[0], out[1]])], axis=0)
        return b.op("Resize", [b.inputs[0], "", "", sizes], **attrs)
