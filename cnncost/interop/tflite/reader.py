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

ACTIVATIONS = {0: None, 1: "relu", 2: "hard_tanh", 3: "relu6", 4: "tanh"}
QUANTIZED = ("int8", "uint8", "int16")
PER_CHANNEL = {"add": ("shift", "beta"), "mul": ("scale", "gamma")}   # x op a constant per channel
WHY = {"CUSTOM": "a custom operator, whose code is not in the file", "IF": "control flow", "WHILE": "control flow",
       "TOPK_V2": "post-processing that depends on the data", "NON_MAX_SUPPRESSION_V4": "post-processing that "
       "depends on the data", "NON_MAX_SUPPRESSION_V5": "post-processing that depends on the data"}
# inputs an operator must have (each a tensor, not -1); past these an input may be absent
ARITY = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "TRANSPOSE_CONV": 3, "FULLY_CONNECTED": 2, "ADD": 2, "SUB": 2,
         "MUL": 2, "DIV": 2, "MAXIMUM": 2, "MINIMUM": 2, "PRELU": 2, "TRANSPOSE": 2, "MEAN": 2, "SUM": 2,
         "REDUCE_MAX": 2, "PAD": 2, "PADV2": 2, "RESIZE_BILINEAR": 2, "RESIZE_NEAREST_NEIGHBOR": 2,
         "STRIDED_SLICE": 4, "SPLIT": 2, "SPLIT_V": 3, "BATCH_MATMUL": 2}


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
    held = (imported.batch, *imported.input_shape)
    ok = shape and all(isinstance(d, int) for d in shape) and tuple(shape[1:]) == tuple(held[1:])
    if not ok:
        given = "x".join(map(str, shape)) if shape and all(isinstance(d, int) for d in shape) else str(shape)
        raise ModelFileError(f"{path}: --input-shape {given}: a TFLite file's input is fixed at "
                             f"{'x'.join(map(str, held))} (N x H x W x C); only its batch N may change "
                             f"(e.g. --input-shape {'x'.join(map(str, (8, *held[1:])))}), or use --batch")
    imported.batch, imported.batch_from = shape[0], "--input-shape"


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

    def run(self) -> Imported:
        m = self.m
        if len(m.inputs) != 1:
            raise ModelFileError(f"{self.path}: {len(m.inputs)} inputs; a TFLite model of several inputs is not read yet")
        x = self.t[m.inputs[0]]
        if len(x.shape) < 2 or x.shape[0] < 1 or min(x.shape) < 1:
            raise ModelFileError(f"{self.path}: input '{x.name}' has shape {list(x.shape)}")
        self.values[x.index] = "input"
        self.shapes = {"input": x.shape[1:]}      # our layer -> its output's shape (the file's)
        self.input_dtype = x.dtype
        for op in m.ops:
            try:
                self._op(op)
            except CnnCostError as exc:
                why = str(exc).removeprefix(f"{self.path}: ")
                raise ModelFileError(f"{self.path}: operator {op.index} ({op.code}): {why}") from None
            except Downstream:
                for o in op.outputs:
                    self.values[o] = "refused"
            except Refused as exc:
                self.refused.add(op.code.split(":")[0], op.index, op.code, str(exc))
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
            outs.append(self.values[o])
        name = os.path.splitext(os.path.basename(self.path))[0]
        document = {"name": re.sub(r"[^A-Za-z0-9_]", "_", name), "source": f"TFLite model {os.path.basename(self.path)}"
                    f" (schema version {m.version}): the file's own dtypes", "input": list(x.shape[1:]),
                    "layers": self.layers}
        if len(outs) > 1 or outs[0] != self.layers[-1]["name"]:
            document["outputs"] = outs
        if x.dtype != "float32":
            document["input_precision"] = self._precision(x)
        imported = Imported(document, self.weights, tuple(x.shape[1:]), x.shape[0], "file",
                            params_as="params are the tensors as the file holds them (a BatchNorm folded into a "
                                      "conv by the converter changes params, not mults)")
        return imported

    # ---- helpers ---------------------------------------------------------------------------
    def _constant(self, i: int) -> TensorInfo | None:
        """Tensor i as a constant: its own data, or folded on import; None when an operator
        makes it or it holds nothing."""
        if i in self.consts:
            return self.consts[i]
        if i < 0 or i in self.values:
            return None
        t = self.t[i]
        return t if t.data is not None else None

    def _act(self, i: int) -> str:
        if i not in self.values:
            if self._constant(i) is not None:
                raise Refused(f"a constant where an activation is read (tensor '{self.t[i].name}')")
            raise Refused(f"reads tensor {i}, which no earlier operator makes")
        if self.values[i] == "refused":
            raise Downstream()
        return self.values[i]

    def _const(self, i: int, what: str) -> TensorInfo:
        if self.values.get(i) == "refused":
            raise Downstream()
        c = self._constant(i)
        if c is None:
            raise Refused(f"its {what} is computed, not a constant")
        return c

    def _shape(self, i: int, rank: int | tuple, what: str, shape: tuple | None = None) -> tuple:
        """Tensor i's shape (or `shape`, a constant's), of the rank the operator needs (a rank,
        or (least, most))."""
        shape = self.t[i].shape if shape is None else shape
        least, most = rank if isinstance(rank, tuple) else (rank, rank)
        if not least <= len(shape) <= most:
            need = rank if isinstance(rank, int) else f"{least} to {most}"
            raise Damaged(f"its {what} (tensor {i}) has shape {list(shape)}, of rank {len(shape)}; "
                          f"it needs rank {need}")
        return shape

    def _ints(self, i: int, what: str) -> list[int]:
        """A constant of integers (an axis, a permutation, paddings, a size)."""
        values = self._const(i, what).numbers()
        if not all(isinstance(v, int) for v in values):
            raise Damaged(f"its {what} (tensor {i}) holds {self._const(i, what).dtype} values, not integers")
        return values

    def _value(self, i: int, what: str) -> int:
        """A constant that must hold one value (an axis, a padding value)."""
        values = self._const(i, what).numbers()
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
             fused: int = 0, out: int | None = None, suffix: str = "", keep: bool = False, **args) -> str:
        """One of our layers for `op` (and its fused activation), named after its output;
        `keep`: a step before the operator's own layer (it makes no TFLite tensor)."""
        t = self.t[src.outputs[0] if out is None else out]
        given = {k: v for k, v in args.items() if v is not None}
        shape = checked_shape(kind, given, [self.shapes[i] for i in inputs],
                              {w: math.prod(info.shape) for w, (info, _) in (weights or {}).items()},
                              None if keep else t.shape[1:])
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

    # ---- operators ---------------------------------------------------------------------------
    def _op(self, op: OpInfo) -> None:
        code = op.code
        handler = getattr(self, "op_" + code, None) if code.replace("_", "").isalnum() else None
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
        handler(op)

    def _opt(self, op, i, fmt, default=0):
        return op.options.scalar(i, fmt, default) if op.options is not None else default

    def _padding(self, op):
        return "same" if self._opt(op, 0, "b") == 0 else "valid"

    def _kernel(self, op, i, perm):
        w = self._const(op.inputs[i], "kernel")
        self._shape(op.inputs[i], len(perm), "kernel", w.shape)
        if 0 in w.shape:
            raise Damaged(f"its kernel has shape {list(w.shape)}")
        return w, lambda: w.real().transpose(perm)       # made only when weights are asked for

    def _bias(self, op, i, channels):
        if len(op.inputs) <= i or op.inputs[i] < 0:
            return None
        b = self._const(op.inputs[i], "bias")
        if tuple(b.shape) != (channels,):
            raise Damaged(f"its bias (tensor {op.inputs[i]}) has shape {list(b.shape)}; the kernel makes {channels}")
        return b, b.real

    def op_CONV_2D(self, op):
        x = self._act(op.inputs[0])
        w, k = self._kernel(op, 1, (1, 2, 3, 0))             # [out, kh, kw, in] -> [kh, kw, in, out]
        c = self._shape(op.inputs[0], 4, "input")[-1]
        if c % w.shape[3]:
            raise Damaged(f"an input of {c} channels for a kernel of shape {list(w.shape)}")
        groups = c // w.shape[3]
        bias = self._bias(op, 2, w.shape[0])
        weights = {"kernel": (w, k), **({"bias": bias} if bias else {})}
        self.emit(op, "conv", [x], weights=weights, fused=self._opt(op, 3, "b"), filters=w.shape[0],
                  kernel=[w.shape[1], w.shape[2]], stride=[self._opt(op, 2, "i", 1), self._opt(op, 1, "i", 1)],
                  padding=self._padding(op), dilation=[self._opt(op, 5, "i", 1), self._opt(op, 4, "i", 1)],
                  groups=groups if groups > 1 else None, bias=bias is not None)

    def op_DEPTHWISE_CONV_2D(self, op):
        x = self._act(op.inputs[0])
        w, _ = self._kernel(op, 1, (0, 1, 2, 3))
        c = self._shape(op.inputs[0], 4, "input")[-1]
        if w.shape[0] != 1 or not c or w.shape[3] % c:
            raise Damaged(f"an input of {c} channels for a depthwise kernel of shape {list(w.shape)}")
        mult = w.shape[3] // c
        bias = self._bias(op, 2, w.shape[3])
        def k():
            return w.real().reshape(w.shape[1], w.shape[2], c, mult)
        self.emit(op, "depthwise_conv", [x], weights={"kernel": (w, k), **({"bias": bias} if bias else {})},
                  fused=self._opt(op, 4, "b"), kernel=[w.shape[1], w.shape[2]],
                  stride=[self._opt(op, 2, "i", 1), self._opt(op, 1, "i", 1)], padding=self._padding(op),
                  dilation=[self._opt(op, 6, "i", 1), self._opt(op, 5, "i", 1)],
                  depth_multiplier=mult if mult > 1 else None, bias=bias is not None)

    def op_TRANSPOSE_CONV(self, op):
        out_shape = self._ints(op.inputs[0], "output shape")
        w, k = self._kernel(op, 1, (1, 2, 0, 3))             # [out, kh, kw, in] -> [kh, kw, out, in]
        x = self._act(op.inputs[2])
        h, wd = self._shape(op.inputs[2], 4, "input")[1:3]
        if len(out_shape) != 4:
            raise Damaged(f"an output shape of {len(out_shape)} values, not 4")
        s = [self._opt(op, 2, "i", 1), self._opt(op, 1, "i", 1)]
        pads, extra = [], []
        for i, (n, kk) in enumerate(((h, w.shape[1]), (wd, w.shape[2]))):
            crop = (n - 1) * s[i] + kk - out_shape[1 + i]       # TensorFlow's: the smaller half on top
            pads += [max(crop, 0) // 2, max(crop, 0) - max(crop, 0) // 2]
            extra.append(max(-crop, 0))
        bias = self._bias(op, 3, w.shape[0])
        self.emit(op, "conv_transpose", [x], weights={"kernel": (w, k), **({"bias": bias} if bias else {})},
                  fused=self._opt(op, 3, "b"), filters=w.shape[0], kernel=[w.shape[1], w.shape[2]], stride=s,
                  padding=pads, output_padding=extra if any(extra) else None, bias=bias is not None)

    def op_FULLY_CONNECTED(self, op):
        x = self._act(op.inputs[0])
        w, k = self._kernel(op, 1, (1, 0))
        shape = self._shape(op.inputs[0], (1, 8), "input")
        if len(shape) > 2 and not self._opt(op, 2, "b"):        # TFLite flattens what it reads
            if math.prod(shape[1:]) != w.shape[1]:
                raise Refused("a fully connected layer that folds positions into the batch")
            x = self.emit(op, "reshape", [x], shape=[-1], suffix=".flatten", keep=True)
        elif shape[-1] != w.shape[1]:
            raise Damaged(f"an input of shape {list(shape)} for a kernel of shape {list(w.shape)}")
        bias = self._bias(op, 2, w.shape[0])
        self.emit(op, "dense", [x], weights={"kernel": (w, k), **({"bias": bias} if bias else {})},
                  fused=self._opt(op, 0, "b"), units=w.shape[0], bias=bias is not None)

    def _pool(self, op, kind, **fixed):
        self.emit(op, kind, [self._act(op.inputs[0])], fused=self._opt(op, 5, "b"),
                  kernel=[self._opt(op, 4, "i", 1), self._opt(op, 3, "i", 1)],
                  stride=[self._opt(op, 2, "i", 1), self._opt(op, 1, "i", 1)], padding=self._padding(op), **fixed)

    def op_AVERAGE_POOL_2D(self, op):
        self._pool(op, "avg_pool", count_include_pad=False)
        if self.layers[-1]["precision"].get("scale"):     # TFLite rounds the raw integers' mean
            self.layers[-1]["precision"]["rounding"] = "raw"

    def op_MAX_POOL_2D(self, op):
        self._pool(op, "max_pool")

    def _arith(self, op, name):
        a, b = op.inputs[:2]
        fused = self._opt(op, 0, "b")
        kinds = {"add": "add", "mul": "multiply", "sub": "subtract", "div": "divide"}
        ca, cb = self._constant(a), self._constant(b)
        if ca is not None or cb is not None:
            first = ca is not None
            c = ca if first else cb
            x = self._act(b if first else a)
            size = math.prod(c.shape)
            if size == 1:
                self.emit(op, "binary", [x], fused=fused, op=name, scalar=float(self._value(c.index, "constant")),
                          scalar_first=True if first and name in ("sub", "div") else None)
                return
            out = self.t[op.outputs[0]].shape
            if name in PER_CHANNEL and out and size == c.shape[-1] == out[-1]:
                kind, wn = PER_CHANNEL[name]
                self.emit(op, kind, [x], weights={wn: (c, lambda: c.real().reshape(-1))}, fused=fused)
                return
            raise Refused(f"{name} with a constant of shape {list(c.shape)}")
        ins = [self._act(a), self._act(b)]
        if name in kinds:
            self.emit(op, kinds[name], ins, fused=fused)
        else:
            self.emit(op, "binary", ins, fused=fused, op=name)

    def op_ADD(self, op):
        self._arith(op, "add")

    def op_SUB(self, op):
        self._arith(op, "sub")

    def op_MUL(self, op):
        self._arith(op, "mul")

    def op_DIV(self, op):
        self._arith(op, "div")

    def op_MAXIMUM(self, op):
        self._arith(op, "max")

    def op_MINIMUM(self, op):
        self._arith(op, "min")

    def _unary(self, src, kind, **args):
        self.emit(src, kind, [self._act(src.inputs[0])], **args)

    def op_RELU(self, op):
        self._unary(op, "relu")

    def op_RELU6(self, op):
        self._unary(op, "relu6")

    def op_RELU_N1_TO_1(self, op):
        self._unary(op, "hard_tanh")

    def op_LOGISTIC(self, op):
        self._unary(op, "sigmoid")

    def op_TANH(self, op):
        self._unary(op, "tanh")

    def op_HARD_SWISH(self, op):
        self._unary(op, "hard_swish")

    def op_ELU(self, op):
        self._unary(op, "elu")

    def op_EXP(self, op):
        self._unary(op, "exp")

    def op_SQRT(self, op):
        self._unary(op, "sqrt")

    def op_ABS(self, op):
        self._unary(op, "abs")

    def op_NEG(self, op):
        self._unary(op, "neg")

    def op_LOG(self, op):
        self._unary(op, "log")

    def op_GELU(self, op):
        self._unary(op, "gelu", approximate="tanh" if self._opt(op, 0, "b") else None)

    def op_LEAKY_RELU(self, op):
        self._unary(op, "leaky_relu", slope=float(self._opt(op, 0, "f", 0.2)))

    def op_PRELU(self, op):
        x = self._act(op.inputs[0])
        c = self._const(op.inputs[1], "slope")
        self.emit(op, "prelu", [x], weights={"slope": (c, lambda: c.real().reshape(-1))},
                  shared=True if math.prod(c.shape) == 1 else None)

    def op_SOFTMAX(self, op):
        if abs(self._opt(op, 0, "f", 1.0) - 1.0) > 1e-6:
            raise Refused("softmax with beta other than 1")
        self._unary(op, "softmax")

    def op_LOG_SOFTMAX(self, op):
        self._unary(op, "log_softmax")

    def op_CONCATENATION(self, op):
        ins = [self._act(i) for i in op.inputs]
        self.emit(op, "concat", ins, fused=self._opt(op, 1, "b"), axis=self._opt(op, 0, "i", -1))

    def _reshape_to_output(self, op):
        out = self.t[op.outputs[0]].shape
        self.emit(op, "reshape", [self._act(op.inputs[0])], shape=list(out[1:]))

    def op_RESHAPE(self, op):
        self._reshape_to_output(op)

    def op_SQUEEZE(self, op):
        self._reshape_to_output(op)

    def op_EXPAND_DIMS(self, op):
        self._reshape_to_output(op)

    def op_TRANSPOSE(self, op):
        perm = self._ints(op.inputs[1], "permutation")
        if sorted(perm) != list(range(len(self.t[op.inputs[0]].shape))):
            raise Damaged(f"permutation {perm} for an input of shape {list(self.t[op.inputs[0]].shape)}")
        if perm[0] != 0:
            raise Refused("a transpose that moves the batch axis")
        self.emit(op, "transpose", [self._act(op.inputs[0])], perm=perm)

    def _reduce(self, op, kind, spatial=None):
        """A reduction; `spatial`: the kind for a map's H and W (MEAN: a global average pool)."""
        rank = len(self._shape(op.inputs[0], (1, 16), "input"))
        given = self._ints(op.inputs[1], "axes")
        if any(not -rank <= a < rank for a in given):
            raise Damaged(f"axes {given} of an input of rank {rank}")
        axes = sorted(a % rank for a in given)
        keep = bool(self._opt(op, 0, "b"))
        if spatial and axes == [1, 2] and len(self.t[op.inputs[0]].shape) == 4:
            self._unary(op, spatial, keepdims=True if keep else None)
        else:
            self._unary(op, kind, axes=axes, keepdims=keep)

    def op_MEAN(self, op):
        self._reduce(op, "reduce_mean", spatial="global_avg_pool")

    def op_SUM(self, op):
        self._reduce(op, "reduce_sum")

    def op_REDUCE_MAX(self, op):
        self._reduce(op, "reduce_max")

    def op_PAD(self, op):
        flat = self._ints(op.inputs[1], "paddings")
        pads = [flat[i:i + 2] for i in range(0, len(flat), 2)]
        if len(pads) != 4 or pads[0] != [0, 0] or pads[3] != [0, 0]:
            raise Refused(f"padding {pads} (H and W are read)")
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            if float(self._value(op.inputs[2], "padding value")) != 0.0:
                raise Refused("padding with a value other than zero")
        self._unary(op, "zero_pad", padding=[pads[1][0], pads[1][1], pads[2][0], pads[2][1]])

    def op_PADV2(self, op):
        self.op_PAD(op)

    def _resize(self, op, mode, align_at, half_at):
        size = self._ints(op.inputs[1], "size")
        align, half = bool(self._opt(op, align_at, "b")), bool(self._opt(op, half_at, "b"))
        if half:
            coords = "tensorflow"
        elif mode == "nearest" and not align:
            coords = "onnx"                      # asymmetric, floor: TensorFlow 1's nearest
        elif mode == "bilinear" and align:
            coords = None
        else:
            raise Refused(f"{mode} resize without half-pixel centres")
        self._unary(op, "upsample", mode=mode, size=size, coordinates=coords,
                    align_corners=True if align and mode == "bilinear" else None)

    def op_RESIZE_BILINEAR(self, op):
        self._resize(op, "bilinear", 2, 3)

    def op_RESIZE_NEAREST_NEIGHBOR(self, op):
        self._resize(op, "nearest", 0, 1)

    def op_STRIDED_SLICE(self, op):
        shape = self.t[op.inputs[0]].shape
        begin, end, step = (self._ints(op.inputs[i], "bound") for i in (1, 2, 3))
        masks = [self._opt(op, i, "i") for i in range(5)]
        if masks[2] or masks[3] or masks[4]:
            raise Refused("a strided slice with ellipsis, new-axis or shrink masks")
        if not len(begin) == len(end) == len(step) <= len(shape) or 0 in step or 0 in shape:
            raise Damaged(f"begin {begin}, end {end} and strides {step} for an input of shape {list(shape)}")
        axes = []
        for ax, (b, e, s) in enumerate(zip(begin, end, step)):
            b = 0 if masks[0] >> ax & 1 else b % shape[ax] if b < 0 else b
            e = shape[ax] if masks[1] >> ax & 1 else e + shape[ax] if e < 0 else min(e, shape[ax])
            if (b, e, s) != (0, shape[ax], 1):
                axes.append((ax, b, e, s))
        if len(axes) != 1 or axes[0][0] == 0:
            raise Refused("a strided slice over several axes or the batch")
        ax, b, e, s = axes[0]
        self._unary(op, "slice", axis=ax, start=b, stop=e, step=s if s != 1 else None)

    def _split(self, op, sizes, axis, x):
        start = 0
        for out, size in zip(op.outputs, sizes):
            self.emit(op, "slice", [x], out=out, axis=axis, start=start, stop=start + size)
            start += size

    def _axis(self, op, i, shape):
        axis = self._ints(op.inputs[i], "axis")
        if len(axis) != 1 or not -len(shape) <= axis[0] < len(shape):
            raise Damaged(f"axis {axis} of an input of shape {list(shape)}")
        return axis[0] % len(shape)

    def op_SPLIT(self, op):
        shape = self.t[op.inputs[1]].shape
        axis = self._axis(op, 0, shape)
        x = self._act(op.inputs[1])
        n = len(op.outputs)
        self._split(op, [shape[axis] // n] * n, axis, x)

    def op_SPLIT_V(self, op):
        x = self._act(op.inputs[0])
        axis = self._axis(op, 2, self.t[op.inputs[0]].shape)
        if any(len(self.t[o].shape) <= axis for o in op.outputs):
            raise Damaged(f"outputs of shapes {[list(self.t[o].shape) for o in op.outputs]} split along axis {axis}")
        self._split(op, [self.t[o].shape[axis] for o in op.outputs], axis, x)

    def op_BATCH_MATMUL(self, op):
        if self._opt(op, 0, "b"):
            raise Refused("adj_x (a transposed first operand)")
        a, b = self._act(op.inputs[0]), self._act(op.inputs[1])
        rhs = self.t[op.inputs[1]]
        if rhs.dtype in QUANTIZED and rhs.zero_point and rhs.zero_point[0] and rhs.scale:
            # TFLite's integer kernel reads its second operand as if its zero point were 0
            # (measured against the interpreter: 33 steps off otherwise): that offset, as a layer
            b = self.emit(op, "binary", [b], op="add", scalar=float(rhs.zero_point[0] * rhs.scale[0]),
                          suffix=".rhs_zero_point", keep=True)
        self.emit(op, "matmul", [a, b], transpose_b=True if self._opt(op, 1, "b") else None)

    def op_QUANTIZE(self, op):
        self._unary(op, "quantize", to=self.t[op.outputs[0]].dtype)

    def op_DEQUANTIZE(self, op):
        src = self._constant(op.inputs[0])
        if src is not None:                    # a float16 (or int8) weight made float: fold it
            folded = TensorInfo(op.outputs[0], src.name, src.shape, src.dtype, src.buffer, src.scale,
                                src.zero_point, src.axis, src.data)
            self.consts[op.outputs[0]] = folded
            return
        self._unary(op, "quantize", to=self.t[op.outputs[0]].dtype)
