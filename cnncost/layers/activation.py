"""Element-wise activations. One table gives each function's FLOPs per element, NumPy
forward and ONNX export; `slope` (leaky_relu), `alpha` (elu) and `approximate` (gelu)
are the only parameters, each refused for the other functions.

FLOPs count each element-wise primitive (add, multiply, divide, max, min, exp, log, tanh,
erf) as one.
"""
from __future__ import annotations

import math

from cnncost.errors import SpecError
from cnncost.layers.base import (Arg, Kind, NoMults, OutputSized, PointWise, Saved, example_axes, numel, register,
                                 register_alias)


def _sigmoid(np, x):
    return 1.0 / (1.0 + np.exp(-x))


def _relu6(np, x):
    return np.clip(x, 0.0, 6.0)


def _hard_sigmoid(np, x):
    """relu6(x + 3) / 6, computed as ONNX's HardSigmoid(alpha=1/6, beta=1/2) is by
    onnxruntime: clip(x * float32(1/6) + 0.5, 0, 1). The same function; spelled as
    relu6(x + 3) / 6 it rounds differently on 34% of float32 inputs (one ulp), and in a
    quantized network each such ulp can land a value on the other side of a rounding step."""
    return np.clip(x * x.dtype.type(1.0 / 6.0) + x.dtype.type(0.5), 0.0, 1.0)


