"""Read a Caffe deploy net (.prototxt, protobuf text) as a cnncost spec; with its weights
(the .caffemodel beside it, same stem) when a command runs it.

Caffe's blobs are N x C x H x W; ours are H x W x C. Each blob the net makes is held as a
`Value` in one of three layouts: "map" (a 4-D blob, ours channels last), "plain" (any other
blob, ours exactly as Caffe's, in its element order) and "flat" (a map flattened by Flatten
or InnerProduct: ours in H, W, C order, so its Caffe order C, H, W is kept beside it, and an
InnerProduct's weights are permuted to match instead of the data). A layer that needs
Caffe's own order (a Reshape, a Concat of flattened maps, an output) gets it through the
layers `plain` writes, never silently.

In-place layers (top == bottom) rebind the blob's name; the net's outputs are the blobs no
later layer reads, as in Caffe. Layers we do not read are refused by type, gathered into
one message with their counts: never a silent zero. One handler per layer type:
interop/caffe/layers.py and windows.py."""
from __future__ import annotations

import math
import os
import re
from cnncost.errors import CnnCostError, Loc, ModelFileError
from cnncost.interop.caffe.blobs import Value, Want, shown
from cnncost.interop.caffe.net import LayerDef, Net, read_net
from cnncost.interop.caffe.text import TextError
from cnncost.interop.imported import Imported
from cnncost.interop.refusals import Refused, Tally, UniqueNames
from cnncost.layers import lookup
from cnncost.spec import expr

# data layers and training's losses: a train_val net given for a deploy one
FEEDS = {"Data": "reads a database", "ImageData": "reads image files", "HDF5Data": "reads HDF5 files",
         "WindowData": "reads image windows", "MemoryData": "is fed from code", "DummyData": "makes filler data",
         "AnnotatedData": "reads a database"}
LOSSES = ("Loss", "Accuracy")
WHY = {"Python": "a Python layer, whose code is not in the file", "Permute": "a permutation of Caffe's axes (SSD's); "
       "no mapping onto cnncost's kinds", "Crop": "a crop to a second bottom's size (FCN's)",
       "Interp": "a fork's resize", "Upsample": "a fork's unpooling"}


class Downstream(Refused):
    """Reads what a refused layer makes: not counted as a refusal of its own."""


def import_caffe(path: str, *, with_weights: bool = True, input_shape=None) -> Imported:
    try:
        net = read_net(path)
    except TextError as exc:
        raise ModelFileError(str(exc), loc=Loc(path, exc.line, exc.col)) from None
    reader = Reader(net, with_weights, input_shape)
    imported = reader.run()
    if with_weights:
        imported.weights, imported.weights_read = reader.read_weights(), True
    return imported


def layer_name(raw: str) -> str:
    """A Caffe name as one of ours: its slashes (`inception_3a/1x1`) are the dots of a
    block, anything but letters, digits, '_' and '-' an underscore."""
    parts = [re.sub(r"[^A-Za-z0-9_\-]", "_", p) or "_" for p in re.split(r"[/.]", raw)]
    name = ".".join(parts)[:180].strip(".") or "layer"
    return name + "_" if name == "input" else name


