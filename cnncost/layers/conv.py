"""Convolutions: standard / grouped, depthwise (with depth multiplier), separable.

Multiplications are the seeds' formula N x n_out^2 x f^2 x n_c / groups, i.e. MACs.
Kernels use the Keras layout (kh, kw, C_in / groups, filters); depthwise kernels are
(kh, kw, C_in, depth_multiplier), output channel c * multiplier + j as in both frameworks.

conv and depthwise_conv also take a stack of maps, L x H x W x C per example: each of the L
maps is convolved on its own (EfficientViT-M's attention runs its convolutions on windows
that its file folds into the batch axis), the MACs L times one map's.
"""
from __future__ import annotations


import math
from typing import NamedTuple

from cnncost.errors import ShapeError
from cnncost.layers import geometry
from cnncost.layers.base import Arg, Kind, SavesInputForWeights, numel, register, register_alias, require_rank

_WINDOW_ARGS = {
    "kernel": Arg("axes", doc="kernel size k (along every axis) or one per axis: [k], [kh, kw], [kd, kh, kw]"),
    "stride": Arg("axes", 1),
    "padding": Arg("padding_nd", "valid", doc="valid | same (TensorFlow rule) | p | one per axis | "
                   "one per side ([t, b, l, r]; [front, back, t, b, l, r])"),
    "dilation": Arg("axes", 1),
}
_RANK = {"rank": Arg("int", None, doc="spatial axes of the map: 1 (T x C), 2 (H x W x C), 3 (D x H x W x C); "
                     "default: from the input and the window arguments")}
_RANK["rank"].inferred = True     # unset, explain leaves it out: the input says it


class Window(NamedTuple):
    """A convolution's window resolved on its input: d spatial axes, the leading stack
    axes (L of a stack of 2-D maps), and per axis the kernel, stride, dilation, pads
    (per side: lo_0, hi_0, ...), input and output sizes."""
    d: int
    lead: tuple
    kernel: tuple
    stride: tuple
    dilation: tuple
    pads: tuple
    sizes: tuple
    outs: tuple


def conv_window_of(a, shape) -> Window:
    require_rank(shape, (2, 3, 4))
    d = geometry.spatial_rank(a, shape, stack=True)
    kernel, stride, dilation = (geometry.per_axis(k, a[k], d) for k in ("kernel", "stride", "dilation"))
    sizes = tuple(shape[-d - 1:-1])
    outs, pads = geometry.resolve_nd(sizes, kernel, stride, dilation, geometry.sides(a.padding, d))
    return Window(d, tuple(shape[:-d - 1]), kernel, stride, dilation, pads, sizes, outs)


def conv_geometry(a, shape):
    """(out_h, out_w, pads) of a 2-D map or stack; for a map of any rank see conv_window_of."""
    w = conv_window_of(a, shape)
    return (*w.outs, w.pads)


def stacked(conv):
    """A forward on a stack of maps (batch, L, H, W, C): the L maps go through `conv` as
    part of the batch."""
    def forward(x, *args):
        if x.ndim != 5:
            return conv(x, *args)
        n, lead = x.shape[:2]
        y = conv(x.reshape((n * lead,) + x.shape[2:]), *args)
        return y.reshape((n, lead) + y.shape[1:])
    return forward


def window_explain(a, ins) -> list[str]:
    """Output size per axis: out = floor((in + pad_before + pad_after - span) / stride) + 1."""
    w = conv_window_of(a, ins[0])
    lines = geometry.describe_axes(w.sizes, w.kernel, w.stride, w.dilation, w.pads)
    if a.padding == "same":
        lines[0] += " (TensorFlow 'same': out = ceil(in / stride))"
    return lines


def conv_window(a, ins):
    w = conv_window_of(a, ins[0])
    if w.lead:
        return "n/a"          # a stack of maps: its windows lie in each map, not in the stack
    return w.kernel, w.stride, w.dilation, w.pads[::2]