def _softmax(np, x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(np, x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _softplus(np, x):
    return np.logaddexp(0.0, x)          # log(1 + exp(x)) without overflow


def erf(np, x):
    """erf to within 1.2e-7 (Numerical Recipes' erfc, Chebyshev fit): NumPy has no erf and
    the executor needs no SciPy; float32 carries about 6e-8 relative."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    return np.sign(x) * (1.0 - t * np.exp(poly))


def _gelu(np, x, a):
    if a.approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1.0 + erf(np, x / math.sqrt(2.0)))


# name: (flops per element, forward(np, x, args), formula)
FUNCTIONS = {
    "linear": (0, lambda np, x, a: x, "x"),
    "relu": (1, lambda np, x, a: np.maximum(x, 0.0), "max(x, 0)"),
    "relu6": (2, lambda np, x, a: _relu6(np, x), "min(max(x, 0), 6)"),
    "tanh": (1, lambda np, x, a: np.tanh(x), "tanh(x)"),
    "sigmoid": (3, lambda np, x, a: _sigmoid(np, x), "1 / (1 + exp(-x))"),
    "hard_sigmoid": (4, lambda np, x, a: _hard_sigmoid(np, x), "relu6(x + 3) / 6"),
    "swish": (4, lambda np, x, a: x * _sigmoid(np, x), "x * sigmoid(x)"),
    "hard_swish": (5, lambda np, x, a: x * _hard_sigmoid(np, x), "x * relu6(x + 3) / 6"),
    "softmax": (3, lambda np, x, a: _softmax(np, x, _axis(a, x)), "exp(x) / sum(exp(x)) over `axis` (the last)"),
    "log_softmax": (2, lambda np, x, a: _log_softmax(np, x, _axis(a, x)), "x - log(sum(exp(x))) over `axis`"),
    "leaky_relu": (2, lambda np, x, a: np.where(x >= 0, x, a.slope * x), "x if x >= 0 else slope * x"),
    "elu": (3, lambda np, x, a: np.where(x > 0, x, a.alpha * np.expm1(np.minimum(x, 0.0))),
            "x if x > 0 else alpha * (exp(x) - 1)"),
    "gelu": (5, _gelu, "x / 2 * (1 + erf(x / sqrt 2)); approximate: tanh, 9 flops"),
    "mish": (5, lambda np, x, a: x * np.tanh(_softplus(np, x)), "x * tanh(softplus(x))"),
    "hard_tanh": (2, lambda np, x, a: np.clip(x, -1.0, 1.0), "min(max(x, -1), 1)"),
    "softplus": (3, lambda np, x, a: _softplus(np, x), "log(1 + exp(x))"),
}
PARAMETERS = {"slope": ("leaky_relu",), "alpha": ("elu",), "approximate": ("gelu",),
              "axis": ("softmax", "log_softmax")}
DEFAULTS = {"slope": 0.01, "alpha": 1.0, "approximate": "none", "axis": -1}
ROWWISE = ("softmax", "log_softmax")     # each output reads a whole row along `axis`
# PyTorch's backward of these reads the output (relu's mask, sigmoid's s(1 - s)); of the
# others (relu6 = hardtanh, swish = silu, gelu, ...) the input; of linear nothing
KEEPS_OUTPUT = ("relu", "sigmoid", "tanh", "softmax", "log_softmax")


def _axis(a, x):
    """The array axis of `axis` (batch counted as 0, as in the spec) on a batch x."""
    return example_axes([a.axis], x.ndim - 1)[0] + 1
ALIASES = {"silu": "swish"}


@register
class Activation(PointWise, NoMults, OutputSized, Kind):
    name, family = "activation", "activation"
    doc = "element-wise activation function"
    args = {"fn": Arg("choice", choices=tuple(FUNCTIONS) + tuple(ALIASES)),
            "slope": Arg("float", None, doc="leaky_relu: slope for x < 0 (default 0.01)"),
            "alpha": Arg("float", None, doc="elu: scale of the negative part (default 1.0)"),
            "approximate": Arg("choice", None, choices=("none", "tanh"), doc="gelu: none (erf) or tanh"),
            "axis": Arg("int", None, minimum=None, doc="softmax, log_softmax: the axis, batch counted as 0 (default -1)")}
    flops_rule = ("per element: " + ", ".join(f"{n} {f[0]}" for n, f in FUNCTIONS.items() if n not in ROWWISE)
                  + " (tanh form 9); softmax 3 per element minus 1 per row; log_softmax 2 per element")
    onnx_layout = "any"
    saves_rule = f"its output for {', '.join(KEEPS_OUTPUT)}; nothing for linear; its input for the others"

    def saved(self, a, ins, out, grads, trains):
        if a.fn == "linear":
            return Saved()
        return Saved(output=True) if a.fn in KEEPS_OUTPUT else Saved(inputs=(0,))

    def output_shape(self, a, ins):
        if a.fn in ROWWISE:
            example_axes([a.axis], len(ins[0]))
        return ins[0]

    def window(self, a, ins):
        """Point-wise, but a softmax over a map's H or W reads the whole map, and over
        the axes of any other tensor has no receptive field."""
        if a.fn not in ROWWISE or len(ins[0]) != 3:
            return None
        return None if example_axes([a.axis], 3)[0] == 2 else "global"

    def validate(self, a):
        a["fn"] = ALIASES.get(a.fn, a.fn)
        for key, fns in PARAMETERS.items():
            if a[key] is not None and a.fn not in fns:
                raise SpecError(f"Invalid argument `{key}` for fn={a.fn}: only {' and '.join(fns)} take{'s' * (len(fns) == 1)} it.")
            if a[key] is None and a.fn in fns:
                a[key] = DEFAULTS[key]

    def label(self, a, written):
        # `kind: activation, fn: gelu` (a block's `fn: act`) reads as gelu in reports
        return a.fn if written.lower() == "activation" else written

    def flops(self, a, ins, out):
        per = FUNCTIONS[a.fn][0] * numel(out)
        if a.fn == "gelu" and a.approximate == "tanh":
            per = 9 * numel(out)
        if a.fn == "softmax":   # C exps, C - 1 adds, C divides per row
            per -= numel(out) // out[example_axes([a.axis], len(out))[0]]
        return per

    def forward(self, a, w, xs, ops):
        x, np = xs[0], ops.np
        if ops.may_overwrite_input and a.fn in ("relu", "relu6", "linear"):
            if a.fn == "relu":
                return np.maximum(x, 0.0, out=x)
            return np.clip(x, 0.0, 6.0, out=x) if a.fn == "relu6" else x
        return FUNCTIONS[a.fn][1](np, x, a)

    def onnx(self, a, ins, out, b):
        x, fn = b.inputs[0], a.fn
        if fn in ONNX_OPS:
            return b.op(ONNX_OPS[fn], [x])
        if fn == "relu6":
            return b.op("Clip", [x, b.const(0.0, "float32"), b.const(6.0, "float32")])
        if fn == "hard_tanh":
            return b.op("Clip", [x, b.const(-1.0, "float32"), b.const(1.0, "float32")])
        if fn == "hard_sigmoid":    # relu6(x + 3) / 6 = clip(x / 6 + 1/2, 0, 1)
            return b.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
        if fn == "swish":
            return b.op("Mul", [x, b.op("Sigmoid", [x])])
        if fn in ROWWISE:       # our axis, where the layout holds it (channels: 1 in NCHW)
            rank = len(ins[0])
            axis = b.axis(example_axes([a.axis], rank)[0], rank)
            return b.op("Softmax" if fn == "softmax" else "LogSoftmax", [x], axis=axis)
        if fn == "leaky_relu":
            return b.op("LeakyRelu", [x], alpha=float(a.slope))
        if fn == "elu":
            return b.op("Elu", [x], alpha=float(a.alpha))
        if fn == "mish":        # Mish is opset 18; opset 17 spells it out
            return b.op("Mul", [x, b.op("Tanh", [b.op("Softplus", [x])])])
        if fn == "gelu":        # Gelu is opset 20; opset 17 spells out either form
            c = lambda v: b.const(v, "float32")   # noqa: E731
            if a.approximate == "tanh":
                inner = b.op("Mul", [b.op("Add", [x, b.op("Mul", [b.op("Pow", [x, c(3.0)]), c(0.044715)])]),
                                     c(math.sqrt(2.0 / math.pi))])
                return b.op("Mul", [b.op("Mul", [x, c(0.5)]), b.op("Add", [c(1.0), b.op("Tanh", [inner])])])
            erf = b.op("Erf", [b.op("Div", [x, c(math.sqrt(2.0))])])
            return b.op("Mul", [b.op("Mul", [x, c(0.5)]), b.op("Add", [c(1.0), erf])])
        raise AssertionError(fn)  # pragma: no cover - a FUNCTIONS entry without an export


ONNX_OPS = {"linear": "Identity", "relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid",
            "hard_swish": "HardSwish", "softplus": "Softplus"}


for _fn in (*FUNCTIONS, *ALIASES):
    register_alias(_fn, "activation", {"fn": _fn})
