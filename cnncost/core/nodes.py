"""Layers of a kind made into graph nodes: arguments normalised by the kind, a what-if
rewrite applied (a conv as its separable or bottleneck parts), a kind of parts expanded,
arity, shapes and limits checked, shared weights resolved. The builder (core/build) expands
the spec language around it: names, blocks, repeats, inputs."""
from __future__ import annotations

from collections.abc import Callable

from cnncost.core import precision, shared_weights
from cnncost.core.graph import Graph, Node, makes_tokens
from cnncost.errors import CnnCostError, LimitError, SpecError, did_you_mean, warn
from cnncost.layers import lookup
from cnncost.spec import expr
from cnncost.spec.limits import Limits
from cnncost.spec.located import YMap

# keys of a layer entry that are the spec language's, not its kind's arguments
RESERVED = ("name", "kind", "use", "layers", "inputs", "repeat", "repeat_name", "repeat_var", "when",
            "trainable", "output", "doc", "precision", "shares")


class Nodes:
    """The node factory of one build: `graph` grows, `rewrite` (what-if) applies to every conv."""

    def __init__(self, graph: Graph, limits: Limits, rewrite):
        self.graph, self.limits, self.rewrite = graph, limits, rewrite

    def layer(self, entry: YMap, full: str, inputs: list[int], trainable: bool, env: dict,
              owner_of: Callable[[str], int]) -> int:
        """The node(s) of one `kind:` entry named `full`; its index (a kind of parts: the last)."""
        kind_name = entry["kind"]
        found = lookup(kind_name) if isinstance(kind_name, str) else None
        if found is None:
            from cnncost.layers import ALIASES, KINDS
            raise SpecError(f"unknown layer kind {kind_name!r}{did_you_mean(kind_name, [*KINDS, *ALIASES])} "
                            "(see `cnncost kinds`)",
                            loc=entry.loc_of("kind"), layer=full)
        kind, fixed = found
        raw = {k: v for k, v in entry.items() if k not in RESERVED}
        for key in fixed:
            if key in raw:
                raise SpecError(f"argument `{key}` is fixed by kind '{kind_name}'",
                                loc=entry.loc_of(key), layer=full, kind=kind_name)
        try:
            args = kind.normalize({**fixed, **raw}, lambda text: expr.evaluate(text, env, self.limits),
                                  locate=entry.loc_of)
        except CnnCostError as exc:
            raise exc.with_context(loc=entry.loc, layer=full, kind=kind_name)
        parts = kind.parts(args)
        if parts is None and self.rewrite:
            shape = self.graph.nodes[inputs[0]].out_shape if len(inputs) == 1 else None
            parts = kind.rewrite(args, shape, self.rewrite) if shape and len(shape) in (2, 3, 4) else None
        steps = [(full, kind, kind_name, args)] if parts is None else [
            (f"{full}.{suffix}", pk, part_kind, pk.normalize(part_raw, lambda text: expr.evaluate(text, env, self.limits)))
            for suffix, part_kind, part_raw in parts for pk in [lookup(part_kind)[0]]]
        index, dtypes = inputs, precision.of(entry, full)     # a model file's own dtypes, on every part
        for name, k, label, a in steps:
            index = [self.add(name, k, label, a, index, entry.loc, trainable)]
            self.graph.nodes[index[0]].precision = dtypes
        if "shares" in entry:
            self._shares(entry, self.graph.nodes[index[0]], parts is not None, owner_of)
        return index[0]

    def _shares(self, entry: YMap, node, has_parts: bool, owner_of: Callable[[str], int]) -> None:
        """`shares:` (core/shared_weights): the tensors an earlier layer owns."""
        where = entry.loc_of("shares")
        if has_parts:
            raise SpecError("`shares` applies to a layer of one part; write its parts as layers to share "
                            "their weights", loc=where, layer=node.name)
        try:
            node.shares = shared_weights.resolve(entry["shares"], node,
                                                 lambda ref: self.graph.nodes[owner_of(ref)], where)
        except CnnCostError as exc:
            raise exc.with_context(layer=node.name, kind=node.label)

    def add(self, full, kind, label, args, inputs, loc, trainable) -> int:
        """One node: arity, output shape and limits checked, a kind's warnings said."""
        if len(self.graph.nodes) > self.limits.max_layers:
            raise LimitError(f"the network expands to more than {self.limits.max_layers:,} layers", loc=loc)
        if full in self.graph.by_name:
            raise SpecError(f"duplicate layer name '{full}'", loc=loc, layer=full)
        if isinstance(kind.arity, tuple) and len(inputs) not in kind.arity:
            raise SpecError(f"takes {' or '.join(map(str, kind.arity))} inputs, received {len(inputs)}",
                            loc=loc, layer=full, kind=label)
        if kind.arity == 1 and len(inputs) != 1:
            raise SpecError(f"takes one input, received {len(inputs)}", loc=loc, layer=full, kind=label)
        if kind.arity is None and len(inputs) < 2:
            raise SpecError(f"needs two or more `inputs`, received {len(inputs)}", loc=loc,
                            layer=full, kind=label)
        in_shapes = [self.graph.nodes[i].out_shape for i in inputs]
        try:
            out = kind.output_shape(args, in_shapes)
        except CnnCostError as exc:
            if len(inputs) > 1:     # say which inputs: the shapes alone do not name them
                exc.message += " (inputs: " + ", ".join(
                    f"'{self.graph.nodes[i].name}' {'x'.join(map(str, s))}" for i, s in zip(inputs, in_shapes)) + ")"
            raise exc.with_context(loc=loc, layer=full, kind=label)
        if any(d < 1 for d in out):
            raise SpecError(f"output shape {out} has an empty dimension", loc=loc, layer=full, kind=label)
        if any(d > self.limits.max_dim for d in out):
            raise LimitError(f"output shape {'x'.join(map(str, out))} has a dimension above the limit "
                             f"of {self.limits.max_dim:,}", loc=loc, layer=full, kind=label)
        read = [self.graph.nodes[i] for i in inputs]
        tokens = makes_tokens(kind, read)
        if not any(n.tokens for n in read):          # warnings about maps are not the tokens
            for message in kind.warnings(args, in_shapes):
                warn(f"{loc}: layer '{full}' ({label}): {message}" if loc else f"layer '{full}' ({label}): {message}")
        node = Node(0, full, kind, kind.label(args, label), args, list(inputs), in_shapes, out, loc, trainable,
                    tokens)
        return self.graph.add(node).index