class Reader:
    def __init__(self, net: Net, with_weights: bool, input_shape):
        self.net, self.path, self.with_weights = net, net.path, with_weights
        self.given_shape = input_shape
        self.blobs: dict[str, Value | str] = {}     # blob name -> its value ("refused": a refused layer's)
        self.open: dict[str, Value] = {}            # blobs made and not read since: the outputs
        self.inputs: dict[str, tuple] = {}          # our input name -> shape
        self.batch: int | None = None
        self.batch_from = "file"
        self.layers: list[dict] = []
        self.shapes: dict[str, tuple] = {}
        self.names = UniqueNames(cap=190)
        self.wants: dict[str, Want] = {}            # '<our layer>/<weight>' -> where it is in the .caffemodel
        self.blob_counts: dict[str, tuple] = {}     # Caffe layer -> (blobs its type holds, its type)
        self.converted: dict[tuple, Value] = {}     # (our layer, layout) -> the value in that layout
        self.refused = Tally()
        self.current: LayerDef | None = None
        self.batch_norms = 0

    # ---- the net ---------------------------------------------------------------------------
    def run(self) -> Imported:
        from cnncost.interop.caffe import windows  # noqa: F401 - registers its handlers in LAYERS
        from cnncost.interop.caffe.layers import LAYERS, check_bottoms

        for spec in self.net.inputs:
            self.add_input(spec.name, spec.shape, spec)
        for ld in self.net.layers:
            self.current = ld
            try:
                handler = LAYERS.get(ld.type)
                if handler is None:
                    raise Refused(self._why(ld.type))
                check_bottoms(ld)
                xs = [self.read(b) for b in ld.bottoms]
                outs = handler(self, ld, xs)
                if len(outs) != len(ld.tops):
                    raise ModelFileError(f"{len(ld.tops)} top(s); a {ld.type} of these bottoms makes {len(outs)}")
                for top, value in zip(ld.tops, outs):
                    self.put(top, value)
            except Downstream:
                self._taint(ld)
            except Refused as exc:
                self.refused.add(ld.type, ld.name, ld.line, str(exc))
                self._taint(ld)
            except TextError as exc:
                raise ModelFileError(str(exc), loc=Loc(self.path, exc.line, exc.col), layer=ld.name,
                                     kind=ld.type) from None
            except CnnCostError as exc:
                why = exc.message.removeprefix(f"{self.path}: ")
                raise ModelFileError(why, loc=Loc(self.path, ld.line, ld.col), layer=ld.name, kind=ld.type) from None
        if self.refused:
            listed = ", ".join(f"{kind} x{n} (first: '{first[0]}' at line {first[1]}: {first[2]})"
                               for kind, n, first in self.refused.listed())
            raise ModelFileError(f"{self.path}: {self.refused.total()} layer(s) not read: {listed}")
        return self._result()

    def _why(self, kind: str) -> str:
        if kind in FEEDS or kind.endswith(LOSSES):
            what = FEEDS.get(kind, "is a training loss or metric")
            return (f"{kind} {what}: cnncost counts a deploy net (inputs given by `input:` and `input_shape`, or "
                    "an Input layer; no loss)")
        return f"{kind}: {WHY.get(kind, 'no mapping onto cnncost kinds')}"

    def _taint(self, ld: LayerDef) -> None:
        for top in ld.tops:
            self.blobs[top] = "refused"
            self.open.pop(top, None)

    def add_input(self, name: str, shape: tuple, where) -> None:
        shape = self._given(name, shape)
        if name in self.blobs:
            raise TextError(f"input '{name}' is given twice", where.line, where.col)
        n, per = shape[0], tuple(shape[1:])
        if self.batch is not None and n != self.batch:
            raise TextError(f"input '{name}' has batch {n}, another input {self.batch}: cnncost reads "
                            "inputs of one batch", where.line, where.col)
        if not per:
            raise TextError(f"input '{name}' has shape {list(shape)}: no axis past the batch", where.line, where.col)
        self.batch = n
        ours = re.sub(r"\W", "_", name) or "data"
        ours = "x_" + ours if ours[0].isdigit() or ours == "input" else ours
        while ours in self.inputs or ours in self.names:
            ours += "_"
        self.names.add(ours)
        self.inputs[ours] = (per[1], per[2], per[0]) if len(per) == 3 else per
        self.blobs[name] = Value(ours, self.inputs[ours], "map" if len(per) == 3 else "plain")

    def _given(self, name: str, shape: tuple) -> tuple:
        """The shape --input-shape gives this input (N x C x H x W, or NAME=... each), else the file's."""
        given = self.given_shape
        if given is None:
            return shape
        if given and isinstance(given[0], tuple):
            found = dict(given).get(name)
            if found is None:
                raise ModelFileError(f"{self.path}: --input-shape names {', '.join(n for n, _ in given)}; the net's "
                                     f"input is '{name}'")
            given = found
        elif len(self.net.inputs) + sum(len(ld.tops) for ld in self.net.layers if ld.type == "Input") > 1:
            raise ModelFileError(f"{self.path}: the net has several inputs: give --input-shape NAME=NxCxHxW for each")
        if len(given) != len(shape):
            raise ModelFileError(f"{self.path}: --input-shape {'x'.join(map(str, given))} for input '{name}' of "
                                 f"rank {len(shape)} ({'x'.join(map(str, shape))} in the file)")
        self.batch_from = "--input-shape"
        return tuple(given)

    def read(self, blob: str) -> Value:
        value = self.blobs.get(blob)
        if value is None:
            raise ModelFileError(f"bottom '{blob}' is made by no earlier layer")
        if value == "refused":
            raise Downstream()
        self.open.pop(blob, None)
        return value

    def put(self, blob: str, value: Value) -> None:
        self.blobs[blob] = value
        self.open.pop(blob, None)
        if value.layer not in self.inputs:
            self.open[blob] = value

    # ---- writing our layers ----------------------------------------------------------------
    def emit(self, ld: LayerDef, kind: str, xs: list, *, layout: str, suffix: str = "", base: str | None = None,
             chw: tuple | None = None, weights: dict | None = None, **args) -> Value:
        """One of our layers for Caffe layer `ld`, named after it (`base` instead, + `suffix`);
        `weights`: our weight name -> Want. Its output shape is our kind's rule; each weight
        the kind takes must be one the .caffemodel gives, of as many values."""
        given = {k: v for k, v in args.items() if v is not None}
        k, fixed = lookup(kind)
        a = k.normalize({**fixed, **given}, lambda text: expr.evaluate(text, {}))
        ins = [x.shape for x in xs]
        shape = tuple(k.output_shape(a, ins))
        takes = {**k.weight_shapes(a, ins), **k.stat_shapes(a, ins)}
        weights = weights or {}
        if set(takes) != set(weights):
            raise ModelFileError(f"a {kind} of {', '.join(map(shown, ins))} takes {sorted(takes) or 'no weights'}, "
                                 f"the reader gives {sorted(weights) or 'none'} (a reader bug)")
        name = self.names(layer_name(base or ld.name) + suffix)
        for wname, want in weights.items():
            if math.prod(takes[wname]) != math.prod(want.shapes[0]):
                raise ModelFileError(f"its {wname} of {shown(want.shapes[0])} values does not fit a {kind} of "
                                     f"{', '.join(map(shown, ins))} ({shown(takes[wname])})")
            self.wants[f"{name}/{wname}"] = want
        entry = {"name": name, "kind": kind, **given, "inputs": [x.layer for x in xs] if len(xs) > 1 else xs[0].layer}
        self.layers.append(entry)
        self.shapes[name] = shape
        if layout == "flat" and chw is None:
            layout = "plain"
        return Value(name, shape, layout, chw)

    def takes_blobs(self, ld: LayerDef, count: int) -> None:
        """`ld` holds `count` blobs in the .caffemodel (checked when they are read)."""
        self.blob_counts[ld.name] = (count, ld.type)

    # ---- layouts -----------------------------------------------------------------------------
    def plain(self, ld: LayerDef, x: Value) -> Value:
        """`x` in Caffe's own element order: a map turned C x H x W, a flattened map as Caffe
        flattens it (back to the map, turned, flattened)."""
        if x.layout == "plain":
            return x
        key = (x.layer, "plain")
        if key not in self.converted:
            if x.layout == "map":
                y = self.emit(ld, "transpose", [x], layout="plain", base=x.layer, suffix=".chw", perm=[0, 3, 1, 2])
            else:
                c, h, w = x.chw
                m = self.emit(ld, "reshape", [x], layout="map", base=x.layer, suffix=".hwc", shape=[h, w, c])
                t = self.emit(ld, "transpose", [m], layout="plain", base=x.layer, suffix=".chw", perm=[0, 3, 1, 2])
                y = self.emit(ld, "reshape", [t], layout="plain", base=x.layer, suffix=".flat", shape=[-1])
            self.converted[key] = y
        return self.converted[key]

    def as_map(self, ld: LayerDef, x: Value) -> Value:
        """A 4-D blob as a map: a plain C x H x W (a Reshape's) turned channels last."""
        if x.layout == "map":
            return x
        if x.layout == "plain" and len(x.shape) == 3:
            key = (x.layer, "map")
            if key not in self.converted:
                self.converted[key] = self.emit(ld, "transpose", [x], layout="map", base=x.layer, suffix=".hwc",
                                                perm=[0, 2, 3, 1])
            return self.converted[key]
        raise Refused(f"a {ld.type} of a blob of shape {shown((self.batch, *x.caffe))}: it reads "
                      "N x C x H x W blobs")

    def channels(self, ld: LayerDef, x: Value) -> Value:
        """`x` with Caffe's axis 1 (the channels) as our last axis: a map, or a vector."""
        if x.layout == "map":
            return x
        x = self.plain(ld, x)
        if len(x.shape) != 1:
            raise Refused(f"a {ld.type} of a blob of shape {shown((self.batch, *x.caffe))}: its channels are axis 1 "
                          "of a 2-D or 4-D blob")
        return x

    # ---- the result ------------------------------------------------------------------------
    def _result(self) -> Imported:
        if not self.inputs:
            raise ModelFileError(f"{self.path}: the net has no input (`input:` with `input_shape`, or an Input layer)")
        if not self.layers:
            raise ModelFileError(f"{self.path}: no layer to count")
        outputs, layouts = [], {}
        for blob, value in list(self.open.items()):
            if value.layout == "flat":
                value = self.plain(self._last, value)
            if value.layer in outputs:
                continue
            outputs.append(value.layer)
            layouts[value.layer] = "nchw" if value.layout == "map" else "plain"
        if not outputs:
            raise ModelFileError(f"{self.path}: every blob the net makes is read again: no output")
        net = self.net
        stem = os.path.splitext(os.path.basename(self.path))[0]
        name = re.sub(r"\W+", "_", net.name or stem).strip("_") or "caffe_net"
        source = (f"Caffe net {os.path.basename(self.path)} ({len(net.layers)} layers"
                  f"{', V1 layers' if net.v1 else ''}): {self.params_as}")
        several = len(self.inputs) > 1
        document = {"name": name, "source": source,
                    "input": {k: list(v) for k, v in self.inputs.items()} if several
                    else list(next(iter(self.inputs.values()))), "layers": self.layers}
        if not several:
            outputs = self._one_input(outputs)
        if len(outputs) > 1 or outputs[0] != self.layers[-1]["name"]:
            document["outputs"] = outputs
        return Imported(document, {}, next(iter(self.inputs.values())), self.batch, self.batch_from,
                        params_as=self.params_as, output_layouts=layouts, channels_first=True)

    @property
    def _last(self) -> LayerDef:
        return self.current or LayerDef("output", "Output", [], [], None, 1, 1)

    def _one_input(self, outputs: list) -> list:
        """A net of one input reads it as `input` (a spec's single input is called that)."""
        old = next(iter(self.inputs))
        for entry in self.layers:
            ins = entry["inputs"]
            entry["inputs"] = ["input" if i == old else i for i in ins] if isinstance(ins, list) else \
                "input" if ins == old else ins
        return ["input" if o == old else o for o in outputs]

    @property
    def params_as(self) -> str:
        if not self.batch_norms:
            return "params are the blobs as Caffe holds them"
        return ("params are the blobs as Caffe holds them: a Scale layer's gamma and beta are params; BatchNorm's "
                "mean and variance are non-trainable statistics, and its third blob (a moving-average factor, one "
                f"value per BatchNorm layer: {self.batch_norms:,} here) is not counted")

    # ---- weights -----------------------------------------------------------------------------
    def read_weights(self) -> dict:
        import numpy as np

        from cnncost.interop.caffe.weights import read_blobs, weights_path

        path = weights_path(self.path)
        held = read_blobs(path, {w.layer for w in self.wants.values()})
        for layer, (count, kind) in self.blob_counts.items():
            if layer in held and len(held[layer]) != count:
                raise ModelFileError(f"{path}: layer '{layer}' holds {len(held[layer])} blob(s); the net's {kind} "
                                     f"takes {count}")
        out = {}
        for key, want in self.wants.items():
            blobs = held.get(want.layer)
            if blobs is None:
                raise ModelFileError(f"{path}: no weights for layer '{want.layer}' (Caffe copies weights by "
                                     "layer name)")
            arrays = []
            for i, shape in zip(want.blobs, want.shapes):
                dims = blobs[i].dims
                if _lead(dims) != _lead(shape):
                    raise ModelFileError(f"{path}: layer '{want.layer}' blob {i} is {shown(dims)}; the net "
                                         f"makes it {shown(shape)}")
                arrays.append(blobs[i].array().reshape(shape))
            out[key] = np.ascontiguousarray(want.make(*arrays), dtype=np.float32)
        return out


def _lead(dims) -> tuple:
    """Dims without leading ones: Caffe's legacy 4-D blobs (1 x 1 x out x in) are the same data."""
    dims = tuple(dims)
    while dims and dims[0] == 1:
        dims = dims[1:]
    return dims


