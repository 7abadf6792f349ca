"""Products of two activations: matmul (attention's Q.K^T and A.V, batched and
broadcasting as NumPy's) and einsum (any contraction). Their multiplications are a class
of their own, `attention`, so a report shows how much of a network is attention rather
than convolution: mults = the multiply-accumulates of the product.
"""
from __future__ import annotations

import math
import re

from cnncost.errors import ShapeError, SpecError
from cnncost.layers.base import (Arg, Kind, OutputSized, Saved, Tensorial, fmt_shape, numel, partners, per_example,
                                 register)
from cnncost.layers.merge import broadcast_shape


@register
class MatMul(Tensorial, OutputSized, Kind):
    name, family = "matmul", "attention"
    doc = "product of two activations [..., M, K] x [..., K, N] -> [..., M, N], leading axes broadcast"
    arity = (2,)
    args = {"transpose_b": Arg("bool", False, doc="use the second input as [..., N, K] (Q.K^T)")}
    flops_rule = "2 per MAC"
    mults_rule = "leading x M x N x K"
    mult_classes = ("attention",)
    saves_rule = "each operand whose partner needs a gradient (dA = dY·Bᵀ needs B)"

    def saved(self, a, ins, out, grads, trains):
        return Saved(inputs=partners(grads))

    def _dims(self, a, ins):
        x, y = ins
        if len(x) < 2 or len(y) < 2:
            raise ShapeError(f"expected two inputs of rank 2 or more per example ([..., M, K] and [..., K, N]), "
                             f"received {fmt_shape(x)} and {fmt_shape(y)}")
        if a.transpose_b:
            y = y[:-2] + (y[-1], y[-2])
        if x[-1] != y[-2]:
            raise ShapeError(f"inner sizes differ: {fmt_shape(x)} x {fmt_shape(y)}"
                             + (" (the second transposed)" if a.transpose_b else ""))
        lead = broadcast_shape([x[:-2] or (1,), y[:-2] or (1,)]) if (x[:-2] or y[:-2]) else ()
        return lead, x[-2], x[-1], y[-1]

    def output_shape(self, a, ins):
        lead, m, _, n = self._dims(a, ins)
        return tuple(lead) + (m, n)

    def mults(self, a, ins, out):
        lead, m, k, n = self._dims(a, ins)
        return math.prod(lead) * m * n * k

    def mult_class(self, a, ins):
        return "attention"

    def explain(self, a, ins, out):
        lead, m, k, n = self._dims(a, ins)
        pre = f"{math.prod(lead)} x " if lead else ""
        return [f"mults = {'leading x ' if lead else ''}M x N x K = {pre}{m} x {n} x {k} = {self.mults(a, ins, out):,}"]

    def flops(self, a, ins, out):
        return 2 * self.mults(a, ins, out)

    def forward(self, a, w, xs, ops):
        x, y = per_example(*xs)
        if a.transpose_b:
            y = ops.np.swapaxes(y, -1, -2)
        return ops.matmul(x, y)

    def onnx(self, a, ins, out, b):
        x, y = b.per_example(ins)
        if a.transpose_b:     # Q.K^T in one node, as one layer reads back: an einsum over the last axes
            rank = max(len(s) for s in ins) + 1
            lead = "abcdefgh"[:rank - 2]
            return b.op("Einsum", [x, y], equation=f"{lead}mk,{lead}nk->{lead}mn")
        return b.op("MatMul", [x, y])


_EQUATION = re.compile(r"^([a-z]+(?:,[a-z]+)*)(?:->([a-z]*))?$")


def parse_equation(text: str, ranks: list[int]):
    """'hnd,hmd->hnm' -> ([operand letters], output letters); per example (no batch letter)."""
    m = _EQUATION.match(text.replace(" ", ""))
    if not m:
        raise SpecError(f"Invalid value for argument `equation`. Expected lower-case letters per operand "
                        f"and an optional '->output' (no '...'), per example. Received equation={text!r}.")
    operands = m.group(1).split(",")
    if len(operands) != len(ranks):
        raise ShapeError(f"equation {text!r} has {len(operands)} operands, the layer {len(ranks)} inputs")
    for letters, rank in zip(operands, ranks):
        if len(letters) != rank:
            raise ShapeError(f"equation {text!r}: operand '{letters}' names {len(letters)} axes of a rank-{rank} input")
        if len(set(letters)) != len(letters):
            raise ShapeError(f"equation {text!r}: operand '{letters}' repeats a letter (a diagonal)")
    if m.group(2) is None:
        counts = {}
        for c in "".join(operands):
            counts[c] = counts.get(c, 0) + 1
        output = "".join(sorted(c for c, k in counts.items() if k == 1))
    else:
        output = m.group(2)
        if len(set(output)) != len(output) or set(output) - set("".join(operands)):
            raise ShapeError(f"equation {text!r}: the output names a letter twice or one no operand has")
    return operands, output


@register
class Einsum(Tensorial, OutputSized, Kind):
    name, family = "einsum", "attention"
    doc = "Einstein summation of one or more activations, per example ('hnd,hmd->hnm')"
    arity = (1, 2, 3)
    args = {"equation": Arg("text", doc="operands' axis letters, per example, and '->output'")}
    flops_rule = "2 per MAC; one operand: 1 per input element summed away"
    mults_rule = "(operands - 1) x the product of every letter's size"
    mult_classes = ("attention",)
    saves_rule = "each operand whose partners need a gradient (one operand: nothing)"

    def saved(self, a, ins, out, grads, trains):
        return Saved(inputs=partners(grads))

    def _sizes(self, a, ins):
        operands, output = parse_equation(a.equation, [len(s) for s in ins])
        size = {}
        for letters, shape in zip(operands, ins):
            for c, d in zip(letters, shape):
                if size.setdefault(c, d) != d:
                    raise ShapeError(f"equation {a.equation!r}: axis '{c}' is {size[c]} in one input and {d} in another")
        return operands, output, size

    def output_shape(self, a, ins):
        _, output, size = self._sizes(a, ins)
        if not output:
            raise ShapeError(f"equation {a.equation!r} gives a scalar per example; keep an axis")
        return tuple(size[c] for c in output)

    def mults(self, a, ins, out):
        operands, _, size = self._sizes(a, ins)
        return (len(operands) - 1) * math.prod(size.values())

    def mult_class(self, a, ins):
        return "attention" if len(ins) > 1 else ""

    def explain(self, a, ins, out):
        operands, _, size = self._sizes(a, ins)
        letters = " x ".join(f"{c}={d}" for c, d in sorted(size.items()))
        return [f"mults = (operands - 1) x every letter's size = {len(operands) - 1} x {letters} = "
                f"{self.mults(a, ins, out):,}"]

    def flops(self, a, ins, out):
        if len(ins) == 1:
            return numel(ins[0]) - numel(out)
        return 2 * self.mults(a, ins, out)

    def forward(self, a, w, xs, ops):
        return ops.einsum(_batched(a.equation, [x.ndim - 1 for x in xs]), *xs)

    def onnx(self, a, ins, out, b):
        return b.op("Einsum", b.inputs, equation=_batched(a.equation, [len(s) for s in ins]))


def _batched(equation: str, ranks: list[int]) -> str:
    """The equation with a letter of its own for the batch in front of every operand."""
    operands, output = parse_equation(equation, ranks)
    z = next(c for c in "zyxwvutsrqponmlkjihgfedcba" if c not in equation)
    return ",".join(z + o for o in operands) + "->" + z + output
