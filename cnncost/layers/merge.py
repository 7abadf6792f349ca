"""Layers that join branches: add (residual), concat (inception), multiply (SE, broadcast)."""
from __future__ import annotations

from cnncost.errors import ShapeError
from cnncost.layers.base import (Arg, Kind, NoMults, OutputSized, PointWise, Saved, SavesNothing, fmt_shape, numel,
                                 partners, per_example, register)


def broadcast_shape(shapes) -> tuple:
    """NumPy broadcasting over trailing axes: (C,) or (1, 1, C) scales an H x W x C map."""
    rank = max(len(s) for s in shapes)
    out = []
    for axis in range(-rank, 0):
        dims = {s[axis] for s in shapes if len(s) >= -axis} - {1}
        if len(dims) > 1:
            raise ShapeError("input shapes cannot be broadcast together: "
                             + " vs ".join(fmt_shape(s) for s in shapes))
        out.append(dims.pop() if dims else 1)
    return tuple(out)


@register
class Add(SavesNothing, PointWise, NoMults, OutputSized, Kind):
    name, family = "add", "merge"
    doc = "element-wise sum of two or more inputs of equal shape (residual connections)"
    arity = None
    args = {}
    flops_rule = "(inputs - 1) per output element"
    onnx_layout = "any"

    def output_shape(self, a, ins):
        for s in ins[1:]:
            if s != ins[0]:
                raise ShapeError(f"input shapes differ: {fmt_shape(ins[0])} vs {fmt_shape(s)}")
        return ins[0]

    def flops(self, a, ins, out):
        return (len(ins) - 1) * numel(out)

    def forward(self, a, w, xs, ops):
        out = xs[0] if ops.may_overwrite_input else xs[0].copy()
        for x in xs[1:]:
            out += x
        return out

    def onnx(self, a, ins, out, b):
        return b.op("Sum", b.inputs) if len(b.inputs) > 2 else b.op("Add", b.inputs)


@register
class Multiply(PointWise, NoMults, OutputSized, Kind):
    name, family = "multiply", "merge"
    doc = "element-wise product with broadcasting (SE channel scaling)"
    arity = None
    args = {}
    flops_rule = "(inputs - 1) per output element"
    onnx_layout = "any"
    saves_rule = "each input whose partner needs a gradient (d(xy)/dx needs y)"

    def saved(self, a, ins, out, grads, trains):
        return Saved(inputs=partners(grads))

    def output_shape(self, a, ins):
        return broadcast_shape(ins)

    def flops(self, a, ins, out):
        return (len(ins) - 1) * numel(out)

    def forward(self, a, w, xs, ops):
        out = xs[0]
        for x in xs[1:]:
            out, x = per_example(out, x)
            out = out * x
        return out

    def onnx(self, a, ins, out, b):
        # A (C,) operand of an H x W x C map is (N, C) in ONNX: (N, C, 1, 1) broadcasts it.
        xs = b.per_example(ins)
        y = xs[0]
        for x in xs[1:]:
            y = b.op("Mul", [y, x])
        return y


@register
class Concat(SavesNothing, PointWise, NoMults, OutputSized, Kind):
    name, family = "concat", "merge"
    doc = "concatenation along the channel axis (or `axis`)"
    arity = None
    args = {"axis": Arg("int", -1, minimum=None)}
    onnx_layout = "any"

    def output_shape(self, a, ins):
        rank = len(ins[0])
        axis = a.axis if a.axis < 0 else a.axis - 1  # axis counts the batch axis as 0
        if not -rank <= axis < rank or any(len(s) != rank for s in ins):
            raise ShapeError(f"cannot concatenate along axis {a.axis}: "
                             + " vs ".join(fmt_shape(s) for s in ins))
        axis %= rank
        for s in ins[1:]:
            if s[:axis] + s[axis + 1:] != ins[0][:axis] + ins[0][axis + 1:]:
                raise ShapeError(f"input shapes differ outside axis {a.axis}: "
                                 f"{fmt_shape(ins[0])} vs {fmt_shape(s)}")
        return ins[0][:axis] + (sum(s[axis] for s in ins),) + ins[0][axis + 1:]

    def forward(self, a, w, xs, ops):
        rank = xs[0].ndim - 1
        axis = a.axis if a.axis < 0 else a.axis - 1
        return ops.np.concatenate(xs, axis=1 + axis % rank)

    def onnx(self, a, ins, out, b):
        rank = len(ins[0])
        axis = a.axis if a.axis < 0 else a.axis - 1
        return b.op("Concat", b.inputs, axis=b.axis(axis, rank))
