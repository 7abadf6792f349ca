"""Transposed convolution (PyTorch ConvTranspose2d): every input pixel scatters a k x k
patch, `stride` apart, into the output.

out = (in - 1) x stride - pad_before - pad_after + dilation x (k - 1) + output_padding + 1.
Multiplications: each input element times each weight it meets once,
C_in x C_out / groups x kh x kw x H_in x W_in (the tools that count a transposed
convolution as a convolution over its output get it wrong). Kernel layout
(kh, kw, C_out / groups, C_in), as Keras; PyTorch and ONNX store (C_in, C_out / groups, kh, kw).
"""
from __future__ import annotations


from cnncost.errors import ShapeError, SpecError
from cnncost.layers.base import Arg, Kind, SavesInputForWeights, numel, register, require_rank


@register
class ConvTranspose(SavesInputForWeights, Kind):
    name, family = "conv_transpose", "convolution"
    doc = "transposed convolution (PyTorch ConvTranspose2d): the learned upsampling of generators and U-Nets"
    args = {"filters": Arg("int"), "kernel": Arg("pair", doc="kernel size k or [kh, kw]"),
            "stride": Arg("pair", 1), "padding": Arg("padding", 0, doc="p | [ph, pw] | [t, b, l, r] (PyTorch)"),
            "output_padding": Arg("pair", 0, minimum=0, doc="extra rows/columns at the bottom/right, < stride or dilation"),
            "dilation": Arg("pair", 1), "groups": Arg("int", 1), "bias": Arg("bool", True)}
    flops_rule = "2 per MAC + 1 per output element if bias"
    mults_rule = "C_in x C_out / groups x kh x kw x H_in x W_in"
    mult_classes = ("standard", "grouped")

    def validate(self, a):
        if a.padding == "same":
            raise SpecError("Invalid value for argument `padding`. Expected explicit padding (as PyTorch). "
                            "Received padding='same'.")
        for axis in (0, 1):
            if a.output_padding[axis] >= max(a.stride[axis], a.dilation[axis]):
                raise SpecError(f"Invalid value for argument `output_padding`. Expected less than stride or "
                                f"dilation ({max(a.stride[axis], a.dilation[axis])}). "
                                f"Received output_padding={list(a.output_padding)}.")

    def output_shape(self, a, ins):
        require_rank(ins[0], (3,))
        h, w, c = ins[0]
        if c % a.groups or a.filters % a.groups:
            raise ShapeError(f"groups={a.groups} must divide both input channels ({c}) and filters ({a.filters})")
        t, b, l, r = a.padding
        oh = (h - 1) * a.stride[0] - t - b + a.dilation[0] * (a.kernel[0] - 1) + a.output_padding[0] + 1
        ow = (w - 1) * a.stride[1] - l - r + a.dilation[1] * (a.kernel[1] - 1) + a.output_padding[1] + 1
        if oh < 1 or ow < 1:
            raise ShapeError(f"padding {list(a.padding)} leaves no output ({oh}x{ow}) from a {h}x{w} input")
        return (oh, ow, a.filters)

    def weight_shapes(self, a, ins):
        w = {"kernel": (a.kernel[0], a.kernel[1], a.filters // a.groups, ins[0][2])}
        if a.bias:
            w["bias"] = (a.filters,)
        return w

    def mults(self, a, ins, out):
        h, w, c = ins[0]
        return c * (a.filters // a.groups) * a.kernel[0] * a.kernel[1] * h * w

    def mult_class(self, a, ins):
        return "grouped" if a.groups > 1 else "standard"

    def flops(self, a, ins, out):
        return 2 * self.mults(a, ins, out) + (numel(out) if a.bias else 0)

    def fan_in(self, a, ins, shape):
        # an output pixel gathers about kh x kw x C_in/groups / (sh x sw) products
        return max(1, a.kernel[0] * a.kernel[1] * (ins[0][2] // a.groups) // (a.stride[0] * a.stride[1]))

    def window(self, a, ins):
        from fractions import Fraction   # only receptive fields need it: not at start-up

        # in input pixels: outputs are 1/s apart and taps d/s apart (exact fractions)
        (sh, sw), (dh, dw) = a.stride, a.dilation
        return (a.kernel, (Fraction(1, sh), Fraction(1, sw)), (Fraction(dh, sh), Fraction(dw, sw)),
                (Fraction(a.padding[0], sh), Fraction(a.padding[2], sw)))

    def workspace(self, a, ins, out):
        h, w, c = ins[0]
        full = ((h - 1) * a.stride[0] + a.dilation[0] * (a.kernel[0] - 1) + 1 + a.output_padding[0]) * \
               ((w - 1) * a.stride[1] + a.dilation[1] * (a.kernel[1] - 1) + 1 + a.output_padding[1]) * a.filters
        return h * w * a.kernel[0] * a.kernel[1] * a.filters + full

    def explain(self, a, ins, out):
        h, w, c = ins[0]
        (kh, kw), g = a.kernel, a.groups
        t, b, l, r = a.padding
        return [f"H_out = (H_in - 1) x stride - pads + dilation x (k - 1) + output_padding + 1 = "
                f"({h} - 1) x {a.stride[0]} - {t} - {b} + {a.dilation[0]} x ({kh} - 1) + {a.output_padding[0]} + 1 = {out[0]}",
                f"W_out = ({w} - 1) x {a.stride[1]} - {l} - {r} + {a.dilation[1]} x ({kw} - 1) + {a.output_padding[1]} + 1 = {out[1]}",
                f"mults = C_in x C_out{' / groups' if g > 1 else ''} x kh x kw x H_in x W_in = "
                f"{c} x {a.filters}{f' / {g}' if g > 1 else ''} x {kh} x {kw} x {h} x {w} = {self.mults(a, ins, out):,}"]

    def forward(self, a, w, xs, ops):
        """One instrumented product per group gives every (input pixel, tap, output channel)
        contribution; each kernel tap's slab is then added into the output at stride
        spacing (a loop over kernel taps only, as the depthwise forward)."""
        np = ops.np
        x = xs[0]
        n, h, wd, c = x.shape
        kh, kw, fg, _ = w["kernel"].shape
        g = a.groups
        cg = c // g
        (sh, sw), (dh, dw) = a.stride, a.dilation
        k = w["kernel"].reshape(kh, kw, fg, g, cg).transpose(3, 4, 0, 1, 2).reshape(g, cg, kh * kw * fg)
        cols = x.reshape(n * h * wd, g, cg).transpose(1, 0, 2)                   # (g, NHW, cg)
        y = ops.matmul(cols, k)                                                  # (g, NHW, kh kw fg)
        y = y.reshape(g, n, h, wd, kh, kw, fg).transpose(1, 2, 3, 4, 5, 0, 6).reshape(n, h, wd, kh, kw, g * fg)
        full_h = (h - 1) * sh + dh * (kh - 1) + 1 + a.output_padding[0]
        full_w = (wd - 1) * sw + dw * (kw - 1) + 1 + a.output_padding[1]
        full = np.zeros((n, full_h, full_w, a.filters), x.dtype)
        for i in range(kh):
            for j in range(kw):
                full[:, i * dh: i * dh + (h - 1) * sh + 1: sh, j * dw: j * dw + (wd - 1) * sw + 1: sw] += y[:, :, :, i, j]
        t, b, l, r = a.padding
        out = full[:, t: full_h - b, l: full_w - r]
        if a.bias:
            out = out + w["bias"]
        return np.ascontiguousarray(out)

    def onnx(self, a, ins, out, b):
        t, bo, l, r = a.padding
        kernel = b.weight("kernel", b.w["kernel"].transpose(3, 2, 0, 1))
        attrs = dict(kernel_shape=list(a.kernel), strides=list(a.stride), dilations=list(a.dilation), group=a.groups)
        if all(p < s for p, s in zip(a.output_padding, a.stride)):
            args = [b.inputs[0], kernel] + ([b.weight("bias", b.w["bias"])] if a.bias else [])
            return b.op("ConvTranspose", args, pads=[t, l, bo, r], output_padding=list(a.output_padding), **attrs)
        # PyTorch allows output_padding < dilation too; onnxruntime only < stride. Spell it
        # out: the full uncropped result, output_padding zero rows appended, the padding
        # cropped, then the bias (which PyTorch adds to the appended rows too).
        (oph, opw), (h, w) = a.output_padding, out[:2]
        y = b.op("ConvTranspose", [b.inputs[0], kernel], pads=[0, 0, 0, 0], **attrs)
        y = b.op("Pad", [y, b.const([0, 0, 0, 0, 0, 0, oph, opw])])
        y = b.op("Slice", [y, b.const([t, l]), b.const([t + h, l + w]), b.const([2, 3])])
        return b.op("Add", [y, b.op("Unsqueeze", [b.weight("bias", b.w["bias"]), b.const([1, 2])])]) if a.bias else y
