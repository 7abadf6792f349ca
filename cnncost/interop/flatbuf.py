"""A FlatBuffer reader for hostile files: tables, vectors, strings and scalars read by field
number (the schema lives in its user, interop/tflite_file.py), every offset checked
against the buffer before it is followed, vtables bounded, and a budget on the tables
visited so that a file whose offsets loop back cannot keep a reader busy.

FlatBuffers layout: a table starts with an int32 (soffset) pointing back to its vtable;
the vtable is [vtable bytes: u16, table bytes: u16, field offsets: u16 ...], field i at
index i (0 = absent). Offsets to tables, vectors and strings are uint32, relative to
where they are stored; a vector is a uint32 count followed by its elements.
"""
from __future__ import annotations

import struct

from cnncost.errors import CnnCostError

MAX_VTABLE_BYTES = 1024          # TFLite's largest table has 14 fields (32 bytes of vtable)
MAX_VISITS = 5_000_000


class FlatBufferError(CnnCostError):
    pass


class Buffer:
    def __init__(self, data: bytes | memoryview, what: str):
        self.data = memoryview(data)
        self.size = len(data)
        self.what = what
        self.visits = 0

    def fail(self, why: str):
        raise FlatBufferError(f"{self.what}: {why}")

    def check(self, pos: int, n: int, what: str) -> None:
        if pos < 0 or n < 0 or pos + n > self.size:
            self.fail(f"{what} at byte {pos:,} (+{n:,}) points outside the file ({self.size:,} bytes)")

    def u8(self, pos):
        self.check(pos, 1, "a byte")
        return self.data[pos]

    def scalar(self, fmt: str, pos: int):
        n = struct.calcsize(fmt)
        self.check(pos, n, "a value")
        return struct.unpack_from("<" + fmt, self.data, pos)[0]

    def table(self, pos: int) -> "Table":
        self.visits += 1
        if self.visits > MAX_VISITS:
            self.fail(f"more than {MAX_VISITS:,} tables visited (offsets that loop back?)")
        self.check(pos, 4, "a table")
        vt = pos - self.scalar("i", pos)
        self.check(vt, 4, "a vtable")
        vt_bytes, table_bytes = self.scalar("H", vt), self.scalar("H", vt + 2)
        if vt_bytes < 4 or vt_bytes % 2 or vt_bytes > MAX_VTABLE_BYTES:
            self.fail(f"a vtable of {vt_bytes} bytes at byte {vt:,}")
        self.check(vt, vt_bytes, "a vtable")
        self.check(pos, table_bytes, "a table")
        return Table(self, pos, vt, vt_bytes, table_bytes)

    def root(self) -> "Table":
        return self.table(self.scalar("I", 0))


class Table:
    __slots__ = ("buf", "pos", "vt", "vt_bytes", "table_bytes")

    def __init__(self, buf, pos, vt, vt_bytes, table_bytes):
        self.buf, self.pos, self.vt, self.vt_bytes, self.table_bytes = buf, pos, vt, vt_bytes, table_bytes

    def _field(self, i: int) -> int:
        """The field's absolute position, or 0 when the table does not hold it."""
        at = 4 + 2 * i
        if at + 2 > self.vt_bytes:
            return 0
        off = self.buf.scalar("H", self.vt + at)
        if off and off >= self.table_bytes:
            self.buf.fail(f"field {i} of a table at byte {self.pos:,} lies past its end")
        return self.pos + off if off else 0

    def scalar(self, i: int, fmt: str, default=0):
        p = self._field(i)
        return self.buf.scalar(fmt, p) if p else default

    def _target(self, i: int) -> int:
        p = self._field(i)
        if not p:
            return 0
        return p + self.buf.scalar("I", p)

    def table(self, i: int) -> "Table | None":
        p = self._target(i)
        return self.buf.table(p) if p else None

    def _vector(self, i: int, elem: int) -> tuple[int, int]:
        p = self._target(i)
        if not p:
            return 0, 0
        n = self.buf.scalar("I", p)
        self.buf.check(p + 4, n * elem, f"a vector of {n:,} elements")
        return p + 4, n

    def length(self, i: int, elem: int = 4) -> int:
        return self._vector(i, elem)[1]

    def tables(self, i: int) -> list["Table"]:
        start, n = self._vector(i, 4)
        return [self.buf.table(start + 4 * k + self.buf.scalar("I", start + 4 * k)) for k in range(n)]

    def numbers(self, i: int, fmt: str) -> list:
        size = struct.calcsize(fmt)
        start, n = self._vector(i, size)
        return list(struct.unpack_from(f"<{n}{fmt}", self.buf.data, start)) if n else []

    def bytes_view(self, i: int) -> memoryview:
        start, n = self._vector(i, 1)
        return self.buf.data[start:start + n]

    def string(self, i: int) -> str:
        raw = bytes(self.bytes_view(i))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")
