"""Read an ONNX model as a cnncost spec, plus its weights in the layout `run --weights`
reads. Every node maps onto a kind, folds to a constant (shape arithmetic), or is
refused: all refusals are gathered into one message that lists each operator with its
count and first node. Never a silent zero.

Layouts: ONNX maps are NCHW, ours H x W x C. Each tensor remembers how ONNX holds it
(`Held.layout`): an NCHW map, a channels-last map (after Transpose 0,2,3,1), a vector, or
the 5-D and 3-D views of a channel shuffle and a group norm, a 1-D or 3-D map (N, C, T),
(N, C, D, H, W) that a Conv or pool reads, or an output of a recurrent node (sequences),
so that a Reshape or Transpose is read as the operation it spells. A Flatten of an NCHW map orders C, H, W
while ours orders H, W, C: the rows of the dense layer that reads it are permuted on
import (counts do not depend on it; `run` then reproduces onnxruntime).

Operators: two tables of handlers (onnx/handlers), each called as handler(importer, node,
args), the importer passed explicitly: LAYERS, the map world's patterns (layers, moves),
tried first; PLAIN, the operator on tensors in the model's own order (tensors), where the
pattern refuses or has none. Importing those modules here fills the tables. A handler
reaches the importer through that argument alone: emit and the other methods of its
"layers" section below, and the functions of worlds.
"""
from __future__ import annotations

import math
import os
import re
from collections import Counter
from dataclasses import dataclass

from cnncost.errors import ModelFileError
from cnncost.interop.onnx import fold as onnx_fold, patterns as onnx_patterns
from cnncost.interop.onnx import layers, moves, sequences, tensors  # noqa: F401 - importing them fills the tables
from cnncost.interop.onnx.handlers import LAYERS, PLAIN
from cnncost.interop.imported import FIRST_LAYER_LINE, Imported
from cnncost.interop.input_shape import parse_input_shape  # noqa: F401 - named here by its users
from cnncost.interop.onnx.proto import Node, read_model
from cnncost.interop.onnx.inputs import checked_dims
from cnncost.interop.onnx.values import TIME_FIRST, UNKNOWN, Const, Held
from cnncost.interop.onnx.worlds import _plain
from cnncost.interop.refusals import Refused, Tally, UniqueNames

OPSETS = range(7, 22)          # the ai.onnx versions whose operators are read here
CONTROL_FLOW = ("If", "Loop", "Scan")
# what to do about operators whose cost depends on the data, said with the refusal
_POST = "post-processing that depends on the data: export the model without it (ultralytics: nms=False)"
HINTS = {"NonMaxSuppression": "NMS is " + _POST, "TopK": "TopK is " + _POST, "NonZero": "NonZero is " + _POST,
         "Unique": "Unique is " + _POST, "ArgMax": "ArgMax is " + _POST, "ArgMin": "ArgMin is " + _POST,
         **{op: "the QOperator form is not read; quantize in QDQ form (onnxruntime: quant_format=QuantFormat.QDQ, "
               "its default)" for op in ("QLinearAdd", "QLinearMul", "QLinearConcat",
                                          "QLinearGlobalAveragePool", "QLinearAveragePool", "QLinearSigmoid", "QGemm")},
         **{op: "dynamic quantization computes its scales from the data at each run; quantize statically "
               "(onnxruntime: quantize_static)" for op in ("ConvInteger", "MatMulInteger", "DynamicQuantizeLinear")},
         **{op: "random operators are for training: export the model in eval mode" for op in
            ("RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial", "Bernoulli")}}
SHAPE_ONLY = ("Expand", "Reshape", "Unsqueeze", "Squeeze", "Identity", "Transpose", "Cast", "Flatten", "Tile")


PARAMS_AS_FILE = ("params are the tensors as the file holds them (a BatchNorm folded into a conv by the "
                  "exporter changes params, not mults)")
# a live module is read unfolded, by the tracer or the exporter: its own tensors
PARAMS_AS_MODULE = "params are the module's own tensors as its forward reads them (no BatchNorm folded)"


def import_onnx(path: str, *, with_weights: bool = True, input_shape=None) -> Imported:
    """The ONNX file at `path`, read once."""
    return import_model(read_model(path), Origin(path), with_weights=with_weights, input_shape=input_shape)


