"""Read a TensorFlow Lite model (float32, float16, int8 per-tensor and per-channel) as a
cnncost spec, with its weights in real units for `run` and each tensor's stored dtype and
quantization on its layer (`precision:`, core/precision.py).

TFLite's layout is ours (NHWC); its kernels are stored [out, kh, kw, in] (conv,
transposed conv), [1, kh, kw, C x multiplier] (depthwise) and [units, in] (fully
connected), turned into ours on import. A float16 file's weights are float16 constants
behind DEQUANTIZE: folded into the weight, which keeps float16 as its storage. Operators
we do not read are gathered into one message with their counts: never a silent zero.
A damaged operator (too few inputs, a kernel of the wrong rank, an axis past the rank) is
refused in one line naming the file, the operator's index and code, and what is wrong.
Counting reads no weight and imports no numpy (shape arithmetic: interop/tflite_fold.py).
One handler per operator: interop/tflite/operators.py; this module reads and dispatches.
"""
from __future__ import annotations

import math
import os
import re

from cnncost.errors import CnnCostError, ModelFileError
from cnncost.interop.imported import Imported
from cnncost.interop.refusals import Refused, Tally, UniqueNames
from cnncost.interop.tflite.check import checked_shape
from cnncost.interop.tflite.file import Damaged, OpInfo, TensorInfo, read_tflite
from cnncost.interop.tflite.fold import FOLDED, fold
from cnncost.interop.tflite.operators import OPERATORS, QUANTIZED
from cnncost.interop.tflite import sequences, windows  # noqa: F401 - they register their handlers in OPERATORS

ACTIVATIONS = {0: None, 1: "relu", 2: "hard_tanh", 3: "relu6", 4: "tanh"}
WHY = {"CUSTOM": "a custom operator, whose code is not in the file", "IF": "control flow", "WHILE": "control flow",
       "TOPK_V2": "post-processing that depends on the data", "NON_MAX_SUPPRESSION_V4": "post-processing that "
       "depends on the data", "NON_MAX_SUPPRESSION_V5": "post-processing that depends on the data"}
# inputs an operator must have (each a tensor, not -1); past these an input may be absent
ARITY = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "TRANSPOSE_CONV": 3, "FULLY_CONNECTED": 2, "ADD": 2, "SUB": 2,
         "MUL": 2, "DIV": 2, "MAXIMUM": 2, "MINIMUM": 2, "PRELU": 2, "TRANSPOSE": 2, "MEAN": 2, "SUM": 2,
         "REDUCE_MAX": 2, "PAD": 2, "PADV2": 2, "RESIZE_BILINEAR": 2, "RESIZE_NEAREST_NEIGHBOR": 2,
         "STRIDED_SLICE": 4, "SPLIT": 2, "SPLIT_V": 3, "BATCH_MATMUL": 2, "CONV_3D": 2, "CONV_3D_TRANSPOSE": 3, "SPACE_TO_BATCH_ND": 3,
         "BATCH_TO_SPACE_ND": 3, "REVERSE_V2": 2, "GATHER": 2}


class Downstream(Refused):
    """Reads what a refused operator makes: not counted as a refusal of its own."""


def import_tflite(path: str, *, with_weights: bool = True, input_shape=None) -> Imported:
    imported = _Reader(read_tflite(path), with_weights).run()
    imported.weights_read = with_weights
    if input_shape is not None:
        _take_batch(imported, input_shape, path)
    return imported


def _take_batch(imported: Imported, shape, path: str) -> None:
    """--input-shape on a TFLite file: its sizes are fixed by the converter, so only the
    batch N may differ (counted N times one example); anything else is refused, never
    ignored."""
    if isinstance(imported.document["input"], dict):
        raise ModelFileError(f"{path}: --input-shape on a TFLite model of {len(imported.document['input'])} inputs: "
                             "their sizes are fixed by the converter; give the batch with --batch")
    held = (imported.batch, *imported.input_shape)
    ok = shape and all(isinstance(d, int) for d in shape) and tuple(shape[1:]) == tuple(held[1:])
    if not ok:
        given = "x".join(map(str, shape)) if shape and all(isinstance(d, int) for d in shape) else str(shape)
        raise ModelFileError(f"{path}: --input-shape {given}: a TFLite file's input is fixed at "
                             f"{'x'.join(map(str, held))} (N x H x W x C); only its batch N may change "
                             f"(e.g. --input-shape {'x'.join(map(str, (8, *held[1:])))}), or use --batch")
    imported.batch, imported.batch_from = shape[0], "--input-shape"


