"""Element-wise arithmetic on tensors of any shape: unary functions (exp, log, sqrt, erf,
sin, cos, abs, neg, reciprocal, pow by a constant) and binary operations (add, sub, mul,
div, max, min) of two inputs broadcast per example as NumPy broadcasts (trailing axes
first), or of one input and a constant `scalar`. One FLOP per output element each: these
are the decode arithmetic of detectors and the scaling of attention scores.
"""
from __future__ import annotations

from cnncost.errors import SpecError
from cnncost.layers.base import (Arg, Kind, NoMults, OutputSized, PointWise, Saved, numel, partners, per_example,
                                 register, register_alias)
from cnncost.layers.merge import broadcast_shape

UNARY = {"exp": "Exp", "log": "Log", "sqrt": "Sqrt", "erf": "Erf", "sin": "Sin", "cos": "Cos",
         "abs": "Abs", "neg": "Neg", "reciprocal": "Reciprocal", "pow": "Pow", "floor": "Floor",
         "ceil": "Ceil", "sign": "Sign"}


@register
class Unary(PointWise, NoMults, OutputSized, Kind):
    name, family = "unary", "arithmetic"
    doc = "an element-wise function: " + ", ".join(UNARY) + " (pow: x ** exponent, a constant)"
    args = {"fn": Arg("choice", choices=tuple(UNARY)),
            "exponent": Arg("float", None, doc="pow: the constant exponent")}
    saves_rule = ("its output for exp, sqrt and reciprocal; nothing for neg, floor, ceil and sign; its input "
                  "for the others")

    def saved(self, a, ins, out, grads, trains):
        if a.fn in ("neg", "floor", "ceil", "sign"):
            return Saved()
        return Saved(output=True) if a.fn in ("exp", "sqrt", "reciprocal") else Saved(inputs=(0,))
    flops_rule = "1 per element"
    onnx_layout = "any"

    def validate(self, a):
        if (a.exponent is None) == (a.fn == "pow"):
            raise SpecError("Invalid argument `exponent`: pow needs it, and only pow takes it.")

    def flops(self, a, ins, out):
        return numel(out)

    def forward(self, a, w, xs, ops):
        np, x = ops.np, xs[0]
        if a.fn == "erf":
            from cnncost.layers.activation import erf
            return erf(np, x)
        if a.fn == "pow":
            return np.power(x, x.dtype.type(a.exponent))
        if a.fn == "neg":
            return -x
        return getattr(np, a.fn)(x)

    def onnx(self, a, ins, out, b):
        if a.fn == "pow":
            return b.op("Pow", [b.inputs[0], b.scalar(a.exponent)])
        return b.op(UNARY[a.fn], [b.inputs[0]])


for _fn in UNARY:
    register_alias(_fn, "unary", {"fn": _fn})

# op: (ONNX operator, NumPy function)
BINARY = {"add": ("Add", "add"), "sub": ("Sub", "subtract"), "mul": ("Mul", "multiply"),
          "div": ("Div", "divide"), "max": ("Max", "maximum"), "min": ("Min", "minimum"),
          "pow": ("Pow", "power")}


@register
class Binary(PointWise, NoMults, OutputSized, Kind):
    name, family = "binary", "arithmetic"
    doc = ("add, sub, mul, div, max, min or pow of two inputs broadcast per example (NumPy's rule), "
           "or of one input and a constant `scalar` (first operand with `scalar_first`)")
    arity = (1, 2)
    args = {"op": Arg("choice", choices=tuple(BINARY)),
            "scalar": Arg("float", None, doc="the second operand, a constant, for a layer of one input"),
            "scalar_first": Arg("bool", False, doc="the scalar is the first operand (1 - x, 2 / x)")}
    flops_rule = "1 per output element"
    saves_rule = ("add, sub: nothing; mul: each input whose partner needs a gradient; div: the divisor (and the "
                  "dividend when the divisor needs one); max, min: both; pow: both and the output; with a "
                  "constant: its input for div by x, max, min and pow, else nothing")

    def saved(self, a, ins, out, grads, trains):
        if len(ins) == 1:
            keeps = a.op in ("max", "min", "pow") or (a.op == "div" and a.scalar_first)
            return Saved(inputs=(0,) if keeps else ())
        if a.op in ("add", "sub"):
            return Saved()
        if a.op == "mul":
            return Saved(inputs=partners(grads))
        if a.op == "div":
            return Saved(inputs=(0, 1) if grads[1] else (1,))
        return Saved(inputs=(0, 1), output=a.op == "pow")
    onnx_layout = "any"

    def output_shape(self, a, ins):
        if (a.scalar is None) != (len(ins) == 2):
            raise SpecError("a binary layer takes two inputs, or one input and `scalar`")
        return broadcast_shape(ins)

    def flops(self, a, ins, out):
        return numel(out)

    def forward(self, a, w, xs, ops):
        np = ops.np
        if a.scalar is not None:
            c = xs[0].dtype.type(a.scalar)
            x, y = (c, xs[0]) if a.scalar_first else (xs[0], c)
        else:
            x, y = per_example(*xs)
        return getattr(np, BINARY[a.op][1])(x, y)

    def onnx(self, a, ins, out, b):
        if a.scalar is not None:
            c = b.scalar(a.scalar)
            xs = [c, b.inputs[0]] if a.scalar_first else [b.inputs[0], c]
        else:
            xs = b.per_example(ins)
        return b.op(BINARY[a.op][0], xs)


register_alias("maximum", "binary", {"op": "max"})
register_alias("minimum", "binary", {"op": "min"})
