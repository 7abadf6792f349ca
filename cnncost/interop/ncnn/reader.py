"""Read an NCNN model (NAME.param, its weights in NAME.bin beside it) as a cnncost spec.

NCNN's blobs have no batch: a map is w x h x c (x d), which cnncost holds channels last
(H x W x C; a 1-D map's w x h as T x C; D x H x W x C). A blob is held as a `map` (ours,
channels last) or `plain` (ncnn's own order, torch's: C x H x W): window layers read maps,
reshapes and permutes read plain tensors, and a blob goes from one to the other through
one `transpose` layer, made when an operator needs it. The .param has no shapes: each
layer's output is derived by our kind's own rule from the input's (the Input layer's
0=w 1=h 2=c, or --input-shape as N x C x H x W), and ncnn's own rules where they differ
(pooling's "full padding" rounding, SAME_LOWER) are written as explicit padding.

The .bin is walked in the order of the layers' load_model (interop/ncnn/modelbin.py); its
values are made only when weights are asked for. A layer type we do not read is refused
by name, all of them gathered in one message; one handler per type (interop/ncnn/layers.py,
windows.py, tensors.py)."""
from __future__ import annotations

import math
import os
import re
from cnncost.errors import CnnCostError, ModelFileError
from cnncost.files import inside_folder
from cnncost.interop.imported import Imported
from cnncost.interop.ncnn.blobs import Held
from cnncost.interop.ncnn.modelbin import ModelBin, Stored
from cnncost.interop.ncnn.param import Layer, read_param
from cnncost.interop.refusals import Refused, Tally, UniqueNames
from cnncost.layers import lookup
from cnncost.spec import expr
from cnncost.spec.limits import DEFAULTS

MAX_DIM = DEFAULTS["max_dim"]
WHY = {"MemoryData": "a constant blob (cnncost reads constants inside the layers that use them)",
       "Yolov3DetectionOutput": "post-processing that depends on the data",
       "DetectionOutput": "post-processing that depends on the data"}


class Downstream(Refused):
    """Reads what a refused layer makes: not counted as a refusal of its own."""


def import_ncnn(path: str, *, with_weights: bool = True, input_shape=None) -> Imported:
    layers, _ = read_param(path)
    base = path[:-len(".param")] if path.endswith(".param") else os.path.splitext(path)[0]
    bin_path = base + ".bin"
    if os.path.exists(bin_path):
        inside_folder(os.path.dirname(os.path.abspath(path)), bin_path, f"{path}: its weights file")
    mb = ModelBin(bin_path) if os.path.exists(bin_path) else None
    if mb is None and with_weights:
        raise ModelFileError(f"{path}: no weights file {os.path.basename(bin_path)} beside it (needed to run "
                             "the model; counting needs only the .param)")
    imported = _Reader(path, layers, mb, with_weights, input_shape).run()
    imported.weights_read = with_weights
    return imported


def _name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", text).strip(".") or "layer"
    return name + "_" if name == "input" else name


