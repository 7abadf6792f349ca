"""Upsampling by interpolation (PyTorch nn.Upsample / F.interpolate, Keras UpSampling1D/2D/3D)
of a 1-D, 2-D or 3-D map: nearest, linear (bilinear on an image, trilinear on a volume;
align_corners both ways) or, on an image, cubic (PyTorch's bicubic, a = -0.75), by an integer scale, to
a size, or to the size of a second input (the FCN / DeepLab head upsamples to the image's
size: `inputs: [x, input]`).

Interpolation is separable: one (out x in) weight matrix per axis, the same matrices for
the NumPy forward and the exact FLOP count. mults = 0 (our convention: only conv and
dense layers multiply).
"""
from __future__ import annotations

import math
import struct

from cnncost.errors import ShapeError, SpecError
from cnncost.layers import geometry
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


def cubic_weights(t: float, a: float = -0.75) -> tuple[float, ...]:
    """Keys' cubic convolution at the four taps floor(src) - 1 .. floor(src) + 2 for a
    fraction t of the way from floor(src) (PyTorch's and onnxruntime's cubic, a = -0.75)."""
    def near(x):           # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):            # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return far(t + 1), near(t), near(1 - t), far(2 - t)


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
            src = Fraction(2 * d + 1, 2) * Fraction(size, out) - Fraction(1, 2)
        if mode == "cubic":        # four taps around src (unclamped), their indices clamped to the edge
            first = math.floor(src)
            taps = cubic_weights(float(src - first))
            rows.append([(min(max(first - 1 + i, 0), size - 1), weight) for i, weight in enumerate(taps)])
            continue
        src = max(src, Fraction(0))
        lo = min(int(src), size - 1)
        hi = min(lo + 1, size - 1)
        frac = float(src - lo)
        rows.append([(lo, 1.0)] if hi == lo or not frac else [(lo, 1.0 - frac), (hi, frac)])
    return rows


LINEAR = ("linear", "bilinear", "trilinear")     # one rule: linear along every spatial axis
TAPS = {"nearest": 1, "linear": 2, "bilinear": 2, "trilinear": 2, "cubic": 4}