@dataclass(frozen=True)
class Origin:
    """Where a Model came from: a file (`path`), or a live PyTorch module read into it
    (`shown`: how the user names it; `module_batch`: the N its input_shape gave, when the
    module was traced on one example and is counted at N)."""
    path: str
    shown: str | None = None
    module_batch: int | None = None

    @property
    def from_module(self) -> bool:
        return self.shown is not None


def import_model(model, origin: Origin, *, with_weights: bool = True, input_shape=None) -> Imported:
    """A parsed Model (a file's, or one a live module was traced into) as an Imported."""
    return _Importer(origin, model, with_weights, input_shape).run()


class _Importer:
    def __init__(self, origin: Origin, model, with_weights, input_shape):
        # messages name what the user gave: a module by its label
        self.origin, self.file, self.path = origin, origin.path, origin.shown or origin.path
        self.model, self.with_weights = model, with_weights
        self.graph = model.graph
        self.values: dict[str, object] = {}
        self.layers: list[dict] = []
        self.by_name: dict[str, dict] = {}
        self.weights: dict = {}
        self.uses: list[tuple] = []               # (layer, weight, initializer, elements) in order of use
        self.names = UniqueNames(cap=180)         # layer names, the inputs' among them
        self.refusals = Tally()                   # op -> count, (first node, why)
        # a module traced on one example: its shapes are the trace's, its batch the one it was given
        self.input_shape = None if origin.module_batch else input_shape
        self.output_layouts: dict[str, str] = {}

    # ---- the whole graph --------------------------------------------------------------
    def run(self) -> Imported:
        self._check_model()
        g = self.graph
        for name, t in g.initializers.items():
            self.values[name] = Const(tensor=t, source=name)
        # folded constants: each at most what a network could need (the largest weight, or a
        # mask or table of 16 M values), all together a few times that
        largest = max((t.size for t in g.initializers.values()), default=0)
        self.fold_limit = max(onnx_fold.FOLD_ELEMENTS, largest)
        self.fold_budget = 4 * onnx_fold.FOLD_ELEMENTS + 2 * sum(t.size for t in g.initializers.values())
        self._read_input()
        self._identity = {n.outputs[0]: n.inputs[0] for n in g.nodes if n.op == "Identity" and n.inputs}
        nodes = onnx_patterns.fuse(g.nodes, [o.name for o in g.outputs], self._constant_value)
        self.consumers = Counter(i for n in nodes for i in n.inputs if i)
        self.consumers.update(o.name for o in g.outputs)
        for node in nodes:
            self._node(node)
        if self.refusals:
            self._refuse_all()
        return self._result()

    def _check_model(self):
        m, path = self.model, self.path
        version = m.opsets.get("", 0)
        if version not in OPSETS:
            raise ModelFileError(f"{path}: ONNX opset {version} is not one cnncost reads "
                            f"(opsets {OPSETS.start} to {OPSETS.stop - 1}); convert the model with "
                            "onnx.version_converter")
        for i, n in enumerate(self.graph.nodes):
            if not any(n.outputs):
                raise ModelFileError(f"{path}: node {i} {n.name or ''!r} ({n.op}) has no outputs (the file is damaged)")
        flow = Counter(n.op for n in self.graph.nodes if n.op in CONTROL_FLOW)
        if flow:
            raise ModelFileError(f"{path}: control flow ({', '.join(f'{op} x{c}' for op, c in flow.items())}) "
                            "cannot be counted without running the model; export it without data-dependent "
                            "branches or loops")
        missing = Tally()
        for n in self.graph.nodes:
            if not self._known(n):
                missing.add(n.op if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op}",
                            n.name or next(iter(n.outputs), '') or '?')
        if missing:
            hints = sorted({HINTS[op] for op in missing if op in HINTS})
            raise ModelFileError(f"{path}: unsupported ONNX operators: " + ", ".join(
                f"{op} x{count} (first: {first[0]!r})" for op, count, first in missing.listed())
                + "".join(f"; {h}" for h in hints))

    def _known(self, n) -> bool:
        return n.domain in ("", "ai.onnx") and (n.op in LAYERS or n.op in PLAIN or n.op in onnx_fold.FOLDABLE)

    def _read_input(self):
        g, path = self.graph, self.path
        inputs = [i for i in g.inputs if i.name not in g.initializers]
        if not inputs:
            raise ModelFileError(f"{path}: the model has no input")
        named = bool(self.input_shape) and isinstance(self.input_shape[0], tuple)
        shapes = dict(self.input_shape) if named else \
            ({inputs[0].name: self.input_shape} if self.input_shape is not None else {})
        if len(inputs) > 1 and self.input_shape is not None and not named:
            raise ModelFileError(f"{path}: the model has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                            "give each one's shape: --input-shape NAME=NxCxHxW,NAME2=...")
        if shapes and set(shapes) - {i.name for i in inputs}:      # a misspelt name is never dropped
            raise ModelFileError(f"{path}: --input-shape names {', '.join(sorted(set(shapes) - {i.name for i in inputs}))}; "
                            f"the model's inputs are {', '.join(i.name for i in inputs)} (NAME=NxCxHxW for each)")
        self.input_names, self.per_example_inputs, self.input_layouts = {}, {}, {}
        for k, x in enumerate(inputs):
            self._read_one_input(x, shapes.get(x.name), first=k == 0, several=len(inputs) > 1)

    def _read_one_input(self, x, given_shape, first: bool, several: bool):
        path = self.path
        given = given_shape is not None
        dims = list(given_shape) if given else x.dims
        checked_dims(path, x, dims, given, several, self._time_first(x.name))
        n = dims[0]
        per_example = (dims[2], dims[3], dims[1]) if len(dims) == 4 else tuple(dims[1:])
        layout = "nchw" if len(dims) == 4 else "vec" if len(dims) == 2 else "plain"
        if len(dims) == 3 and self._time_first(x.name):     # (T, N, C): the batch is axis 1
            n, per_example, layout = dims[1], (dims[0], dims[2]), "tnc"
            if not isinstance(n, int) or n < 1:
                raise ModelFileError(f"{path}: input '{x.name}' is time-first (T, N, C) with a dynamic batch "
                                     f"[{', '.join(str(d) for d in dims)}]: fix it with --input-shape TxNxC")
        name = "input" if not several else re.sub(r"[^A-Za-z0-9_]", "_", x.name).strip("_") or "input"
        if several and (not name.isidentifier() or name in self.input_names.values()):
            name = f"input{len(self.input_names) + 1}"
        self.input_names[x.name] = name
        self.per_example_inputs[name] = per_example
        self.names.add(name)
        self.values[x.name] = Held(name, per_example, layout)
        if layout == "tnc":
            self.input_layouts[name] = "batch_second"
        if first:
            self.batch_from = "--input-shape" if given else "file" if isinstance(n, int) and n >= 1 else ""
            self.fixed_batch = n if self.batch_from else None
            self.batch = self.fixed_batch or 1      # for shape arithmetic; counts are per example
            self.per_example = per_example

    def _time_first(self, name) -> bool:
        """Whether an input is a time-first sequence (T, N, C): the X of an LSTM, GRU or RNN of
        layout 0 (PyTorch's batch_first=False). Its Shape is read as such; any other reader of
        it is refused (worlds._plain)."""
        return any(n.op in ("LSTM", "GRU", "RNN") and n.inputs and n.inputs[0] == name
                   and int(n.attrs.get("layout", 0)) == 0 for n in self.graph.nodes)

    def _constant_value(self, name):
        """For pattern matching: a constant's array (initializers, also through Identity
        nodes, and Constant nodes)."""
        for _ in range(64):
            if name not in self._identity:
                break
            name = self._identity[name]
        v = self.values.get(name)
        if isinstance(v, Const):
            return v.value if v.tensor is None or v.tensor.size <= 4096 else None
        for n in self.graph.nodes:
            if n.op == "Constant" and name in n.outputs:
                try:
                    return onnx_fold.constant_attr(n)
                except onnx_fold.FoldError:
                    return None
        return None

    def _node(self, node: Node):
        args = []
        for i in node.inputs:
            if not i:
                args.append(None)
                continue
            if i not in self.values:
                raise ModelFileError(f"{self.path}: node {self._label(node)} reads '{i}', which no earlier node "
                                "makes (the graph is not in topological order, or is damaged)")
            args.append(self.values[i])
        if any(a is UNKNOWN for a in args):
            self._set(node, [UNKNOWN] * len(node.outputs))
            return
        try:
            if node.op == "Identity" and isinstance(args[0], Const):     # exporters' shared tensors
                self._set(node, [args[0]])
            elif node.op == "Gather" and isinstance(args[0], Const) and args[0].source is not None \
                    and isinstance(args[1], Const):
                tensors.learned_gather(self, node, args)     # a weight's table read out: still the weight
            elif all(a is None or isinstance(a, Const) for a in args) and node.op in onnx_fold.FOLDABLE:
                outs = onnx_fold.fold(node, [None if a is None else a.value for a in args],
                                      limit=min(self.fold_limit, self.fold_budget))
                self.fold_budget -= sum(o.size for o in outs)
                # a learned tensor only reshaped or copied (ViT's class token, expanded to the
                # batch) is still the file's weight
                data = args[0] if args else None
                keep = data.source if isinstance(data, Const) and node.op in SHAPE_ONLY + ("DequantizeLinear",) \
                    else None
                stored = data.file_dtype() if node.op == "DequantizeLinear" else data.stored \
                    if isinstance(data, Const) and node.op in SHAPE_ONLY else None
                self._set(node, [Const(array=o, source=keep, stored=stored) for o in outs])
            elif node.op == "Shape" and isinstance(args[0], Held):
                outs = onnx_fold.fold(node, [None], shape_of=self._onnx_dims(args[0]))
                self._set(node, [Const(array=outs[0])])
            else:
                self._read(node, args)
        except onnx_fold.TooLarge as exc:
            raise ModelFileError(f"{self.path}: node {self._label(node)}: {exc}") from None
        except Refused as exc:
            self.refusals.add(node.op, node.name or next(iter(node.outputs), '') or '?', str(exc))
            self._set(node, [UNKNOWN] * len(node.outputs))
        except (onnx_fold.FoldError, ValueError, IndexError, KeyError, TypeError) as exc:
            detail = str(exc) or type(exc).__name__
            self.refusals.add(node.op, node.name or next(iter(node.outputs), '') or '?', f"cannot evaluate ({detail[:120]})")
            self._set(node, [UNKNOWN] * len(node.outputs))

    def _read(self, node, args):
        """The map world's pattern first (a cleaner spec); where it refuses, the operator
        as it is on tensors in the model's own order (PLAIN, tensors)."""
        need = 1 if node.op == "Reshape" and "shape" in node.attrs else \
            onnx_fold.ARITY.get(node.op, 2 if node.op in onnx_fold.BINARY else 1)
        if len(args) < need or any(a is None for a in args[:need]):
            raise Refused(f"needs {need} input{'s' if need > 1 else ''}, the node gives {sum(a is not None for a in args)}")
        pattern, general = LAYERS.get(node.op), PLAIN.get(node.op)
        if pattern is None and general is None:
            raise Refused("applies to a layer's output here (cnncost folds it only on constants)")
        if pattern is not None:
            mark = len(self.layers)
            try:
                return pattern(self, node, args)
            except Refused:
                if general is None or len(self.layers) != mark:
                    raise
        general(self, node, args)

    def _set(self, node, values):
        for name, v in zip(node.outputs, values):
            if name:
                self.values[name] = v

    def _drop_dead(self, outputs):
        """With several outputs every layer must reach one (a spec refuses the rest): the
        import leaves out what the file computes for no output."""
        if len(outputs) < 2:
            return
        reach = set(outputs)
        for layer in reversed(self.layers):
            if layer["name"] in reach:
                reach.update(layer.get("inputs", []))
        dead = {l["name"] for l in self.layers if l["name"] not in reach}
        self.layers = [l for l in self.layers if l["name"] not in dead]
        self.weights = {k: v for k, v in self.weights.items() if k.split("/")[0] not in dead}

    def _mark_shared(self) -> int:
        """An initializer feeding several layers is one tensor: the first live layer using it
        owns it, later ones say `shares:` (core/shared_weights). Returns how many are shared."""
        alive = {layer["name"] for layer in self.layers}
        owner: dict[str, tuple] = {}
        shared = set()
        for layer, key, source, size in self.uses:
            if layer not in alive:
                continue
            first = owner.setdefault(source, (layer, key, size))
            if first[0] != layer and first[2] == size:
                self.by_name[layer].setdefault("shares", {})[key] = f"{first[0]}/{first[1]}"
                shared.add(source)
        return len(shared)

    def _mark_frozen(self) -> None:
        """A layer whose every weight a live module holds with requires_grad=False is frozen."""
        frozen = getattr(self.model, "frozen", frozenset())
        if not frozen:
            return
        sources: dict[str, list] = {}
        for layer, _, source, _ in self.uses:
            sources.setdefault(layer, []).append(source)
        for layer in self.layers:
            if sources.get(layer["name"]) and all(s in frozen for s in sources[layer["name"]]):
                layer["trainable"] = False

    def _refuse_all(self):
        raise ModelFileError(f"{self.path}: unsupported ONNX operators as used here: " + "; ".join(
            f"{op} x{c} (first: {name!r}: {why})" for op, c, (name, why) in self.refusals.listed()))

    def _label(self, node):
        return f"{(node.name or next(iter(node.outputs), '') or '?')!r} ({node.op})"

    def _result(self) -> Imported:
        outputs = []
        for o in self.graph.outputs:
            out = self.values.get(o.name)
            if not isinstance(out, Held) or not self.layers or out.layer in self.input_names.values():
                raise ModelFileError(f"{self.path}: the graph's output '{o.name}' is not made by any layer")
            if out.layout == "full" and out.shape[0] != 1 and (self.fixed_batch or 1) == 1:
                # the batch folded inside (a time-first output, (T, 1, K)): the file's tensor of one example
                self.output_layouts[out.layer] = "full"
                outputs.append(out.layer)
                continue
            if out.layout not in ("nchw", "nhwc", "vec", "plain"):
                try:
                    here = Node("Identity", o.name, [], [o.name], {})
                    out = sequences.as_output(self, here, out) if out.layout in ("seq_axes", "seq_states") \
                        else _plain(self, here, out)
                except Refused as exc:
                    raise ModelFileError(f"{self.path}: the graph's output '{o.name}': {exc}") from None
            second = out.extra.get("batch_second", False)
            if out.layer in outputs or (len(self.graph.outputs) == 1 and self.layers[-1]["name"] != out.layer):
                # an output that is another's, or a single output that is not the last layer
                self.layers.append({"name": self._unique(layer_name(o.name) if len(self.graph.outputs) > 1
                                                         else "output"), "kind": "linear", "inputs": [out.layer]})
                out = Held(self.layers[-1]["name"], out.shape, out.layout)
            outputs.append(out.layer)
            self.output_layouts[out.layer] = "nchw" if out.layout == "nchw" else "batch_second" if second else "plain"
        self._drop_dead(outputs)
        shared = self._mark_shared()
        self._mark_frozen()
        # the file's name: exporters' graph names say little ("main_graph", "torch_jit")
        shown = self.origin.shown
        params_as = PARAMS_AS_MODULE if self.origin.from_module else PARAMS_AS_FILE
        notes = [params_as]
        if shared:
            notes.append(f"{shared} tensors are used by several layers, counted once at their first use (an "
                         "exporter also merges tensors of equal values, an untrained model's zero biases say: "
                         "params + shared is the count per use)")
        base = shown.split(" ")[2 if shown.startswith("PyTorch module ") else 0] if shown else \
            os.path.splitext(os.path.basename(self.file))[0]
        name = re.sub(r"[^A-Za-z0-9_]+", "_", base).strip("_") or "imported"
        producer = f", {self.model.producer}" if self.model.producer else ""
        source = (f"{shown}, opset {self.model.opsets['']}" if shown else
                  f"ONNX model {self.path} (opset {self.model.opsets['']}{producer})") + ": " + "; ".join(notes)
        several = len(self.per_example_inputs) > 1
        document = {"name": name, "source": source,
                    "input": {k: list(v) for k, v in self.per_example_inputs.items()} if several
                    else list(self.per_example), "layers": self.layers}
        if len(outputs) > 1:
            document["outputs"] = outputs
        batch, batch_from = (self.origin.module_batch, "--input-shape") if self.origin.module_batch else \
            (self.fixed_batch, self.batch_from)
        return Imported(document, self.weights, self.per_example, batch, batch_from,
                        params_as=params_as, output_layouts=self.output_layouts, input_layouts=self.input_layouts,
                        channels_first=True,
                        native=self.model, weights_read=self.with_weights)

    # ---- layers -----------------------------------------------------------------------
    def _unique(self, base, op=""):
        base = layer_name(base, op)
        if base == "input" or base[0].isdigit():
            base = "l_" + base
        return self.names(base)

    def emit(self, node, body, shape, inputs, weights=None, output=None, **t):
        """Append a layer; `weights`: our weight name -> (constant, transform of its array).
        shape None: by the kind's own rule (layers/), so no shape formula has a twin here."""
        if shape is None:
            shape = _shape_by_kind(body, [x.shape for x in inputs])
        name = self._unique(node.name or next(iter(node.outputs), '') or '?', node.op)
        layer = {"name": name, **body, **({"inputs": [x.layer for x in inputs]} if inputs else {})}
        self.layers.append(layer)
        self.by_name[name] = layer
        if weights:
            self._check_weights(node, body, inputs, weights)
        for key, (const, how) in (weights or {}).items():
            self._weight(name, key, const, how)
        if t.get("layout") == "plain" and len(shape) == 1:
            t["layout"] = "vec"          # one axis per example: a vector, whichever world made it
        value = Held(name, tuple(shape), **t)
        if output is not False:
            self.values[output or node.outputs[0]] = value
        return value

    def _check_weights(self, node, body, inputs, weights):
        """Each initializer holds as many values as its use takes (a Gemm's 120x84 weight read
        by a layer of 480 inputs was counted as 480x84, with exit 0): a damaged file, refused."""
        from cnncost.errors import CnnCostError
        from cnncost.layers import lookup

        kind, fixed = lookup(body["kind"])
        try:
            args = kind.normalize({**fixed, **{k: v for k, v in body.items() if k != "kind"}}, evaluate=lambda t: t)
            ins = [tuple(x.shape) for x in inputs]
            want = {**kind.weight_shapes(args, ins), **kind.stat_shapes(args, ins)}
        except CnnCostError as exc:
            raise Refused(str(exc)) from None
        for key, (const, _) in weights.items():
            if key in want and math.prod(want[key]) != math.prod(const.dims):
                shape = "x".join(str(d) for d in want[key])
                raise ModelFileError(f"{self.path}: node {self._label(node)}: {key} '{const.source or '(folded)'}' has "
                                f"dims {list(const.dims)}, {math.prod(const.dims):,} values; its use takes {shape} "
                                f"({math.prod(want[key]):,}): the file is damaged")

    def _weight(self, layer, key, const, how=None):
        if const.source:
            self.uses.append((layer, key, const.source, math.prod(const.dims)))
        if const.stored:                   # kept as the file stores it: weight bytes as stored
            self.by_name[layer].setdefault("precision", {"dtype": "float32", "weights": {}})["weights"][key] = \
                const.stored
        if self.with_weights:
            arr = const.value.astype("float32")
            self.weights[f"{layer}/{key}"] = how(arr) if how else arr

    def _const(self, node, arg, what):
        if not isinstance(arg, Const):
            raise Refused(f"its {what} must be a constant (a weight of the file), not a layer's output")
        return arg

    def _map(self, x, *layouts):
        if not isinstance(x, Held) or x.layout not in layouts:
            if isinstance(x, Held) and x.layout == "tnc":
                raise Refused(TIME_FIRST)
            got = "a constant" if isinstance(x, Const) else f"a {x.layout} tensor"
            raise Refused(f"expects {' or '.join(layouts)} data, received {got}")
        return x

    def _onnx_dims(self, x: Held) -> list:
        n = self.batch
        if x.layout == "plain":
            return [n, *x.shape]
        if x.layout == "full":
            return list(x.shape)
        if x.layout == "stack":
            maps, h, w, c = x.shape
            return [maps, c, h, w]
        if x.layout in ("moved", "picked"):
            dims = list(x.extra["dims"])
            return [1, *dims[1:]] if x.layout == "picked" else dims
        if x.layout in ("seq_axes", "seq_states"):
            return sequences.onnx_dims(self, x)
        if x.layout == "tnc":
            return [x.shape[0], n, x.shape[1]]
        if x.layout == "ncx":
            return [n, x.shape[-1], *x.shape[:-1]]
        if x.layout == "vec":
            return [n, *x.shape] + ([1, 1] if x.extra.get("as_map") else [])
        h, w, c = x.shape
        g = x.extra.get("groups", 1)
        r = x.extra.get("factor", 1)
        return {"nchw": [n, c, h, w], "nhwc": [n, h, w, c], "grouped": [n, g, c // g, h, w],
                "shuffled": [n, c // g, g, h, w], "gn": [n, g, c * h * w // g], "gnorm": [n, g, c * h * w // g],
                "unshuffle6": [n, c, h // r, r, w // r, r], "unshuffle_t": [n, c, r, r, h // r, w // r]}[x.layout]

    def _alias(self, node, x, **changes):
        fields = {"layer": x.layer, "shape": x.shape, "layout": x.layout, "chw": x.chw, "extra": dict(x.extra)}
        fields.update(changes)
        self.values[node.outputs[0]] = Held(**fields)

    def _channel_axis(self, x, axis):
        rank = len(self._onnx_dims(x))
        axis %= rank
        want = {"nchw": 1, "vec": 1, "nhwc": 3}.get(x.layout)
        if axis != want:
            raise Refused(f"works on axis {axis} of a {x.layout} tensor; cnncost's kinds work on channels")

    def _per_feature(self, x, base=lambda v: v.reshape(-1)):
        """`base` then, for a vector flattened from an NCHW map (its features in C, H, W
        order; ours H, W, C), the same reordering of a 1-D weight over those features."""
        if x.chw is None:
            return base
        c, h, w = x.chw
        return lambda v: (lambda u: u if u.size == 1 else u.reshape(c, h, w).transpose(1, 2, 0).reshape(-1))(base(v))

    def _whole_features(self, *xs):
        if any(x.chw is not None for x in xs):
            raise Refused("the vector's features are in C, H, W order (a Flatten of an NCHW map) and cnncost's "
                           "in H, W, C: only a layer of every feature may read it")

    def _per_channel(self, x, c) -> bool:
        """Whether constant `c` holds one value (True) or one per channel of x (False) as
        ONNX broadcasts it; anything else has no cnncost kind."""
        dims = list(c.dims)
        while dims and dims[0] == 1 and len(dims) > 1:
            dims.pop(0)
        size = 1
        for d in dims:
            size *= d
        if size == 1:
            return True
        ch = x.shape[-1]
        ok = {"nchw": [[ch, 1, 1]], "nhwc": [[ch]], "vec": [[ch]], "plain": [[ch]]}.get(x.layout, [])
        if dims in ok:
            return False
        raise Refused(f"a constant of dims {list(c.dims)} against a {x.layout} tensor of shape "
                       f"{self._onnx_dims(x)}: cnncost's kinds take one value or one per channel")


def layer_name(node_name: str, op: str = "") -> str:
    """The spec name of an ONNX node: its module path, dotted as PyTorch writes it
    (`/layer1/layer1.0/conv1/Conv` -> layer1.0.conv1, so --depth folds an import by its
    modules); a node of no module named by its op in lower case (`/Flatten` -> flatten).
    Without `op` (a path a user quotes to `explain`) the op is the last part's."""
    if not op:
        last = node_name.rstrip("/").rsplit("/", 1)[-1]
        op = re.sub(r"_\d+$", "", last)
    path = _module_path(node_name, op)
    parts = [p for p in path.split("/") if p]
    if op and len(parts) == 1 and parts[0].startswith(op) and path.startswith("/"):
        path = parts[0].lower()
    name = re.sub(r"[^A-Za-z0-9_.]+", "_", path)
    name = ".".join(p.strip("_") for p in name.split(".") if p.strip("_")) or "layer"
    return name


def _module_path(name: str, op: str) -> str:
    """A node's name as the module path it came from: PyTorch names nodes by scope and
    op, '/layer1/layer1.0/conv1/Conv', each scope either a child's name or the full path
    of a Sequential's item: the module is layer1.0.conv1. Other names are kept."""
    parts = [p for p in name.split("/") if p]
    if len(parts) < 2 or not name.startswith("/") or not op or not parts[-1].startswith(op):
        return name
    path, last = "", ""
    for seg in parts[:-1]:
        path = path[: len(path) - len(last)] + seg if last and seg.startswith(last + ".") else \
            (f"{path}.{seg}" if path else seg)
        last = seg
    return path


def _shape_by_kind(body, shapes):
    """The output shape by the kind's own rule; a shape the rule refuses refuses the node."""
    from cnncost.errors import CnnCostError
    from cnncost.layers import lookup

    kind, fixed = lookup(body["kind"])
    try:
        args = kind.normalize({**fixed, **{k: v for k, v in body.items() if k != "kind"}}, evaluate=lambda text: text)
        return tuple(kind.output_shape(args, [tuple(x) for x in shapes]))
    except CnnCostError as exc:
        raise Refused(str(exc)) from None
