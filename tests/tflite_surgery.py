"""Byte surgery on TFLite FlatBuffers: hostile files made from the committed fixtures
(tests/tflite_files) for test_hostile_tflite.py, and the structure-aware mutator that
tests/reader_fuzzing.py runs on them.

`layout(raw)` finds, with the reader's own FlatBuffer walker, where every field the schema
gives (tensorflow/lite/schema/schema.fbs) sits: the operator codes, the buffers, subgraph 0's
tensors (shape, type, buffer, quantization) and operators (opcode index, inputs, outputs,
options). Edits are made in place (a count shortened, an index or a value replaced) or by
appending at the end of the file: a FlatBuffer offset is unsigned and points forward, so
anything new is written after what points at it, and nothing already there moves.
"""
from __future__ import annotations

import random
import struct

from cnncost.interop.tflite.flatbuf import Buffer

BUILTINS = (0, 1, 2, 3, 4, 6, 9, 14, 17, 18, 19, 21, 22, 23, 25, 28, 34, 36, 39, 40, 41, 42, 43, 45, 47, 49, 53,
            54, 55, 57, 60, 67, 70, 74, 77, 82, 83, 97, 98, 102, 114, 117, 126, 150, 32, 119, 200,
            # convolutions over time and volume, recurrent operators (issue 36)
            35, 37, 38, 44, 46, 52, 105, 132, 141)
HOSTILE_INTS = (0, -1, -2, 1, 3, 255, 1 << 20, 2 ** 31 - 1, -(2 ** 31))


# ---- where the fields are ------------------------------------------------------------------
def _vec(table, i):
    """(position of the offset field, position of the count word, count), or None."""
    at = table._field(i)
    if not at:
        return None
    start = at + struct.unpack_from("<I", table.buf.data, at)[0]
    return at, start, struct.unpack_from("<I", table.buf.data, start)[0]


