"""What the tracer writes for the ATen operators that only move data: views and reshapes,
transposes, concatenation, slices, rolls, flips, splits and constant padding (their ONNX
nodes, registered in aten's `ATEN` table; trace.py and the .pt2 reader import this module
so that they are there)."""
from __future__ import annotations

from cnncost.interop.torch.aten import ATEN, Act, Untraceable, View


@ATEN.on("view", "_unsafe_view", "reshape")
def h_view(rec, a, kw, out):
    x = a[0]
    base = x.base if isinstance(x, View) else x
    if isinstance(base, Act) and tuple(out.shape) == base.shape:
        return base
    if isinstance(base, Act):
        return View(base, out.shape)
    return rec.emit("Reshape", [rec.name(x), rec.int64(out.shape)], out.shape)[0]


@ATEN.on("as_strided")
def h_as_strided(rec, a, kw, out):
    # adaptive_avg_pool2d's restride of its one-pixel result: the same values in memory
    x, size = a[0], tuple(a[1])
    offset = a[3] if len(a) > 3 else kw.get("storage_offset")
    if size != x.shape or offset not in (None, 0) or sum(d != 1 for d in size) > 1:
        raise Untraceable("as_strided that moves elements")
    return Act(x.name, x.shape, x.group) if isinstance(x, Act) else x


@ATEN.on("t")
def h_t(rec, a, kw, out):
    return rec.emit("Transpose", [rec.name(a[0])], out.shape, perm=[1, 0][:len(a[0].shape)])[0]


@ATEN.on("transpose")
def h_transpose(rec, a, kw, out):
    rank = len(a[0].shape)
    perm = list(range(rank))
    i, j = a[1] % rank, a[2] % rank
    perm[i], perm[j] = perm[j], perm[i]
    return rec.emit("Transpose", [rec.name(a[0])], out.shape, perm=perm)[0]


@ATEN.on("permute")
def h_permute(rec, a, kw, out):
    rank = len(a[0].shape)
    return rec.emit("Transpose", [rec.name(a[0])], out.shape, perm=[d % rank for d in a[1]])[0]


@ATEN.on("expand")
def h_expand(rec, a, kw, out):
    if tuple(out.shape) == a[0].shape:
        return a[0]
    return rec.emit("Expand", [rec.name(a[0]), rec.int64(out.shape)], out.shape)[0]


@ATEN.on("unsqueeze")
def h_unsqueeze(rec, a, kw, out):
    return rec.emit("Unsqueeze", [rec.name(a[0]), rec.int64([a[1]])], out.shape)[0]


@ATEN.on("squeeze")
def h_squeeze(rec, a, kw, out):
    dims = a[1] if len(a) > 1 else [i for i, d in enumerate(a[0].shape) if d == 1]
    dims = [dims] if isinstance(dims, int) else list(dims)
    dims = [d for d in dims if a[0].shape[d] == 1]
    if not dims:
        return a[0]
    return rec.emit("Squeeze", [rec.name(a[0]), rec.int64(dims)], out.shape)[0]


@ATEN.on("cat")
def h_cat(rec, a, kw, out):
    tensors = [t for t in a[0] if 0 not in t.shape]        # torch.cat skips empty tensors
    axis = a[1] if len(a) > 1 else kw.get("dim", 0)
    return rec.emit("Concat", [rec.name(t) for t in tensors], out.shape, axis=axis)[0]


@ATEN.on("slice")
def h_slice(rec, a, kw, out):
    x = a[0]
    dim = a[1] if len(a) > 1 else 0
    size = x.shape[dim]
    start = a[2] if len(a) > 2 and a[2] is not None else 0
    end = a[3] if len(a) > 3 and a[3] is not None else size
    step = a[4] if len(a) > 4 else 1
    start, end = max(0, start + size if start < 0 else start), min(size, end + size if end < 0 else end)
    if (start, end, step) == (0, size, 1):
        return x
    return rec.emit("Slice", [rec.name(x), rec.int64([start]), rec.int64([end]), rec.int64([dim]),
                              rec.int64([step])], out.shape)[0]


