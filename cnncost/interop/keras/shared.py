"""A Keras layer applied more than once (one Dense on two tensors, a shared sub-model, the
towers of a Siamese network) read as one of our layers per application: the first owns the
weights, each later one says `shares:` (core/shared_weights), adding no params and doing its
multiplications again, as Keras' count_params() and predict() have it.

A later application is named `NAME_call2`, `NAME_call3`, ... (a nested model's layers under
`MODEL_call2.`). Its weights are the owner's arrays (the file holds them once, under the
owner). A batch normalization's moving statistics are no weights our `shares:` covers: they
are counted at each application by the report and held once in Keras' own accounting.
"""
from __future__ import annotations

from cnncost.errors import ModelFileError
from cnncost.layers.base import Kind

STATISTICS = ("moving_mean", "moving_variance")


class Sharing:
    def __init__(self, path: str):
        self.path = path
        self.owners: dict[tuple, list] = {}            # Keras path -> our weight keys at its first application
        self.links: list[tuple[str, str]] = []         # (our key at a later application, the owner's key)
        self.statistics: list[str] = []                # our layers reading an owner's statistics

    @staticmethod
    def call_name(name: str, n: int, taken: set[str]) -> str:
        """Our name for the n-th application of a layer named `name` (ours) in a model whose
        layers are named `taken`: the name itself first, then NAME_call2, ..."""
        if n == 1:
            return name
        out = f"{name}_call{n}"
        while out in taken:
            out += "_"
        return out

    @staticmethod
    def regroup(emit) -> None:
        """A layer of a kind made of parts (a separable conv) applied more than once, as a group
        of its parts, so that each part can share (or own) its own tensor by name."""
        from cnncost.layers import lookup

        for i, layer in enumerate(emit.layers):
            found = lookup(layer.get("kind")) if isinstance(layer.get("kind"), str) else None
            if found is None or found[0].parts.__func__ is Kind.parts:     # a kind of one part
                continue
            kind, fixed = found
            raw = {k: v for k, v in layer.items() if k in kind.args}
            parts = kind.parts(kind.normalize({**fixed, **raw}, lambda text: text))     # the kind's own parts
            group = {"name": layer["name"], "inputs": layer["inputs"],
                     "layers": [{"name": suffix, "kind": part_kind, **part_raw}
                                for suffix, part_kind, part_raw in parts]}
            if "trainable" in layer:
                group["trainable"] = layer["trainable"]
            emit.layers[i] = group

    def applied_again(self, path: tuple, emit, cls: str) -> bool:
        """Records the first application of the Keras layer at `path`, or marks this later one's
        layers as sharing the first's weights; whether this is a later one."""
        owner, keys = self.owners.get(path), emit.owned_keys()
        if owner is None:
            self.owners[path] = keys
            return False
        if len(owner) != len(keys):
            raise ModelFileError(f"{self.path}: layer '{'.'.join(path)}' ({cls}) is applied again with "
                               f"{len(keys)} weight(s), first with {len(owner)}")
        index = {}
        for layer in emit.layers:
            index[layer["name"]] = layer
            for part in layer.get("layers", ()):
                index[f"{layer['name']}.{part['name']}"] = part
        for mine, theirs in zip(keys, owner):
            if mine is None or theirs is None:
                continue
            self.links.append((mine, theirs))
            layer, _, weight = mine.rpartition("/")
            if weight in STATISTICS:
                if layer not in self.statistics:
                    self.statistics.append(layer)
                continue
            if layer not in index:          # pragma: no cover - a mapper naming a layer it did not emit
                raise AssertionError(f"Keras import: weight {mine} of no emitted layer")
            index[layer].setdefault("shares", {})[weight] = theirs
        return True

    def statistics_held_once(self, graph) -> tuple[int, str]:
        """The statistics elements the report counts at later applications and Keras holds
        once, and the line that says so."""
        from cnncost.layers import numel

        held = 0
        for layer in self.statistics:
            node = graph.nodes[graph.by_name[layer]]
            held += sum(numel(s) for s in node.kind.stat_shapes(node.args, node.in_shapes).values())
        if not held:
            return 0, ""
        return held, (f"{len(self.statistics)} later application(s) of a normalization read the first's "
                      f"moving statistics ({held:,}): Keras holds them once")

    def fill(self, arrays: dict, expected: dict) -> None:
        """Each later application's weights: the owner's arrays, which must have its shapes."""
        for mine, theirs in self.links:
            if theirs not in arrays:         # pragma: no cover - the owner's weights are read first
                raise AssertionError(f"Keras import: no weight {theirs} to share with {mine}")
            arr = arrays[theirs]
            if tuple(arr.shape) != tuple(expected[mine]):
                raise ModelFileError(f"{self.path}: layer '{mine.rpartition('/')[0]}' applies the weights of "
                                   f"'{theirs.rpartition('/')[0]}' ({'x'.join(map(str, arr.shape))}) where its "
                                   f"input makes {'x'.join(map(str, expected[mine]))}")
            arrays[mine] = arr
