"""The .bin half of an OpenVINO IR: each Const layer's bytes, found by the offset and size
its <data> gives, checked against its element type, its shape and the file before anything
is read. The file is mapped, and a constant is a view of it decoded only when a value is
asked for (a reshape target, or the weights of `run`): counting decodes no weight."""
from __future__ import annotations

import math
import mmap
import os

from cnncost.errors import ModelFileError
from cnncost.files import inside_folder
from cnncost.interop.onnx.proto import Tensor

# OpenVINO element type -> (ONNX TensorProto data type, bytes per element)
ELEMENTS = {"f32": (1, 4), "f16": (10, 2), "f64": (11, 8), "i8": (3, 1), "u8": (2, 1), "i16": (5, 2),
            "u16": (4, 2), "i32": (6, 4), "u32": (12, 4), "i64": (7, 8), "u64": (13, 8), "boolean": (9, 1)}
# packed and exotic types: their bytes are not one element each, or numpy has no such type
UNREAD = {"u1": "1-bit", "u2": "2-bit", "u3": "3-bit", "u4": "4-bit", "i4": "4-bit", "nf4": "4-bit NF4",
          "f4e2m1": "4-bit float", "u6": "6-bit", "bf16": "bfloat16", "f8e4m3": "8-bit float",
          "f8e5m2": "8-bit float", "f8e8m0": "8-bit float", "string": "string"}


class BinFile:
    """The weights file beside an IR's XML (NAME.bin), mapped; empty when the IR holds no
    constant data."""

    def __init__(self, xml_path: str):
        self.path = os.path.splitext(xml_path)[0] + ".bin"
        self.xml = xml_path
        self.buf = memoryview(b"")
        self._opened = False

    def _open(self) -> None:
        """Mapped on the first constant: a regular file in the model's own folder (never a link
        out of it, a device or a FIFO)."""
        self._opened = True
        try:
            real = inside_folder(os.path.dirname(os.path.abspath(self.xml)), self.path, f"{self.xml}: its weights file")
            with open(real, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size:
                    self.buf = memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
        except FileNotFoundError:
            raise ModelFileError(f"{self.xml}: its weights file {os.path.basename(self.path)} is missing (an "
                                 "OpenVINO IR is NAME.xml with NAME.bin beside it)") from None
        except OSError as exc:
            raise ModelFileError(f"{self.xml}: cannot read its weights file {self.path}: "
                                 f"{exc.strerror or exc}") from None

    def tensor(self, name: str, attrs: dict, dims: tuple, where: str) -> Tensor:
        """A Const's data as an ONNX Tensor viewing the file: `where` names the layer in messages."""
        etype = attrs.get("element_type", "")
        if etype in UNREAD:
            raise ModelFileError(f"{self.xml}: {where}: its {UNREAD[etype]} ({etype}) constant is not read by "
                                 "cnncost (compress weights to int8 or fp16 instead)")
        if etype not in ELEMENTS:
            raise ModelFileError(f"{self.xml}: {where}: element type {etype[:20]!r} is not one cnncost reads")
        if any(d is None for d in dims):
            raise ModelFileError(f"{self.xml}: {where}: a constant of dynamic shape {list(dims)}")
        dtype, itemsize = ELEMENTS[etype]
        try:
            offset, size = int(attrs.get("offset", "")), int(attrs.get("size", ""))
        except ValueError:
            raise ModelFileError(f"{self.xml}: {where}: its offset {attrs.get('offset', '')[:20]!r} or size "
                                 f"{attrs.get('size', '')[:20]!r} is not a number") from None
        want = math.prod(dims) * itemsize
        if size != want:
            raise ModelFileError(f"{self.xml}: {where}: {size:,} bytes for a {etype} constant of shape {list(dims)} "
                                 f"({want:,} bytes): the file is damaged")
        if not self._opened:
            self._open()
        if offset < 0 or offset + size > len(self.buf):
            raise ModelFileError(f"{self.xml}: {where}: its {size:,} bytes at offset {offset:,} lie outside "
                                 f"{os.path.basename(self.path)} ({len(self.buf):,} bytes)")
        return Tensor(name=name, dims=tuple(dims), data_type=dtype, raw=self.buf[offset:offset + size])
