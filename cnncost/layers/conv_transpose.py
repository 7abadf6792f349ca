"""Transposed convolution (PyTorch ConvTranspose1d/2d/3d, Keras Conv1D/2D/3DTranspose) of a
1-D, 2-D or 3-D map: every input element scatters a kernel-sized patch, `stride` apart,
into the output.

Per spatial axis: out = (in - 1) x stride - pad_before - pad_after + dilation x (k - 1) +
output_padding + 1. Multiplications: each input element times each weight it meets once,
C_in x C_out / groups x (product of the kernel) x (product of the input's sizes) (the
tools that count a transposed convolution as a convolution over its output get it wrong).
Kernel layout (k..., C_out / groups, C_in), as Keras; PyTorch and ONNX store
(C_in, C_out / groups, k...).
"""
from __future__ import annotations

from itertools import product
from typing import NamedTuple

from cnncost.errors import ShapeError, SpecError
from cnncost.layers import geometry
from cnncost.layers.base import Arg, Kind, SavesInputForWeights, numel, register, require_rank


class Scatter(NamedTuple):
    """A transposed convolution resolved on its input: per spatial axis the kernel, stride,
    dilation, output padding, pads (per side: lo_0, hi_0, ...), input sizes, the uncropped
    sizes and the output sizes."""
    kernel: tuple
    stride: tuple
    dilation: tuple
    output_padding: tuple
    pads: tuple
    sizes: tuple
    full: tuple
    outs: tuple


def scatter_of(a, shape) -> Scatter:
    require_rank(shape, (2, 3, 4))
    d = geometry.spatial_rank(a, shape, stack=False)
    kernel, stride, dilation = (geometry.per_axis(k, a[k], d) for k in ("kernel", "stride", "dilation"))
    extra = geometry.per_axis("output_padding", a.output_padding, d)
    for axis, (op, s, dl) in enumerate(zip(extra, stride, dilation)):
        if op >= max(s, dl):
            raise ShapeError(f"Invalid value for argument `output_padding`. Expected less than stride or "
                             f"dilation ({max(s, dl)}) along axis {axis}. Received output_padding={list(extra)}.")
    pads = geometry.sides(a.padding, d)
    sizes = tuple(shape[:-1])
    full = tuple((n - 1) * s + dl * (k - 1) + 1 + op
                 for n, k, s, dl, op in zip(sizes, kernel, stride, dilation, extra))
    outs = tuple(f - pads[2 * i] - pads[2 * i + 1] for i, f in enumerate(full))
    if min(outs) < 1:
        raise ShapeError(f"padding {list(pads)} leaves no output ({'x'.join(map(str, outs))}) from a "
                         f"{'x'.join(map(str, sizes))} input")
    return Scatter(kernel, stride, dilation, extra, pads, sizes, full, outs)


