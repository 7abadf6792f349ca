"""Expanding a block once per distinct use: a block's layers depend only on the block, its
environment (spec variables, parameters, input shapes), its inputs' shapes and whether it
is trainable, so a second use with the same of all these lays down the same layers under
another name. ResNet-152 uses `bottleneck` 50 times in 8 distinct ways: the other 42 are
copied, not evaluated again (expression by expression, argument by argument).

A use is recorded only when everything its layers read is inside it: a layer that reads a
name outside the block (through an enclosing scope) makes that use unrecordable.
"""
from __future__ import annotations

from cnncost.core.graph import Node, makes_tokens
from cnncost.errors import LimitError, SpecError, warn
from cnncost.records import FrozenStruct


class Record(FrozenStruct):
    """nodes: (suffix, kind, label, args, inputs, in_shapes, out_shape, loc, trainable) each;
    scope: (names: ((local, ref, subtree), ...), disabled); out: a ref, ("n", offset) into
    the block's nodes or ("in", k) its k-th input; steps: expansion steps it took."""

    __slots__ = ("nodes", "scope", "out", "steps")

    def __init__(self, nodes: tuple, scope: tuple, out: object, steps: int):
        self._init(nodes=nodes, scope=scope, out=out, steps=steps)


def key(block, env: dict, in_shapes: tuple, trainable: bool):
    """What a block use's layers depend on, or None when it cannot be a key."""
    try:
        items = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in env.items()))
        hash(items)
    except TypeError:
        return None
    return (id(block), items, in_shapes, trainable)


def record(graph, start: int, prefix: str, child, inputs: list[int], out: int, steps: int) -> Record | None:
    def ref(index):
        if index >= start:
            return ("n", index - start)
        if index in inputs:
            return ("in", inputs.index(index))
        return None                     # reads something outside the block

    if len(set(inputs)) != len(inputs):     # the same node twice: its refs would not say which
        return None
    nodes = []
    cut = len(prefix) + 1
    for node in graph.nodes[start:]:
        refs = tuple(ref(i) for i in node.inputs)
        if None in refs or not node.name.startswith(prefix + "."):
            return None
        nodes.append((node.name[cut:], node.kind, node.label, node.args, refs, node.in_shapes,
                      node.out_shape, node.loc, node.trainable))

    def tree(scope):
        names = []
        for local, (index, sub) in scope.names.items():
            r = ref(index)
            if r is None:
                return None
            subtree = tree(sub) if sub is not None else None
            if sub is not None and subtree is None:
                return None
            names.append((local, r, subtree))
        return tuple(names), frozenset(scope.disabled)

    shape = tree(child)
    out_ref = ref(out)
    if shape is None or out_ref is None:
        return None
    return Record(tuple(nodes), shape, out_ref, steps)


def replay(builder, rec: Record, child, inputs: list[int]) -> int:
    """Lay the recorded layers down under `child`'s prefix; fills `child`'s names as the
    expansion would have. Returns the block's output index."""
    graph, limits = builder.graph, builder.limits
    builder.steps += rec.steps
    if builder.steps > limits.max_steps:
        raise LimitError(f"expanding the spec took more than {limits.max_steps:,} steps (nested repeats?)",
                         loc=rec.nodes[0][7] if rec.nodes else None)
    start = len(graph.nodes)

    def index(r):
        return start + r[1] if r[0] == "n" else inputs[r[1]]

    for suffix, kind, label, args, refs, in_shapes, out_shape, loc, trainable in rec.nodes:
        full = f"{child.prefix}.{suffix}"
        if len(graph.nodes) > limits.max_layers:
            raise LimitError(f"the network expands to more than {limits.max_layers:,} layers", loc=loc)
        if full in graph.by_name:
            raise SpecError(f"duplicate layer name '{full}'", loc=loc, layer=full)
        read = [graph.nodes[index(r)] for r in refs]
        if not any(n.tokens for n in read):
            for message in kind.warnings(args, in_shapes):
                warn(f"{loc}: layer '{full}' ({label}): {message}" if loc else f"layer '{full}' ({label}): {message}")
        graph.add(Node(0, full, kind, kind.label(args, label), args, [index(r) for r in refs], in_shapes,
                       out_shape, loc, trainable, makes_tokens(kind, read)))

    def fill(scope, shape):
        names, disabled = shape
        for local, r, subtree in names:
            sub = None
            if subtree is not None:
                sub = type(scope)(scope.full(local), index(r), scope.env, scope.trainable, scope)
                fill(sub, subtree)
            scope.names[local] = (index(r), sub)
        scope.disabled |= disabled
        if names:
            scope.last = index(names[-1][1])

    fill(child, rec.scope)
    return index(rec.out)