class _Reader:
    def __init__(self, path, layers: list[Layer], mb: ModelBin | None, with_weights: bool, input_shape):
        self.path, self.layers_in, self.mb, self.with_weights = path, layers, mb, with_weights
        self.input_shape = input_shape
        self.blobs: dict[str, Held | str] = {}       # blob -> what holds it, or "refused"
        self.read_by: dict[str, int] = {}           # blob -> layers reading it
        self.layers: list[dict] = []
        self.weights: dict = {}
        self.names = UniqueNames()
        self.refused = Tally()
        self.views: dict[tuple, Held] = {}          # (layer, layout) -> the blob converted
        self.inputs: list[tuple[str, Held]] = []
        self.storage: set[str] = set()
        self.batch: int | None = None
        self.batch_from = ""

    # ---- the run -----------------------------------------------------------------------
    def run(self) -> Imported:
        from cnncost.interop.ncnn import layers, pooling, rows, tensors, windows  # noqa: F401 - they fill LAYERS
        from cnncost.interop.ncnn.table import LAYERS

        for layer in self.layers_in:
            for b in layer.bottoms:
                self.read_by[b] = self.read_by.get(b, 0) + 1
        for layer in self.layers_in:
            self.current = layer
            try:
                self._known_blobs(layer)
                handler = LAYERS.get(layer.type)
                if handler is None:
                    raise Refused(f"{WHY.get(layer.type, 'no mapping onto cnncost kinds')}")
                handler(self, layer)
            except Downstream:
                self._refuse_tops(layer)
            except Refused as exc:
                self.refused.add(layer.type, layer.line, layer.name, str(exc))
                self._refuse_tops(layer)
                self.mb = None              # the .bin's order is lost past a layer we cannot read
            except CnnCostError as exc:
                why = str(exc).removeprefix(f"{self.path}: ")
                if why.startswith(f"{self.path}:"):
                    raise ModelFileError(why) from None
                raise ModelFileError(f"{self.path}:{layer.line}: layer '{layer.name}' ({layer.type}): {why}") from None
        if self.refused:
            listed = ", ".join(f"{t} x{n} (first: line {first[0]}, layer '{first[1]}': {first[2]})"
                               for t, n, first in self.refused.listed())
            raise ModelFileError(f"{self.path}: {self.refused.total()} layer(s) not read: {listed}")
        return self._imported()

    def _imported(self) -> Imported:
        outs = [b for layer in self.layers_in for b in layer.tops if b not in self.read_by]
        held = [self.blobs[b] for b in outs]
        if not self.layers or not held:
            raise ModelFileError(f"{self.path}: {len(self.layers)} layer(s) read, {len(held)} output(s): nothing "
                                 "to count")
        names = list(dict.fromkeys(h.layer for h in held))
        name = re.sub(r"[^A-Za-z0-9_]", "_", os.path.basename(self.path).removesuffix(".param"))
        storage = f"; weights stored as {', '.join(sorted(self.storage))}" if self.storage else ""
        if self.mb is None:
            storage = "; no .bin beside it: weights' storage not known"
        xs = [h for _, h in self.inputs]
        doc = {"name": name.removesuffix("_ncnn") or "ncnn", "source": f"ncnn model {os.path.basename(self.path)}"
               f" ({len(self.layers_in)} layers){storage}",
               "input": {n: list(h.shape) for n, h in self.inputs} if len(xs) > 1 else list(xs[0].shape),
               "layers": self.layers}
        if len(names) > 1 or names[0] != self.layers[-1]["name"]:
            doc["outputs"] = names
        layouts = {h.layer: "nchw" for h in held if h.layout == "map" and len(h.shape) == 3}
        return Imported(doc, self.weights, tuple(xs[0].shape), self.batch, self.batch_from,
                        params_as="params are the weights as the .bin holds them (pnnx folds a BatchNorm into "
                                  "the convolution before it: params change, mults do not)",
                        output_layouts=layouts, channels_first=any(h.layout == "map" for h in xs))

    def _known_blobs(self, layer: Layer) -> None:
        for b in layer.bottoms:
            if b not in self.blobs:
                raise ModelFileError(f"reads blob '{b}', which no earlier layer makes")
        for b in layer.tops:
            if b in self.blobs:
                raise ModelFileError(f"makes blob '{b}', which an earlier layer made too")

    def _refuse_tops(self, layer: Layer) -> None:
        for b in layer.tops:
            self.blobs[b] = "refused"

    # ---- helpers the handlers read blobs and write layers through ------------------------
    def x(self, layer: Layer, i: int = 0) -> Held:
        """The layer's input i (a refused layer's output: Downstream)."""
        if len(layer.bottoms) <= i:
            raise ModelFileError(f"has {len(layer.bottoms)} input(s); it reads input {i + 1}")
        held = self.blobs[layer.bottoms[i]]
        if held == "refused":
            raise Downstream()
        return held

    def ins(self, layer: Layer, least: int = 1, most: int | None = None) -> list[Held]:
        n = len(layer.bottoms)
        if n < least or (most is not None and n > most):
            raise ModelFileError(f"has {n} input(s); it takes {least}" + ("" if most == least else
                                 f" to {most}" if most else " or more"))
        return [self.x(layer, i) for i in range(n)]

    def put(self, layer: Layer, held: Held, i: int = 0) -> None:
        if len(layer.tops) <= i:
            raise ModelFileError(f"has {len(layer.tops)} output(s); it makes {i + 1}")
        self.blobs[layer.tops[i]] = held

    def one_to_one(self, layer: Layer) -> None:
        """A layer of one input and one output (what most are)."""
        if len(layer.bottoms) != 1 or len(layer.tops) != 1:
            raise ModelFileError(f"has {len(layer.bottoms)} input(s) and {len(layer.tops)} output(s); it takes one "
                                 "of each")

    def as_map(self, h: Held) -> Held:
        return h if h.layout == "map" or len(h.shape) < 2 else self._convert(h, "map")

    def as_plain(self, h: Held) -> Held:
        return h if h.layout == "plain" or len(h.shape) < 2 else self._convert(h, "plain")

    def _convert(self, h: Held, to: str) -> Held:
        """One transpose between ncnn's order and ours, made once per blob."""
        key = (h.layer, to)
        if key not in self.views:
            r = len(h.shape)
            perm = [0, *range(2, r + 1), 1] if to == "map" else [0, r, *range(1, r)]
            self.views[key] = self.emit(self.current, "transpose", [h], suffix=".chw" if to == "plain" else ".hwc",
                                        layout=to, perm=perm)
        return self.views[key]

    def load(self, count: int, tagged: bool, what: str) -> Stored | None:
        """The layer's next weight in the .bin (None: no .bin, counting only)."""
        if self.mb is None:
            return None
        return self.mb.load(count, tagged, f"its {what}")

    def emit(self, src: Layer, kind: str, inputs: list[Held], *, layout: str | None = None, suffix: str = "",
             weights: dict | None = None, **args) -> Held:
        """One of our layers for ncnn layer `src`, named after it; `weights`: name -> (Stored
        or None, a function of its float32 values giving ours)."""
        given = {k: v for k, v in args.items() if v is not None}
        found = lookup(kind)
        k, fixed = found
        a = k.normalize({**fixed, **given}, lambda text: expr.evaluate(text, {}))
        ins = [h.shape for h in inputs]
        shape = tuple(k.output_shape(a, ins))
        if any(not isinstance(d, int) or not 1 <= d <= MAX_DIM for d in shape):
            raise ModelFileError(f"makes a blob of shape {list(shape)} (each size 1 to {MAX_DIM:,})")
        want = {**k.weight_shapes(a, ins), **(k.stat_shapes(a, ins) if hasattr(k, "stat_shapes") else {})}
        name = self.names(_name(src.name) + suffix)
        entry = {"name": name, "kind": kind, **given, "inputs": [h.layer for h in inputs] if len(inputs) > 1
                 else inputs[0].layer}
        stored_as = {}
        for wname, (stored, make) in (weights or {}).items():
            need = want.get(wname)
            if stored is None:
                continue
            if need is None or math.prod(need) != stored.count:
                raise ModelFileError(f"its {wname} holds {stored.count:,} values; the layer takes "
                                     f"{math.prod(need or ()):,}")
            if stored.dtype != "float32":
                stored_as[wname] = stored.dtype
                self.storage.add(stored.dtype)
            if self.with_weights:
                self.weights[f"{name}/{wname}"] = make(stored.values()).reshape(need)
        if stored_as:
            entry["precision"] = {"dtype": "float32", "weights": stored_as}
        self.layers.append(entry)
        return Held(name, shape, layout or inputs[0].layout)
