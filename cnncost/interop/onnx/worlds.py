"""Between the map world and the tensor world: how the ONNX importer holds a value for an
operator of either, converting it explicitly, one layer for each crossing.

A value held as "plain" is our tensor in ONNX's own order, the batch left out: its axis k
is ONNX's axis k (the batch is axis 0 in both). A map (ours H x W x C, ONNX's N x C x H x W)
becomes plain through one `transpose` layer to C x H x W; a plain rank-3 tensor that a
convolution reads becomes a map again through the inverse. Functions of the importer
(reader._Importer), given as `reader`, for the handlers of moves and tensors and the
reader itself.
"""
from __future__ import annotations

from cnncost.interop.onnx import sequences
from cnncost.interop.onnx.proto import Node
from cnncost.interop.onnx.values import TIME_FIRST, Const, Held
from cnncost.interop.refusals import Refused


# ---- crossing between the map world and the tensor world --------------------------
def _part(node, suffix):
    """A node for a layer the import adds on its own (a layout conversion, a constant)."""
    return Node(node.op, f"{node.name or node.outputs[0]}_{suffix}", node.inputs, [], {})


def _stack_to_full(reader, node, x):
    """A stack of maps (ours L x H x W x C) as the file holds it: L x C x H x W, full."""
    cache = reader.__dict__.setdefault("_full_cache", {})
    if x.layer not in cache:
        maps, h, w, c = x.shape
        cache[x.layer] = reader.emit(_part(node, "nchw"), {"kind": "transpose", "perm": [0, 1, 4, 2, 3]},
                                     (maps, c, h, w), [x], output=False, layout="full")
    return cache[x.layer]


def _plain(reader, node, x) -> Held:
    """x as a plain tensor: our shape = ONNX's dims without the batch."""
    if isinstance(x, Const):
        raise Refused("a constant here needs the shape of the tensor it meets (internal)")  # pragma: no cover
    if x.layout == "plain":
        return x
    if x.layout in ("seq_axes", "seq_states"):
        sequences.to_plain(reader, node, x)
    if x.layout == "tnc":
        raise Refused(TIME_FIRST)
    if x.layout == "stack":
        x = _stack_to_full(reader, node, x)
    cache = reader.__dict__.setdefault("_plain_cache", {})
    key = (x.layer, x.layout, repr(sorted(x.extra.items())) if x.layout != "vec" else x.extra.get("as_map"))
    if key in cache:
        return cache[key]
    if x.layout == "nhwc":
        out = Held(x.layer, x.shape, "plain")
    elif x.layout == "vec":
        reader._whole_features(x)
        out = (reader.emit(_part(node, "as_map"), {"kind": "reshape", "shape": [x.shape[0], 1, 1]},
                           (x.shape[0], 1, 1), [x], output=False, layout="plain")
               if x.extra.get("as_map") else Held(x.layer, x.shape, "plain"))
    elif x.layout == "ncx":          # a 1-D or 3-D map: (C, T) or (C, D, H, W)
        d = len(x.shape) - 1
        out = reader.emit(_part(node, "cfirst"), {"kind": "transpose", "perm": [0, d + 1, *range(1, d + 1)]},
                          (x.shape[-1], *x.shape[:-1]), [x], output=False, layout="plain")
    elif x.layout == "nchw":
        h, w, c = x.shape
        out = reader.emit(_part(node, "chw"), {"kind": "transpose", "perm": [0, 3, 1, 2]}, (c, h, w), [x],
                          output=False, layout="plain")
    elif x.layout in ("grouped", "gn", "unshuffle6"):
        base = _plain(reader, node, Held(x.layer, x.shape, "nchw"))
        dims = reader._onnx_dims(x)[1:]
        out = reader.emit(_part(node, "view"), {"kind": "reshape", "shape": dims}, tuple(dims), [base],
                          output=False, layout="plain")
    elif x.layout in ("shuffled", "unshuffle_t"):
        source, perm = {"shuffled": ("grouped", [0, 2, 1, 3, 4]),
                        "unshuffle_t": ("unshuffle6", [0, 1, 3, 5, 2, 4])}[x.layout]
        base = _plain(reader, node, Held(x.layer, x.shape, source, extra=dict(x.extra)))
        shape = tuple(base.shape[p - 1] for p in perm[1:])
        out = reader.emit(_part(node, "view"), {"kind": "transpose", "perm": perm}, shape, [base],
                          output=False, layout="plain")
    elif x.layout == "full":
        if x.shape[0] != 1 or len(x.shape) < 2:
            raise Refused(f"the batch is merged with other axes ({list(x.shape)}) where a map operator reads it")
        out = reader.emit(_part(node, "unfold"), {"kind": "reshape", "shape": list(x.shape[1:])},
                          tuple(x.shape[1:]), [x], output=False, layout="plain")
    elif x.layout == "moved":
        raise Refused(f"the batch axis moved (perm {x.extra['perm']}) and is not brought back to the front "
                      "by an unbind (Split or Gather on axis 0)")
    else:
        raise Refused(f"a {x.layout} view (mid-way through a group norm) read by another operator")
    cache[key] = out
    return out


