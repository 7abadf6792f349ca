"""Functions that exporters spell as several ONNX nodes, recognised and replaced by one node
of the function's own op before import: GELU as Div -> Erf -> Add -> Mul -> Mul (opsets
before 20), Mish as Softplus -> Tanh -> Mul (before 18), SiLU as Sigmoid -> Mul, hard
swish as HardSigmoid -> Mul (before 14), LayerNorm over the last axis as ReduceMean -> Sub
-> Pow -> ReduceMean -> Add -> Sqrt -> Div [-> Mul -> Add] (before 17). A pattern matches
only when its inner values feed nothing else, so a fused node computes exactly what the
nodes it replaces computed.
"""
from __future__ import annotations

import math
from collections import defaultdict

from cnncost.interop.onnx.proto import Node


class _Graph:
    def __init__(self, nodes, outputs, value):
        self.producer = {o: n for n in nodes for o in n.outputs}
        self.consumers = defaultdict(list)
        for n in nodes:
            for i in n.inputs:
                self.consumers[i].append(n)
        self.outputs, self.value = set(outputs), value

    def only(self, name, op):
        """The one consumer of `name` if it is an `op` node and `name` is not a graph output."""
        users = self.consumers.get(name, [])
        if len(users) == 1 and users[0].op == op and name not in self.outputs:
            return users[0]
        return None

    def made_by(self, name, op):
        n = self.producer.get(name)
        return n if n is not None and n.op == op else None

    def other(self, node, name):
        """The input of a two-input node that is not `name` (None if both or neither are)."""
        ins = list(node.inputs)
        if len(ins) != 2 or ins.count(name) != 1:
            return None
        return ins[1] if ins[0] == name else ins[0]

    def is_scalar(self, name, want, tol=1e-5):
        v = self.value(name) if name else None
        if v is None or v.size != 1 or v.dtype.kind not in "biuf":     # a string or bool constant: no match
            return False
        return abs(float(v.reshape(-1)[0]) - want) <= tol * max(1.0, abs(want))

    def axes(self, node):
        if "axes" in node.attrs:
            return list(node.attrs["axes"])
        v = self.value(node.inputs[1]) if len(node.inputs) > 1 and node.inputs[1] else None
        return None if v is None or v.dtype.kind not in "iu" else [int(a) for a in v.reshape(-1)]


def _gelu(g, erf):
    div = g.producer.get(erf.inputs[0]) if erf.inputs else None
    if div is None or len(div.inputs) != 2 or g.only(div.outputs[0], "Erf") is not erf:
        return None
    x = div.inputs[0]
    if not ((div.op == "Div" and g.is_scalar(div.inputs[1], math.sqrt(2)))
            or (div.op == "Mul" and g.is_scalar(div.inputs[1], 1 / math.sqrt(2)))):
        return None
    add = g.only(erf.outputs[0], "Add")
    if add is None or not g.is_scalar(g.other(add, erf.outputs[0]), 1.0):
        return None
    mul = g.only(add.outputs[0], "Mul")
    if mul is None:
        return None
    o = g.other(mul, add.outputs[0])
    if o == x:                                          # (x * (1 + erf)) * 0.5
        half = g.only(mul.outputs[0], "Mul")
        if half is None or not g.is_scalar(g.other(half, mul.outputs[0]), 0.5):
            return None
        return [div, erf, add, mul, half], x
    pre = g.made_by(o, "Mul")                           # (x * 0.5) * (1 + erf)
    if pre is None or g.only(o, "Mul") is not mul or g.other(pre, x) is None \
            or not g.is_scalar(g.other(pre, x), 0.5):
        return None
    return [div, erf, add, pre, mul], x


