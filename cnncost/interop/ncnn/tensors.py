"""ncnn's layers that move values: Concat, Slice, Crop, Padding, Interp, Softmax,
ShuffleChannel (a map's channel axis is ncnn's axis 0, our last), and Flatten, Reshape
and Permute, which read the blob in ncnn's own order (c, h, w): plain, through a
transpose when it was a map (interop/ncnn/reader.py)."""
from __future__ import annotations

import math
from cnncost.errors import ModelFileError
from cnncost.interop.ncnn.table import LAYERS
from cnncost.interop.refusals import Refused


def _ours(held, axis: int) -> int:
    """ncnn's axis (of dims, c first; negative from the end) as ours, batch counted as 0."""
    rank = len(held.shape)
    if not -rank <= axis < rank:
        raise ModelFileError(f"axis {axis} of a blob of {rank} axes")
    axis %= rank
    if held.layout == "map" and rank > 1:
        axis = rank - 1 if axis == 0 else axis - 1
    return axis + 1


@LAYERS.on("Concat")
def concat(r, layer):
    xs = r.ins(layer, 1)
    xs = [xs[0]] + [r.as_map(x) if xs[0].layout == "map" else r.as_plain(x) for x in xs[1:]]
    if len(xs) == 1:
        r.put(layer, xs[0])
        return
    r.put(layer, r.emit(layer, "concat", xs, axis=_ours(xs[0], layer.params.int(0))))


@LAYERS.on("Softmax")
def softmax(r, layer):
    """0=axis; 1=fixbug0 (pnnx writes 1): old ncnn's softmax of a 3-D blob along an axis
    other than 0 was wrong unless it is set."""
    r.one_to_one(layer)
    x = r.x(layer)
    axis = layer.params.int(0)
    if len(x.shape) > 1 and axis % len(x.shape) != 0 and not layer.params.int(1):
        raise Refused("softmax along an inner axis without 1=fixbug0 (old ncnn computed it wrongly)")
    r.put(layer, r.emit(layer, "softmax", [x], axis=_ours(x, axis)))


@LAYERS.on("Flatten")
def flatten(r, layer):
    """Every value in ncnn's order (c, h, w): a map's own order when only one of its
    channels and its positions is more than one."""
    r.one_to_one(layer)
    x = r.x(layer)
    if x.layout == "map" and len(x.shape) > 1 and (math.prod(x.shape[:-1]) == 1 or x.shape[-1] == 1):
        r.put(layer, r.emit(layer, "flatten", [x], layout="plain"))
    else:
        r.put(layer, r.emit(layer, "flatten", [r.as_plain(x)], layout="plain"))


@LAYERS.on("Reshape")
def reshape(r, layer):
    """0=w 1=h 11=d 2=c (-233: absent; 0: the input's size there; -1: what is left)."""
    r.one_to_one(layer)
    p = layer.params
    if p.text(6) or p.int(3):
        raise Refused("a shape from an expression (6=) or Caffe's permute (3=1)")
    x = r.x(layer)
    asked = dict(zip("whdc", (p.int(k, -233) for k in (0, 1, 11, 2))))
    if asked["w"] == -233:
        raise ModelFileError("a reshape to no shape (0=w is absent)")
    names = "w" if asked["h"] == -233 else "hw" if asked["c"] == -233 else "chw" if asked["d"] == -233 else "cdhw"
    source = dict(zip(("w", "hw", "chw", "cdhw")[len(x.dims) - 1], x.dims)) if len(x.dims) <= 4 else {}
    want = [source.get(n, 1) if asked[n] == 0 else asked[n] for n in names]
    total = math.prod(x.shape)
    if want.count(-1) > 1 or any(v < -1 or v == 0 for v in want):
        raise ModelFileError(f"a reshape to {want} ({', '.join(names)})")
    if -1 in want:
        known = -math.prod(want)
        if total % known:
            raise ModelFileError(f"a reshape of {total:,} values to {want} ({', '.join(names)})")
        want[want.index(-1)] = total // known
    if math.prod(want) != total:
        raise ModelFileError(f"a reshape of {total:,} values to {want} ({', '.join(names)})")
    dims = want
    if list(x.dims) == dims:
        r.put(layer, x)
        return
    if x.layout == "map" and len(x.shape) > 1 and (math.prod(x.shape[:-1]) == 1 or x.shape[-1] == 1) and len(dims) == 1:
        r.put(layer, r.emit(layer, "reshape", [x], layout="plain", shape=dims))
        return
    r.put(layer, r.emit(layer, "reshape", [r.as_plain(x)], layout="plain", shape=dims))


