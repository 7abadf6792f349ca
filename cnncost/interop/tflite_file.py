"""The TensorFlow Lite (LiteRT) FlatBuffer, read with our own reader (interop/flatbuf.py):
the parts of the schema (tensorflow/lite/schema/schema.fbs) that say what a network costs
and what it stores: subgraph 0's tensors (shape, dtype, buffer, quantization), its
operators (code, inputs, outputs, options table) and the buffers. Field numbers are the
schema's; every index a file gives (a tensor, a buffer, an operator code) is checked."""
from __future__ import annotations

from dataclasses import dataclass, field

from cnncost.errors import CnnCostError
from cnncost.files import read_bounded
from cnncost.interop.flatbuf import Buffer, Table

MAX_FILE_BYTES = 2 ** 31          # the schema's own limit for a file without external buffers
IDENTIFIER = b"TFL3"
TENSOR_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool",
                7: "int16", 9: "int8", 10: "float64", 17: "int4"}
NUMPY_TYPES = {"float32": "<f4", "float16": "<f2", "int32": "<i4", "uint8": "u1", "int64": "<i8", "int16": "<i2",
               "int8": "i1", "float64": "<f8"}
STRUCT = {"float32": "f", "float16": "e", "int32": "i", "uint8": "B", "int64": "q", "int16": "h", "int8": "b",
          "float64": "d"}
BUILTIN = {0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
           5: "DEPTH_TO_SPACE", 6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC", 17: "MAX_POOL_2D", 18: "MUL",
           19: "RELU", 20: "RELU_N1_TO_1", 21: "RELU6", 22: "RESHAPE", 23: "RESIZE_BILINEAR", 25: "SOFTMAX",
           26: "SPACE_TO_DEPTH", 28: "TANH", 32: "CUSTOM", 34: "PAD", 36: "GATHER", 39: "TRANSPOSE", 40: "MEAN",
           41: "SUB", 42: "DIV", 43: "SQUEEZE", 45: "STRIDED_SLICE", 47: "EXP", 48: "TOPK_V2", 49: "SPLIT",
           50: "LOG_SOFTMAX", 53: "CAST", 54: "PRELU", 55: "MAXIMUM", 56: "ARG_MAX", 57: "MINIMUM", 59: "NEG",
           60: "PADV2", 65: "SLICE", 67: "TRANSPOSE_CONV", 70: "EXPAND_DIMS", 73: "LOG", 74: "SUM", 75: "SQRT",
           76: "RSQRT", 77: "SHAPE", 78: "POW", 82: "REDUCE_MAX", 83: "PACK", 88: "UNPACK", 92: "SQUARE",
           97: "RESIZE_NEAREST_NEIGHBOR", 98: "LEAKY_RELU", 99: "SQUARED_DIFFERENCE", 101: "ABS", 102: "SPLIT_V",
           111: "ELU", 114: "QUANTIZE", 117: "HARD_SWISH", 118: "IF", 119: "WHILE", 120: "NON_MAX_SUPPRESSION_V4",
           121: "NON_MAX_SUPPRESSION_V5", 126: "BATCH_MATMUL", 150: "GELU"}


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
    data: memoryview | None = None    # the constant's bytes, when its buffer holds any
    folded: object = None             # a constant computed on import (shape arithmetic), as an array

    def numbers(self) -> list:
        """The constant's values as Python numbers, flat, in real units (counting reads a
        transpose's permutation or a padding this way, with no numpy)."""
        import struct

        if self.folded is not None:
            return self.folded.ravel().tolist()
        fmt = STRUCT.get(self.dtype)
        if self.data is None or fmt is None or len(self.data) % struct.calcsize(fmt):
            raise CnnCostError(f"tensor '{self.name}' holds no readable data")
        values = list(struct.unpack(f"<{len(self.data) // struct.calcsize(fmt)}{fmt}", self.data))
        if self.scale and self.dtype not in ("float32", "float16", "float64"):
            zp = self.zero_point[0] if self.zero_point else 0
            values = [(v - zp) * self.scale[0] for v in values] if len(self.scale) == 1 else values
        return values

    def array(self):
        """The constant as NumPy holds it (its stored dtype)."""
        import numpy as np

        if self.folded is not None:
            return self.folded
        if self.data is None or self.dtype not in NUMPY_TYPES:
            raise CnnCostError(f"tensor '{self.name}' holds no readable data")
        dt = np.dtype(NUMPY_TYPES[self.dtype])
        count = 1
        for d in self.shape:
            count *= d
        if count * dt.itemsize != len(self.data):
            raise CnnCostError(f"tensor '{self.name}': its buffer holds {len(self.data):,} bytes, its shape "
                               f"{'x'.join(map(str, self.shape))} of {self.dtype} needs {count * dt.itemsize:,}")
        return np.frombuffer(self.data, dtype=dt).reshape(self.shape)

    def real(self):
        """The constant in real units: (q - zero_point) x scale, per channel along `axis`."""
        import numpy as np

        a = self.array()
        if not self.scale or self.dtype in ("float32", "float16", "float64"):
            return a.astype(np.float32)
        shape = [1] * a.ndim
        if len(self.scale) > 1:
            shape[self.axis] = len(self.scale)
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
    tensors: list
    ops: list
    inputs: list
    outputs: list
    description: str
    subgraphs: int


