"""The TensorFlow Lite (LiteRT) FlatBuffer, read with our own reader (interop/flatbuf.py):
the parts of the schema (tensorflow/lite/schema/schema.fbs) that say what a network costs
and what it stores: subgraph 0's tensors (shape, dtype, buffer, quantization), its
operators (code, inputs, outputs, options table) and the buffers. Field numbers are the
schema's; every index a file gives (a tensor, a buffer, an operator code) is checked.

A file is hostile until read: it is mapped, not read (a weight's bytes are touched only
when weights are asked for); every count is held to what a network could need before
anything is visited (operators to the layer limit, an operator's tensors, a shape's rank);
operators are read in full, but a tensor, a buffer or an operator code only when an
operator names it (a list of millions of them costs nothing until then), each once; and
each tensor is written by one operator (a graph where two write one is damaged)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from cnncost.errors import CnnCostError, ModelFileError
from cnncost.files import map_bounded
from cnncost.interop.tflite.flatbuf import Buffer, Table
from cnncost.spec.limits import DEFAULTS

MAX_FILE_BYTES = 2 ** 36          # mapped: only the pages read cost (buffers past 2 GB sit at offset/size)
MAX_STREAM_BYTES = 2 ** 31        # a pipe or a device is read: the schema's limit without external buffers
MAX_OPERATORS = DEFAULTS["max_layers"]     # each operator makes at least one layer
MAX_OPERATOR_TENSORS = 10_000     # inputs, or outputs, of one operator (a concatenation of thousands)
MAX_REFERENCES = 10 * MAX_OPERATORS        # inputs and outputs of all operators together
MAX_RANK = 16                     # a tensor's dimensions (TFLite's kernels take up to 6)
MAX_SMALL = 4096                  # values of a constant read as numbers (a permutation, paddings, a shape)
IDENTIFIER = b"TFL3"
TENSOR_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool",
                7: "int16", 9: "int8", 10: "float64", 17: "int4"}
NUMPY_TYPES = {"float32": "<f4", "float16": "<f2", "int32": "<i4", "uint8": "u1", "int64": "<i8", "int16": "<i2",
               "int8": "i1", "float64": "<f8"}
STRUCT = {"float32": "f", "float16": "e", "int32": "i", "uint8": "B", "int64": "q", "int16": "h", "int8": "b",
          "float64": "d"}
BUILTIN = {0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
           5: "DEPTH_TO_SPACE", 6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC", 16: "LSTM", 17: "MAX_POOL_2D",
           18: "MUL", 19: "RELU", 20: "RELU_N1_TO_1", 21: "RELU6", 22: "RESHAPE", 23: "RESIZE_BILINEAR", 24: "RNN",
           25: "SOFTMAX", 26: "SPACE_TO_DEPTH", 28: "TANH", 32: "CUSTOM", 34: "PAD", 35: "UNIDIRECTIONAL_SEQUENCE_RNN",
           36: "GATHER", 37: "BATCH_TO_SPACE_ND", 38: "SPACE_TO_BATCH_ND", 39: "TRANSPOSE", 40: "MEAN", 41: "SUB",
           42: "DIV", 43: "SQUEEZE", 44: "UNIDIRECTIONAL_SEQUENCE_LSTM", 45: "STRIDED_SLICE",
           46: "BIDIRECTIONAL_SEQUENCE_RNN", 47: "EXP", 48: "TOPK_V2", 49: "SPLIT", 50: "LOG_SOFTMAX",
           52: "BIDIRECTIONAL_SEQUENCE_LSTM", 53: "CAST", 54: "PRELU", 55: "MAXIMUM", 56: "ARG_MAX", 57: "MINIMUM",
           59: "NEG", 60: "PADV2", 65: "SLICE", 67: "TRANSPOSE_CONV", 70: "EXPAND_DIMS", 73: "LOG", 74: "SUM",
           75: "SQRT", 76: "RSQRT", 77: "SHAPE", 78: "POW", 82: "REDUCE_MAX", 83: "PACK", 88: "UNPACK", 92: "SQUARE",
           97: "RESIZE_NEAREST_NEIGHBOR", 98: "LEAKY_RELU", 99: "SQUARED_DIFFERENCE", 101: "ABS", 102: "SPLIT_V",
           105: "REVERSE_V2", 111: "ELU", 114: "QUANTIZE", 117: "HARD_SWISH", 118: "IF", 119: "WHILE",
           120: "NON_MAX_SUPPRESSION_V4", 121: "NON_MAX_SUPPRESSION_V5", 126: "BATCH_MATMUL", 132: "CONV_3D",
           141: "CONV_3D_TRANSPOSE", 150: "GELU"}


class Damaged(CnnCostError):
    """An operator the file cannot hold as written: refused at once, with its index and code."""


@dataclass
class TensorInfo:
    index: int
    name: str
    shape: tuple
    dtype: str
    buffer: int
    scale: list = field(default_factory=list)
    zero_point: list = field(default_factory=list)
    axis: int = 0                  # quantized_dimension: the axis of per-channel scales
    data: memoryview | None = None    # the constant's bytes (a view of the mapped file), when it has any
    folded: list | None = None        # a constant computed on import (shape arithmetic), flat

    def numbers(self, limit: int = MAX_SMALL) -> list:
        """The constant's values as Python numbers, flat, in real units (counting reads a
        transpose's permutation or a padding this way, with no numpy): at most `limit`, and
        as many as its shape says."""
        import struct

        if self.folded is not None:
            return list(self.folded)
        fmt = STRUCT.get(self.dtype)
        if self.data is None or fmt is None:
            raise ModelFileError(f"tensor '{self.name}' holds no readable data")
        count = math.prod(self.shape)
        if count > limit:
            raise ModelFileError(f"tensor '{self.name}' holds {count:,} values where at most {limit:,} are read")
        self._sized(count * struct.calcsize(fmt))
        values = list(struct.unpack(f"<{count}{fmt}", self.data))
        if self.scale and self.dtype not in ("float32", "float16", "float64"):
            zp = self.zero_point[0] if self.zero_point else 0
            values = [(v - zp) * self.scale[0] for v in values] if len(self.scale) == 1 else values
        return values

    def _sized(self, need: int) -> None:
        if need != len(self.data):
            raise ModelFileError(f"tensor '{self.name}': its buffer holds {len(self.data):,} bytes, its shape "
                               f"{'x'.join(map(str, self.shape))} of {self.dtype} needs {need:,}")

    def array(self):
        """The constant as NumPy holds it (its stored dtype)."""
        import numpy as np

        if self.folded is not None:
            return np.asarray(self.folded, np.int64).astype(NUMPY_TYPES.get(self.dtype, "<i8")).reshape(self.shape)
        if self.data is None or self.dtype not in NUMPY_TYPES:
            raise ModelFileError(f"tensor '{self.name}' holds no readable data")
        dt = np.dtype(NUMPY_TYPES[self.dtype])
        self._sized(math.prod(self.shape) * dt.itemsize)
        return np.frombuffer(self.data, dtype=dt).reshape(self.shape)

    def real(self):
        """The constant in real units: (q - zero_point) x scale, per channel along `axis`."""
        import numpy as np

        a = self.array()
        if not self.scale or self.dtype in ("float32", "float16", "float64"):
            return a.astype(np.float32)
        shape = [1] * a.ndim
        if len(self.scale) > 1:
            if not 0 <= self.axis < a.ndim or a.shape[self.axis] != len(self.scale):
                raise ModelFileError(f"tensor '{self.name}' of shape {list(a.shape)} has {len(self.scale):,} scales "
                                   f"along axis {self.axis}")
            shape[self.axis] = len(self.scale)
        if len(self.zero_point) not in (0, 1, len(self.scale)):
            raise ModelFileError(f"tensor '{self.name}' has {len(self.zero_point):,} zero points for "
                               f"{len(self.scale):,} scales")
        scale = np.asarray(self.scale, np.float64).reshape(shape)
        zp = np.asarray(self.zero_point or [0], np.float64).reshape(shape if len(self.zero_point) > 1 else [1] * a.ndim)
        return ((a.astype(np.float64) - zp) * scale).astype(np.float32)


@dataclass
class OpInfo:
    index: int
    code: str                    # BUILTIN name, or "CUSTOM:<name>", or "BUILTIN_<n>"
    inputs: list
    outputs: list
    options: Table | None


@dataclass
class TFLiteModel:
    path: str
    version: int
    tensors: "Tensors"
    ops: list
    inputs: list
    outputs: list
    description: str
    subgraphs: int


def read_tflite(path: str) -> TFLiteModel:
    def identified(head: bytes) -> None:
        if len(head) < 8 or head[4:8] != IDENTIFIER:
            raise ModelFileError(f"{path}: not a TFLite model (bytes 4-8 are {bytes(head[4:8])!r}, a .tflite file "
                               f"says {IDENTIFIER!r})")

    buf = Buffer(map_bounded(path, MAX_FILE_BYTES, MAX_STREAM_BYTES, "TFLite model", identified), path)
    model = buf.root()
    if not model.length(2):
        raise ModelFileError(f"{path}: the model has no subgraph")
    g = model.element(2, 0)
    tensors = Tensors(model, g, buf, path)
    codes: dict[int, str] = {}
    n_codes = model.length(1)
    ops, written, named = [], {}, 0
    for k, o in enumerate(g.tables(3, MAX_OPERATORS, "the subgraph's operators")):
        idx = o.scalar(0, "I", 0)
        if idx >= n_codes:
            raise ModelFileError(f"{path}: operator {k} uses operator code {idx:,}, the file has {n_codes:,}")
        if idx not in codes:
            codes[idx] = _code(model.element(1, idx))
        code = codes[idx]
        ins = o.numbers(1, "i", MAX_OPERATOR_TENSORS, f"operator {k} ({code})'s inputs")
        outs = o.numbers(2, "i", MAX_OPERATOR_TENSORS, f"operator {k} ({code})'s outputs")
        named += len(ins) + len(outs)
        if named > MAX_REFERENCES:
            raise ModelFileError(f"{path}: operators 0 to {k:,} name more than {MAX_REFERENCES:,} tensors in all; "
                               f"at most {MAX_REFERENCES:,} are read")
        for t in ins:
            if not -1 <= t < len(tensors):
                raise ModelFileError(f"{path}: operator {k} ({code}) reads tensor {t:,}, which does not exist "
                                   f"(the subgraph has {len(tensors):,})")
        for t in outs:
            if not 0 <= t < len(tensors):
                raise ModelFileError(f"{path}: operator {k} ({code}) writes tensor {t:,}, which does not exist "
                                   f"(the subgraph has {len(tensors):,})")
            if written.setdefault(t, k) != k:
                raise ModelFileError(f"{path}: operator {k} ({code}) writes tensor {t:,}, which operator "
                                   f"{written[t]:,} writes too")
        ops.append(OpInfo(k, code, ins, outs, o.table(4)))
    inputs = g.numbers(1, "i", MAX_OPERATOR_TENSORS, "the subgraph's inputs")
    outputs = g.numbers(2, "i", MAX_OPERATOR_TENSORS, "the subgraph's outputs")
    for t in inputs + outputs:
        if not 0 <= t < len(tensors):
            raise ModelFileError(f"{path}: the subgraph's inputs or outputs name tensor {t:,}, which does not exist")
    for t in inputs:
        if t in written:
            raise ModelFileError(f"{path}: the subgraph's input tensor {t:,} is written by operator {written[t]:,}")
    return TFLiteModel(path, model.scalar(0, "I", 0), tensors, ops, inputs, outputs, model.string(3),
                       model.length(2))


def _code(c: Table) -> str:
    builtin = max(c.scalar(0, "b", 0), c.scalar(3, "i", 0))   # deprecated_builtin_code, builtin_code
    return f"CUSTOM:{c.string(1)}" if builtin == 32 else BUILTIN.get(builtin, f"BUILTIN_{builtin}")


class Tensors:
    """Subgraph 0's tensors, each read (with its buffer) when first asked for: a file may list
    millions, the network reads those its operators name. Two indices that lead to one table
    are a damaged file (no writer shares a tensor's table)."""

    def __init__(self, model: Table, graph: Table, buf: Buffer, path: str):
        self.model, self.graph, self.buf, self.path = model, graph, buf, path
        self.n = graph.length(0)
        self.n_buffers = model.length(4)
        self.read: dict[int, TensorInfo] = {}
        self.at: dict[int, int] = {}            # table position -> the index read there

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        return (self[i] for i in range(self.n))

    def __getitem__(self, i: int) -> TensorInfo:
        if i in self.read:
            return self.read[i]
        if not 0 <= i < self.n:
            raise ModelFileError(f"{self.path}: tensor {i:,} does not exist (the subgraph has {self.n:,})")
        t = self.graph.element(0, i)
        if self.at.setdefault(t.pos, i) != i:
            raise ModelFileError(f"{self.path}: tensors {self.at[t.pos]:,} and {i:,} are the same table "
                               f"(byte {t.pos:,})")
        shape = tuple(t.numbers(0, "i", MAX_RANK, f"tensor {i:,}'s shape"))
        name = t.string(3)
        if any(d < 0 for d in shape):
            raise ModelFileError(f"{self.path}: tensor {i:,} ('{name}') has shape {list(shape)}")
        b = t.scalar(2, "I", 0)
        if b >= self.n_buffers and b:
            raise ModelFileError(f"{self.path}: tensor {i:,} reads buffer {b:,}, the file has {self.n_buffers:,}")
        q = t.table(4)
        what = f"tensor {i:,}'s quantization"
        info = TensorInfo(i, name, shape, TENSOR_TYPES.get(t.scalar(1, "b", 0), "unknown"), b,
                          q.numbers(2, "f", what=what) if q else [], q.numbers(3, "q", what=what) if q else [],
                          q.scalar(6, "i", 0) if q else 0)
        if b:
            info.data = self._buffer_data(self.model.element(4, b), i)
        self.read[i] = info
        return info

    def _buffer_data(self, b: Table, tensor: int):
        """A buffer's bytes: in the FlatBuffer, or (files over 2 GB) at offset/size in the file;
        a view of the mapped file either way."""
        data = b.bytes_view(0)
        if len(data):
            return data
        offset, size = b.scalar(1, "Q", 0), b.scalar(2, "Q", 0)
        if offset > 1:
            self.buf.check(offset, size, f"tensor {tensor:,}'s buffer")
            return self.buf.data[offset:offset + size]
        return None
