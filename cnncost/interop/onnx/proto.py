"""A reader of the parts of the ONNX protobuf schema that cnncost needs (model, graph,
node, attribute, tensor, value info), written against onnx.proto's field numbers.

Why not `onnx.load`: importing onnx alone takes 1.5 s here, and it copies every weight
into memory. Counting needs the graph and the weights' dims, not their data: this reader
maps the file and keeps each tensor's bytes as a view that is decoded only when a value
is asked for (a Reshape target, a Clip bound, or the weights of `run`). It needs no
package; numpy only when a value is decoded. A damaged file is one clear error, never a
protobuf dump.
"""
from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field

from cnncost.errors import ModelFileError, SpecError

MAX_MODEL_BYTES = 2 ** 31 - 1      # protobuf's limit: larger models keep weights as external data
MAX_STREAM_BYTES = 256 * 2 ** 20   # read from a device or a pipe (a file is mapped instead)

# TensorProto.DataType -> numpy dtype name (STRING 8 and the complex types are refused)
DTYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
          9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64"}


class ProtoError(SpecError):
    pass


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise ProtoError("damaged varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _fields(buf, start: int, end: int):
    """(field number, wire type, value) of one message: an int for varints and fixed
    widths (raw bits), a (start, end) span for length-delimited fields."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos, end)
        elif wire == 2:
            n, pos = _varint(buf, pos, end)
            if pos + n > end:
                raise ProtoError(f"a field of {n:,} bytes runs past the end of its message (truncated file?)")
            value, pos = (pos, pos + n), pos + n
        elif wire == 5:
            if pos + 4 > end:
                raise ProtoError("truncated 32-bit field")
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        elif wire == 1:
            if pos + 8 > end:
                raise ProtoError("truncated 64-bit field")
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        else:
            raise ProtoError(f"wire type {wire} in field {num} (not an ONNX model?)")
        if num == 0:
            raise ProtoError("field number 0 (not an ONNX model?)")
        yield num, wire, value


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _ints(buf, wire, value) -> list[int]:
    """A repeated int64 field, packed (one span) or not (one varint); any other wire type is
    a damaged file (ints written as a fixed32, say)."""
    if wire == 0:
        return [_signed(value)]
    if wire != 2:
        raise ProtoError(f"an integer field has wire type {wire} (expected a varint or a packed list)")
    out, (pos, end) = [], value
    while pos < end:
        v, pos = _varint(buf, pos, end)
        out.append(_signed(v))
    return out


def _floats(buf, wire, value, code: str = "f") -> list[float]:
    """A repeated float (`code` f: fixed32) or double (d: fixed64) field, packed or one entry;
    any other wire type is a damaged file."""
    size, single = (4, 5) if code == "f" else (8, 1)
    if wire == single:
        return [struct.unpack(f"<{code}", value.to_bytes(size, "little"))[0]]
    if wire != 2:
        raise ProtoError(f"a {'float' if code == 'f' else 'double'} field has wire type {wire} (expected "
                         f"a fixed{size * 8} or a packed list)")
    start, end = value
    return list(struct.unpack(f"<{(end - start) // size}{code}", buf[start:end]))


def _text(buf, span) -> str:
    return bytes(buf[span[0]:span[1]]).decode("utf-8", "replace")


@dataclass
class Tensor:
    name: str = ""
    dims: tuple = ()
    data_type: int = 0
    raw: memoryview | None = None          # raw_data, undecoded
    typed: tuple = ()                      # (field number, spans/values) of float_data & co
    external: dict = field(default_factory=dict)
    base_dir: str = "."

    @property
    def size(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n

    @property
    def itemsize(self) -> int:
        return {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8}.get(self.data_type, 0)

    def value(self):
        """The tensor as a numpy array (external data read here, bounded by its dims)."""
        import numpy as np

        dtype = DTYPES.get(self.data_type)
        if dtype is None:
            raise ModelFileError(f"tensor '{self.name}': element type {self.data_type} is not a real number type")
        want = self.size * self.itemsize
        if self.external:
            data = _read_external(self, want)
        elif self.raw is not None:
            data = self.raw
        else:
            return self._typed_value(np, dtype)
        if len(data) != want:
            raise ModelFileError(f"tensor '{self.name}': dims {list(self.dims)} need {want:,} bytes, "
                            f"the file holds {len(data):,}")
        return np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<")).reshape(self.dims)

    def _typed_value(self, np, dtype):
        """The typed repeated fields (float_data, int32_data, ...) small tensors use."""
        num, values = self.typed or (0, [])
        if num == 5 and dtype == "float16":           # float16 travels as its bits in int32_data
            arr = np.array(values, dtype=np.uint16).view(np.float16)
        elif num in (4, 10, 5, 7, 11):
            arr = np.array(values).astype(dtype)
        else:
            arr = np.zeros(0, dtype)
        if arr.size != self.size:
            raise ModelFileError(f"tensor '{self.name}': dims {list(self.dims)} hold {self.size:,} values, "
                            f"the file holds {arr.size:,}")
        return arr.reshape(self.dims)


def _inside(t: Tensor, path: str) -> None:
    """An external data file must be a regular file inside the model's own folder once every
    symlink is resolved: never a link out of it, a device or a FIFO (which would block)."""
    from cnncost.files import inside_folder

    try:
        inside_folder(t.base_dir, path, f"tensor '{t.name}': external data")
    except FileNotFoundError:
        raise ModelFileError(f"tensor '{t.name}': cannot read its external data {path}: no such file") from None


def _read_external(t: Tensor, want: int) -> bytes:
    location = t.external.get("location", "")
    parts = location.replace("\\", "/").split("/")
    if not location or os.path.isabs(location) or ".." in parts:
        raise ModelFileError(f"tensor '{t.name}': external data location {location!r} must be a file "
                        "beside the model")
    path = os.path.join(t.base_dir, location)
    try:
        offset = int(t.external.get("offset", 0) or 0)
        length = int(t.external.get("length", want) or want)
    except ValueError:
        raise ModelFileError(f"tensor '{t.name}': external data offset or length is not a number") from None
    _inside(t, path)
    if offset < 0 or length != want:
        raise ModelFileError(f"tensor '{t.name}': external data of {length:,} bytes for dims "
                        f"{list(t.dims)} ({want:,} bytes)")
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(want)
    except OSError as exc:
        raise ModelFileError(f"tensor '{t.name}': cannot read its external data {path}: "
                        f"{exc.strerror or exc}") from None
    if len(data) != want:
        raise ModelFileError(f"tensor '{t.name}': external data {path} holds {len(data):,} bytes from "
                        f"offset {offset:,}, {want:,} needed (missing or truncated file)")
    return data


@dataclass
class Node:
    op: str
    name: str
    inputs: list
    outputs: list
    attrs: dict
    domain: str = ""


@dataclass
class ValueInfo:
    name: str
    elem_type: int
    dims: list                 # int, a symbolic name (str), or None per axis; None: unknown rank


@dataclass
class Graph:
    name: str = ""
    nodes: list = field(default_factory=list)
    initializers: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)


@dataclass
class Model:
    ir_version: int
    opsets: dict               # domain ('' is ONNX) -> version
    producer: str
    graph: Graph
    # initializers that never train in a live module (requires_grad=False, buffers): only a
    # model traced in memory knows them, a file never says
    frozen: frozenset = frozenset()
    # the bytes it was read from (a file's mapping), what onnxruntime is handed; None for a
    # model made in memory (a traced module: serialised when something runs it)
    raw: object = None


# the largest exports of the networks cnncost counts hold a few thousand nodes (with shape
# arithmetic, some 10,000); counting takes about 0.1 ms a node
MAX_NODES = 50_000


class _Reader:
    def __init__(self, buf, base_dir: str):
        self.buf, self.base_dir = buf, base_dir

    def model(self) -> Model:
        ir, opsets, producer, graph = 0, {}, "", None
        for num, wire, v in _fields(self.buf, 0, len(self.buf)):
            if num == 1 and wire == 0:
                ir = v
            elif num == 2 and wire == 2:
                producer = _text(self.buf, v)
            elif num == 7 and wire == 2:
                graph = self.graph(*v)
            elif num == 8 and wire == 2:
                domain, version = "", 0
                for n2, w2, v2 in _fields(self.buf, *v):
                    if n2 == 1 and w2 == 2:
                        domain = _text(self.buf, v2)
                    elif n2 == 2 and w2 == 0:
                        version = v2
                opsets[domain or "ai.onnx"] = version
        if graph is None or ir == 0:
            raise ProtoError("no graph or IR version (not an ONNX model?)")
        opsets[""] = opsets.pop("ai.onnx", 0)
        return Model(ir, opsets, producer, graph)

    def graph(self, start, end) -> Graph:
        g = Graph()
        for num, wire, v in _fields(self.buf, start, end):
            if wire != 2:
                continue
            if num == 1:
                if len(g.nodes) == MAX_NODES:        # before decoding more: refused within seconds
                    raise ProtoError(f"the graph has more than {MAX_NODES:,} nodes, the most cnncost reads")
                g.nodes.append(self.node(*v))
            elif num == 2:
                g.name = _text(self.buf, v)
            elif num == 5:
                t = self.tensor(*v)
                g.initializers[t.name] = t
            elif num == 11:
                g.inputs.append(self.value_info(*v))
            elif num == 12:
                g.outputs.append(self.value_info(*v))
        return g

    def node(self, start, end) -> Node:
        n = Node("", "", [], [], {})
        for num, wire, v in _fields(self.buf, start, end):
            if wire != 2:
                continue
            if num == 1:
                n.inputs.append(_text(self.buf, v))
            elif num == 2:
                n.outputs.append(_text(self.buf, v))
            elif num == 3:
                n.name = _text(self.buf, v)
            elif num == 4:
                n.op = _text(self.buf, v)
            elif num == 7:
                n.domain = _text(self.buf, v)
            elif num == 5:
                key, value = self.attribute(*v)
                n.attrs[key] = value
        return n

    def attribute(self, start, end):
        name, single, ints, floats, strings = "", None, [], [], []
        for num, wire, v in _fields(self.buf, start, end):
            if num == 1 and wire == 2:
                name = _text(self.buf, v)
            elif num == 2:
                single = _floats(self.buf, wire, v)[0]
            elif num == 3:
                single = _signed(v)
            elif num == 4:
                single = _text(self.buf, v)
            elif num == 5:
                single = self.tensor(*v)
            elif num in (6, 11):
                single = "<graph>"           # a subgraph: control flow, refused by the importer
            elif num == 7:
                floats += _floats(self.buf, wire, v)
            elif num == 8:
                ints += _ints(self.buf, wire, v)
            elif num == 9:
                strings.append(_text(self.buf, v))
        value = single if single is not None else ints or floats or strings
        return name, value

    def tensor(self, start, end) -> Tensor:
        t = Tensor(base_dir=self.base_dir)
        dims, typed = [], []
        typed_num = 0
        for num, wire, v in _fields(self.buf, start, end):
            if num == 1:
                dims += _ints(self.buf, wire, v)
            elif num == 2:
                t.data_type = v
            elif num == 8 and wire == 2:
                t.name = _text(self.buf, v)
            elif num == 9 and wire == 2:
                t.raw = self.buf[v[0]:v[1]]
            elif num == 4:          # extended in place: one entry per value unpacked was quadratic
                typed_num = 4
                typed.extend(_floats(self.buf, wire, v))
            elif num == 10:
                typed_num = 10
                typed.extend(_floats(self.buf, wire, v, "d"))
            elif num in (5, 7, 11):
                typed_num = num
                typed.extend(_ints(self.buf, wire, v))
            elif num == 13 and wire == 2:
                key = value = ""
                for n2, w2, v2 in _fields(self.buf, *v):
                    if n2 == 1 and w2 == 2:
                        key = _text(self.buf, v2)
                    elif n2 == 2 and w2 == 2:
                        value = _text(self.buf, v2)
                t.external[key] = value
            elif num == 14 and v != 1:
                t.external = {}
        if any(d < 0 for d in dims):
            raise ProtoError(f"tensor '{t.name}' has a negative dimension {dims}")
        t.dims, t.typed = tuple(dims), (typed_num, typed) if typed_num else ()
        return t

    def value_info(self, start, end) -> ValueInfo:
        name, elem, dims = "", 0, None
        for num, wire, v in _fields(self.buf, start, end):
            if num == 1 and wire == 2:
                name = _text(self.buf, v)
            elif num == 2 and wire == 2:                       # TypeProto
                for n2, w2, v2 in _fields(self.buf, *v):
                    if n2 == 1 and w2 == 2:                    # TypeProto.Tensor
                        for n3, w3, v3 in _fields(self.buf, *v2):
                            if n3 == 1 and w3 == 0:
                                elem = v3
                            elif n3 == 2 and w3 == 2:          # TensorShapeProto
                                dims = [self.dim(*v4) for n4, w4, v4 in _fields(self.buf, *v3)
                                        if n4 == 1 and w4 == 2]
        return ValueInfo(name, elem, dims)

    def dim(self, start, end):
        value = None
        for num, wire, v in _fields(self.buf, start, end):
            if num == 1 and wire == 0:
                value = _signed(v)
            elif num == 2 and wire == 2:
                value = _text(self.buf, v) or None
        return value


def read_model(path: str) -> Model:
    """Map `path` and read its model; every failure is one SpecError naming the file."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_MODEL_BYTES:
                raise ModelFileError(f"{path}: {size:,} bytes is more than an ONNX file can hold (2 GiB); "
                                "models this large keep their weights as external data")
            if size == 0 or not os.path.isfile(path):
                data = f.read(MAX_STREAM_BYTES + 1)      # a device or FIFO: bounded
                if len(data) > MAX_STREAM_BYTES:
                    raise ModelFileError(f"{path}: more than {MAX_STREAM_BYTES >> 20} MiB from a device or pipe; "
                                    "save the model to a file")
                buf = memoryview(data)
            else:
                buf = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(buf) == 0:
        raise ModelFileError(f"{path}: empty file (not an ONNX model)")
    try:
        model = _Reader(buf, os.path.dirname(os.path.abspath(path))).model()
    except ProtoError as exc:
        raise ModelFileError(f"{path}: not a readable ONNX model ({exc})") from None
    except (RecursionError, UnicodeError, struct.error, ValueError) as exc:
        raise ModelFileError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    model.raw = buf
    return model
