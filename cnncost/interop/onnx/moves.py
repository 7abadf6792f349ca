"""ONNX operators that move data: flatten, squeeze, reshape and transpose (read as the
layout change or the pattern they spell), split, slice, concat, pad, resize and
depth-to-space: handlers of the LAYERS table (onnx/handlers), each given the importer
(reader._Importer)."""
from __future__ import annotations

from cnncost.interop.onnx import fold as onnx_fold, sequences
from cnncost.interop.onnx.handlers import LAYERS
from cnncost.interop.onnx.proto import Node
from cnncost.interop.onnx.values import Held, slice_cuts
from cnncost.interop.onnx.worlds import _dims, _part
from cnncost.interop.refusals import Refused


# ---- moving data ------------------------------------------------------------------
@LAYERS.on("Flatten")
def flatten(reader, node, args):
    x = reader._map(args[0], "nchw", "nhwc", "vec")
    if node.attrs.get("axis", 1) != 1:
        raise Refused(f"Flatten on axis {node.attrs.get('axis')}: cnncost flattens after the batch")
    _flatten(reader, node, x)


def _flatten(reader, node, x):
    if x.layout == "vec":
        return reader._alias(node, x, extra={})
    h, w, c = x.shape
    chw = (c, h, w) if x.layout == "nchw" and h * w > 1 else None
    reader.emit(node, {"kind": "flatten"}, None, [x], layout="vec", chw=chw)


@LAYERS.on("Squeeze")
def squeeze(reader, node, args):
    x = args[0]
    if isinstance(x, Held) and x.layout == "seq_axes":
        return sequences.squeeze(reader, node, x, onnx_fold._axes(
            node, [None] + [getattr(a, "value", None) for a in args[1:]], 1))
    dims = reader._onnx_dims(reader._map(x, "nchw", "nhwc", "vec"))
    axes = onnx_fold._axes(node, [None] + [getattr(a, "value", None) for a in args[1:]], 1)
    axes = [i for i, d in enumerate(dims) if d == 1 and i > 0] if axes is None else [a % len(dims) for a in axes]
    if x.layout == "vec" and sorted(axes) == [2, 3]:
        return reader._alias(node, x, extra={})
    if x.layout == "nchw" and x.shape[:2] == (1, 1) and sorted(axes) == [2, 3]:
        return _flatten(reader, node, x)
    raise Refused(f"squeezing axes {axes} of {dims}")


@LAYERS.on("Unsqueeze")
def unsqueeze(reader, node, args):
    x = reader._map(args[0], "vec")
    axes = onnx_fold._axes(node, [None] + [getattr(a, "value", None) for a in args[1:]], 1)
    if axes is not None and sorted(a % 4 for a in axes) == [2, 3] and not x.extra.get("as_map"):
        return reader._alias(node, x, extra={"as_map": True})
    raise Refused(f"unsqueezing axes {axes} of a vector")


@LAYERS.on("Expand")
def expand(reader, node, args):
    x = reader._map(args[0], "nchw", "nhwc", "vec")
    shape = [int(d) for d in reader._const(node, args[1], "shape").value]
    dims = reader._onnx_dims(x)
    if len(shape) <= len(dims) and all(s in (1, d) for s, d in zip(shape[::-1], dims[::-1])):
        return reader._alias(node, x)
    raise Refused(f"expanding {dims} to {shape} copies data no cnncost kind copies")