def _gated(g, first, gate_ops):
    """x -> first -> [gate ops ...] -> Mul(x, .): SiLU, Mish, hard swish."""
    if not first.inputs:
        return None
    x, chain, cur = first.inputs[0], [first], first
    for gate in gate_ops:
        cur = g.only(cur.outputs[0], gate)
        if cur is None:
            return None
        chain.append(cur)
    mul = g.only(cur.outputs[0], "Mul")
    if mul is None or g.other(mul, cur.outputs[0]) != x:
        return None
    return chain + [mul], x


def _layer_norm(g, mean):
    if not mean.inputs:
        return None
    x = mean.inputs[0]
    if g.axes(mean) != [-1] or not mean.attrs.get("keepdims", 1):
        return None
    sub = g.only(mean.outputs[0], "Sub")
    if sub is None or sub.inputs != [x, mean.outputs[0]]:
        return None
    users = g.consumers.get(sub.outputs[0], [])
    pow_ = next((u for u in users if u.op == "Pow"), None)
    div = next((u for u in users if u.op == "Div"), None)
    if len(users) != 2 or pow_ is None or div is None or len(pow_.inputs) != 2 or not g.is_scalar(pow_.inputs[1], 2.0):
        return None
    var = g.only(pow_.outputs[0], "ReduceMean")
    if var is None or g.axes(var) != [-1]:
        return None
    add = g.only(var.outputs[0], "Add")
    eps = g.value(g.other(add, var.outputs[0]) or "") if add is not None else None
    if eps is None or eps.size != 1:
        return None
    sqrt = g.only(add.outputs[0], "Sqrt")
    if sqrt is None or g.only(sqrt.outputs[0], "Div") is not div or div.inputs != [sub.outputs[0], sqrt.outputs[0]]:
        return None
    chain, out, scale, bias = [mean, sub, pow_, var, add, sqrt, div], div, "", ""
    mul = g.only(div.outputs[0], "Mul")
    if mul is not None and g.value(g.other(mul, div.outputs[0]) or "") is not None:
        chain, out, scale = chain + [mul], mul, g.other(mul, div.outputs[0])
        shift = g.only(mul.outputs[0], "Add")
        if shift is not None and g.value(g.other(shift, mul.outputs[0]) or "") is not None:
            chain, out, bias = chain + [shift], shift, g.other(shift, mul.outputs[0])
    return chain, x, {"epsilon": float(eps.reshape(-1)[0]), "axis": -1}, [scale, bias], out


def fuse(nodes: list, graph_outputs, value) -> list:
    """`nodes` with every recognised spelling replaced by one node. `value(name)` gives a
    constant's array (or None)."""
    g = _Graph(nodes, graph_outputs, value)
    fused: dict[int, Node] = {}        # id of a pattern's last node -> its replacement
    gone: set[int] = set()
    for n in nodes:
        if id(n) in gone:
            continue
        found, attrs, extra, op = None, {}, [], ""
        if n.op == "Erf":
            found, op, attrs = _gelu(g, n), "Gelu", {"approximate": "none"}
        elif n.op == "Sigmoid":
            found, op = _gated(g, n, ()), "SiLU"
        elif n.op == "Softplus":
            found, op = _gated(g, n, ("Tanh",)), "Mish"
        elif n.op == "HardSigmoid" and abs(n.attrs.get("alpha", 0.2) - 1 / 6) < 1e-6 \
                and abs(n.attrs.get("beta", 0.5) - 0.5) < 1e-6:
            found, op = _gated(g, n, ()), "HardSwish"
        elif n.op == "ReduceMean":
            ln = _layer_norm(g, n)
            if ln is not None:
                chain, x, attrs, extra, last = ln
                found, op = (chain, x), "LayerNormalization"
        if not found or any(id(m) in gone for m in found[0]):
            continue
        chain, x = found
        last = chain[-1]
        gone.update(id(m) for m in chain)
        fused[id(last)] = Node(op, last.name or last.outputs[0], [x, *extra], list(last.outputs), attrs)
    return [fused.get(id(n), n) for n in nodes if id(n) not in gone or id(n) in fused]