def _as_map(reader, node, x) -> Held:
    """A plain C x H x W tensor as our H x W x C map (for a convolution or a pool); a
    full L x C x H x W one whose L folds the batch with other axes (windows of a map,
    EfficientViT-M's) as a stack of L maps, each convolved on its own."""
    if isinstance(x, Held) and x.layout == "full" and len(x.shape) == 4 and x.shape[0] != 1:
        maps, c, h, w = x.shape
        cache = reader.__dict__.setdefault("_stack_cache", {})
        if x.layer not in cache:
            cache[x.layer] = reader.emit(_part(node, "maps"), {"kind": "transpose", "perm": [0, 1, 3, 4, 2]},
                                         (maps, h, w, c), [x], output=False, layout="stack")
        return cache[x.layer]
    if isinstance(x, Held) and x.layout == "full":
        x = _plain(reader, node, x)
    if isinstance(x, Held) and x.layout == "plain" and len(x.shape) in (2, 4):
        # a 1-D or 3-D channels-first map (N, C, T) or (N, C, D, H, W): ours channels last
        cache = reader.__dict__.setdefault("_nd_cache", {})
        if x.layer not in cache:
            d = len(x.shape) - 1
            cache[x.layer] = reader.emit(_part(node, "clast"), {"kind": "transpose", "perm": [0, *range(2, d + 2), 1]},
                                         (*x.shape[1:], x.shape[0]), [x], output=False, layout="ncx")
        return cache[x.layer]
    if isinstance(x, Held) and x.layout == "plain" and len(x.shape) == 3:
        c, h, w = x.shape
        return reader.emit(_part(node, "hwc"), {"kind": "transpose", "perm": [0, 2, 3, 1]}, (h, w, c), [x],
                           output=False, layout="nchw")
    return x


def _operand(reader, node, x, rank: int, full: bool = False) -> Held:
    """A plain tensor for an operand of an operator whose other operands have ONNX rank
    `rank`: a layer's output, or a constant as a `constant` layer (a learned tensor of
    the file's, counted in params as the file holds it; a folded one, a buffer)."""
    if isinstance(x, Held):
        return _plain(reader, node, x)
    # one layer for a computed constant read twice (anchors); a weight of the file shared
    # by several layers is counted for each, as every shared tensor is
    cache = reader.__dict__.setdefault("_const_layers", {})
    if x.source is None and (id(x), rank, full) in cache:
        return cache[(id(x), rank, full)][1]
    dims = list(x.dims)
    if full:                          # one example's tensor, its leading axes included
        dims = [1] * (rank - len(dims)) + dims if len(dims) < rank else dims
    elif len(dims) >= rank:           # its first axis meets the batch: it must be 1
        if len(dims) > rank or dims[0] != 1:
            raise Refused(f"a constant of dims {dims} against a batch of rank {rank}")
        dims = dims[1:]
    if not dims:
        dims = [1]
    arr = x.value.reshape(dims)
    layer = reader.emit(_part(node, "const"), {"kind": "constant", "shape": dims,
                                               **({"learned": True} if x.source else {})},
                        tuple(dims), [], output=False, layout="full" if full else "plain")
    reader._weight(layer.layer, "value", x if x.source else Const(array=arr), lambda v: v.reshape(dims))
    cache[(id(x), rank, full)] = (x, layer)      # x kept alive: its id stays its own
    return layer


