"""Weights one layer shares with an earlier one: `shares:` on a layer of a spec.

A tensor is a parameter once, where it is first used; a later use (a module called twice, an
ONNX initializer feeding several nodes, a Keras layer applied twice, a Siamese branch) holds
no parameter of its own, names the owner, and still does its multiplications.

    shares: conv1                         # every weight, as conv1's weight of the same name
    shares: {kernel: conv1, bias: conv1}  # per weight
    shares: {kernel: embed/table}         # another weight name (a tied output layer)

The owner's tensor must hold as many elements (a tied layer may read it transposed or
reshaped). A chain of shares ends at the first use, which owns the tensor."""
from __future__ import annotations

from collections.abc import Callable

from cnncost.errors import Loc, SpecError
from cnncost.layers import fmt_shape, numel


def resolve(raw, node, owner_of: Callable[[str], object], where: Loc | None) -> dict[str, str]:
    """`raw` (a spec's `shares:` value) as {weight: "root owner/weight"} for `node`;
    `owner_of` finds an earlier layer's node by the name written."""
    # weights and statistics alike (an exporter may feed two batch norms one zeros tensor)
    shapes = {**node.kind.weight_shapes(node.args, node.in_shapes), **node.kind.stat_shapes(node.args, node.in_shapes)}
    if not shapes:
        raise SpecError("`shares` names weights to share, and this layer has none", loc=where)
    if isinstance(raw, str):
        pairs = {w: raw for w in shapes}
    elif isinstance(raw, dict) and raw:
        pairs = dict(raw)
    else:
        raise SpecError(f"`shares` must be a layer name or a mapping of weight to layer, received {raw!r}",
                        loc=where)
    out = {}
    for weight, ref in pairs.items():
        if weight not in shapes:
            raise SpecError(f"`shares`: this layer has no weight '{weight}' (weights: {', '.join(shapes)})",
                            loc=where)
        if not isinstance(ref, str) or not ref:
            raise SpecError(f"`shares`: '{weight}' must name a layer (LAYER or LAYER/WEIGHT), received {ref!r}",
                            loc=where)
        layer, _, theirs = ref.partition("/")
        owner = owner_of(layer)
        theirs = theirs or weight
        owned = {**owner.kind.weight_shapes(owner.args, owner.in_shapes),
                 **owner.kind.stat_shapes(owner.args, owner.in_shapes)} if owner.kind is not None else {}
        if theirs not in owned:
            raise SpecError(f"`shares`: layer '{owner.name}' has no weight '{theirs}'"
                            + (f" (weights: {', '.join(owned)})" if owned else ""), loc=where)
        if numel(owned[theirs]) != numel(shapes[weight]):
            raise SpecError(f"`shares`: this layer's {weight} is {fmt_shape(shapes[weight])}, "
                            f"'{owner.name}'s {theirs} is {fmt_shape(owned[theirs])}: not one tensor", loc=where)
        out[weight] = owner.shares.get(theirs, f"{owner.name}/{theirs}")
    return out


def owners(layer) -> list[str]:
    """The layers whose tensors `layer` (a graph node or a report row) uses, each once."""
    return list(dict.fromkeys(key.rpartition("/")[0] for key in layer.shares.values()))