def conv_nd(x, kernel, bias, win: Window, groups, ops):
    """A convolution of a channels-last map of 1, 2 or 3 spatial axes (batch first; a 2-D
    stack too) through conv2d: a 1-D map is a 2-D map of height 1; a 3-D map gathers its
    kd depth taps into the channels of each output depth (ordered group, tap, channel, so
    that groups stay contiguous) and runs as a stack of 2-D maps. `kernel` is
    (k..., C_in / groups, F)."""
    np = ops.np
    if win.d == 2:
        return stacked(conv2d)(x, kernel, bias, win.stride, win.dilation, win.pads, groups, ops)
    if win.d == 1:
        y = conv2d(x[:, None], kernel[None], bias, (1, *win.stride), (1, *win.dilation), (0, 0, *win.pads),
                   groups, ops)
        return y[:, 0]
    kd, kh, kw, cg, f = kernel.shape
    (sd, *s2), (dd, *d2), (lo, hi) = win.stride, win.dilation, win.pads[:2]
    xp = np.pad(x, ((0, 0), (lo, hi), (0, 0), (0, 0), (0, 0))) if lo or hi else x
    taps = np.lib.stride_tricks.sliding_window_view(xp, (kd - 1) * dd + 1, axis=1)[:, ::sd, ..., ::dd]
    n, od, h, w, c, _ = taps.shape           # (n, D_out, H, W, C, kd), a strided view
    taps = taps.reshape(n, od, h, w, groups, c // groups, kd).transpose(0, 1, 2, 3, 4, 6, 5)
    k2 = kernel.transpose(1, 2, 0, 3, 4).reshape(kh, kw, kd * cg, f)
    return stacked(conv2d)(taps.reshape(n, od, h, w, kd * c), k2, bias, tuple(s2), tuple(d2), win.pads[2:],
                           groups, ops)


def conv2d(x, kernel, bias, stride, dilation, pads, groups, ops):
    """NHWC convolution as one instrumented matrix product (im2col), a batched product
    with a group axis when grouped, or a broadcast multiply per kernel tap when depthwise:
    no Python loop over pixels, channels or groups. `kernel` is (kh, kw, C_in / groups, F)."""
    np = ops.np
    n, _, _, c = x.shape
    kh, kw, cg, f = kernel.shape
    (sh, sw), (dh, dw) = stride, dilation
    xp = np.pad(x, ((0, 0), pads[:2], pads[2:], (0, 0))) if any(pads) else x
    oh = (xp.shape[1] - (kh - 1) * dh - 1) // sh + 1
    ow = (xp.shape[2] - (kw - 1) * dw - 1) // sw + 1
    if kh == kw == 1:
        cols = xp[:, : (oh - 1) * sh + 1: sh, : (ow - 1) * sw + 1: sw, None, None, :]
    else:
        span = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
        win = np.lib.stride_tricks.sliding_window_view(xp, span, axis=(1, 2))
        cols = win[:, ::sh, ::sw, :, ::dh, ::dw][:, :oh, :ow].transpose(0, 1, 2, 4, 5, 3)
    # cols: (n, oh, ow, kh, kw, c), a strided view; reshapes below copy it (the im2col buffer)
    fg = f // groups
    if groups == 1:
        y = _gemm_by_row_blocks(cols, kernel.reshape(kh * kw * c, f), ops)
    elif cg == 1:  # depthwise: one broadcast multiply per kernel tap (memory-bound anyway)
        k = kernel[:, :, 0, :].reshape(kh, kw, c, fg)
        y = np.empty((n, oh, ow, c, fg), x.dtype)
        tmp = np.empty_like(y) if kh * kw > 1 else None
        for i in range(kh):
            for j in range(kw):
                first = i == 0 and j == 0
                ops.multiply(cols[:, :, :, i, j, :, None], k[i, j], out=y if first else tmp)
                if not first:
                    y += tmp
    else:           # grouped: one batched product over a leading group axis
        g = cols.reshape(n, oh, ow, kh * kw, groups, cg).transpose(4, 0, 1, 2, 3, 5)
        k = kernel.reshape(kh * kw, cg, groups, fg).transpose(2, 0, 1, 3)
        y = ops.matmul(g.reshape(groups, -1, kh * kw * cg), k.reshape(groups, kh * kw * cg, fg))
        y = y.transpose(1, 0, 2)
    out = y.reshape(n, oh, ow, f)
    if bias is not None:
        out += bias
    return out


IM2COL_BLOCK_ELEMENTS = 1 << 21   # ~8 MB of float32: an im2col block that stays in cache


def _gemm_by_row_blocks(cols, kernel2d, ops):
    """im2col GEMM over blocks of output rows: each block's column buffer stays in cache,
    which on large maps is about twice as fast as one huge buffer (and far smaller)."""
    n, oh, ow = cols.shape[:3]
    k, f = kernel2d.shape
    rows = max(1, IM2COL_BLOCK_ELEMENTS // max(1, n * ow * k))
    if rows >= oh:
        return ops.matmul(cols.reshape(-1, k), kernel2d)
    out = ops.np.empty((n, oh, ow, f), kernel2d.dtype)
    for r0 in range(0, oh, rows):
        block = cols[:, r0: r0 + rows]
        if n == 1:   # the block's rows of `out` are contiguous: multiply straight into them
            ops.matmul(block.reshape(-1, k), kernel2d, out=out[0, r0: r0 + rows].reshape(-1, f))
        else:
            out[:, r0: r0 + rows] = ops.matmul(block.reshape(-1, k), kernel2d).reshape(block.shape[:3] + (f,))
    return out


def conv_workspace(a, in_shape, out_shape) -> int:
    """Elements of the largest temporaries conv_nd allocates per example: for a 3-D map the
    depth-padded copy and the gathered depth taps; then conv2d's padded input copy, its
    im2col buffer (or a depthwise tap product) and the product itself."""
    w = conv_window_of(a, in_shape)
    lead, c, f = numel(w.lead), in_shape[-1], out_shape[-1]
    sizes, kernel, stride, pads, outs, extra = w.sizes, w.kernel, w.stride, w.pads, w.outs, 0
    if w.d == 3:
        plane = numel(sizes[1:])
        extra = (sizes[0] + pads[0] + pads[1]) * plane * c if any(pads[:2]) else 0
        lead, c = outs[0], c * kernel[0]
        extra += lead * plane * c
        sizes, kernel, stride, pads, outs = sizes[1:], kernel[1:], stride[1:], pads[2:], outs[1:]
    padded = math.prod(n + pads[2 * i] + pads[2 * i + 1] for i, n in enumerate(sizes)) * c if any(pads) else 0
    cols = min(lead * numel(outs) * numel(kernel) * c, 2 * IM2COL_BLOCK_ELEMENTS) \
        if set(kernel) != {1} or set(stride) != {1} else 0
    return extra + lead * padded + cols + lead * numel(outs) * f


def _axes_formula(w: Window, out) -> tuple[str, str, str, str]:
    """The formula's names and values of the output axes and the kernel axes: 'H_out x W_out',
    '7 x 7', 'kh x kw', '3 x 3' (a stack's L in front)."""
    names = geometry.AXES[w.d]
    maps = ("L x ", f"{out[0]} x ") if w.lead else ("", "")
    return (maps[0] + " x ".join(f"{n}_out" for n in names), maps[1] + " x ".join(str(o) for o in w.outs),
            " x ".join(f"k{n.lower()}" for n in names), " x ".join(str(k) for k in w.kernel))


def onnx_conv_kernel(kernel):
    """(k..., C_in / groups, F) -> ONNX's (F, C_in / groups, k...)."""
    d = kernel.ndim - 2
    return kernel.transpose(d + 1, d, *range(d))


class _SlidingConv(SavesInputForWeights, Kind):
    """What convolution and depthwise convolution share: FLOPs, window, workspace, and the
    output-size half of `explain`."""

    family = "convolution"
    flops_rule = "2 per MAC + 1 per output element if bias"

    def flops(self, a, ins, out):
        return 2 * self.mults(a, ins, out) + (numel(out) if a.bias else 0)

    def workspace(self, a, ins, out):
        return conv_workspace(a, ins[0], out)

    def window(self, a, ins):
        return conv_window(a, ins)

    def explain(self, a, ins, out):
        return window_explain(a, ins) + [self.mults_formula(a, ins, out)]

    def forward(self, a, w, xs, ops):
        kernel, groups = self.run_kernel(a, w["kernel"])
        return conv_nd(xs[0], kernel, w.get("bias"), conv_window_of(a, xs[0].shape[1:]), groups, ops)

    def onnx(self, a, ins, out, b):
        win = conv_window_of(a, ins[0])
        kernel, groups = self.run_kernel(a, b.w["kernel"])
        x = b.inputs[0]
        if win.lead:       # a stack (batch, L, H, W, C): its maps in the batch, NCHW
            x = b.op("Transpose", [b.op("Reshape", [x, b.const([-1, *ins[0][1:]])])], perm=[0, 3, 1, 2])
        elif win.d != 2:   # a 1-D or 3-D map is held channels last: NCT / NCDHW for Conv
            x = b.channels_first(x, win.d)
        args = [x, b.weight("kernel", onnx_conv_kernel(kernel))]
        if a.bias:
            args.append(b.weight("bias", b.w["bias"]))
        y = b.op("Conv", args, kernel_shape=list(win.kernel), strides=list(win.stride),
                 dilations=list(win.dilation), pads=[*win.pads[::2], *win.pads[1::2]], group=groups)
        if win.lead:
            y = b.op("Reshape", [b.op("Transpose", [y], perm=[0, 2, 3, 1]), b.const([-1, *out])])
        elif win.d != 2:
            y = b.channels_last(y, win.d)
        return y


@register
class Conv(_SlidingConv):
    name = "conv"
    doc = "convolution of a 1-D, 2-D or 3-D map (grouped when groups > 1)"
    mults_rule = "H_out x W_out x C_out x kh x kw x C_in / groups (per spatial axis: T; D, H, W)"
    mult_classes = ("standard", "pointwise", "depthwise", "grouped")
    args = {"filters": Arg("int"), **_WINDOW_ARGS, "groups": Arg("int", 1), "bias": Arg("bool", True), **_RANK}

    def output_shape(self, a, ins):
        w = conv_window_of(a, ins[0])
        c = ins[0][-1]
        if c % a.groups or a.filters % a.groups:
            raise ShapeError(f"groups={a.groups} must divide both input channels ({c}) "
                             f"and filters ({a.filters})")
        return (*w.lead, *w.outs, a.filters)

    def weight_shapes(self, a, ins):
        w = {"kernel": (*conv_window_of(a, ins[0]).kernel, ins[0][-1] // a.groups, a.filters)}
        if a.bias:
            w["bias"] = (a.filters,)
        return w

    def mults(self, a, ins, out):
        return numel(out) * numel(conv_window_of(a, ins[0]).kernel) * (ins[0][-1] // a.groups)

    def mult_class(self, a, ins):
        if a.groups > 1:
            return "depthwise" if a.groups == ins[0][-1] else "grouped"
        return "pointwise" if set(a.kernel) == {1} else "standard"

    def mults_formula(self, a, ins, out):
        outs, out_values, ks, k_values = _axes_formula(conv_window_of(a, ins[0]), out)
        c, g = ins[0][-1], a.groups
        per = f"{c} / {g}" if g > 1 else f"{c}"
        return (f"mults = {outs} x C_out x {ks} x C_in{' / groups' if g > 1 else ''}"
                f" = {out_values} x {out[-1]} x {k_values} x {per} = {self.mults(a, ins, out):,}")

    def run_kernel(self, a, kernel):
        return kernel, a.groups

    def rewrite(self, a, in_shape, rewrite):
        """What-if rewrites of a standard k x k convolution (k > 1, groups = 1) of a 1-D, 2-D
        or 3-D map: ("separable",) -> depthwise k x k + pointwise 1 x 1;
        ("bottleneck", R) -> a 1 x 1 reduction to C_in / R channels, then the convolution."""
        if a.groups != 1 or set(a.kernel) == {1} or conv_window_of(a, in_shape).lead:
            return None
        if rewrite[0] == "separable":
            return separable_parts(a)
        reduced = max(1, in_shape[-1] // rewrite[1])
        conv = {**window_args(a), "filters": a.filters, "bias": a.bias}
        reduce = {"filters": reduced, "kernel": 1, "bias": False, **({"rank": a.rank} if a.get("rank") else {})}
        return [("reduce", "conv", reduce), ("conv", "conv", conv)]

    def rewrite_analytic(self, a, ins, out, rewrite):
        """The textbook ratio of the rewrite's mults to the original's, and its formula:
        f^d kernel taps on a d-dimensional map."""
        from fractions import Fraction   # what-if only: not at start-up

        w, n = conv_window_of(a, ins[0]), a.filters
        taps = numel(w.kernel)
        if rewrite[0] == "separable":
            return Fraction(1, n) + Fraction(1, taps), f"1/N + 1/f^{w.d} = 1/{n} + 1/{taps}"
        r, c = rewrite[1], ins[0][-1]
        axes = geometry.AXES[w.d]
        return (Fraction(1, r) + Fraction(c * numel(w.sizes), r * taps * n * numel(w.outs)),
                f"1/R + C_in*{'*'.join(x + '_in' for x in axes)}/(R*f^{w.d}*N*"
                f"{'*'.join(x + '_out' for x in axes)}), R = {r}")

    def rewrite_note(self, a, ins, rewrite):
        """Why the measured ratio of a rewrite differs from the analytic one, if it does."""
        if rewrite[0] != "bottleneck" or ins[0][-1] % rewrite[1] == 0:
            return ""
        c, r = ins[0][-1], rewrite[1]
        kept = max(1, c // r)
        from fractions import Fraction
        return (f"C_in/R = {c}/{r} = {float(Fraction(c, r)):.4g} is not a whole number of channels: the "
                f"reduction keeps {kept}, so the measured ratio counts {kept} where the analytic one "
                f"counts {float(Fraction(c, r)):.4g}")


@register
class DepthwiseConv(_SlidingConv):
    name = "depthwise_conv"
    doc = "depthwise convolution of a 1-D, 2-D or 3-D map: one k x k filter per input channel (x depth_multiplier)"
    mults_rule = "H_out x W_out x (C_in x multiplier) x kh x kw (per spatial axis: T; D, H, W)"
    mult_classes = ("depthwise",)
    args = {**_WINDOW_ARGS, "depth_multiplier": Arg("int", 1), "bias": Arg("bool", True), **_RANK}

    def output_shape(self, a, ins):
        w = conv_window_of(a, ins[0])
        return (*w.lead, *w.outs, ins[0][-1] * a.depth_multiplier)

    def groups(self, a, ins):
        return ins[0][-1]           # one group per input channel

    def weight_shapes(self, a, ins):
        w = {"kernel": (*conv_window_of(a, ins[0]).kernel, ins[0][-1], a.depth_multiplier)}
        if a.bias:
            w["bias"] = (ins[0][-1] * a.depth_multiplier,)
        return w

    def mults(self, a, ins, out):
        return numel(out) * numel(conv_window_of(a, ins[0]).kernel)

    def mult_class(self, a, ins):
        return "depthwise"

    def fan_in(self, a, ins, shape):
        return numel(shape[:-2])      # each output reads one channel's k x k window

    def mults_formula(self, a, ins, out):
        outs, out_values, ks, k_values = _axes_formula(conv_window_of(a, ins[0]), out)
        return (f"mults = {outs} x (C_in x multiplier) x {ks} = {out_values} x "
                f"{out[-1]} x {k_values} = {self.mults(a, ins, out):,}")

    def run_kernel(self, a, kernel):
        """(k..., C, m) -> (k..., 1, C * m) in C groups: output channel c * m + j, as both
        frameworks and ONNX's grouped Conv."""
        *k, c, m = kernel.shape
        return kernel.reshape(*k, 1, c * m), c


@register
class SeparableConv(Kind):
    name, family = "separable_conv", "convolution"
    doc = "depthwise k x k (no bias) then pointwise 1 x 1; reported as its two parts"
    saves_rule = "what its parts keep (a depthwise and a pointwise conv, each its input when its weights train)"
    flops_rule = "those of its depthwise and pointwise parts"
    mults_rule = "those of its depthwise and pointwise parts"
    args = {"filters": Arg("int"), **_WINDOW_ARGS, "depth_multiplier": Arg("int", 1),
            "bias": Arg("bool", True), **_RANK}

    def parts(self, a):
        return separable_parts(a, a.depth_multiplier)


def window_args(a) -> dict:
    """Normalised window arguments back in spec form, to build derived layers (a number
    stays a number, so that it still means every axis of a map of any rank)."""
    def written(v):
        if isinstance(v, geometry.Each):
            return v[0]
        return [v[0], v[2]] if isinstance(v, geometry.AxisPair) else list(v)
    out = {k: written(a[k]) for k in ("kernel", "stride", "dilation")}
    out["padding"] = a.padding if a.padding == "same" else written(a.padding)
    if a.get("rank") is not None:
        out["rank"] = a.rank
    return out


def separable_parts(a, depth_multiplier=1):
    pointwise = {"filters": a.filters, "kernel": 1, "bias": a.bias}
    if a.get("rank") is not None:
        pointwise["rank"] = a.rank
    return [("depthwise", "depthwise_conv", {**window_args(a), "depth_multiplier": depth_multiplier,
                                             "bias": False}),
            ("pointwise", "conv", pointwise)]


register_alias("conv1d", "conv", {"rank": 1})
register_alias("conv3d", "conv", {"rank": 3})
