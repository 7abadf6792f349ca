"""NCNN's .bin weights file, walked as ncnn's ModelBinFromDataReader::load walks it
(src/modelbin.cpp): the weights of every layer, one after another in the order of the
layers' load_model, with no index. A weight loaded as type 0 (a convolution's or an inner
product's kernel) starts with a 4-byte tag saying how it is stored:

  0x00000000              float32, 4 bytes a value
  0x01306B47              float16, 2 bytes a value, padded to 4 bytes
  0x01348B83              bfloat16, 2 bytes a value, padded to 4 bytes (newer ncnn)
  0x000D4B38              int8 (a layer quantized with int8_scale_term), padded to 4 bytes
  0x0002C056              float32 (raw data with extra scaling)
  any other               a table of 256 float32 values, then one uint8 index a value, padded

A weight loaded as type 1 (a bias, BatchNorm's statistics, a slope) is float32 with no tag.
Each read is held to the file's end before anything is allocated; the values are made
(NumPy, float32) only when weights are asked for."""
from __future__ import annotations

import struct

from cnncost.errors import ModelFileError
from cnncost.files import map_bounded

MAX_BIN_BYTES = 2 ** 36
MAX_STREAM_BYTES = 2 ** 31
FLOAT16, BFLOAT16, INT8, SCALED = 0x01306B47, 0x01348B83, 0x000D4B38, 0x0002C056


def _align4(n: int) -> int:
    return (n + 3) & ~3


class Stored:
    """One weight as the file stores it: `dtype` (float32, float16, bfloat16, int8 or uint8,
    a table's indices), `count` values from `offset`; `values()` makes them float32."""
    __slots__ = ("view", "dtype", "count", "offset", "table")

    def __init__(self, view, dtype: str, count: int, offset: int, table: int | None = None):
        self.view, self.dtype, self.count, self.offset, self.table = view, dtype, count, offset, table

    def values(self):
        import numpy as np

        n, at = self.count, self.offset
        if self.dtype == "float32":
            return np.frombuffer(self.view, "<f4", n, at).astype(np.float32)
        if self.dtype == "float16":
            return np.frombuffer(self.view, "<f2", n, at).astype(np.float32)
        if self.dtype == "bfloat16":
            raw = np.frombuffer(self.view, "<u2", n, at).astype(np.uint32) << 16
            return raw.view(np.float32).copy()
        if self.dtype == "int8":
            return np.frombuffer(self.view, "i1", n, at).astype(np.float32)
        table = np.frombuffer(self.view, "<f4", 256, self.table).astype(np.float32)
        return table[np.frombuffer(self.view, "u1", n, at)]


class ModelBin:
    """The .bin file read from its start, one weight a `load`."""

    def __init__(self, path: str):
        self.path = path
        self.view = map_bounded(path, MAX_BIN_BYTES, MAX_STREAM_BYTES, "ncnn weights file")
        self.at = 0

    def _take(self, size: int, what: str) -> int:
        if size < 0 or self.at + size > len(self.view):
            raise ModelFileError(f"{self.path}: {what} runs past the end of the file (offset {self.at:,}, "
                                 f"{size:,} bytes wanted of {len(self.view):,}): the .bin is not this .param's, "
                                 "or is cut short")
        at = self.at
        self.at += size
        return at

    def load(self, count: int, tagged: bool, what: str) -> Stored:
        """The next weight of `count` values; `tagged`: ncnn's type 0 (a storage tag first)."""
        if count < 0 or count > len(self.view):      # every value takes a byte at least
            self._take(count, what)
        if not tagged:
            return Stored(self.view, "float32", count, self._take(4 * count, what))
        (tag,) = struct.unpack("<I", bytes(self.view[self._take(4, what):self.at]))
        if tag in (FLOAT16, BFLOAT16):
            at = self._take(_align4(2 * count), what)
            return Stored(self.view, "float16" if tag == FLOAT16 else "bfloat16", count, at)
        if tag == INT8:
            return Stored(self.view, "int8", count, self._take(_align4(count), what))
        if tag == 0 or tag == SCALED:
            return Stored(self.view, "float32", count, self._take(4 * count, what))
        table = self._take(256 * 4, what)
        return Stored(self.view, "uint8", count, self._take(_align4(count), what), table)
