"""Reductions over any axes (mean, sum, max, min, L2 norm; keepdims) and the running sum
along one axis (cumsum). Axes count the batch as axis 0; the batch is never reduced.

FLOPs per output element of a reduction over n inputs: sum, max, min n - 1 (adds or
compares), mean n (and one divide), L2 2n (n squares, n - 1 adds, one square root).
"""
from __future__ import annotations

from cnncost.layers.base import (Arg, Kind, NoMults, OutputSized, Saved, SavesNothing, Tensorial, example_axes, numel,
                                 register, register_alias)

OPS = ("mean", "sum", "max", "min", "l2")
ONNX_OPS = {"mean": "ReduceMean", "sum": "ReduceSum", "max": "ReduceMax", "min": "ReduceMin", "l2": "ReduceL2"}


def _map_window(axes, ins):
    """On a map: per position over its channels, the whole map over H or W; else n/a."""
    if len(ins[0]) != 3:
        return None           # a vector's (global already) or tokens' (n/a already) field
    return None if set(axes) <= {2} else "global"


@register
class Reduce(Tensorial, NoMults, OutputSized, Kind):
    name, family = "reduce", "reduction"
    doc = "mean, sum, max, min or L2 norm over `axes` (batch counted as 0), keeping them as size 1 with keepdims"
    args = {"op": Arg("choice", choices=OPS), "axes": Arg("ints", minimum=None),
            "keepdims": Arg("bool", True)}
    flops_rule = "per output element over n inputs: sum, max, min n - 1; mean n; l2 2n"
    saves_rule = "mean, sum: nothing; max, min, l2: its input and its output"

    def saved(self, a, ins, out, grads, trains):
        return Saved() if a.op in ("mean", "sum") else Saved(inputs=(0,), output=True)

    def output_shape(self, a, ins):
        axes = example_axes(a.axes, len(ins[0]), "axes")
        shape = [1 if i in axes else d for i, d in enumerate(ins[0])] if a.keepdims else \
            [d for i, d in enumerate(ins[0]) if i not in axes]
        return tuple(shape) or (1,)

    def window(self, a, ins):
        return _map_window(example_axes(a.axes, len(ins[0]), "axes"), ins)

    def flops(self, a, ins, out):
        total, outputs = numel(ins[0]), numel(out)
        return {"sum": total - outputs, "max": total - outputs, "min": total - outputs,
                "mean": total, "l2": 2 * total}[a.op]

    def forward(self, a, w, xs, ops):
        np, x = ops.np, xs[0]
        axes = tuple(i + 1 for i in example_axes(a.axes, x.ndim - 1, "axes"))
        if a.op == "l2":
            y = np.sqrt(np.square(x).sum(axis=axes, keepdims=True))
        else:
            y = getattr(np, a.op)(x, axis=axes, keepdims=True)
        return y.reshape((x.shape[0],) + self.output_shape(a, [x.shape[1:]]))

    def onnx(self, a, ins, out, b):
        rank = len(ins[0])
        axes = [b.axis(i, rank) for i in example_axes(a.axes, rank, "axes")]
        if a.op == "sum":         # opset 13+: ReduceSum takes its axes as an input
            y = b.op("ReduceSum", [b.inputs[0], b.const(axes)], keepdims=1)
        else:
            y = b.op(ONNX_OPS[a.op], [b.inputs[0]], axes=axes, keepdims=1)
        return y if a.keepdims else b.op("Reshape", [y, b.const([0, *out])])


for _op in OPS:
    register_alias(f"reduce_{_op}", "reduce", {"op": _op})


@register
class CumSum(SavesNothing, Tensorial, NoMults, OutputSized, Kind):
    name, family = "cumsum", "reduction"
    doc = "running sum along `axis` (batch counted as 0); exclusive and reverse as ONNX's CumSum"
    args = {"axis": Arg("int", minimum=None), "exclusive": Arg("bool", False), "reverse": Arg("bool", False)}
    flops_rule = "1 add per element but the first of each line"

    def output_shape(self, a, ins):
        example_axes([a.axis], len(ins[0]))
        return ins[0]

    def flops(self, a, ins, out):
        (axis,) = example_axes([a.axis], len(ins[0]))
        return numel(out) - numel(out) // out[axis]

    def forward(self, a, w, xs, ops):
        np, x = ops.np, xs[0]
        axis = example_axes([a.axis], x.ndim - 1)[0] + 1
        if a.reverse:
            x = np.flip(x, axis)
        y = np.cumsum(x, axis=axis, dtype=x.dtype)
        if a.exclusive:
            y = np.concatenate([np.zeros_like(np.take(y, [0], axis=axis)), np.delete(y, -1, axis=axis)], axis=axis)
        return np.ascontiguousarray(np.flip(y, axis) if a.reverse else y)

    def onnx(self, a, ins, out, b):
        rank = len(ins[0])
        axis = b.axis(example_axes([a.axis], rank)[0], rank)
        return b.op("CumSum", [b.inputs[0], b.const(axis)], exclusive=int(a.exclusive), reverse=int(a.reverse))
