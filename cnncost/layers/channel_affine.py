"""Learned per-channel element-wise layers and the difference and quotient of two maps:
`prelu` (a slope per channel for x < 0), `scale` (ConvNeXt's layer scale: a multiplier per
channel), `shift` (a value added per channel), `subtract` and `divide`. With `shared`, one
value serves every channel (PyTorch's nn.PReLU() default; a scalar constant of an ONNX
graph)."""
from __future__ import annotations

from cnncost.layers.base import (Arg, Kind, NoMults, OutputSized, PointWise, Saved, SavesNothing, numel, partners,
                                 per_example, register)
from cnncost.layers.merge import broadcast_shape


def _per_channel(b, ins, name):
    """The (C,) or (1,) weight `name` shaped to broadcast against the ONNX layout of input 0."""
    t = b.weight(name, b.w[name])
    return b.op("Unsqueeze", [t, b.const([1, 2])]) if len(ins[0]) == 3 else t


class _PerChannel(PointWise, NoMults, OutputSized, Kind):
    """One learned value per channel, `weight` (initialised near `centre`)."""

    args = {"shared": Arg("bool", False, doc="one value for every channel")}
    weight, centre, spread = "", 0.0, 0.0

    def weight_shapes(self, a, ins):
        return {self.weight: (1 if a.shared else ins[0][-1],)}

    def init_weight(self, a, ins, name, shape, rng, dtype):
        return (self.centre + self.spread * rng.standard_normal(shape, dtype=dtype)).astype(dtype)


@register
class PReLU(_PerChannel):
    name, family = "prelu", "activation"
    doc = "parametric ReLU: x if x >= 0 else slope_c x, a learned slope per channel"
    flops_rule = "2 per element (multiply, select)"
    weight, centre, spread = "slope", 0.25, 0.05       # PyTorch starts at 0.25
    saves_rule = "its input"

    def saved(self, a, ins, out, grads, trains):
        return Saved(inputs=(0,))

    def flops(self, a, ins, out):
        return 2 * numel(out)

    def forward(self, a, w, xs, ops):
        x = xs[0]
        return ops.np.where(x >= 0, x, x * w["slope"])

    def onnx(self, a, ins, out, b):
        return b.op("PRelu", [b.inputs[0], _per_channel(b, ins, "slope")])


class _OneOp(_PerChannel):
    """x (op) the per-channel weight: one FLOP per element, one ONNX node."""
    flops_rule = "1 per element"
    onnx_op = ""

    def flops(self, a, ins, out):
        return numel(out)

    def forward(self, a, w, xs, ops):
        return self.apply(xs[0], w[self.weight])

    def onnx(self, a, ins, out, b):
        return b.op(self.onnx_op, [b.inputs[0], _per_channel(b, ins, self.weight)])


@register
class Scale(_OneOp):
    name, family = "scale", "normalization"
    doc = "a learned multiplier per channel (ConvNeXt layer scale)"
    weight, centre, spread, onnx_op = "gamma", 1.0, 0.1, "Mul"
    saves_rule = "its input, when its multipliers train (their gradient dy·x)"

    def saved(self, a, ins, out, grads, trains):
        return Saved(inputs=(0,) if trains else ())

    def apply(self, x, gamma):
        return x * gamma


@register
class Shift(SavesNothing, _OneOp):
    name, family = "shift", "normalization"
    doc = "a learned value added per channel (a bias on its own)"
    weight, centre, spread, onnx_op = "beta", 0.0, 0.1, "Add"

    def apply(self, x, beta):
        return x + beta


@register
class Subtract(PointWise, NoMults, OutputSized, Kind):
    name, family = "subtract", "merge"
    doc = "first input minus second, with the broadcasting of `multiply`"
    arity = (2,)
    onnx_op = "Sub"
    args = {}
    flops_rule = "1 per output element"
    saves_rule = "nothing (a difference's gradient needs no value)"

    def saved(self, a, ins, out, grads, trains):
        return Saved()
    onnx_layout = "any"

    def output_shape(self, a, ins):
        return broadcast_shape(ins)

    def flops(self, a, ins, out):
        return numel(out)

    def forward(self, a, w, xs, ops):
        return self.apply(*per_example(*xs))

    def apply(self, x, y):
        return x - y

    def onnx(self, a, ins, out, b):
        return b.op(self.onnx_op, b.per_example(ins))


@register
class Divide(Subtract):
    name = "divide"
    doc = "first input divided by second, with the broadcasting of `multiply`"
    onnx_op = "Div"
    saves_rule = "the divisor, and the dividend too when the divisor needs a gradient (d/dy needs x)"

    def saved(self, a, ins, out, grads, trains):
        return Saved(inputs=(0, 1) if grads[1] else (1,))

    def apply(self, x, y):
        return x / y
