"""What a Keras mapper (interop/keras/layers.py) is handed and writes through: one Keras
layer's name, config and inputs in; our layers, weight names and notes for the reader out."""
from __future__ import annotations

from cnncost.interop.refusals import Refused


class Emit:
    def __init__(self, name, cfg, inputs, consts, kwargs, trainable, major):
        self.name, self.cfg, self.inputs = name, cfg, list(inputs)
        self.consts, self.kwargs, self.trainable, self.major = list(consts), dict(kwargs), trainable, major
        self.layers: list[dict] = []
        self.keys: list[str | None] = []
        self.knames: list[tuple[str, ...]] = []       # Keras' names for each of `keys`
        self.last: str | None = None
        self.outputs: list[str] = []
        self.extra_non_trainable, self.extra_why = 0, ""
        self.assumed: list[tuple[str, list]] = []     # (our layer, axes) read as the trailing ones
        self.constants: dict[str, list] = {}           # our weight key -> values the config holds

    def layer(self, kind: str, part: str = "", inputs: list | None = None, **args) -> str:
        name = f"{self.name}.{part}" if part else self.name
        ins = inputs if inputs is not None else ([self.last] if self.last else self.inputs)
        if not ins:
            raise Refused("reads no tensor")
        entry = {"name": name, "kind": kind, **{k: v for k, v in args.items() if v is not None},
                 "inputs": ins if len(ins) > 1 else ins[0]}
        if not self.trainable:
            entry["trainable"] = False
        self.layers.append(entry)
        self.last = name
        return name

    def weights(self, *names, layer: str | None = None) -> None:
        """Our weight names, in Keras' storage order; each a name that Keras uses too, or
        (ours or None, Keras' name, ...) where they differ."""
        owner = layer or self.last or self.name
        for n in names:
            ours, keras = (n[0], n[1:]) if isinstance(n, tuple) else (n, (n,))
            self.keys.append(None if ours is None else f"{owner}/{ours}")
            self.knames.append(tuple(keras))

    def get(self, key, default=None):
        return self.cfg.get(key, default)

    def need(self, cond: bool, why: str) -> None:
        if not cond:
            raise Refused(why)

    def one_input(self):
        self.need(len(self.inputs) == 1, f"expects one input, reads {len(self.inputs)}")
