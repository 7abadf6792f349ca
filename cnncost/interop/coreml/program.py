"""An ML Program's main function written as ONNX nodes (interop/coreml/graph.py): constants
become initializers (inline, or a view of the weights file once its record is checked),
every other operation goes to its handler in `MIL` (interop/coreml/mil.py). The helpers a
handler reads its arguments with are here; what no handler reads is gathered into one
refusal with counts."""
from __future__ import annotations

import math
import struct

from cnncost.errors import ModelFileError
from cnncost.interop.coreml.blobs import BlobFile
from cnncost.interop.coreml.graph import OnnxGraph
from cnncost.interop.coreml.mil import MIL
from cnncost.interop.coreml.package import weights_file
from cnncost.interop.coreml.spec import MIL_TYPES, Feature, Value
from cnncost.interop.refusals import Refused, Tally

CONTROL_FLOW = ("cond", "while_loop", "make_list", "list_read", "list_write", "list_gather", "list_scatter")
MISSING = object()
STRUCT = {"float16": "e", "float32": "f", "float64": "d", "int8": "b", "uint8": "B", "int16": "h", "int32": "i",
          "int64": "q", "bool": "?"}


class ProgramReader:
    def __init__(self, spec, path: str, folder: str):
        self.spec, self.path, self.folder = spec, path, folder
        self.g = OnnxGraph(f"Core ML ML Program (specification version {spec.version})")
        self.values: dict[str, Feature | Value] = {}
        self.made: dict[str, str] = {}        # constant -> its initializer
        self.blob_files: dict[str, BlobFile] = {}
        self.refused = Tally()
        self._readers: dict[str, list] | None = None

    def run(self):
        p = self.spec.program
        inputs = []
        for x in p.inputs:
            self.values[x.name] = x
            inputs.append((x.name, x.dims))
        for k, op in enumerate(p.operations):      # constants first: a handler may look ahead
            if op.type == "const":
                self._operation(k, op)
        for k, op in enumerate(p.operations):
            if op.type != "const":
                self._operation(k, op)
        if self.refused:
            raise ModelFileError(f"{self.path}: {self.refused.total()} operation(s) not read: " + ", ".join(
                f"{t} x{n} (first: {first[0]!r}: {first[1]})" for t, n, first in self.refused.listed()))
        outputs = []
        for name in p.outputs:
            v = self.values.get(name)
            if not isinstance(v, Feature):
                raise ModelFileError(f"{self.path}: the program's output {name!r} is made by no operation")
            outputs.append((name, v.dims))
        return self.g.model(inputs, outputs)

    def _operation(self, k: int, op) -> None:
        label = op.outputs[0].name if op.outputs else f"operation {k}"
        if not op.outputs:
            raise ModelFileError(f"{self.path}: operation {k} ({op.type}) has no outputs")
        if op.type == "const":
            val = op.attributes.get("val")
            if val is None:
                raise ModelFileError(f"{self.path}: constant {label!r} has no value")
            val.dtype, val.dims = op.outputs[0].dtype or val.dtype, tuple(op.outputs[0].dims) or val.dims
            self.values[label] = val
            return
        try:
            if op.blocks or op.type in CONTROL_FLOW:
                raise Refused("control flow, whose cost depends on the data")
            handler = MIL.get(op.type)
            if handler is None:
                raise Refused("no mapping onto cnncost's kinds")
            for o in op.outputs:
                if o.dtype in ("list", "tuple", "dictionary", "state"):
                    raise Refused(f"an output of type {o.dtype}")
            handler(self, op)
        except Refused as exc:
            self.refused.add(op.type, label, str(exc))
        except (IndexError, KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            raise ModelFileError(f"{self.path}: operation {label!r} ({op.type}): damaged arguments "
                                 f"({type(exc).__name__}: {str(exc)[:80]})") from None
        for o in op.outputs:
            self.values[o.name] = o

    # ---- what handlers read ----------------------------------------------------------------
    def readers(self, name: str) -> list:
        """The operations that read `name` (made when first asked)."""
        if self._readers is None:
            self._readers = {}
            for o in self.spec.program.operations:
                for b in {x for bs in o.inputs.values() for x in bs if isinstance(x, str)}:
                    self._readers.setdefault(b, []).append(o)
        return self._readers.get(name, [])

    def name(self, op) -> str:
        return op.outputs[0].name

    def node(self, onnx_op: str, inputs: list, op, **attrs) -> str:
        return self.g.node(onnx_op, inputs, [o.name for o in op.outputs], self.name(op), **attrs)

    def _binding(self, op, arg, i=0):
        b = op.inputs.get(arg)
        if not b or len(b) <= i:
            raise Refused(f"no argument {arg!r}")
        if isinstance(b[i], Value):
            return b[i]
        if b[i] not in self.values:
            raise ModelFileError(f"{self.path}: operation {self.name(op)!r} ({op.type}) reads {b[i]!r}, which no "
                                 "earlier operation makes")
        return self.values[b[i]]

    def x(self, op, arg) -> str:
        return self.tensor(op, arg)

    def tensor(self, op, arg, i=0) -> str:
        """The argument as an ONNX input: an activation's name, or a constant's initializer."""
        v = self._binding(op, arg, i)
        if isinstance(v, Feature):
            return v.name
        key = op.inputs[arg][i] if isinstance(op.inputs[arg][i], str) else f"{self.name(op)}.{arg}"
        if key not in self.made:
            self.made[key] = self._initializer(key, v)
        return self.made[key]

    def dims(self, op, arg) -> tuple:
        v = self._binding(op, arg)
        dims = tuple(v.dims)
        if any(not isinstance(d, int) or d < 0 for d in dims):
            raise Refused(f"{arg} of unknown shape {list(dims)}")
        return dims

    in_dims = dims

    def out_dims(self, op) -> tuple:
        return tuple(op.outputs[0].dims)

    def _numbers(self, op, arg, default):
        if arg not in op.inputs and default is not MISSING:
            return None
        v = self._binding(op, arg)
        if not isinstance(v, Value):
            raise Refused(f"its {arg} is computed, not a constant")
        values = _decoded(v)
        if values is None:
            raise Refused(f"its {arg} holds no readable value")
        return values

    def ints(self, op, arg, default=MISSING) -> list:
        values = self._numbers(op, arg, default)
        if values is None:
            return default
        if not all(isinstance(n, (int, bool)) for n in values):
            raise Refused(f"its {arg} holds {values[:4]}, not integers")
        return [int(n) for n in values]

    def flags(self, op, arg, rank) -> list:
        values = self._numbers(op, arg, [False] * rank)
        return [bool(n) for n in values] if values is not None else [False] * rank

    def number(self, op, arg, default=MISSING):
        values = self._numbers(op, arg, default)
        if values is None:
            return default
        if len(values) != 1 or isinstance(values[0], str):
            raise Refused(f"its {arg} holds {len(values)} values, not one number")
        return values[0]

    def flag(self, op, arg) -> bool:
        return bool(self.number(op, arg, False))

    def text(self, op, arg, default=MISSING) -> str:
        values = self._numbers(op, arg, default)
        if values is None:
            return default
        if len(values) != 1 or not isinstance(values[0], str):
            raise Refused(f"its {arg} is not a string")
        return values[0]

    # ---- constants as initializers ----------------------------------------------------------
    def _initializer(self, key: str, v: Value) -> str:
        dims = tuple(v.dims)
        if any(not isinstance(d, int) or d < 0 for d in dims):
            raise ModelFileError(f"{self.path}: constant {key!r} has shape {list(dims)}")
        if v.dtype not in STRUCT:
            raise Refused(f"a constant of type {v.dtype or '?'}")
        if v.blob is not None:
            return self.g.tensor(key, v.dtype, dims, self._blob(key, v))
        if math.prod(dims) == 1 and v.dtype in ("float32", "float16", "float64"):     # the 0.5 of y * 0.5
            number = _decoded(v)
            if len(number) != 1:
                raise ModelFileError(f"{self.path}: constant {key!r} of shape {list(dims)} holds {len(number)} values")
            return self.g.constant("float32", dims, memoryview(struct.pack("<f", float(number[0]))))
        count, size = math.prod(dims), MIL_TYPES_SIZE[v.dtype]
        if v.raw is not None:
            stored = v.raw_code and {"f": "float32", "d": "float64"}[v.raw_code]
            if stored and stored != v.dtype:
                raise ModelFileError(f"{self.path}: constant {key!r} of {v.dtype} holds {stored} values")
            if len(v.raw) != count * size:
                raise ModelFileError(f"{self.path}: constant {key!r} of shape {list(dims)} ({v.dtype}) holds "
                                     f"{len(v.raw):,} bytes, {count * size:,} needed")
            return self.g.tensor(key, v.dtype, dims, v.raw)
        if v.numbers is None or len(v.numbers) != count:
            raise ModelFileError(f"{self.path}: constant {key!r} of shape {list(dims)} holds "
                                 f"{len(v.numbers or []):,} values")
        if v.dtype in ("int32", "int64", "int16", "int8", "uint8", "bool"):
            return self.g.tensor(key, "int64", dims, memoryview(struct.pack(f"<{count}q", *map(int, v.numbers))))
        return self.g.tensor(key, "float32", dims, memoryview(struct.pack(f"<{count}f", *map(float, v.numbers))))

    def _blob(self, key: str, v: Value):
        name, offset = v.blob
        if name not in self.blob_files:
            if len(self.blob_files) >= 16:
                raise ModelFileError(f"{self.path}: constants in more than 16 weights files")
            self.blob_files[name] = BlobFile(weights_file(self.folder, name, self.path), self.path)
        return self.blob_files[name].blob(offset, v.dtype, tuple(v.dims), f"constant {key!r}")


def _decoded(v: Value) -> list | None:
    """A small constant's values as Python numbers (or strings); None when it has none."""
    if v.numbers is not None:
        return list(v.numbers)
    if v.raw is not None and v.dtype in STRUCT and len(v.raw) <= 8 * 4096:
        code = v.raw_code or STRUCT[v.dtype]
        size = struct.calcsize(code)
        return list(struct.unpack(f"<{len(v.raw) // size}{code}", v.raw[:len(v.raw) // size * size]))
    if v.strings is not None:
        return list(v.strings)
    return None


MIL_TYPES_SIZE = {name: size for name, size in MIL_TYPES.values()}