# Permute's order_type -> the output's axes as the input's, in ncnn's (c, h, w) order
PERMUTE_3 = {0: (0, 1, 2), 1: (0, 2, 1), 2: (1, 0, 2), 3: (1, 2, 0), 4: (2, 0, 1), 5: (2, 1, 0)}


@LAYERS.on("Permute")
def permute(r, layer):
    """0=order_type: for a 3-D blob the output's w h c in ncnn's names (0: w h c ... 5: c h w);
    for a 2-D blob 1 swaps w and h."""
    r.one_to_one(layer)
    x = r.as_plain(r.x(layer))
    order = layer.params.int(0)
    if len(x.shape) == 2 and order in (0, 1):
        perm = (0, 1) if order == 0 else (1, 0)
    elif len(x.shape) == 3 and order in PERMUTE_3:
        perm = PERMUTE_3[order]
    else:
        raise Refused(f"order_type {order} of a blob of {len(x.shape)} axes")
    if perm == tuple(range(len(perm))):
        r.put(layer, x)
        return
    r.put(layer, r.emit(layer, "transpose", [x], layout="plain", perm=[0, *(a + 1 for a in perm)]))


@LAYERS.on("Slice")
def slice_layer(r, layer):
    """0=slices (sizes, -233: the rest shared out), 1=axis, 2=indices (end positions)."""
    x = r.ins(layer, 1, 1)[0]
    p = layer.params
    axis = _ours(x, p.int(1))
    n = x.shape[axis - 1]
    tops = len(layer.tops)
    indices = p.ints(2)
    if indices:
        ends = [v if v >= 0 else n + v for v in indices[:tops - 1]] + [n]
    else:
        sizes = p.ints(0)
        if len(sizes) != tops:
            raise ModelFileError(f"{len(sizes)} slices for {tops} outputs")
        ends, at = [], 0
        for i, size in enumerate(sizes):       # -233: what is left, shared by the outputs left
            at += (n - at) // (tops - i) if size == -233 else size
            ends.append(at)
    start = 0
    for i, end in enumerate(ends):
        if not start < end <= n:
            raise ModelFileError(f"slices ending at {ends} of an axis of {n}")
        r.put(layer, r.emit(layer, "slice", [x], suffix=f".{i}" if i else "", axis=axis, start=start, stop=end), i)
        start = end


@LAYERS.on("Crop")
def crop(r, layer):
    """9=starts 10=ends 11=axes (NumPy's slice of ncnn's axes, c first; -233: the axis's
    end; an end of 0 or less counts from the end); or the offsets 0=w 1=h 2=c with the
    sizes 3=outw 4=outh 5=outc (-233: to the end, less 6/7/8's woffset2 ...), as ncnn's
    resolve_crop_roi computes them. A crop to a second blob's size is refused."""
    r.one_to_one(layer)
    x = r.x(layer)
    p = layer.params
    dims = x.dims
    rank = len(dims)
    cuts = []                       # (ncnn axis, start, stop)
    if p.ints(9) and p.ints(10):
        starts, ends, axes = p.ints(9), p.ints(10), p.ints(11) or list(range(rank))
        if not len(starts) == len(ends) == len(axes) or len(axes) > rank:
            raise ModelFileError(f"starts {starts}, ends {ends} and axes {axes} for a blob of {rank} axes")
        for a, s, e in zip(axes, starts, ends):
            if not -rank <= a < rank:
                raise ModelFileError(f"axis {a} of a blob of {rank} axes")
            n = dims[a % rank]
            s = 0 if s == -233 else s if s >= 0 else n + s
            e = n if e == -233 else min(n, e if e > 0 else n + e)
            cuts.append((a % rank, s, e))
    else:
        offsets = [p.int(k) for k in (2, 1, 0)][-rank:]          # c, h, w as the blob has them
        sizes = [p.int(k) for k in (5, 4, 3)][-rank:]
        seconds = [p.int(k) for k in (8, 7, 6)][-rank:]
        if -233 in offsets or not any(sizes):
            raise Refused("a crop to a second blob's size, or with ncnn's -233 offset forms")
        for axis, (n, off, size, second) in enumerate(zip(dims, offsets, sizes, seconds)):
            full = n - (2 * second if rank == 3 and axis == 0 else off + second)    # ncnn's own arithmetic
            cuts.append((axis, off, off + (full if size == -233 else min(size, full))))
    for axis, s, e in cuts:
        if not 0 <= s < e <= dims[axis]:
            raise ModelFileError(f"a crop of {s}..{e} along an axis of {dims[axis]}")
    cuts = [c for c in cuts if (c[1], c[2]) != (0, dims[c[0]])]
    held = x
    for i, (axis, s, e) in enumerate(cuts):
        held = r.emit(layer, "slice", [held], suffix="" if i == len(cuts) - 1 else f".{i}", axis=_ours(x, axis),
                      start=s, stop=e)
    r.put(layer, held)