@LAYERS.on("Reshape")
def reshape(reader, node, args):
    if isinstance(args[0], Held) and args[0].layout == "seq_axes":
        return sequences.reshape(reader, node, args[0], onnx_fold.reshape_target(
            reader._onnx_dims(args[0]), [int(d) for d in reader._const(node, args[1], "shape").value],
            bool(node.attrs.get("allowzero", 0))))
    x = reader._map(args[0], "nchw", "nhwc", "vec", "grouped", "shuffled", "gn", "gnorm", "unshuffle_t")
    dims = reader._onnx_dims(x)
    target = onnx_fold.reshape_target(dims, [int(d) for d in reader._const(node, args[1], "shape").value],
                                      bool(node.attrs.get("allowzero", 0)))
    n = dims[0]
    if target == dims:
        return reader._alias(node, x)
    if target[0] != n:
        raise Refused(f"a reshape of {dims} to {target} moves data across the batch")
    if x.layout in ("nchw", "nhwc", "vec") and len(target) == 2:
        return _flatten(reader, node, x)
    if x.layout == "vec" and target == [n, x.shape[0], 1, 1]:
        return reader._alias(node, x, extra={"as_map": True})
    if x.layout == "nchw":
        h, w, c = x.shape
        if len(target) == 5 and target[3:] == [h, w] and target[1] * target[2] == c:
            return reader._alias(node, x, layout="grouped", extra={"groups": target[1]})
        if len(target) == 3 and c % target[1] == 0:
            return reader._alias(node, x, layout="gn", extra={"groups": target[1]})
        if len(target) == 6 and target[1] == c and target[3] == target[5] and target[2] * target[3] == h \
                and target[4] * target[5] == w:
            return reader._alias(node, x, layout="unshuffle6", extra={"factor": target[3]})
    h, w, c = x.shape if x.layout != "vec" else (0, 0, 0)
    if len(target) == 4 and target[1:] == [c, h, w]:
        if x.layout == "shuffled":
            return reader.emit(node, {"kind": "channel_shuffle", "groups": x.extra["groups"]}, x.shape, [x])
        if x.layout == "gnorm":
            layer = reader.emit(node, {"kind": "group_norm", "groups": x.extra["groups"], "eps": x.extra["eps"],
                                       "affine": False}, x.shape, [x])
            layer.extra["affine"] = "Mul"       # a Mul and an Add by constants may follow
            return layer
    if x.layout == "unshuffle_t" and len(target) == 4:
        r = x.extra["factor"]
        if target[1:] == [c * r * r, h // r, w // r]:
            return reader.emit(node, {"kind": "pixel_unshuffle", "factor": r}, None, [x])
    raise Refused(f"a reshape of {dims} (held as {x.layout}) to {target} has no cnncost kind")


@LAYERS.on("Transpose")
def transpose(reader, node, args):
    if isinstance(args[0], Held) and args[0].layout == "seq_axes":
        return sequences.transpose(reader, node, args[0])
    x = reader._map(args[0], "nchw", "nhwc", "vec", "grouped", "unshuffle6", "ncx")
    perm = list(node.attrs.get("perm", []))
    if x.layout == "ncx":          # a 1-D or 3-D map channels last again: our plain tensor
        d = len(x.shape) - 1
        if perm != [0, *range(2, d + 2), 1]:
            raise Refused(f"a transpose {perm} of {reader._onnx_dims(x)} (held as ncx) has no cnncost kind")
        return reader._alias(node, x, layout="plain", extra={})
    moves = {("nchw", (0, 2, 3, 1)): "nhwc", ("nhwc", (0, 3, 1, 2)): "nchw", ("vec", (0, 1)): "vec",
             ("grouped", (0, 2, 1, 3, 4)): "shuffled", ("unshuffle6", (0, 1, 3, 5, 2, 4)): "unshuffle_t"}
    layout = moves.get((x.layout, tuple(perm)))
    if layout is None:
        raise Refused(f"a transpose {perm} of {reader._onnx_dims(x)} (held as {x.layout}) has no cnncost kind")
    reader._alias(node, x, layout=layout)


@LAYERS.on("DepthToSpace")
def depth_to_space(reader, node, args):
    x = reader._map(args[0], "nchw")
    r = node.attrs["blocksize"]
    if node.attrs.get("mode", "DCR") != "CRD":
        raise Refused("mode DCR (TensorFlow's channel order) has no cnncost kind; PyTorch's CRD has")
    reader.emit(node, {"kind": "pixel_shuffle", "factor": r}, None, [x])


@LAYERS.on("Concat")
def concat(reader, node, args):
    if any(isinstance(a, Held) and a.layout in ("seq_axes", "seq_states") for a in args):
        return sequences.concat(reader, node, args)       # PyTorch's h_n of a stack
    xs = [reader._map(a, "nchw", "nhwc", "vec") for a in args]
    if len(xs) == 1:                # torch.cat of a one-tensor list (DenseNet's first layer)
        return reader._alias(node, xs[0])
    reader._whole_features(*xs)
    for x in xs:
        reader._channel_axis(x, node.attrs.get("axis", 1))
    if len({x.layout for x in xs}) > 1 or len({x.shape[:-1] for x in xs}) > 1:
        raise Refused(f"operands {[x.shape for x in xs]} held as {[x.layout for x in xs]}")
    reader.emit(node, {"kind": "concat"}, None, xs, layout=xs[0].layout)


@LAYERS.on("Split")
def split(reader, node, args):
    x = reader._map(args[0], "nchw", "nhwc", "vec")
    reader._channel_axis(x, node.attrs.get("axis", 0))
    reader._whole_features(x)
    sizes = _split_sizes(reader, node, args, x.shape[-1])
    start = 0
    for out, size in zip(node.outputs, sizes):
        part = Node(node.op, f"{node.name or node.outputs[0]}_{len(reader.layers)}", node.inputs, [out], {})
        reader.emit(part, {"kind": "slice", "start": start, "stop": start + size}, None, [x], output=out, layout=x.layout)
        start += size


def _split_sizes(reader, node, args, size: int) -> list[int]:
    """A Split's part sizes: its input, its attribute, or equal parts (the last smaller)."""
    if len(args) > 1 and args[1] is not None:
        sizes = [int(s) for s in reader._const(node, args[1], "split").value]
    elif "split" in node.attrs:
        sizes = list(node.attrs["split"])
    else:
        k = len(node.outputs)
        sizes = [-(-size // k)] * (k - 1) + [size - -(-size // k) * (k - 1)]
    if sum(sizes) != size or len(sizes) != len(node.outputs) or min(sizes) < 1:
        raise Refused(f"split sizes {sizes} of {size}")
    return sizes


@LAYERS.on("Slice")
def slice_(reader, node, args):
    x = reader._map(args[0], "nchw", "nhwc", "vec")
    dims = reader._onnx_dims(x)
    if len(args) > 1:
        vals = [None if a is None else [int(v) for v in reader._const(node, a, "bound").value.reshape(-1)]
                for a in args[1:5]]
        starts, ends = vals[0], vals[1]
        axes = vals[2] if len(vals) > 2 and vals[2] is not None else list(range(len(starts)))
        steps = vals[3] if len(vals) > 3 and vals[3] is not None else [1] * len(starts)
    else:
        a = node.attrs
        starts, ends = list(a["starts"]), list(a["ends"])
        axes, steps = list(a.get("axes", range(len(starts)))), [1] * len(starts)
    ranges = {ax: (s, e, st) for ax, s, e, st in slice_cuts(starts, ends, axes, steps, dims)}
    if not ranges:
        return reader._alias(node, x)
    reader._whole_features(x)
    channel = {"nchw": 1, "nhwc": 3, "vec": 1}[x.layout]
    if 0 in ranges:
        raise Refused("a slice of the batch axis")
    if any(st != 1 for _, _, st in ranges.values()) or set(ranges) == {channel}:
        # each axis its own slice (channels reversed in front of a network, a map flipped or
        # strided): ours are H x W x C, the batch counted as axis 0
        ours = {"nchw": {1: -1, 2: 1, 3: 2}, "nhwc": {1: 1, 2: 2, 3: -1}, "vec": {1: -1}}[x.layout]
        y, cuts = x, sorted(ranges.items())
        for k, (ax, (s, e, st)) in enumerate(cuts):
            last = k == len(cuts) - 1
            body = {"kind": "slice", "start": s, "stop": e, **({"axis": ours[ax]} if ours[ax] != -1 else {}),
                    **({"step": st} if st != 1 else {})}
            y = reader.emit(node if last else _part(node, f"axis{ax}"), body, None, [y],
                            output=None if last else False, layout=x.layout)
        return y
    ranges = {ax: (s, e) for ax, (s, e, _) in ranges.items()}
    if x.layout == "nchw" and set(ranges) <= {2, 3}:
        h, w, c = x.shape
        (t, b), (l, r) = ranges.get(2, (0, h)), ranges.get(3, (0, w))
        if (t, l) == ((h - (b - t)) // 2, (w - (r - l)) // 2):
            return reader.emit(node, {"kind": "crop", "size": [b - t, r - l]}, None, [x])
        raise Refused(f"rows {t}..{b} and columns {l}..{r} of {h}x{w}: cnncost's crop takes the centre")
    raise Refused(f"a slice over axes {sorted(ranges)} of a {x.layout} tensor")


PAD_MODES = ("constant", "reflect", "edge")       # ONNX's wrap has no kind


def _pad_args(reader, node, args, rank: int) -> tuple[list[int], float, str]:
    """An ONNX Pad: (pads, ONNX's begins then ends for all `rank` axes, a negative one
    cropping; value; mode: constant, reflect or edge)."""
    import math

    mode = node.attrs.get("mode", "constant")
    if isinstance(mode, bytes):
        mode = mode.decode("utf-8", "replace")
    if mode not in PAD_MODES:
        raise Refused(f"{mode} padding has no cnncost kind (constant, reflect and edge have)")
    pads = [int(p) for p in reader._const(node, args[1], "pads").value] if len(args) > 1 and args[1] is not None \
        else list(node.attrs.get("pads", []))
    value = float(reader._const(node, args[2], "value").value.reshape(-1)[0]) \
        if len(args) > 2 and args[2] is not None else float(node.attrs.get("value", 0.0))
    if len(args) > 3 and args[3] is not None:
        axes = [int(a) % rank for a in reader._const(node, args[3], "axes").value]
        full = [0] * (2 * rank)
        for i, ax in enumerate(axes):
            full[ax], full[ax + rank] = pads[i], pads[i + len(axes)]
        pads = full
    if len(pads) != 2 * rank:
        raise Refused(f"pads {pads} of a rank-{rank} tensor")
    if math.isnan(value) or (math.isinf(value) and value > 0):
        raise Refused(f"padding with {value} has no cnncost kind")
    if mode != "constant" and min(pads) < 0:
        raise Refused(f"a {mode} pad with negative pads {pads} has no cnncost kind")
    return pads, (value if mode == "constant" else 0.0), mode


def _pad_body(padding: list, value: float, mode: str) -> dict:
    return {"kind": "pad", "padding": padding, **({"value": value} if mode == "constant" else {"mode": mode})}


def _pad_tensor(reader, node, x, args):
    """A tensor (plain or full) padded along any of its axes (EfficientViT's values with a
    row of ones)."""
    dims = _dims(reader, x)
    pads, value, mode = _pad_args(reader, node, args, len(dims))
    rank = len(dims)
    pairs = [(pads[k], pads[k + rank]) for k in range(rank)]
    if x.layout == "plain":
        if any(pairs[0]):
            raise Refused(f"pads {pads} pad the batch")
        pairs = pairs[1:]
    if value != value or abs(value) == float("inf") or min(pads) < 0:
        raise Refused(f"padding a tensor with {value} (pads {pads}) has no cnncost kind")
    return reader.emit(node, _pad_body([p for pair in pairs for p in pair], value, mode), None, [x],
                       layout=x.layout)


@LAYERS.on("Pad")
def pad(reader, node, args):
    import math

    x = reader._map(args[0], "nchw")
    pads, value, mode = _pad_args(reader, node, args, 4)
    if pads[0] or pads[4]:
        raise Refused(f"pads {pads} pad the batch")
    if min(pads) < 0:
        # a negative pad crops (NASNet's ZeroPad2d((-1, 1, -1, 1)) shifts a map by one):
        # a slice of each axis cropped, then the padding left
        size = {1: x.shape[2], 2: x.shape[0], 3: x.shape[1]}
        ours = {1: -1, 2: 1, 3: 2}
        for ax in (2, 3, 1):
            lo, hi = min(0, pads[ax]), min(0, pads[ax + 4])
            if lo or hi:
                if size[ax] + lo + hi < 1:
                    raise Refused(f"pads {pads} crop all of axis {ax}")
                x = reader.emit(_part(node, f"crop{ax}"), {"kind": "slice", "start": -lo, "stop": size[ax] + hi,
                                **({"axis": ours[ax]} if ours[ax] != -1 else {})}, None, [x], output=False,
                                layout=x.layout)
        pads = [max(0, p) for p in pads]
        if not any(pads):
            return reader._alias(node, x)
    t, l, b, r = pads[2], pads[3], pads[6], pads[7]
    if math.isinf(value):
        # -inf around a map read by max pools alone (timm's MaxPool2dSame, TF's "same"): the
        # pools' own padding, which is -inf, so no layer of its own
        readers = [n for n in reader.graph.nodes for i in n.inputs if i == node.outputs[0]]
        if pads[1] or pads[5] or not readers or len(readers) != reader.consumers[node.outputs[0]] or any(
                n.op != "MaxPool" or any(n.attrs.get("pads", [0])) or
                n.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID") for n in readers):
            raise Refused("padding with -inf other than in front of max pools has no cnncost kind")
        return reader._alias(node, x, extra={**x.extra, "max_pad": [t, b, l, r]})
    if value == 0 and mode == "constant" and not pads[1] and not pads[5]:
        return reader.emit(node, {"kind": "zero_pad", "padding": [t, b, l, r]}, None, [x])
    reader.emit(node, _pad_body([t, b, l, r, pads[1], pads[5]], value, mode), None, [x])


LINEAR_COORDINATES = {"align_corners": {"align_corners": True},
                      "pytorch_half_pixel": {"coordinates": "onnx"},   # an output of 1 samples the first input
                      "half_pixel": {}}                                # PyTorch's own rule, at every size


@LAYERS.on("Resize", "Upsample")
def resize(reader, node, args):
    """Resize of a 1-D, 2-D or 3-D map: nearest (PyTorch's asymmetric floor), linear
    (bilinear, trilinear) and, on an image, cubic with PyTorch's a = -0.75."""
    from cnncost.interop.onnx.layers import _nd_map, _sizes

    x = reader._map(_nd_map(reader, node, args[0]), "nchw", "ncx")
    a = node.attrs
    sizes_in = _sizes(x)
    d = len(sizes_in)
    mode = a.get("mode", "nearest")
    if node.op == "Upsample" or reader.model.opsets[""] < 11:
        scales, sizes = (args[1] if len(args) > 1 else None), None
        ctm = "asymmetric"
        nearest = "floor"
    else:
        scales = args[2] if len(args) > 2 else None
        sizes = args[3] if len(args) > 3 else None
        ctm = a.get("coordinate_transformation_mode", "half_pixel")
        nearest = a.get("nearest_mode", "round_prefer_floor")
    if a.get("antialias", 0):
        raise Refused("antialiased resizing has no cnncost kind")
    if a.get("axes") is not None or (a.get("keep_aspect_ratio_policy", "stretch") != "stretch"):
        raise Refused("Resize with axes or a keep_aspect_ratio_policy has no cnncost kind; export with sizes for "
                      "every axis")
    if sizes is not None:
        outs = [int(v) for v in reader._const(node, sizes, "sizes").value][-d:]
        factor = None
    elif scales is not None:
        sc = [float(v) for v in reader._const(node, scales, "scales").value]
        if sc[:2] != [1.0, 1.0] or len(sc) != d + 2:
            raise Refused(f"scales {sc} change the batch or channels")
        outs = [int(n * f) for n, f in zip(sizes_in, sc[2:])]
        factor = [int(f) for f in sc[2:]] if all(f.is_integer() for f in sc[2:]) else None
    else:
        raise Refused("neither scales nor sizes")
    if mode == "nearest":
        if ctm != "asymmetric" or nearest != "floor":
            raise Refused(f"nearest with {ctm} coordinates and {nearest} rounding: cnncost's nearest is "
                           "PyTorch's (asymmetric, floor)")
        body = {"mode": "nearest", "coordinates": "onnx"}     # onnxruntime's float32 rows
    elif mode in ("linear", "cubic"):
        if ctm not in LINEAR_COORDINATES:
            raise Refused(f"{mode} with {ctm} coordinates has no cnncost kind")
        if mode == "cubic" and (a.get("cubic_coeff_a", -0.75) != -0.75 or a.get("exclude_outside", 0)):
            raise Refused(f"cubic with cubic_coeff_a {a.get('cubic_coeff_a')} and exclude_outside "
                          f"{a.get('exclude_outside', 0)}: cnncost's cubic is PyTorch's (-0.75, edges clamped)")
        body = {"mode": mode if mode == "cubic" or d != 2 else "bilinear", **LINEAR_COORDINATES[ctm]}
    else:
        raise Refused(f"{mode} interpolation has no cnncost kind (nearest, linear and cubic have)")
    if factor is None and mode == "nearest" and all(o % n == 0 for o, n in zip(outs, sizes_in)) \
            and any(o != n for o, n in zip(outs, sizes_in)):
        factor = [o // n for o, n in zip(outs, sizes_in)]
    size = {"scale": factor} if factor and [n * f for n, f in zip(sizes_in, factor)] == outs else {"size": outs}
    reader.emit(node, {"kind": "upsample", **body, **size}, None, [x], layout=x.layout)