@ATEN.on("roll")
def h_roll(rec, a, kw, out):
    """Swin's cyclic shift: per axis, its last `shift` positions then the others, two
    Slices and a Concat (as the exporter writes it)."""
    x = a[0]
    shifts = a[1] if len(a) > 1 else kw["shifts"]
    dims = a[2] if len(a) > 2 else kw.get("dims", [])
    shifts, dims = ([shifts], [dims]) if isinstance(shifts, int) else (list(shifts), list(dims))
    if len(dims) != len(shifts) or not dims:
        raise Untraceable("aten.roll of the flattened tensor")
    y, shape = x, tuple(x.shape)
    for shift, dim in zip(shifts, dims):
        dim %= len(shape)
        size = shape[dim]
        s = shift % size if size else 0
        if not s:
            continue
        parts = [(size - s, size), (0, size - s)]
        pieces = [rec.emit("Slice", [rec.name(y), rec.int64([lo]), rec.int64([hi]), rec.int64([dim])],
                           shape[:dim] + (hi - lo,) + shape[dim + 1:])[0] for lo, hi in parts]
        y = rec.emit("Concat", [p.name for p in pieces], shape, axis=dim)[0]
    return y


@ATEN.on("flip")
def h_flip(rec, a, kw, out):
    """Each axis read backwards: ONNX has no Flip, the exporter writes a Slice of step -1
    (ends past position 0: -(size + 1), which the size added makes -1)."""
    x = a[0]
    dims = sorted({d % len(x.shape) for d in (a[1] if len(a) > 1 else kw["dims"])})
    dims = [d for d in dims if x.shape[d] > 1]
    if not dims:
        return x
    return rec.emit("Slice", [rec.name(x), rec.int64([-1] * len(dims)),
                              rec.int64([-(x.shape[d] + 1) for d in dims]), rec.int64(dims),
                              rec.int64([-1] * len(dims))], out.shape)[0]


@ATEN.on("select")
def h_select(rec, a, kw, out):
    dim = a[1] % len(a[0].shape)
    index = a[2] % a[0].shape[dim]
    return rec.emit("Gather", [rec.name(a[0]), rec.scalar(index, rec.torch.int64)], out.shape,
                    axis=dim)[0]


@ATEN.on("split", "split_with_sizes")
def h_split(rec, a, kw, out):
    x, dim = a[0], a[2] if len(a) > 2 else kw.get("dim", 0)
    sizes = [t.shape[dim] for t in out]        # the parts as torch made them (the last may be short)
    return rec.emit("Split", [rec.name(x), rec.int64(sizes)], *[t.shape for t in out], axis=dim)


@ATEN.on("unbind")
def h_unbind(rec, a, kw, out):
    x, dim = a[0], (a[1] if len(a) > 1 else kw.get("dim", 0)) % len(a[0].shape)
    one = (*x.shape[:dim], 1, *x.shape[dim + 1:])
    parts = rec.emit("Split", [rec.name(x), rec.int64([1] * x.shape[dim])], *[one] * len(out), axis=dim)
    return [rec.emit("Squeeze", [p.name, rec.int64([dim])], t.shape)[0] for p, t in zip(parts, out)]


@ATEN.on("constant_pad_nd")
def h_constant_pad_nd(rec, a, kw, out):
    x, pad = a[0], list(a[1])
    value = float(a[2] if len(a) > 2 else 0.0)
    rank = len(x.shape)
    begin, end = [0] * rank, [0] * rank
    for k in range(len(pad) // 2):            # torch pads the last axes first
        begin[rank - 1 - k], end[rank - 1 - k] = pad[2 * k], pad[2 * k + 1]
    # a negative pad crops, as in ONNX's Pad (NASNet's ZeroPad2d((-1, 1, -1, 1)) shifts by one)
    return rec.emit("Pad", [rec.name(x), rec.int64(begin + end), rec.scalar(value)], out.shape,
                    mode="constant")[0]
