"""Fully connected layer and flatten."""
from __future__ import annotations

from cnncost.layers.base import (Arg, Kind, NoMults, OutputSized, PointWise, SavesInputForWeights,
                                 SavesNothing, numel, register)


@register
class Dense(SavesInputForWeights, PointWise, OutputSized, Kind):
    name, family = "dense", "dense"
    doc = "fully connected layer on the last axis (Keras semantics); flatten first for the classic FC"
    args = {"units": Arg("int"), "bias": Arg("bool", True),
            "per_position": Arg("bool", False, doc="on a rank-3 input on purpose (ConvNeXt's MLP, tokens in groups): no warning")}
    flops_rule = "2 per MAC + 1 per output element if bias"
    mults_rule = "inputs x units (per position on a feature map)"
    mult_classes = ("dense",)
    onnx_layout = "any"

    def output_shape(self, a, ins):
        return tuple(ins[0][:-1]) + (a.units,)

    def weight_shapes(self, a, ins):
        w = {"kernel": (ins[0][-1], a.units)}
        if a.bias:
            w["bias"] = (a.units,)
        return w

    def mults(self, a, ins, out):
        return numel(ins[0]) * a.units

    def warnings(self, a, ins):
        if len(ins[0]) == 3 and not a.per_position:
            h, w, c = ins[0]
            return [f"dense on a {h}x{w}x{c} feature map maps its {c} channels at each of the {h * w} "
                    "positions (a 1x1 convolution); put a flatten or a global pool before it for a "
                    "classic fully connected layer, or say `per_position: true`"]
        return []

    def mult_class(self, a, ins):
        return "dense"

    def explain(self, a, ins, out):
        lead = numel(ins[0]) // ins[0][-1]
        pre = f"{lead} positions x " if lead > 1 else ""
        return [f"mults = {pre}inputs x units = {pre}{ins[0][-1]} x {a.units} = {self.mults(a, ins, out):,}"]

    def flops(self, a, ins, out):
        return 2 * self.mults(a, ins, out) + (numel(out) if a.bias else 0)

    def onnx(self, a, ins, out, b):
        kernel = b.weight("kernel", b.w["kernel"])
        if len(ins[0]) == 1:
            args = [b.inputs[0], kernel] + ([b.weight("bias", b.w["bias"])] if a.bias else [])
            return b.op("Gemm", args)
        if len(ins[0]) != 3 or b.layout == "plain":    # tokens: over the last axis as held
            y = b.op("MatMul", [b.inputs[0], kernel])
            return b.op("Add", [y, b.weight("bias", b.w["bias"])]) if a.bias else y
        # on a feature map: per position, over channels (NHWC MatMul, back to NCHW)
        y = b.op("MatMul", [b.op("Transpose", [b.inputs[0]], perm=[0, 2, 3, 1]), kernel])
        if a.bias:
            y = b.op("Add", [y, b.weight("bias", b.w["bias"])])
        return b.op("Transpose", [y], perm=[0, 3, 1, 2])

    def forward(self, a, w, xs, ops):
        x = xs[0]
        y = ops.matmul(x.reshape(-1, x.shape[-1]), w["kernel"]).reshape(x.shape[:-1] + (a.units,))
        return y + w["bias"] if a.bias else y


@register
class Flatten(SavesNothing, NoMults, Kind):
    name, family = "flatten", "reshape"
    doc = "collapse H x W x C to one axis (H, W, C order)"
    args = {}
    onnx_layout = "any"

    def output_shape(self, a, ins):
        return (numel(ins[0]),)

    def window(self, a, ins):
        return "global" if len(ins[0]) == 3 else None

    def workspace(self, a, ins, out):
        return 0             # a view of its input

    def forward(self, a, w, xs, ops):
        return xs[0].reshape(xs[0].shape[0], -1)

    def onnx(self, a, ins, out, b):
        x = b.inputs[0]
        if len(ins[0]) == 3 and b.layout == "nchw":   # our flatten order is H, W, C: go back to NHWC first
            x = b.op("Transpose", [x], perm=[0, 2, 3, 1])
        return b.op("Flatten", [x], axis=1)
