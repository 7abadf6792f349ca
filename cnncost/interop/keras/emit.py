"""What a Keras mapper (interop/keras/layers.py) is handed and writes through: one Keras
layer's name, config and inputs in; our layers, weight names and notes for the reader out."""
from __future__ import annotations

from cnncost.interop.refusals import Refused


class Emit:
    def __init__(self, name, cfg, inputs, consts, kwargs, trainable, major, cls=""):
        self.name, self.cfg, self.inputs, self.cls = name, cfg, list(inputs), cls
        self.consts, self.kwargs, self.trainable, self.major = list(consts), dict(kwargs), trainable, major
        self.layers: list[dict] = []
        self.keys: list[str | None] = []
        self.knames: list[tuple[str, ...]] = []       # Keras' names for each of `keys`
        self.last: str | None = None
        self.outputs: list[str] = []
        self.extra_non_trainable, self.extra_why = 0, ""
        self.assumed: list[tuple[str, list]] = []     # (our layer, axes) read as the trailing ones
        self.constants: dict[str, list] = {}           # our weight key -> values the config holds
        self.parts: list[tuple | None] = []            # beside each of `keys`: where in the layer it is kept
        self.part: tuple | None = None                 # the part weights() gives when given none (a wrapper's)
        self.derived: dict[str, tuple] = {}            # our key -> (piece keys, piece shape, build)

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

    def weights(self, *names, layer: str | None = None, part: tuple | None = None) -> None:
        """Our weight names, in Keras' storage order; each a name that Keras uses too, or
        (ours or None, Keras' name, ...) where they differ. `part` is where a wrapper or a
        recurrent layer keeps them: (the sub-objects of its `.keras` group, as ("forward_layer",
        "cell"); the scope its legacy `.h5` paths carry, as "forward_gru", or None)."""
        owner = layer or self.last or self.name
        for n in names:
            ours, keras = (n[0], n[1:]) if isinstance(n, tuple) else (n, (n,))
            self.keys.append(None if ours is None else f"{owner}/{ours}")
            self.knames.append(tuple(keras))
            self.parts.append(part or self.part)

    def derive(self, key: str, pieces: list[str], shape, build) -> None:
        """Our weight `key` (a full key) made of the Keras arrays `pieces` (keys given to
        weights()): each piece read at `shape(our shape)`, then `build(arrays, our shape)`."""
        self.derived[key] = (pieces, shape, build)

    def owned_keys(self) -> list:
        """`keys` with each piece replaced by the weight it makes, once: our own weights."""
        out: list = []
        for k in self.keys:
            whole = next((d for d, (pieces, _, _) in self.derived.items() if k in pieces), k)
            if whole is None or whole not in out:
                out.append(whole)
        return out

    def get(self, key, default=None):
        return self.cfg.get(key, default)

    def need(self, cond: bool, why: str) -> None:
        if not cond:
            raise Refused(why)

    def one_input(self):
        self.need(len(self.inputs) == 1, f"expects one input, reads {len(self.inputs)}")