def _input_name(t: TensorInfo) -> str:
    name = re.sub(r"(:0)?$", "", t.name.split(";")[0]).removeprefix("serving_default_")
    name = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or f"input{t.index}"
    return "x_" + name if name[0].isdigit() or name == "input" else name


def _no_loops(m) -> None:
    """A WHILE is a recurrence the converter did not fuse (Keras 3's LSTM; every GRU and
    SimpleRNN, whose unrolled form moves time into the batch axis): its body's cost is per
    trip. Refused before anything else, as the operators around it are its plumbing."""
    for op in m.ops:
        if op.code == "WHILE":
            raise ModelFileError(
                f"{m.path}: operator {op.index} (WHILE): a loop the converter wrote for a recurrent layer it did "
                f"not fuse (Keras 3's LSTM; any GRU or SimpleRNN); cnncost reads the fused operators: convert an "
                f"LSTM from tf_keras (Keras 2) with its batch fixed (Input(..., batch_size=1)) and the converter "
                f"writes UNIDIRECTIONAL_SEQUENCE_LSTM, or count the Keras model itself (cnncost report model.keras)")


def _name(t: TensorInfo) -> str:
    """A TFLite tensor name ('sequential/conv2d/Relu;sequential/conv2d/BiasAdd') as a layer
    name: its first op path, the model's own prefix dropped, dots for the path."""
    first = t.name.split(";")[0]
    parts = [p for p in first.replace(":", "_").split("/") if p]
    if len(parts) > 1:
        parts = parts[1:]
    name = ".".join(re.sub(r"[^A-Za-z0-9_\-]", "_", p) for p in parts) or f"t{t.index}"
    return name + "_" if name == "input" else name