def _rank(reader, x) -> int:
    return len(x.dims) if isinstance(x, Const) else len(reader._onnx_dims(x))


def _out(reader, node, body, inputs, output=None, layout="plain"):
    return reader.emit(node, body, None, inputs, output=output, layout=layout)


# ---- the batch folded into other axes (batch 1) -------------------------------------
# Some models fold the batch into another axis (MobileViT's unfold: B*C*h, ...) or move
# it (nn.MultiheadAttention's sequence-first tensors). Held "full", our per-example
# tensor is the ONNX tensor of one example, its leading axes included: ONNX axis k is
# our axis k + 1. Running a batch of N then runs N such examples, which is what the
# file computes for a batch of one each; a file that fixes a larger batch is refused.
def _t(reader, node, x) -> Held:
    """A value in the tensor world: plain, or full when the batch is folded already."""
    if isinstance(x, Held) and x.layout == "full":
        return x
    if isinstance(x, Held) and x.layout == "stack":
        return _stack_to_full(reader, node, x)
    if isinstance(x, Held) and x.layout in ("moved", "picked"):
        return _moved_to_full(reader, node, x)
    if isinstance(x, Held) and x.layout in ("seq_axes", "seq_states") and sequences.batch_inside(x):
        # a time-first output (T, N, dirs*h) read by a linear layer (a CRNN's classifier)
        _one_example(reader, f"a recurrent output with the batch on axis 1 is read by {node.op} "
                             f"{node.name or node.outputs[0]!r}")
        return sequences.to_full(reader, node, x)
    return _plain(reader, node, x)


def _full(reader, node, x) -> Held:
    x = _t(reader, node, x)
    if x.layout == "full":
        return x
    _one_example(reader, f"the batch axis is merged with others at {node.op} {node.name or node.outputs[0]!r}")
    return reader.emit(_part(node, "example"), {"kind": "reshape", "shape": [1, *x.shape]}, (1, *x.shape),
                       [x], output=False, layout="full")


def _one_example(reader, what):
    if (reader.fixed_batch or 1) != 1:
        raise Refused(f"{what}: cnncost reads such a model at batch 1 (the file fixes {reader.fixed_batch}); "
                      "export it with batch 1")


def _moved_to_full(reader, node, view):
    src = _full(reader, node, view.extra["source"])
    perm = [0] + [p + 1 for p in view.extra["perm"]]
    out = reader.emit(_part(node, "moved"), {"kind": "transpose", "perm": perm}, None, [src],
                      output=False, layout="full")
    if view.layout == "picked":
        raise Refused("a part of an unbound view read by another operator than Squeeze")
    return out


def _dims(reader, x) -> list:
    return list(x.shape) if x.layout == "full" else [reader.batch, *x.shape]


def _axis(reader, x, axis: int, what: str = "axis") -> int:
    """An ONNX axis of x -> ours (batch counted as 0); the batch itself is refused."""
    dims = _dims(reader, x)
    axis %= len(dims)
    if x.layout == "full":
        return axis + 1
    if axis == 0:
        raise Refused(f"{what} 0 is the batch")
    return axis