def read_tflite(path: str) -> TFLiteModel:
    data = read_bounded(path, MAX_FILE_BYTES, "TFLite model")
    if len(data) < 8 or data[4:8] != IDENTIFIER:
        raise CnnCostError(f"{path}: not a TFLite model (bytes 4-8 are {bytes(data[4:8])!r}, a .tflite file "
                           f"says {IDENTIFIER!r})")
    buf = Buffer(data, path)
    model = buf.root()
    codes = []
    for c in model.tables(1):
        builtin = max(c.scalar(0, "b", 0), c.scalar(3, "i", 0))   # deprecated_builtin_code, builtin_code
        codes.append(f"CUSTOM:{c.string(1)}" if builtin == 32 else BUILTIN.get(builtin, f"BUILTIN_{builtin}"))
    buffers = model.tables(4)
    subgraphs = model.tables(2)
    if not subgraphs:
        raise CnnCostError(f"{path}: the model has no subgraph")
    g = subgraphs[0]
    tensors = []
    for i, t in enumerate(g.tables(0)):
        b = t.scalar(2, "I", 0)
        if b >= len(buffers) and b:
            raise CnnCostError(f"{path}: tensor {i} reads buffer {b}, the file has {len(buffers)}")
        q = t.table(4)
        info = TensorInfo(i, t.string(3), tuple(t.numbers(0, "i")), TENSOR_TYPES.get(t.scalar(1, "b", 0), "unknown"),
                          b, q.numbers(2, "f") if q else [], q.numbers(3, "q") if q else [],
                          q.scalar(6, "i", 0) if q else 0)
        if b:
            info.data = _buffer_data(buffers[b], buf, path, i)
        tensors.append(info)
    ops = []
    for k, o in enumerate(g.tables(3)):
        idx = o.scalar(0, "I", 0)
        if idx >= len(codes):
            raise CnnCostError(f"{path}: operator {k} uses operator code {idx}, the file has {len(codes)}")
        ins, outs = o.numbers(1, "i"), o.numbers(2, "i")
        for t in ins + outs:
            if t >= len(tensors) or t < -1:
                raise CnnCostError(f"{path}: operator {k} ({codes[idx]}) reads tensor {t}, which does not exist "
                                   f"(the subgraph has {len(tensors)})")
        ops.append(OpInfo(k, codes[idx], ins, outs, o.table(4)))
    for t in g.numbers(1, "i") + g.numbers(2, "i"):
        if not 0 <= t < len(tensors):
            raise CnnCostError(f"{path}: the subgraph's inputs or outputs name tensor {t}, which does not exist")
    return TFLiteModel(path, model.scalar(0, "I", 0), tensors, ops, g.numbers(1, "i"), g.numbers(2, "i"),
                       model.string(3), len(subgraphs))


def _buffer_data(b: Table, buf: Buffer, path: str, tensor: int):
    """A buffer's bytes: in the FlatBuffer, or (files over 2 GB) at offset/size in the file."""
    data = b.bytes_view(0)
    if len(data):
        return data
    offset, size = b.scalar(1, "Q", 0), b.scalar(2, "Q", 0)
    if offset > 1:
        buf.check(offset, size, f"tensor {tensor}'s buffer")
        return buf.data[offset:offset + size]
    return None