class _Reader:
    def __init__(self, model, with_weights):
        self.m, self.path, self.with_weights = model, model.path, with_weights
        self.t = model.tensors                     # read as operators name them
        self.values: dict[int, str] = {}           # tensor -> our layer that makes it
        self.consts: dict[int, TensorInfo] = {}    # tensor -> constant folded on import (a DEQUANTIZE, shapes)
        self.layers: list[dict] = []
        self.weights: dict = {}
        self.names = UniqueNames()
        self.refused = Tally()                     # code -> count, (first operator's index, code, why)
        self.shapes: dict[str, tuple] = {}          # our layer -> its output's shape (the file's)
        self.views: dict[int, tuple] = {}           # tensor -> the file's shape of a 1-D map it holds as 2-D
        self.done: set[int] = set()                 # operators a pattern has read with an earlier one
        self.readers: dict | None = None            # tensor -> the operators reading it (made when asked)

    def run(self) -> Imported:
        m = self.m
        _no_loops(m)
        xs = self._inputs()
        for op in m.ops:
            try:
                self._op(op)
            except CnnCostError as exc:
                why = str(exc).removeprefix(f"{self.path}: ")
                raise ModelFileError(f"{self.path}: operator {op.index} ({op.code}): {why}{self._layer(op)}") from None
            except Downstream:
                for o in op.outputs:
                    self.values[o] = "refused"
            except Refused as exc:
                self.refused.add(op.code.split(":")[0], op.index, op.code, f"{exc}{self._layer(op)}")
                for o in op.outputs:
                    self.values[o] = "refused"
        if self.refused:
            listed = ", ".join(f"{code} x{n} (first: operator {first[0]}, {first[2]})"
                               for code, n, first in self.refused.listed())
            raise ModelFileError(f"{self.path}: {self.refused.total()} operator(s) not read: {listed}")
        if not m.outputs or not self.layers:
            raise ModelFileError(f"{self.path}: {len(m.outputs)} output(s), {len(self.layers)} layer(s) read: "
                               "nothing to count")
        outs = []
        for o in m.outputs:
            if o not in self.values:
                raise ModelFileError(f"{self.path}: output tensor {o} is made by no operator")
            outs.append(self.act(o) if o in self.views else self.values[o])
        name = os.path.splitext(os.path.basename(self.path))[0]
        shapes = {self.values[x.index]: list(x.shape[1:]) for x in xs}
        document = {"name": re.sub(r"[^A-Za-z0-9_]", "_", name), "source": f"TFLite model {os.path.basename(self.path)}"
                    f" (schema version {m.version}): the file's own dtypes",
                    "input": shapes if len(xs) > 1 else list(xs[0].shape[1:]), "layers": self.layers}
        if len(outs) > 1 or outs[0] != self.layers[-1]["name"]:
            document["outputs"] = outs
        if xs[0].dtype != "float32":
            document["input_precision"] = self._precision(xs[0])
        imported = Imported(document, self.weights, tuple(xs[0].shape[1:]), xs[0].shape[0], "file",
                            params_as="params are the tensors as the file holds them (a BatchNorm folded into a "
                                      "conv by the converter changes params, not mults)")
        return imported

    def _layer(self, op: OpInfo) -> str:
        """'; layer NAME': what the operator's layer is called (its output's name), for a
        message; nothing when its output cannot be read."""
        try:
            return f"; layer '{_name(self.t[op.outputs[0]])}'" if op.outputs else ""
        except CnnCostError:
            return ""

    def _inputs(self) -> list[TensorInfo]:
        """The subgraph's inputs, each one of ours: `input`, or (several) named after its
        tensor (Keras' 'serving_default_image:0' is `image`); one batch and dtype for all."""
        m = self.m
        if not m.inputs:
            raise ModelFileError(f"{self.path}: the model has no input")
        xs = [self.t[i] for i in m.inputs]
        for x in xs:
            if len(x.shape) < 2 or x.shape[0] < 1 or min(x.shape) < 1:
                raise ModelFileError(f"{self.path}: input '{x.name}' has shape {list(x.shape)}")
            if (x.shape[0], x.dtype) != (xs[0].shape[0], xs[0].dtype):
                raise ModelFileError(f"{self.path}: inputs '{xs[0].name}' ({xs[0].dtype}, batch {xs[0].shape[0]}) "
                                     f"and '{x.name}' ({x.dtype}, batch {x.shape[0]}): cnncost reads inputs of "
                                     "one batch and one dtype")
            if x.index in self.values:
                raise ModelFileError(f"{self.path}: the subgraph names input tensor {x.index} twice")
            name = "input" if len(xs) == 1 else self._unique(_input_name(x))
            self.values[x.index] = name
            self.shapes[name] = x.shape[1:]
        self.input_dtype = xs[0].dtype
        return xs

    # ---- helpers: public, as the operator handlers (and fold) read tensors through them --------
    def opt(self, op, i, fmt, default=0):
        """Field i of the operator's options table, `default` where the file leaves it out."""
        return op.options.scalar(i, fmt, default) if op.options is not None else default

    def constant(self, i: int) -> TensorInfo | None:
        """Tensor i as a constant: its own data, or folded on import; None when an operator
        makes it or it holds nothing."""
        if i in self.consts:
            return self.consts[i]
        if i < 0 or i in self.values:
            return None
        t = self.t[i]
        return t if t.data is not None else None

    def act(self, i: int, held: bool = False) -> str:
        """Tensor i as our layer; `held`: a 1-D map's view (windows.py) as our (T, C) layer,
        not as the file's tensor."""
        if i in self.views and not held:
            self._as_file(i)
        if i not in self.values:
            if self.constant(i) is not None:
                raise Refused(f"a constant where an activation is read (tensor '{self.t[i].name}')")
            raise Refused(f"reads tensor {i}, which no earlier operator makes")
        if self.values[i] == "refused":
            raise Downstream()
        return self.values[i]

    def _as_file(self, i: int) -> None:
        """A 1-D map held as 2-D (interop/tflite/windows.py) read by an operator that wants the
        file's tensor: the reshape the file's EXPAND_DIMS or RESHAPE made, a layer now."""
        shape, _ = self.views.pop(i)
        src = OpInfo(-1, "RESHAPE", [i], [i], None)
        self.emit(src, "reshape", [self.values[i]], shape=list(shape[1:]))

    def only_reader(self, t: int) -> OpInfo | None:
        """The one operator that reads tensor t, when one does and t is no output of the model."""
        if self.readers is None:
            self.readers = {}
            for op in self.m.ops:
                for i in set(op.inputs):
                    self.readers.setdefault(i, []).append(op)
        ops = self.readers.get(t, [])
        return ops[0] if len(ops) == 1 and t not in self.m.outputs else None

    def const(self, i: int, what: str) -> TensorInfo:
        if self.values.get(i) == "refused":
            raise Downstream()
        c = self.constant(i)
        if c is None:
            raise Refused(f"its {what} is computed, not a constant")
        return c

    def shape(self, i: int, rank: int | tuple, what: str, shape: tuple | None = None) -> tuple:
        """Tensor i's shape (or `shape`, a constant's), of the rank the operator needs (a rank,
        or (least, most))."""
        shape = self.t[i].shape if shape is None else shape
        least, most = rank if isinstance(rank, tuple) else (rank, rank)
        if not least <= len(shape) <= most:
            need = rank if isinstance(rank, int) else f"{least} to {most}"
            raise Damaged(f"its {what} (tensor {i}) has shape {list(shape)}, of rank {len(shape)}; "
                          f"it needs rank {need}")
        return shape

    def ints(self, i: int, what: str) -> list[int]:
        """A constant of integers (an axis, a permutation, paddings, a size)."""
        values = self.const(i, what).numbers()
        if not all(isinstance(v, int) for v in values):
            raise Damaged(f"its {what} (tensor {i}) holds {self.const(i, what).dtype} values, not integers")
        return values

    def value(self, i: int, what: str) -> int:
        """A constant that must hold one value (an axis, a padding value)."""
        values = self.const(i, what).numbers()
        if len(values) != 1:
            raise Damaged(f"its {what} holds {len(values)} values, not one")
        return values[0]

    def _unique(self, base: str) -> str:
        """`base`, or base_2, base_3 ...: counted on from the last one given, in linear time."""
        return self.names(base)

    def _precision(self, out: TensorInfo, weights: dict | None = None) -> dict:
        p: dict = {"dtype": out.dtype if out.dtype != "unknown" else "float32"}
        if weights:
            p["weights"] = weights
        if out.dtype in QUANTIZED and out.scale:
            p["scale"], p["zero_point"] = float(out.scale[0]), int(out.zero_point[0] if out.zero_point else 0)
        return p

    def emit(self, src: OpInfo, kind: str, inputs: list[str], *, weights: dict | None = None,
             fused: int = 0, out: int | None = None, suffix: str = "", keep: bool = False,
             held: tuple | None = None, **args) -> str:
        """One of our layers for `op` (and its fused activation), named after its output;
        `keep`: a step before the operator's own layer (it makes no TFLite tensor); `held`:
        the shape it makes where the file's tensor holds it otherwise (a 1-D map as 2-D, a
        dilated convolution before its crop)."""
        t = self.t[src.outputs[0] if out is None else out]
        given = {k: v for k, v in args.items() if v is not None}
        shape = checked_shape(kind, given, [self.shapes[i] for i in inputs],
                              {w: math.prod(info.shape) for w, (info, _) in (weights or {}).items()},
                              None if keep else t.shape[1:] if held is None else held)
        name = self._unique(_name(t) + suffix)
        self.shapes[name] = shape
        entry = {"name": name, "kind": kind, **given, "inputs": inputs if len(inputs) > 1 else inputs[0]}
        stored = {}
        for wname, (info, array) in (weights or {}).items():
            stored[wname] = info.dtype
            if self.with_weights:                     # in real units, dequantized only here
                self.weights[f"{name}/{wname}"] = array()
        act = ACTIVATIONS.get(fused, "?")
        if act == "?":
            raise Refused(f"fused activation {fused}")
        if keep:
            entry["precision"] = {"dtype": self.t[src.inputs[0]].dtype}
            self.layers.append(entry)
            return name
        if act is None:
            entry["precision"] = self._precision(t, stored)
            self.layers.append(entry)
        else:       # one integer kernel: it clamps, then requantizes once (the quantization is on the activation)
            entry["precision"] = self._precision(t, stored)
            entry["precision"].pop("scale", None)
            entry["precision"].pop("zero_point", None)
            self.layers.append(entry)
            name = self._unique(f"{name}.{act}")
            self.shapes[name] = shape
            self.layers.append({"name": name, "kind": act, "inputs": entry["name"], "precision": self._precision(t)})
        self.values[t.index] = name
        return name

    # ---- the dispatch: one handler per operator (interop/tflite/operators.py) ------------------
    def _op(self, op: OpInfo) -> None:
        if op.index in self.done:
            return
        code = op.code
        handler = OPERATORS.get(code)
        if handler is not None or code in FOLDED:
            need = ARITY.get(code, 1)
            if len(op.inputs) < need or any(i < 0 for i in op.inputs[:need]):
                raise Damaged(f"inputs {op.inputs}: it needs {need} tensor(s)")
            if not op.outputs:
                raise Damaged("no outputs")
        if fold(self, op):
            return
        if handler is None:
            why = WHY.get(code.split(":")[0], "no mapping onto cnncost's kinds")
            raise Refused(f"{code}: {why}")
        handler(self, op)