@register
class Upsample(SavesNothing, NoMults, OutputSized, Kind):
    name, family = "upsample", "resize"
    doc = ("nearest / linear (bilinear, trilinear) upsampling of a 1-D, 2-D or 3-D map, bicubic of an image, by `scale`, to "
           "`size`, or to a second input's size")
    arity = (1, 2)
    args = {"mode": Arg("choice", "nearest", choices=("nearest", *LINEAR, "cubic"),
                        doc="linear, bilinear and trilinear are one rule (linear along each axis)"),
            "scale": Arg("axes", None, doc="integer factor s or one per spatial axis ([sh, sw])"),
            "size": Arg("axes", None, doc="the output's spatial sizes ([h, w] of an image)"),
            "align_corners": Arg("bool", False, doc="linear and cubic only (PyTorch's align_corners)"),
            "coordinates": Arg("choice", "pytorch", choices=("pytorch", "onnx", "tensorflow"),
                               doc="pytorch: F.interpolate's arithmetic; onnx: Resize's as onnxruntime "
                                   "computes it (they differ for bilinear to size 1 and at some "
                                   "nearest ratios; docs/spec.md); tensorflow: tf.image.resize's "
                                   "half-pixel centres (Keras), nearest rows differing from pytorch's "
                                   "when shrinking")}
    flops_rule = ("per output element 2 t^d - 1 for t taps per axis over d axes (t^d multiplies, t^d - 1 adds): "
                  "nearest 0, bilinear 7, trilinear 15, bicubic 31")

    def validate(self, a):
        if a.align_corners and a.mode == "nearest":
            raise SpecError("Invalid argument `align_corners`: mode nearest does not take it.")
        if a.scale is not None and a.size is not None:
            raise SpecError("Give `scale` or `size`, not both.")
        if a.mode == "cubic" and a.coordinates == "tensorflow":
            raise SpecError("Invalid argument `coordinates`: cubic follows PyTorch's and ONNX's (a = -0.75), "
                            "not TensorFlow's (a = -0.5).")

    def sizes(self, a, ins) -> tuple:
        """The output's spatial sizes."""
        require_rank(ins[0], (2, 3, 4))
        d = len(ins[0]) - 1
        given = [a.scale is not None, a.size is not None, len(ins) == 2]
        if sum(given) != 1:
            raise ShapeError("upsample needs exactly one of `scale`, `size` or a second input to match")
        if a.scale is not None:
            return tuple(n * s for n, s in zip(ins[0], geometry.per_axis("scale", a.scale, d)))
        if a.size is not None:
            return geometry.per_axis("size", a.size, d)
        require_rank(ins[1], (d + 1,), "second input")
        return tuple(ins[1][:-1])

    def output_shape(self, a, ins):
        if a.mode == "cubic" and len(ins[0]) != 3:
            raise ShapeError("cubic interpolation is of an image (H x W x C), as PyTorch's bicubic and ONNX's "
                             f"cubic Resize; received {'x'.join(map(str, ins[0]))}")
        return (*self.sizes(a, ins), ins[0][-1])

    def flops(self, a, ins, out):
        taps = TAPS[a.mode] ** (len(out) - 1)
        return 0 if taps == 1 else (2 * taps - 1) * numel(out)

    def window(self, a, ins):
        from fractions import Fraction

        k = TAPS[a.mode]
        d = len(ins[0]) - 1
        return (k,) * d, tuple(Fraction(n, o) for n, o in zip(ins[0], self.sizes(a, ins))), (1,) * d, (0,) * d

    def _scale(self, a, axis, d):
        return geometry.per_axis("scale", a.scale, d)[axis] if a.scale is not None else None

    def _rule(self, a):
        return "linear" if a.mode in LINEAR else a.mode

    def forward(self, a, w, xs, ops):
        np = ops.np
        x = xs[0]
        outs = self.sizes(a, [tuple(t.shape[1:]) for t in xs])
        d = len(outs)
        for axis, out in enumerate(outs):       # one axis at a time: the interpolation is separable
            size = x.shape[axis + 1]
            m = np.zeros((out, size), x.dtype)
            for row, pairs in enumerate(source_weights(size, out, self._rule(a), a.align_corners, a.coordinates,
                                                       self._scale(a, axis, d))):
                for src, weight in pairs:
                    m[row, src] += weight
            x = np.moveaxis(np.tensordot(m, x, axes=([1], [axis + 1])), 0, axis + 1)
        return np.ascontiguousarray(x)

    def onnx(self, a, ins, out, b):
        d = len(out) - 1
        axes = [(axis, ins[0][axis], out[axis], self._scale(a, axis, d)) for axis in range(d)]
        onnx_axis = (lambda axis: axis + 2)        # channels first for Resize, at every rank
        x = b.inputs[0] if d == 2 else b.channels_first(b.inputs[0], d)
        rows = {axis: [p[0][0] for p in source_weights(size, n, "nearest", False, a.coordinates, scale)]
                for axis, size, n, scale in axes} if a.mode == "nearest" else {}
        if any(r != [nearest_source(i, size, n, "onnx") for i in range(n)]
               for (axis, size, n, _), r in zip(axes, rows.values())):
            # Resize's float32 rows are not ours at this ratio: name each output row's source
            for axis, r in rows.items():
                x = b.op("Gather", [x, b.const(r)], axis=onnx_axis(axis))
            return x if d == 2 else b.channels_last(x, d)
        if a.mode == "nearest":
            attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        else:
            # half_pixel is PyTorch's rule at every size (an output of 1 samples the middle)
            ctm = "pytorch_half_pixel" if a.coordinates == "onnx" else "half_pixel"   # tensorflow's is pytorch's
            attrs = dict(mode=self._rule(a), coordinate_transformation_mode="align_corners" if a.align_corners else ctm)
            if a.mode == "cubic":
                attrs["cubic_coeff_a"] = -0.75
        n = b.op("Shape", [x], start=0, end=2)        # N and C as they come
        sizes = b.op("Concat", [n, b.const(list(out[:-1]))], axis=0)
        y = b.op("Resize", [x, "", "", sizes], **attrs)
        return y if d == 2 else b.channels_last(y, d)
