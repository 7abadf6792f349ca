"""An ML Program's weights file (MILBlob's storage format, coremltools
mlmodel/src/MILBlob/Blob/StorageFormat.hpp): a 64-byte storage header (blob count, version
2), then per blob a 64-byte metadata record (sentinel 0xDEADBEEF, data type, size in bytes,
offset of the data) and its data, 64-byte aligned. A BlobFileValue names the offset of a
metadata record. The file is mapped, not read; each record is checked (sentinel, type,
size and data inside the file, the size its tensor needs) before its data is looked at."""
from __future__ import annotations

import math
import struct

from cnncost.errors import ModelFileError
from cnncost.files import map_bounded

SENTINEL = 0xDEADBEEF
HEADER = 64
MAX_WEIGHTS_BYTES = 2 ** 38
BLOB_TYPES = {1: "float16", 2: "float32", 3: "uint8", 4: "int8"}


class BlobFile:
    def __init__(self, path: str, where: str):
        self.path, self.where = path, where
        self.data = map_bounded(path, MAX_WEIGHTS_BYTES, 2 ** 31, "Core ML weights file")
        if len(self.data) < HEADER:
            raise ModelFileError(f"{where}: weights file {path} holds {len(self.data)} bytes, less than its header")
        self.count, self.version = struct.unpack_from("<II", self.data, 0)
        if self.version != 2:
            raise ModelFileError(f"{where}: weights file {path} is of storage version {self.version}; cnncost "
                                 "reads version 2")

    def blob(self, offset: int, dtype: str, dims: tuple, what: str) -> memoryview:
        """The data of the blob whose metadata is at `offset`, which must hold `dims` of `dtype`."""
        n = len(self.data)
        if offset % HEADER or not HEADER <= offset <= n - HEADER:
            raise ModelFileError(f"{self.where}: {what}: blob offset {offset:,} is not a record of the weights file "
                                 f"({n:,} bytes)")
        sentinel, code, size, start = struct.unpack_from("<IIQQ", self.data, offset)
        if sentinel != SENTINEL:
            raise ModelFileError(f"{self.where}: {what}: no blob record at offset {offset:,} (sentinel {sentinel:#x})")
        stored = BLOB_TYPES.get(code)
        if stored is None or stored != dtype:
            raise ModelFileError(f"{self.where}: {what}: the blob at {offset:,} holds {stored or f'type {code}'}, "
                                 f"its constant is {dtype}")
        if start < offset + HEADER or start > n or size > n - start:
            raise ModelFileError(f"{self.where}: {what}: the blob at {offset:,} says {size:,} bytes from {start:,}, "
                                 f"outside the weights file ({n:,} bytes)")
        need = math.prod(dims) * {"float16": 2, "float32": 4, "uint8": 1, "int8": 1}[dtype]
        if size != need:
            raise ModelFileError(f"{self.where}: {what}: the blob holds {size:,} bytes, its shape "
                                 f"{'x'.join(map(str, dims))} of {dtype} needs {need:,}")
        return self.data[start:start + size]