PAD_MODES = {0: "constant", 1: "edge", 2: "reflect"}


@LAYERS.on("Padding")
def padding(r, layer):
    """0=top 1=bottom 2=left 3=right 7=front 8=behind (channels, of a 3-D blob), 4=type
    (0 constant, 1 replicate, 2 reflect), 5=value; 6=per_channel_pad_data_size is refused."""
    r.one_to_one(layer)
    p = layer.params
    if p.int(6):
        raise Refused("a padding value per channel (per_channel_pad_data)")
    mode = PAD_MODES.get(p.int(4))
    if mode is None:
        raise ModelFileError(f"type {p.int(4)} (0 constant, 1 replicate, 2 reflect)")
    t, b, le, ri, fr, be = (p.int(k) for k in (0, 1, 2, 3, 7, 8))
    if min(t, b, le, ri, fr, be) < 0:
        raise Refused("a negative padding (a crop)")
    x = r.x(layer)
    value = p.float(5)
    if len(x.shape) == 3 and x.layout == "map":
        if (fr, be, value, mode) == (0, 0, 0.0, "constant"):
            r.put(layer, r.emit(layer, "zero_pad", [x], padding=[t, b, le, ri]))
            return
        pads = [t, b, le, ri, fr, be]
    elif len(x.shape) in (1, 2) and not fr and not be:
        x = r.as_plain(x)
        pads = [le, ri] if len(x.shape) == 1 else [t, b, le, ri]
    else:
        raise Refused(f"padding a blob of {len(x.shape)} axes")
    r.put(layer, r.emit(layer, "pad", [x], padding=pads, value=value or None,
                        mode=None if mode == "constant" else mode))


INTERP = {1: "nearest", 2: "bilinear", 3: "cubic"}


@LAYERS.on("Interp")
def interp(r, layer):
    """0=resize_type (1 nearest, 2 bilinear, 3 bicubic), 1/2 height and width scale, 3/4
    output height and width, 6=align_corner; PyTorch's arithmetic (half-pixel centres)."""
    r.one_to_one(layer)
    p = layer.params
    mode = INTERP.get(p.int(0))
    if mode is None:
        raise ModelFileError(f"resize_type {p.int(0)} (1 nearest, 2 bilinear, 3 bicubic)")
    if p.int(5):
        raise Refused("a size from a second input (dynamic_target_size)")
    x = r.as_map(r.x(layer))
    if len(x.shape) != 3:
        raise Refused(f"resizing a blob of {len(x.shape)} axes")
    scales = [p.float(1, 1.0), p.float(2, 1.0)]
    size = [p.int(3) or int(x.shape[0] * scales[0]), p.int(4) or int(x.shape[1] * scales[1])]
    if min(size) < 1:
        raise ModelFileError(f"an output of {size[0]}x{size[1]}")
    if mode == "nearest" and not (p.int(3) and p.int(4)) and any(s != int(s) for s in scales):
        raise Refused(f"nearest by scales {scales} (ncnn steps by 1 / scale, not by the sizes' ratio)")
    align = bool(p.int(6))
    r.put(layer, r.emit(layer, "upsample", [x], mode=mode, size=size,
                        align_corners=True if align and mode != "nearest" else None))


@LAYERS.on("ShuffleChannel")
def shuffle_channel(r, layer):
    """0=group, 1=reverse (the inverse shuffle)."""
    r.one_to_one(layer)
    x = r.as_map(r.x(layer))
    g = layer.params.int(0, 1)
    c = x.shape[-1]
    if g < 1 or c % g:
        raise ModelFileError(f"group {g} of {c} channels")
    r.put(layer, r.emit(layer, "channel_shuffle", [x], groups=c // g if layer.params.int(1) else g))