def _slots(table):
    """[(position, width)] of the fields a table holds inline (its options' scalars)."""
    offs = sorted({struct.unpack_from("<H", table.buf.data, table.vt + 4 + 2 * i)[0]
                   for i in range((table.vt_bytes - 4) // 2)} - {0})
    ends = offs[1:] + [table.table_bytes]
    return [(table.pos + o, min(e - o, 4)) for o, e in zip(offs, ends) if e > o]


def layout(raw: bytes) -> dict:
    buf = Buffer(raw, "surgery")
    model = buf.root()
    out = {"size": len(raw), "model": model.pos, "codes_vec": _vec(model, 1), "buffers_vec": _vec(model, 4)}
    out["codes"] = [{"deprecated": c._field(0), "builtin": c._field(3),
                     "number": max(c.scalar(0, "b", 0), c.scalar(3, "i", 0))} for c in model.tables(1)]
    out["buffers"] = [{"pos": b.pos, "data": _vec(b, 0)} for b in model.tables(4)]
    g = model.tables(2)[0]
    out.update(tensors_vec=_vec(g, 0), ops_vec=_vec(g, 3), inputs=_vec(g, 1), outputs=_vec(g, 2))
    out["tensors"] = []
    for t in g.tables(0):
        q = t.table(4)
        out["tensors"].append({"pos": t.pos, "shape": _vec(t, 0), "type": t._field(1), "buffer": t._field(2),
                               "buffer_index": t.scalar(2, "I", 0), "dims": tuple(t.numbers(0, "i")),
                               "scale": _vec(q, 2) if q else None, "zero_point": _vec(q, 3) if q else None,
                               "axis": q._field(6) if q else 0})
    out["ops"] = []
    for o in g.tables(3):
        opt = o.table(4)
        out["ops"].append({"pos": o.pos, "opcode": o._field(0), "opcode_index": o.scalar(0, "I", 0),
                           "inputs": _vec(o, 1), "outputs": _vec(o, 2), "in": o.numbers(1, "i"),
                           "out": o.numbers(2, "i"), "options": _slots(opt) if opt else []})
    return out


# ---- writing ---------------------------------------------------------------------------------
def put(data: bytearray, pos: int, fmt: str, value: int) -> None:
    size = struct.calcsize(fmt)
    lo, hi = (-(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1) if fmt.islower() else (0, (1 << 8 * size) - 1)
    struct.pack_into("<" + fmt, data, pos, max(lo, min(hi, value)))


def _align(data: bytearray, to: int = 8) -> int:
    data.extend(b"\0" * (-len(data) % to))
    return len(data)


def point(data: bytearray, field: int, target: int) -> None:
    """Make the offset stored at `field` lead to `target` (which must lie after it)."""
    assert target > field
    struct.pack_into("<I", data, field, target - field)


def append_vector(data: bytearray, values, fmt: str = "i") -> int:
    """A vector of scalars at the end; its position (the count word)."""
    values = list(values)
    at = _align(data, 8) + 4                   # elements 8-aligned, as a builder writes them
    data.extend(b"\0" * 4 + struct.pack("<I", len(values)) + struct.pack(f"<{len(values)}{fmt}", *values))
    return at


def append_table(data: bytearray, fields: list) -> int:
    """A table at the end, fields in schema order: None (absent), (fmt, value) for a scalar,
    ("vec", fmt, values) for a vector of scalars, ("table", fields) for a table. Returns its position."""
    vt = _align(data, 4)
    n = len(fields)
    slots, size = [], 4
    for f in fields:
        if f is None:
            slots.append(0)
            continue
        width = 4 if f[0] in ("vec", "table") else max(4, struct.calcsize(f[0]))
        size += -size % width
        slots.append(size)
        size += width
    data.extend(struct.pack(f"<HH{n}H", 4 + 2 * n, size, *slots))
    table = _align(data, 8)
    data.extend(b"\0" * size)
    struct.pack_into("<i", data, table, table - vt)
    for f, slot in zip(fields, slots):
        if f is None:
            continue
        if f[0] == "vec":
            point(data, table + slot, append_vector(data, f[2], f[1]))
        elif f[0] == "table":
            point(data, table + slot, append_table(data, f[1]))
        else:
            put(data, table + slot, f[0], f[1])
    return table


def append_offsets(data: bytearray, count: int, target_fields: list) -> tuple[int, int]:
    """A vector of `count` offsets, every one to the same new table (made after it from
    `target_fields`). Returns (the vector's position, the table's)."""
    at = _align(data, 8) + 4
    data.extend(b"\0" * 4 + struct.pack("<I", count) + b"\0" * (4 * count))
    target = append_table(data, target_fields)
    first = at + 4
    step = struct.Struct("<I")
    for k in range(count):
        step.pack_into(data, first + 4 * k, target - first - 4 * k)
    return at, target


def tensor_fields(dims=(1, 4, 4, 3), dtype=0, buffer=0):
    return [("vec", "i", dims), ("b", dtype), ("I", buffer), None, None]


def op_fields(op: dict):
    return [("I", op["opcode_index"]), ("vec", "i", op["in"]), ("vec", "i", op["out"])]


# ---- hostile files (test_hostile_tflite.py) --------------------------------------------------
def shared_offsets(raw: bytes, which: str, count: int) -> bytes:
    """Subgraph 0's `which` (tensors, ops) or the model's buffers: `count` offsets to one table."""
    L, data = layout(raw), bytearray(raw)
    if which == "tensors":
        fields = tensor_fields()
    elif which == "ops":
        fields = op_fields(L["ops"][0])
    else:
        fields = [None]                          # an empty Buffer
    at, _ = append_offsets(data, count, fields)
    point(data, L[which + "_vec"][0], at)
    return bytes(data)


def shared_inputs(raw: bytes, count: int) -> bytes:
    """Every operator's inputs one vector of `count` entries naming the graph's input."""
    L, data = layout(raw), bytearray(raw)
    first = struct.unpack_from("<i", raw, L["inputs"][1] + 4)[0]
    at = append_vector(data, [first] * count)
    for op in L["ops"]:
        point(data, op["inputs"][0], at)
    return bytes(data)


def external_buffer(raw: bytes, tensor: int, offset: int, size: int) -> bytes:
    """Tensor `tensor`'s buffer replaced by one that says its bytes lie at offset/size in the file."""
    L, data = layout(raw), bytearray(raw)
    b = L["tensors"][tensor]["buffer_index"]
    table = append_table(data, [None, ("Q", offset), ("Q", size)])
    element = L["buffers_vec"][1] + 4 + 4 * b
    point(data, element, table)
    return bytes(data)


def op_inputs(raw: bytes, op: int, inputs: list[int]) -> bytes:
    L, data = layout(raw), bytearray(raw)
    point(data, L["ops"][op]["inputs"][0], append_vector(data, inputs))
    return bytes(data)


def tensor_dims(raw: bytes, tensor: int, dims: list[int]) -> bytes:
    L, data = layout(raw), bytearray(raw)
    point(data, L["tensors"][tensor]["shape"][0], append_vector(data, dims))
    return bytes(data)


def first_op(raw: bytes, code: str) -> int:
    """The index of the first operator of `code` (a name of tflite_file.BUILTIN)."""
    from cnncost.interop.tflite.file import BUILTIN

    L = layout(raw)
    return next(k for k, o in enumerate(L["ops"]) if BUILTIN.get(L["codes"][o["opcode_index"]]["number"]) == code)


# ---- the structure-aware mutator (reader_fuzzing.py) -------------------------------------------
def _op(rng, L):
    return rng.choice(L["ops"])


def _tensor(rng, L, weights=False):
    pool = [t for t in L["tensors"] if t["buffer_index"]] if weights and rng.random() < 0.6 else L["tensors"]
    return rng.choice(pool or L["tensors"])


def m_short(rng, data, L):
    """An operator's inputs or outputs, or a tensor's shape (low rank), cut short in place."""
    kind = rng.choice(("inputs", "outputs", "shape", "shape"))
    v = (_op(rng, L) if kind != "shape" else _tensor(rng, L, weights=True))[kind]
    if v and v[2]:
        put(data, v[1], "I", rng.randrange(v[2]))


def m_index(rng, data, L):
    """An operator reads or writes a tensor out of range, -1, or another one (itself, a constant)."""
    op = _op(rng, L)
    v = op[rng.choice(("inputs", "outputs"))]
    if v and v[2]:
        n = len(L["tensors"])
        value = rng.choice((-1, -2, n, n + 7, 2 ** 31 - 1, rng.randrange(n), rng.randrange(n), *(op["out"][:1])))
        put(data, v[1] + 4 + 4 * rng.randrange(v[2]), "i", value)


def m_opcode(rng, data, L):
    """An operator's code index out of range or another one's; or a code turned into another
    builtin (every operator of it then reads its inputs as that operator would)."""
    if rng.random() < 0.4:
        op = _op(rng, L)
        if op["opcode"]:
            n = len(L["codes"])
            put(data, op["opcode"], "I", rng.choice((n, n + 1, 2 ** 32 - 1, rng.randrange(n), rng.randrange(n))))
        return
    code = rng.choice(L["codes"])
    new = rng.choice(BUILTINS)
    if code["builtin"]:
        put(data, code["builtin"], "i", new)
    if code["deprecated"]:
        put(data, code["deprecated"], "b", min(new, 127))


def m_dims(rng, data, L):
    """A tensor's dimension made zero, negative or huge."""
    v = _tensor(rng, L, weights=rng.random() < 0.5)["shape"]
    if v and v[2]:
        put(data, v[1] + 4 + 4 * rng.randrange(v[2]), "i", rng.choice(HOSTILE_INTS))


def m_buffer(rng, data, L):
    """A tensor's buffer index out of range or another's; a buffer's size huge; a buffer said
    to lie outside the FlatBuffer (offset/size, as files over 2 GB keep them)."""
    t = _tensor(rng, L, weights=True)
    r = rng.random()
    if r < 0.35 and t["buffer"]:
        n = len(L["buffers"])
        put(data, t["buffer"], "I", rng.choice((0, n, 2 ** 32 - 1, rng.randrange(n), rng.randrange(n))))
    elif r < 0.6:
        b = rng.choice([b for b in L["buffers"] if b["data"]] or L["buffers"])
        if b["data"]:
            put(data, b["data"][1], "I", rng.choice((2 ** 31, 2 ** 32 - 1, b["data"][2] * 2, b["data"][2] + 1,
                                                     max(0, b["data"][2] - 1))))
    else:
        size = len(data)
        offset = rng.choice((2, 8, size - 16, size, 2 ** 31, 2 ** 63, 2 ** 64 - 1))
        length = rng.choice((16, size, 2 ** 31, 2 ** 40, 2 ** 64 - 1))
        table = append_table(data, [None, ("Q", offset), ("Q", length)])
        index = t["buffer_index"] or rng.randrange(1, len(L["buffers"]))
        point(data, L["buffers_vec"][1] + 4 + 4 * index, table)


def m_shared(rng, data, L):
    """A vector of offsets all to one table (tensors, operators, buffers), or every operator's
    inputs one long vector: the file reads the same bytes again and again."""
    count = rng.choice((2, 3, 64, 10_000, 300_000))
    which = rng.choice(("tensors", "ops", "buffers", "inputs"))
    if which == "inputs":
        at = append_vector(data, [rng.choice(L["ops"][0]["in"] or [0])] * count)
        for op in rng.sample(L["ops"], rng.randint(1, len(L["ops"]))):
            if op["inputs"]:
                point(data, op["inputs"][0], at)
        return
    fields = {"tensors": tensor_fields(rng.choice(((1, 4, 4, 3), (), (1,), (3, 3)))),
              "ops": op_fields(_op(rng, L)), "buffers": [None]}[which]
    at, _ = append_offsets(data, count, fields)
    point(data, L[which + "_vec"][0], at)


def m_options(rng, data, L):
    """A value in an operator's options (stride, padding, activation, axis, mask) made hostile."""
    op = _op(rng, L)
    if op["options"]:
        pos, width = rng.choice(op["options"])
        put(data, pos, {1: "b", 2: "h", 3: "h"}.get(width, "i"), rng.choice(HOSTILE_INTS + (2, 5, 6, 7, 127)))


def m_quant(rng, data, L):
    """Quantization: scales or zero points cut short, the per-channel axis out of range."""
    qs = [t for t in L["tensors"] if t["scale"]]
    if not qs:
        return m_dims(rng, data, L)
    t = rng.choice(qs)
    r = rng.random()
    if r < 0.4 and t["axis"]:
        put(data, t["axis"], "i", rng.choice((-1, 4, 7, 100, 2 ** 31 - 1)))
    else:
        v = t["scale"] if r < 0.7 or not t["zero_point"] else t["zero_point"]
        if v[2]:
            put(data, v[1], "I", rng.randrange(v[2]))


def m_graph(rng, data, L):
    """The subgraph's inputs or outputs: out of range, none, or a constant; a tensor's type."""
    v = L[rng.choice(("inputs", "outputs"))]
    r = rng.random()
    if r < 0.3 and v[2]:
        put(data, v[1], "I", rng.choice((0, 2, v[2] - 1)))
    elif r < 0.7 and v[2]:
        n = len(L["tensors"])
        put(data, v[1] + 4, "i", rng.choice((-1, n, rng.randrange(n), _tensor(rng, L, True)["buffer_index"])))
    else:
        t = _tensor(rng, L)
        if t["type"]:
            put(data, t["type"], "b", rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 17, 99, -1)))


SCHEMA_MUTATIONS = (m_short, m_short, m_index, m_index, m_opcode, m_opcode, m_dims, m_buffer, m_shared,
                    m_options, m_options, m_quant, m_graph)
_LAYOUTS: dict = {}


def mutate_tflite(rng: random.Random, raw: bytes, fallback) -> bytes:
    """One to three schema-aware edits of a fixture; a quarter of the time `fallback` (the
    byte-level mutator) instead, so the FlatBuffer's own framing is still damaged too."""
    if rng.random() < 0.25:
        return fallback(rng, raw)
    key = (len(raw), hash(raw))
    if key not in _LAYOUTS:
        _LAYOUTS[key] = layout(raw)
    L, data = _LAYOUTS[key], bytearray(raw)
    for _ in range(rng.randint(1, 3)):
        rng.choice(SCHEMA_MUTATIONS)(rng, data, L)
    return bytes(data)
