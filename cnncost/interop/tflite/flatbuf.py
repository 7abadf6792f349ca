"""A FlatBuffer reader for hostile files: tables, vectors, strings and scalars read by field
number (the schema lives in its user, interop/tflite_file.py), every offset checked
against the buffer before it is followed, vtables bounded, every count checked against
its limit before anything is read or allocated, and a budget on the bytes read: a table,
vector or string costs its size each time it is read, and a reader may spend twice the
file's size (a file writes each thing once; offsets that lead to the same bytes again and
again, as a vector of offsets all to one table, run out of budget instead of time), and
never more than MAX_READ_BYTES (a file padded with gigabytes of holes buys no more).

FlatBuffers layout: a table starts with an int32 (soffset) pointing back to its vtable;
the vtable is [vtable bytes: u16, table bytes: u16, field offsets: u16 ...], field i at
index i (0 = absent). Offsets to tables, vectors and strings are uint32, relative to
where they are stored; a vector is a uint32 count followed by its elements.
"""
from __future__ import annotations

import struct

from cnncost.errors import CnnCostError

MAX_VTABLE_BYTES = 1024          # TFLite's largest table has 14 fields (32 bytes of vtable)
SLACK_BYTES = 1 << 16            # budget past twice the file's size (a small file's shared vtables)
MAX_READ_BYTES = 1 << 27         # 128 MiB of tables, vectors and strings (a 200,000-layer model's reads ~70)


class FlatBufferError(CnnCostError):
    pass


class Buffer:
    def __init__(self, data, what: str):
        self.data = memoryview(data)             # bytes, or a mapped file (only the pages read cost)
        self.size = len(self.data)
        self.what = what
        self.spent = 0
        self.budget = min(2 * self.size + SLACK_BYTES, MAX_READ_BYTES)

    def fail(self, why: str):
        raise FlatBufferError(f"{self.what}: {why}")

    def charge(self, n: int, what: str) -> None:
        self.spent += n
        if self.spent > self.budget:
            self.fail(f"reading {what} passes {self.budget:,} bytes read from a file of {self.size:,} (its offsets "
                      f"lead to the same bytes again and again)")

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
        self.check(pos, 4, "a table")
        vt = pos - self.scalar("i", pos)
        self.check(vt, 4, "a vtable")
        vt_bytes, table_bytes = self.scalar("H", vt), self.scalar("H", vt + 2)
        if vt_bytes < 4 or vt_bytes % 2 or vt_bytes > MAX_VTABLE_BYTES:
            self.fail(f"a vtable of {vt_bytes} bytes at byte {vt:,}")
        self.check(vt, vt_bytes, "a vtable")
        self.check(pos, table_bytes, "a table")
        self.charge(max(table_bytes, 4), "a table")
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

    def _vector(self, i: int, elem: int, limit: int | None = None, what: str = "a vector") -> tuple[int, int]:
        """(first element's position, count): the count checked against `limit` and the file
        before anything is read."""
        p = self._target(i)
        if not p:
            return 0, 0
        n = self.buf.scalar("I", p)
        if limit is not None and n > limit:
            self.buf.fail(f"{what} of {n:,} entries (at most {limit:,} are read)")
        self.buf.check(p + 4, n * elem, f"a vector of {n:,} elements")
        return p + 4, n

    def length(self, i: int, elem: int = 4) -> int:
        return self._vector(i, elem)[1]

    def element(self, i: int, k: int) -> "Table":
        """Table k of the vector of tables in field i."""
        start, n = self._vector(i, 4)
        if not 0 <= k < n:
            self.buf.fail(f"table {k:,} of a vector of {n:,} at byte {start:,}")
        at = start + 4 * k
        return self.buf.table(at + self.buf.scalar("I", at))

    def tables(self, i: int, limit: int | None = None, what: str = "a vector of tables") -> list["Table"]:
        """Every table of the vector, each a table of its own (two entries that lead to the
        same table are a damaged file: no writer shares one)."""
        start, n = self._vector(i, 4, limit, what)
        self.buf.charge(4 * n, what)
        out, seen = [], {}
        for k in range(n):
            t = self.buf.table(start + 4 * k + self.buf.scalar("I", start + 4 * k))
            if seen.setdefault(t.pos, k) != k:
                self.buf.fail(f"{what}: entries {seen[t.pos]:,} and {k:,} are the same table (byte {t.pos:,})")
            out.append(t)
        return out

    def numbers(self, i: int, fmt: str, limit: int | None = None, what: str = "a vector") -> list:
        size = struct.calcsize(fmt)
        start, n = self._vector(i, size, limit, what)
        self.buf.charge(n * size, what)
        return list(struct.unpack_from(f"<{n}{fmt}", self.buf.data, start)) if n else []

    def bytes_view(self, i: int) -> memoryview:
        """A vector of bytes as a view of the file: nothing is read or copied (a constant's
        data, read only when weights are asked for)."""
        start, n = self._vector(i, 1)
        return self.buf.data[start:start + n]

    def string(self, i: int) -> str:
        view = self.bytes_view(i)
        self.buf.charge(len(view), "a string")
        raw = bytes(view)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")
