"""Element-wise activations. One table gives each function's forward and FLOPs per element.

FLOPs count each element-wise primitive (add, multiply, divide, max, min, exp, tanh) as one.
"""
from __future__ import annotations

from cnncost.layers.base import Arg, Kind, NoMults, OutputSized, PointWise, numel, register, register_alias


def _sigmoid(np, x):
    return 1.0 / (1.0 + np.exp(-x))


def _relu6(np, x):
    return np.clip(x, 0.0, 6.0)


def _softmax(np, x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# name: (flops per element, forward(np, x), formula)
FUNCTIONS = {
    "linear": (0, lambda np, x: x, "x"),
    "relu": (1, lambda np, x: np.maximum(x, 0.0), "max(x, 0)"),
    "relu6": (2, _relu6, "min(max(x, 0), 6)"),
    "tanh": (1, lambda np, x: np.tanh(x), "tanh(x)"),
    "sigmoid": (3, _sigmoid, "1 / (1 + exp(-x))"),
    "hard_sigmoid": (4, lambda np, x: _relu6(np, x + 3.0) / 6.0, "relu6(x + 3) / 6"),
    "swish": (4, lambda np, x: x * _sigmoid(np, x), "x * sigmoid(x)"),
    "hard_swish": (5, lambda np, x: x * _relu6(np, x + 3.0) / 6.0, "x * relu6(x + 3) / 6"),
    "softmax": (3, _softmax, "exp(x) / sum(exp(x)) over the last axis"),
}


@register
class Activation(PointWise, NoMults, OutputSized, Kind):
    name, family = "activation", "activation"
    doc = "element-wise activation function"
    args = {"fn": Arg("choice", choices=tuple(FUNCTIONS))}
    flops_rule = ("per element: linear 0, relu 1, tanh 1, relu6 2, sigmoid 3, hard_sigmoid 4, "
                  "swish 4, hard_swish 5; softmax 3 per element minus 1 per row")

    def flops(self, a, ins, out):
        per = FUNCTIONS[a.fn][0] * numel(out)
        if a.fn == "softmax":   # C exps, C - 1 adds, C divides per row
            per -= numel(out) // out[-1]
        return per

    def forward(self, a, w, xs, ops):
        x, np = xs[0], ops.np
        if ops.may_overwrite_input and a.fn in ("relu", "relu6", "linear"):
            if a.fn == "relu":
                return np.maximum(x, 0.0, out=x)
            return np.clip(x, 0.0, 6.0, out=x) if a.fn == "relu6" else x
        return FUNCTIONS[a.fn][1](np, x)

    def onnx(self, a, ins, out, b):
        x, fn = b.inputs[0], a.fn
        if fn in ONNX_OPS:
            return b.op(ONNX_OPS[fn], [x])
        if fn == "relu6":
            return b.op("Clip", [x, b.const(0.0, "float32"), b.const(6.0, "float32")])
        if fn == "hard_sigmoid":    # relu6(x + 3) / 6 = clip(x / 6 + 1/2, 0, 1)
            return b.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
        if fn == "swish":
            return b.op("Mul", [x, b.op("Sigmoid", [x])])
        if fn == "softmax":     # over the last axis of our shape: channels, axis 1 in NCHW
            return b.op("Softmax", [x], axis=1)
        raise AssertionError(fn)  # pragma: no cover - a FUNCTIONS entry without an export


ONNX_OPS = {"linear": "Identity", "relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid",
            "hard_swish": "HardSwish"}


for _fn in FUNCTIONS:
    register_alias(_fn, "activation", {"fn": _fn})
