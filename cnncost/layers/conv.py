"""Convolutions: standard / grouped, depthwise (with depth multiplier), separable.

Multiplications are the seeds' formula N x n_out^2 x f^2 x n_c / groups, i.e. MACs.
Kernels use the Keras layout (kh, kw, C_in / groups, filters); depthwise kernels are
(kh, kw, C_in, depth_multiplier), output channel c * multiplier + j as in both frameworks.

conv and depthwise_conv also take a stack of maps, L x H x W x C per example: each of the L
maps is convolved on its own (EfficientViT-M's attention runs its convolutions on windows
that its file folds into the batch axis), the MACs L times one map's.
"""
from __future__ import annotations


from cnncost.errors import ShapeError
from cnncost.layers import geometry
from cnncost.layers.base import Arg, Kind, SavesInputForWeights, numel, register, require_rank

_WINDOW_ARGS = {
    "kernel": Arg("pair", doc="kernel size k or [kh, kw]"),
    "stride": Arg("pair", 1),
    "padding": Arg("padding", "valid", doc="valid | same (TensorFlow rule) | p | [ph, pw] | [t, b, l, r]"),
    "dilation": Arg("pair", 1),
}


def conv_geometry(a, shape):
    require_rank(shape, (3, 4))
    (oh, ow), pads = geometry.resolve(shape[-3:-1], a.kernel, a.stride, a.dilation, a.padding)
    return oh, ow, pads


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
    pads = conv_geometry(a, ins[0])[2]
    h, w = ins[0][-3:-1]
    pad_rule = " (TensorFlow 'same': out = ceil(in / stride))" if a.padding == "same" else ""
    return [f"H_out = {geometry.describe(h, a.kernel[0], a.stride[0], a.dilation[0], pads[0], pads[1])}"
            + pad_rule,
            f"W_out = {geometry.describe(w, a.kernel[1], a.stride[1], a.dilation[1], pads[2], pads[3])}"]


def conv_window(a, ins):
    if len(ins[0]) != 3:
        return "n/a"          # a stack of maps: its windows lie in each map, not in the stack
    pads = conv_geometry(a, ins[0])[2]
    return a.kernel, a.stride, a.dilation, (pads[0], pads[2])


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
    """Elements of the largest temporaries conv2d allocates per example: the padded input
    copy, the im2col buffer (or a depthwise tap product) and the product itself."""
    kh, kw = a.kernel
    lead = numel(in_shape[:-3])
    oh, ow, f = out_shape[-3:]
    h, w, c = in_shape[-3:]
    pads = conv_geometry(a, in_shape)[2]
    padded = (h + pads[0] + pads[1]) * (w + pads[2] + pads[3]) * c if any(pads) else 0
    cols = min(lead * oh * ow * kh * kw * c, 2 * IM2COL_BLOCK_ELEMENTS) \
        if (kh, kw) != (1, 1) or a.stride != (1, 1) else 0
    return lead * padded + cols + lead * oh * ow * f


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

    def onnx(self, a, ins, out, b):
        t, bo, l, r = conv_geometry(a, ins[0])[2]
        kernel, groups = self.onnx_kernel(a, ins, b.w["kernel"])
        x = b.inputs[0]
        if len(ins[0]) == 4:       # a stack (batch, L, H, W, C): its maps in the batch, NCHW
            x = b.op("Transpose", [b.op("Reshape", [x, b.const([-1, *ins[0][1:]])])], perm=[0, 3, 1, 2])
        args = [x, b.weight("kernel", kernel)]
        if a.bias:
            args.append(b.weight("bias", b.w["bias"]))
        y = b.op("Conv", args, kernel_shape=list(a.kernel), strides=list(a.stride),
                 dilations=list(a.dilation), pads=[t, l, bo, r], group=groups)
        if len(ins[0]) == 4:
            y = b.op("Reshape", [b.op("Transpose", [y], perm=[0, 2, 3, 1]), b.const([-1, *out])])
        return y