@register
class ConvTranspose(SavesInputForWeights, Kind):
    name, family = "conv_transpose", "convolution"
    doc = ("transposed convolution of a 1-D, 2-D or 3-D map (PyTorch ConvTranspose1d/2d/3d): the learned "
           "upsampling of generators, U-Nets and audio decoders")
    args = {"filters": Arg("int"), "kernel": Arg("axes", doc="kernel size k or one per axis: [k], [kh, kw], [kd, kh, kw]"),
            "stride": Arg("axes", 1),
            "padding": Arg("padding_nd", 0, doc="p | one per axis | one per side ([t, b, l, r]), as PyTorch"),
            "output_padding": Arg("axes", 0, minimum=0,
                                  doc="extra positions at the end of each axis, < stride or dilation"),
            "dilation": Arg("axes", 1), "groups": Arg("int", 1), "bias": Arg("bool", True),
            "rank": Arg("int", None, doc="spatial axes of the map: 1, 2 or 3; default: from the input")}
    args["rank"].inferred = True
    flops_rule = "2 per MAC + 1 per output element if bias"
    mults_rule = "C_in x C_out / groups x kh x kw x H_in x W_in (per spatial axis: T; D, H, W)"
    mult_classes = ("standard", "grouped")

    def validate(self, a):
        if a.padding == "same":
            raise SpecError("Invalid value for argument `padding`. Expected explicit padding (as PyTorch). "
                            "Received padding='same'.")

    def output_shape(self, a, ins):
        sc = scatter_of(a, ins[0])
        c = ins[0][-1]
        if c % a.groups or a.filters % a.groups:
            raise ShapeError(f"groups={a.groups} must divide both input channels ({c}) and filters ({a.filters})")
        return (*sc.outs, a.filters)

    def weight_shapes(self, a, ins):
        w = {"kernel": (*scatter_of(a, ins[0]).kernel, a.filters // a.groups, ins[0][-1])}
        if a.bias:
            w["bias"] = (a.filters,)
        return w

    def mults(self, a, ins, out):
        sc = scatter_of(a, ins[0])
        return ins[0][-1] * (a.filters // a.groups) * numel(sc.kernel) * numel(sc.sizes)

    def mult_class(self, a, ins):
        return "grouped" if a.groups > 1 else "standard"

    def flops(self, a, ins, out):
        return 2 * self.mults(a, ins, out) + (numel(out) if a.bias else 0)

    def fan_in(self, a, ins, shape):
        # an output element gathers about (product of k) x C_in/groups / (product of s) products
        sc = scatter_of(a, ins[0])
        return max(1, numel(sc.kernel) * (ins[0][-1] // a.groups) // numel(sc.stride))

    def window(self, a, ins):
        from fractions import Fraction   # only receptive fields need it: not at start-up

        # in input elements: outputs are 1/s apart and taps d/s apart (exact fractions)
        sc = scatter_of(a, ins[0])
        return (sc.kernel, tuple(Fraction(1, s) for s in sc.stride),
                tuple(Fraction(d, s) for d, s in zip(sc.dilation, sc.stride)),
                tuple(Fraction(p, s) for p, s in zip(sc.pads[::2], sc.stride)))

    def workspace(self, a, ins, out):
        sc = scatter_of(a, ins[0])
        return numel(sc.sizes) * numel(sc.kernel) * a.filters + numel(sc.full) * a.filters

    def explain(self, a, ins, out):
        sc = scatter_of(a, ins[0])
        g = a.groups
        lines = [f"{axis}_out = ({n} - 1) x {s} - {sc.pads[2 * i]} - {sc.pads[2 * i + 1]} + {dl} x ({k} - 1) + {op} + 1"
                 f" = {o}"
                 for i, (axis, n, k, s, dl, op, o) in enumerate(zip(geometry.AXES[len(sc.sizes)], sc.sizes, sc.kernel,
                                                                    sc.stride, sc.dilation, sc.output_padding, sc.outs))]
        lines[0] = "(in - 1) x stride - pads + dilation x (k - 1) + output_padding + 1: " + lines[0]
        ks = " x ".join(map(str, sc.kernel))
        ns = " x ".join(map(str, sc.sizes))
        return lines + [f"mults = C_in x C_out{' / groups' if g > 1 else ''} x kernel x input sizes = "
                        f"{ins[0][-1]} x {a.filters}{f' / {g}' if g > 1 else ''} x {ks} x {ns} = "
                        f"{self.mults(a, ins, out):,}"]

    def forward(self, a, w, xs, ops):
        """One instrumented product per group gives every (input element, tap, output
        channel) contribution; each kernel tap's slab is then added into the output at
        stride spacing (a loop over kernel taps only, as the depthwise forward)."""
        np = ops.np
        x = xs[0]
        sc = scatter_of(a, x.shape[1:])
        d, n, c = len(sc.sizes), x.shape[0], x.shape[-1]
        fg, g = a.filters // a.groups, a.groups
        cg, taps = c // g, numel(sc.kernel)
        k = w["kernel"].reshape(taps, fg, g, cg).transpose(2, 3, 0, 1).reshape(g, cg, taps * fg)
        cols = x.reshape(-1, g, cg).transpose(1, 0, 2)                          # (g, N x sizes, cg)
        y = ops.matmul(cols, k).reshape(g, n, *sc.sizes, taps, fg)
        y = np.moveaxis(y, 0, -2).reshape(n, *sc.sizes, taps, g * fg)          # (n, sizes, taps, F)
        full = np.zeros((n, *sc.full, a.filters), x.dtype)
        for t, tap in enumerate(product(*(range(k) for k in sc.kernel))):
            at = tuple(slice(i * dl, i * dl + (m - 1) * s + 1, s)
                       for i, dl, m, s in zip(tap, sc.dilation, sc.sizes, sc.stride))
            full[(slice(None), *at)] += y[(slice(None),) * (d + 1) + (t,)]
        crop = tuple(slice(sc.pads[2 * i], f - sc.pads[2 * i + 1]) for i, f in enumerate(sc.full))
        out = full[(slice(None), *crop)]
        if a.bias:
            out = out + w["bias"]
        return np.ascontiguousarray(out)

    def onnx(self, a, ins, out, b):
        sc = scatter_of(a, ins[0])
        d = len(sc.sizes)
        kernel = b.weight("kernel", b.w["kernel"].transpose(d + 1, d, *range(d)))
        attrs = dict(kernel_shape=list(sc.kernel), strides=list(sc.stride), dilations=list(sc.dilation), group=a.groups)
        x = b.inputs[0] if d == 2 else b.channels_first(b.inputs[0], d)
        lo, hi = list(sc.pads[::2]), list(sc.pads[1::2])
        if all(p < s for p, s in zip(sc.output_padding, sc.stride)):
            args = [x, kernel] + ([b.weight("bias", b.w["bias"])] if a.bias else [])
            y = b.op("ConvTranspose", args, pads=lo + hi, output_padding=list(sc.output_padding), **attrs)
        else:
            # PyTorch allows output_padding < dilation too; onnxruntime only < stride. Spell it
            # out: the full uncropped result, output_padding zeros appended, the padding
            # cropped, then the bias (which PyTorch adds to the appended positions too).
            y = b.op("ConvTranspose", [x, kernel], pads=[0] * (2 * d), **attrs)
            y = b.op("Pad", [y, b.const([0] * (d + 2) + [0, 0, *sc.output_padding])])
            axes = list(range(2, d + 2))
            y = b.op("Slice", [y, b.const(lo), b.const([p + o for p, o in zip(lo, sc.outs)]), b.const(axes)])
            if a.bias:
                y = b.op("Add", [y, b.op("Unsqueeze", [b.weight("bias", b.w["bias"]), b.const(list(range(1, d + 1)))])])
        return y if d == 2 else b.channels_last(y, d)