@register
class Conv(_SlidingConv):
    name = "conv"
    doc = "2-D convolution (grouped when groups > 1)"
    mults_rule = "H_out x W_out x C_out x kh x kw x C_in / groups"
    mult_classes = ("standard", "pointwise", "depthwise", "grouped")
    args = {"filters": Arg("int"), **_WINDOW_ARGS, "groups": Arg("int", 1), "bias": Arg("bool", True)}

    def output_shape(self, a, ins):
        oh, ow, _ = conv_geometry(a, ins[0])
        c = ins[0][-1]
        if c % a.groups or a.filters % a.groups:
            raise ShapeError(f"groups={a.groups} must divide both input channels ({c}) "
                             f"and filters ({a.filters})")
        return (*ins[0][:-3], oh, ow, a.filters)

    def weight_shapes(self, a, ins):
        kh, kw = a.kernel
        w = {"kernel": (kh, kw, ins[0][-1] // a.groups, a.filters)}
        if a.bias:
            w["bias"] = (a.filters,)
        return w

    def mults(self, a, ins, out):
        kh, kw = a.kernel
        return numel(out) * kh * kw * (ins[0][-1] // a.groups)

    def mult_class(self, a, ins):
        if a.groups > 1:
            return "depthwise" if a.groups == ins[0][-1] else "grouped"
        return "pointwise" if a.kernel == (1, 1) else "standard"

    def mults_formula(self, a, ins, out):
        kh, kw = a.kernel
        c, g = ins[0][-1], a.groups
        per = f"{c} / {g}" if g > 1 else f"{c}"
        maps = ("L x ", f"{out[0]} x ") if len(out) == 4 else ("", "")
        return (f"mults = {maps[0]}H_out x W_out x C_out x kh x kw x C_in{' / groups' if g > 1 else ''}"
                f" = {maps[1]}{out[-3]} x {out[-2]} x {out[-1]} x {kh} x {kw} x {per} = {self.mults(a, ins, out):,}")

    def forward(self, a, w, xs, ops):
        _, _, pads = conv_geometry(a, xs[0].shape[1:])
        return stacked(conv2d)(xs[0], w["kernel"], w.get("bias"), a.stride, a.dilation, pads, a.groups, ops)

    def onnx_kernel(self, a, ins, kernel):
        return kernel.transpose(3, 2, 0, 1), a.groups     # (kh, kw, C/g, F) -> (F, C/g, kh, kw)

    def rewrite(self, a, in_shape, rewrite):
        """What-if rewrites of a standard k x k convolution (k > 1, groups = 1):
        ("separable",) -> depthwise k x k + pointwise 1 x 1;
        ("bottleneck", R) -> a 1 x 1 reduction to C_in / R channels, then the convolution."""
        if a.groups != 1 or a.kernel == (1, 1) or len(in_shape) != 3:
            return None
        if rewrite[0] == "separable":
            return separable_parts(a)
        reduced = max(1, in_shape[2] // rewrite[1])
        conv = {**window_args(a), "filters": a.filters, "bias": a.bias}
        return [("reduce", "conv", {"filters": reduced, "kernel": 1, "bias": False}), ("conv", "conv", conv)]

    def rewrite_analytic(self, a, ins, out, rewrite):
        """The textbook ratio of the rewrite's mults to the original's, and its formula."""
        from fractions import Fraction   # what-if only: not at start-up

        (kh, kw), n = a.kernel, a.filters
        if rewrite[0] == "separable":
            return Fraction(1, n) + Fraction(1, kh * kw), f"1/N + 1/f^2 = 1/{n} + 1/{kh * kw}"
        r = rewrite[1]
        (h, w, c), (oh, ow, _) = ins[0], out
        return (Fraction(1, r) + Fraction(c * h * w, r * kh * kw * n * oh * ow),
                f"1/R + C_in*H_in*W_in/(R*f^2*N*H_out*W_out), R = {r}")

    def rewrite_note(self, a, ins, rewrite):
        """Why the measured ratio of a rewrite differs from the analytic one, if it does."""
        if rewrite[0] != "bottleneck" or ins[0][2] % rewrite[1] == 0:
            return ""
        c, r = ins[0][2], rewrite[1]
        kept = max(1, c // r)
        from fractions import Fraction
        return (f"C_in/R = {c}/{r} = {float(Fraction(c, r)):.4g} is not a whole number of channels: the "
                f"reduction keeps {kept}, so the measured ratio counts {kept} where the analytic one "
                f"counts {float(Fraction(c, r)):.4g}")


@register
class DepthwiseConv(_SlidingConv):
    name = "depthwise_conv"
    doc = "depthwise convolution: one k x k filter per input channel (x depth_multiplier)"
    mults_rule = "H_out x W_out x (C_in x multiplier) x kh x kw"
    mult_classes = ("depthwise",)
    args = {**_WINDOW_ARGS, "depth_multiplier": Arg("int", 1), "bias": Arg("bool", True)}

    def output_shape(self, a, ins):
        oh, ow, _ = conv_geometry(a, ins[0])
        return (*ins[0][:-3], oh, ow, ins[0][-1] * a.depth_multiplier)

    def groups(self, a, ins):
        return ins[0][-1]           # one group per input channel

    def weight_shapes(self, a, ins):
        kh, kw = a.kernel
        w = {"kernel": (kh, kw, ins[0][-1], a.depth_multiplier)}
        if a.bias:
            w["bias"] = (ins[0][-1] * a.depth_multiplier,)
        return w

    def mults(self, a, ins, out):
        kh, kw = a.kernel
        return numel(out) * kh * kw

    def mult_class(self, a, ins):
        return "depthwise"

    def fan_in(self, a, ins, shape):
        return a.kernel[0] * a.kernel[1]      # each output reads one channel's k x k window

    def mults_formula(self, a, ins, out):
        kh, kw = a.kernel
        maps = ("L x ", f"{out[0]} x ") if len(out) == 4 else ("", "")
        return (f"mults = {maps[0]}H_out x W_out x (C_in x multiplier) x kh x kw = {maps[1]}{out[-3]} x {out[-2]} x "
                f"{out[-1]} x {kh} x {kw} = {self.mults(a, ins, out):,}")

    def forward(self, a, w, xs, ops):
        _, _, pads = conv_geometry(a, xs[0].shape[1:])
        kh, kw, c, m = w["kernel"].shape
        kernel = w["kernel"].reshape(kh, kw, 1, c * m)
        return stacked(conv2d)(xs[0], kernel, w.get("bias"), a.stride, a.dilation, pads, c, ops)

    def onnx_kernel(self, a, ins, kernel):
        kh, kw, c, m = kernel.shape     # output channel c * m + j, as ONNX's grouped Conv
        return kernel.reshape(kh, kw, 1, c * m).transpose(3, 2, 0, 1), c


@register
class SeparableConv(Kind):
    name, family = "separable_conv", "convolution"
    doc = "depthwise k x k (no bias) then pointwise 1 x 1; reported as its two parts"
    saves_rule = "what its parts keep (a depthwise and a pointwise conv, each its input when its weights train)"
    flops_rule = "those of its depthwise and pointwise parts"
    mults_rule = "those of its depthwise and pointwise parts"
    args = {"filters": Arg("int"), **_WINDOW_ARGS, "depth_multiplier": Arg("int", 1),
            "bias": Arg("bool", True)}

    def parts(self, a):
        return separable_parts(a, a.depth_multiplier)


def window_args(a) -> dict:
    """Normalised window arguments back in spec form, to build derived layers."""
    return {"kernel": list(a.kernel), "stride": list(a.stride), "dilation": list(a.dilation),
            "padding": a.padding if a.padding == "same" else list(a.padding)}


def separable_parts(a, depth_multiplier=1):
    return [("depthwise", "depthwise_conv", {**window_args(a), "depth_multiplier": depth_multiplier,
                                             "bias": False}),
            ("pointwise", "conv", {"filters": a.filters, "kernel": 1, "bias": a.bias})]
