"""ONNX operators in the tensor world: where a map leaves the map world (a Reshape into
tokens, a MatMul of two activations, a Softmax over an axis that is not the channels),
the importer converts it explicitly to the model's own order (worlds) and reads the
operator as it is, never as a spelling to recognise.

The patterns of the map world (the LAYERS handlers of layers and moves) are tried first,
where they give a cleaner spec; each handler of the PLAIN table here is what an operator
becomes when they refuse it, given the importer (reader._Importer) as `reader`.
"""
from __future__ import annotations

import math

from cnncost.interop.onnx import fold as onnx_fold, sequences
from cnncost.interop.onnx.handlers import LAYERS, PLAIN
from cnncost.interop.onnx.layers import _dense, _identity_affine
from cnncost.interop.onnx.moves import _pad_tensor, _split_sizes
from cnncost.interop.onnx.values import Const, Held, slice_cuts
from cnncost.interop.onnx.worlds import (_as_map, _axis, _dims, _full, _one_example, _operand, _out, _part,
                                         _plain, _rank, _t)
from cnncost.interop.refusals import Refused

MAX_INDICES = 64          # a gather layer's constant indices (a spec argument)
UNARY = {"Exp": "exp", "Log": "log", "Sqrt": "sqrt", "Erf": "erf", "Sin": "sin", "Cos": "cos", "Abs": "abs",
         "Neg": "neg", "Reciprocal": "reciprocal", "Floor": "floor", "Ceil": "ceil", "Sign": "sign"}
BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Max": "max", "Min": "min", "Pow": "pow"}
REDUCE = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min", "ReduceL2": "l2"}


# ---- the operators --------------------------------------------------------------
@PLAIN.on("Reshape")
def reshape(reader, node, args):
    x = _t(reader, node, args[0])
    target = onnx_fold.reshape_target(_dims(reader, x), [int(d) for d in reader._const(node, args[1], "shape").value],
                                      bool(node.attrs.get("allowzero", 0)))
    if x.layout == "plain" and target[0] == reader.batch and len(target) >= 2:
        return _out(reader, node, {"kind": "reshape", "shape": target[1:]}, [x])
    x = _full(reader, node, x)
    _out(reader, node, {"kind": "reshape", "shape": target}, [x], layout="full")


@PLAIN.on("Transpose")
def transpose(reader, node, args):
    if isinstance(args[0], Held) and args[0].layout in ("moved", "picked"):
        args = [_t(reader, node, args[0])]
    x = _t(reader, node, args[0])
    rank = len(_dims(reader, x))
    perm = list(node.attrs.get("perm", range(rank - 1, -1, -1)))
    if x.layout == "full":
        return _out(reader, node, {"kind": "transpose", "perm": [0] + [p + 1 for p in perm]}, [x], layout="full")
    if perm == [0, 3, 1, 2] and len(x.shape) == 3:
        # a tensor (A, B, C) as N x C x A x B: how ONNX holds the map A x B x C, no layer
        return reader._alias(node, x, layout="nchw", extra={})
    d = len(x.shape) - 1
    if d in (1, 3) and perm == [0, d + 1, *range(1, d + 1)] and _read_as_map(reader, node):
        # channels first for a 1-D or 3-D convolution or pool: the map (T, C) or (D, H, W, C)
        return reader._alias(node, x, layout="ncx", extra={})
    if perm[0] != 0:
        # attention's q, k, v: permute(2, 0, 3, 1, 4) then unbind(0) puts the batch first
        # again; held as a view until the unbind picks each part
        dims = _dims(reader, x)
        reader.values[node.outputs[0]] = Held(x.layer, x.shape, "moved",
                                              extra={"perm": perm, "dims": [dims[p] for p in perm], "source": x})
        return
    _out(reader, node, {"kind": "transpose", "perm": perm}, [x])


MAP_READERS = ("Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization")


def _read_as_map(reader, node) -> bool:
    """Whether every reader of the node's output is an operator of channels-first maps."""
    ops = reader.__dict__.get("_consumer_ops")
    if ops is None:
        ops = reader.__dict__["_consumer_ops"] = {}
        for n in reader.graph.nodes:
            for i in n.inputs:
                ops.setdefault(i, set()).add(n.op)
    users = ops.get(node.outputs[0], set())
    return bool(users) and users <= set(MAP_READERS)


def _unbind(reader, node, view, index, output, part=None):
    """Part `index` of a view whose first axis is the source's axis perm[0]: a gather
    of that axis, then the rest of the permutation (the batch first again)."""
    perm, src = view.extra["perm"], view.extra["source"]
    a0 = perm[0]
    rest = [p - (p > a0) for p in perm[1:]]
    if rest[0] != 0:
        raise Refused(f"after taking part of axis {a0}, the batch is still not first (perm {perm})")
    body = {"kind": "gather", "axis": a0, "indices": [index], "keepdims": False}
    if rest == sorted(rest):
        return reader.emit(part or node, body, None, [src], output=output, layout="plain")
    g = reader.emit(_part(part or node, "pick"), body, None, [src], output=False, layout="plain")
    return reader.emit(part or node, {"kind": "transpose", "perm": rest}, None, [g], output=output, layout="plain")


@PLAIN.on("Flatten")
def flatten(reader, node, args):
    """A Flatten on an axis after 1 (or of a tensor) is a reshape."""
    x = _t(reader, node, args[0])
    dims = _dims(reader, x)
    axis = node.attrs.get("axis", 1) % len(dims)
    target = [math.prod(dims[:axis]), math.prod(dims[axis:])]
    if x.layout == "plain" and axis == 1:
        return _out(reader, node, {"kind": "reshape", "shape": target[1:]}, [x])
    _out(reader, node, {"kind": "reshape", "shape": target}, [_full(reader, node, x)], layout="full")


@PLAIN.on("Squeeze")
def squeeze(reader, node, args):
    if isinstance(args[0], Held) and args[0].layout == "picked":
        axes = onnx_fold._axes(node, [None] + [getattr(a, "value", None) for a in args[1:]], 1)
        if axes not in (None, [0]):
            raise Refused(f"squeezing axes {axes} of an unbound part (only its axis 0 is 1)")
        return _unbind(reader, node, args[0], args[0].extra["index"], None)
    x = _t(reader, node, args[0])
    dims = _dims(reader, x)
    axes = onnx_fold._axes(node, [None] + [getattr(a, "value", None) for a in args[1:]], 1)
    axes = [i for i, d in enumerate(dims) if d == 1 and (i > 0 or x.layout == "full")] if axes is None \
        else [a % len(dims) for a in axes]
    if any(dims[a] != 1 for a in axes):
        raise Refused(f"squeezing axes {axes} of {dims}")
    shape = [d for i, d in enumerate(dims) if i not in axes]
    _reshaped(reader, node, x, shape, keeps_batch=0 not in axes)


def _reshaped(reader, node, x, onnx_shape, keeps_batch: bool):
    """A reshape to `onnx_shape` (ONNX's dims): plain while the batch stays first."""
    if x.layout == "plain" and keeps_batch and len(onnx_shape) >= 2:
        return _out(reader, node, {"kind": "reshape", "shape": onnx_shape[1:]}, [x])
    _out(reader, node, {"kind": "reshape", "shape": onnx_shape or [1]}, [_full(reader, node, x)], layout="full")


@PLAIN.on("Unsqueeze")
def unsqueeze(reader, node, args):
    x = _t(reader, node, args[0])
    dims = _dims(reader, x)
    axes = onnx_fold._axes(node, [None] + [getattr(a, "value", None) for a in args[1:]], 1) or []
    rank = len(dims) + len(axes)
    axes = sorted(a % rank for a in axes)
    if not axes:
        raise Refused("unsqueezing no axis")
    shape = list(dims)
    for a in axes:
        shape.insert(a, 1)
    _reshaped(reader, node, x, shape, keeps_batch=0 not in axes)


def _same_world(reader, node, args):
    """Operands of one operator: all plain, or all full when any is (batch 1)."""
    if any(a is None for a in args):
        raise Refused(f"an omitted operand among its {len(args)} inputs")
    rank = max(_rank(reader, a) for a in args)
    held = [_t(reader, node, a) if isinstance(a, Held) else a for a in args]
    full = any(isinstance(h, Held) and h.layout == "full" for h in held)
    out = []
    for h in held:
        if isinstance(h, Held):
            out.append(_full(reader, node, h) if full and h.layout != "full" else h)
        else:
            out.append(_operand(reader, node, h, rank, full))
    return out, ("full" if full else "plain")


@PLAIN.on("MatMul")
def matmul(reader, node, args):
    if isinstance(args[1], Const) and isinstance(args[0], Held) and len(args[1].dims) == 2:
        x = _t(reader, node, args[0])       # an activation times a weight: a dense layer
        if x.shape[-1] != args[1].dims[0]:
            raise Refused(f"a weight of dims {list(args[1].dims)} against {_dims(reader, x)}")
        return _dense(reader, node, x, args[1], args[1].dims[1], False, None)
    xs, world = _same_world(reader, node, args)
    if min(len(x.shape) for x in xs) < 2:
        raise Refused("a MatMul with a 1-D operand per example has no cnncost kind")
    _out(reader, node, {"kind": "matmul"}, xs, layout=world)


@PLAIN.on("Einsum")
def einsum(reader, node, args):
    eq = node.attrs.get("equation", "")
    eq = (eq.decode() if isinstance(eq, bytes) else eq).replace(" ", "")
    lhs, _, rhs = eq.partition("->")
    ops = lhs.split(",")
    if "..." in eq or "->" not in eq or len(ops) != len(args) or eq != eq.lower() and eq != eq.upper():
        raise Refused(f"equation {eq!r}: cnncost reads explicit outputs in one case and no '...'")
    b = rhs[:1]
    held = [a for a in args if isinstance(a, Held)]
    if held and all(a.layout != "full" for a in held) and b and all(
            o.startswith(b) for o, a in zip(ops, args) if isinstance(a, Held)):
        # the batch letter leads every activation; a constant (a relative-position table)
        # keeps its own letters, or drops a leading batch axis of 1
        xs, per = [], []
        for o, a in zip(ops, args):
            if isinstance(a, Held):
                xs.append(_t(reader, node, a))
                per.append(o[1:])
            elif o.startswith(b) and a.dims and a.dims[0] == 1:
                xs.append(_operand(reader, node, a, len(a.dims)))
                per.append(o[1:])
            else:
                xs.append(_operand(reader, node, a, len(a.dims) + 1))
                per.append(o)
        if all(x.layout == "plain" for x in xs):
            return _out(reader, node, {"kind": "einsum", "equation": (",".join(per) + "->" + rhs[1:]).lower()}, xs)
    _one_example(reader, f"equation {eq!r} does not keep the batch letter first")
    xs = [_full(reader, node, a) if isinstance(a, Held) else _operand(reader, node, a, len(a.dims), True) for a in args]
    _out(reader, node, {"kind": "einsum", "equation": eq.lower()}, xs, layout="full")


SOFTMAX_KINDS = {"Softmax": "softmax", "LogSoftmax": "log_softmax"}


@PLAIN.on(*SOFTMAX_KINDS)
def softmax(reader, node, args):
    fn = SOFTMAX_KINDS[node.op]
    x = _t(reader, node, args[0])
    rank = len(_dims(reader, x))
    axis = node.attrs.get("axis", -1 if reader.model.opsets[""] >= 13 else 1)
    if reader.model.opsets[""] < 13 and axis % rank != rank - 1:
        raise Refused("before opset 13 Softmax spans every axis after `axis`")
    _out(reader, node, {"kind": fn, "axis": _axis(reader, x, axis)}, [x], layout=x.layout)


@PLAIN.on(*UNARY)
def unary(reader, node, args):
    x = _t(reader, node, args[0])
    _out(reader, node, {"kind": UNARY[node.op]}, [x], layout=x.layout)


@PLAIN.on(*BINARY)
def binary(reader, node, args):
    op = BINARY[node.op]
    consts = [a for a in args if isinstance(a, Const)]
    if consts and len(args) == 2 and math.prod(consts[0].dims or (1,)) == 1 and len(consts) == 1:
        c = consts[0]
        x = _t(reader, node, args[1] if c is args[0] else args[0])
        value = float(c.value.reshape(-1)[0])
        _out(reader, node, {"kind": "binary", "op": op, "scalar": value,
                            **({"scalar_first": True} if c is args[0] else {})}, [x], layout=x.layout)
        return
    xs, world = _same_world(reader, node, args)
    if len(xs) > 2:
        y = xs[0]
        for k, z in enumerate(xs[1:]):
            last = k == len(xs) - 2
            y = reader.emit(node if last else _part(node, f"{k}"), {"kind": "binary", "op": op}, None, [y, z],
                            output=None if last else False, layout=world)
        return
    _out(reader, node, {"kind": "binary", "op": op}, xs, layout=world)


@PLAIN.on(*REDUCE)
def reduce(reader, node, args):
    x = _t(reader, node, args[0])
    rank = len(_dims(reader, x))
    axes = onnx_fold._axes(node, [None] + [getattr(a, "value", None) for a in args[1:]], 1)
    if not axes:
        if node.attrs.get("noop_with_empty_axes", 0):
            return reader._alias(node, x)
        axes = list(range(0 if x.layout == "full" else 1, rank))
    _out(reader, node, {"kind": "reduce", "op": REDUCE[node.op], "axes": sorted(_axis(reader, x, a, "axes") for a in axes),
                        "keepdims": bool(node.attrs.get("keepdims", 1))}, [x], layout=x.layout)


@PLAIN.on("LayerNormalization")
def layer_normalization(reader, node, args):
    x = _t(reader, node, args[0])
    rank = len(_dims(reader, x))
    k = rank - node.attrs.get("axis", -1) % rank
    if x.layout == "plain" and k >= rank:
        raise Refused("a LayerNorm over the batch")
    scale = reader._const(node, args[1], "scale") if len(args) > 1 and args[1] is not None else None
    bias = reader._const(node, args[2], "bias") if len(args) > 2 and args[2] is not None else None
    if scale is not None and bias is None:
        raise Refused("a LayerNorm with a scale and no bias has no cnncost kind")
    shape = tuple(x.shape[-k:])
    wk = {} if scale is None else {"gamma": (scale, lambda v: v.reshape(shape)),
                                   "beta": (bias, lambda v: v.reshape(shape))}
    reader.emit(node, {"kind": "layer_norm", "eps": float(node.attrs.get("epsilon", 1e-5)), "axes": k,
                       **({} if scale is not None else {"affine": False})}, x.shape, [x], wk, layout=x.layout)


@PLAIN.on("InstanceNormalization")
def instance_normalization(reader, node, args):
    """InstanceNormalization of a tensor (MobileViT-v2's GroupNorm(1) on a 3-D view):
    statistics over every axis after the channels, a layer norm without affine, then
    the scale and bias per channel."""
    x = _t(reader, node, args[0])
    scale, bias = reader._const(node, args[1], "scale"), reader._const(node, args[2], "bias")
    if not _identity_affine(scale, bias):
        raise Refused("an InstanceNormalization with a learned scale on a tensor has no cnncost kind")
    k = len(_dims(reader, x)) - 2
    reader.emit(node, {"kind": "layer_norm", "eps": float(node.attrs.get("epsilon", 1e-5)), "axes": k,
                       "affine": False}, x.shape, [x], layout=x.layout)


@PLAIN.on("Concat")
def concat(reader, node, args):
    xs, world = _same_world(reader, node, args)
    axis = _axis(reader, xs[0], node.attrs.get("axis", 1))
    _out(reader, node, {"kind": "concat", "axis": axis}, xs, layout=world)


@PLAIN.on("Split")
def split(reader, node, args):
    if isinstance(args[0], Held) and args[0].layout == "moved":
        return _split_moved(reader, node, args)
    x = _t(reader, node, args[0])
    axis = _axis(reader, x, node.attrs.get("axis", 0))
    sizes = _split_sizes(reader, node, args, x.shape[axis - 1])
    start = 0
    for k, (out, part) in enumerate(zip(node.outputs, sizes)):
        reader.emit(_part(node, str(k)), {"kind": "slice", "axis": axis, "start": start, "stop": start + part},
                    None, [x], output=out, layout=x.layout)
        start += part


def _split_moved(reader, node, args):
    view = args[0]
    if node.attrs.get("axis", 0) != 0:
        return split(reader, node, [_t(reader, node, view), *args[1:]])
    size = view.extra["dims"][0]
    sizes = [int(s) for s in reader._const(node, args[1], "split").value] if len(args) > 1 and args[1] is not None \
        else list(node.attrs.get("split", [1] * len(node.outputs)))
    if sizes != [1] * size:
        raise Refused(f"split sizes {sizes}: an unbind takes one part at a time")
    for k, out in enumerate(node.outputs):
        reader.values[out] = Held(view.layer, view.shape, "picked", extra={**view.extra, "index": k})


@PLAIN.on("Slice")
def slice_(reader, node, args):
    x = _t(reader, node, args[0])
    dims = _dims(reader, x)
    vals = [None if a is None else [int(v) for v in reader._const(node, a, "bound").value.reshape(-1)]
            for a in args[1:5]]
    starts, ends = vals[0], vals[1]
    axes = vals[2] if len(vals) > 2 and vals[2] is not None else list(range(len(starts)))
    steps = vals[3] if len(vals) > 3 and vals[3] is not None else [1] * len(starts)
    cuts = [(_axis(reader, x, ax), s, e, st) for ax, s, e, st in slice_cuts(starts, ends, axes, steps, dims)]
    if not cuts:
        return reader._alias(node, x)
    y = x
    for k, (ax, s, e, st) in enumerate(cuts):
        last = k == len(cuts) - 1
        y = reader.emit(node if last else _part(node, f"axis{ax}"),
                        {"kind": "slice", "axis": ax, "start": s, "stop": e, **({"step": st} if st != 1 else {})},
                        None, [y], output=None if last else False, layout=x.layout)


@PLAIN.on("Gather")
def gather(reader, node, args):
    if isinstance(args[0], Const) and len(args[0].dims) == 2 and isinstance(args[1], Held) \
            and node.attrs.get("axis", 0) == 0 and args[1].layer in reader.input_names.values():
        # rows of a table picked by the model's own integer input: PyTorch's nn.Embedding
        vocab, dim = args[0].dims
        return reader.emit(node, {"kind": "embedding", "vocab": vocab, "dim": dim}, None, [args[1]],
                           {"embeddings": (args[0], None)}, layout="plain")
    if not isinstance(args[1], Const):
        raise Refused("indices computed from the data (a data-dependent gather) cannot be counted ahead")
    if isinstance(args[0], Held) and args[0].layout == "moved" and args[1].value.ndim == 0 \
            and node.attrs.get("axis", 0) == 0:
        return _unbind(reader, node, args[0], int(args[1].value) % args[0].extra["dims"][0], None)
    if isinstance(args[0], Held) and args[0].layout in ("seq_axes", "seq_states"):
        return sequences.gather(reader, node, args[0], args[1].value)
    x = _t(reader, node, args[0])
    idx = args[1].value
    axis = _axis(reader, x, node.attrs.get("axis", 0))
    if idx.ndim > 1 or idx.size > MAX_INDICES:      # too many for a spec's list: the model's buffer of them
        return _out(reader, node, {"kind": "gather", "axis": axis}, [x, _positions(reader, node, idx)],
                    layout=x.layout)
    body = {"kind": "gather", "axis": axis, "indices": [int(i) for i in idx.reshape(-1)]}
    if idx.ndim == 0:
        body["keepdims"] = False
    _out(reader, node, body, [x], layout=x.layout)


def learned_gather(reader, node, args):
    """A learned table read out at constant positions (LeViT's and EfficientFormer's
    attention biases, MaxViT's relative-position table): the table stays the weight it
    is, counted at its own size, and the positions are the buffer the model keeps.
    Folded together they were one constant of the read-out's size, its values no
    longer the table's."""
    table, pos = args
    axis = node.attrs.get("axis", 0) % len(table.dims)
    t = _operand(reader, node, table, len(table.dims), full=True)
    body = {"kind": "gather", "axis": axis + 1}
    positions = pos.value.astype("int64")
    if positions.ndim <= 1 and positions.size <= MAX_INDICES:        # a short list: the spec says it
        body["indices"] = [int(i) for i in positions.reshape(-1)]
        if positions.ndim == 0:
            body["keepdims"] = False
        return _out(reader, node, body, [t], layout="full")
    _out(reader, node, body, [t, _positions(reader, node, positions)], layout="full")


def _positions(reader, node, idx):
    """Constant positions as the buffer the model keeps (a second input of `gather`)."""
    return _operand(reader, _part(node, "positions"), Const(array=idx.astype("float32")), idx.ndim, full=True)


@PLAIN.on("Tile")
def tile(reader, node, args):
    """Tile of a layer's output: our tile kind; repeating the batch axis (GC ViT's global query
    repeated per window, the windows in the batch) is read at batch 1, the batch folded."""
    repeats = [int(r) for r in reader._const(node, args[1], "repeats").value.reshape(-1)]
    x = _t(reader, node, args[0])
    if len(repeats) != len(_dims(reader, x)):
        raise Refused(f"repeats {repeats} for a tensor of dims {_dims(reader, x)}")
    if x.layout != "full" and repeats[0] != 1:
        x = _full(reader, node, x)
    per = repeats if x.layout == "full" else repeats[1:]
    if all(r == 1 for r in per):
        return reader._alias(node, x)
    _out(reader, node, {"kind": "tile", "repeats": per}, [x], layout=x.layout)


@PLAIN.on("CumSum")
def cumsum(reader, node, args):
    x = _t(reader, node, args[0])
    axis = _axis(reader, x, int(reader._const(node, args[1], "axis").value.reshape(-1)[0]))
    _out(reader, node, {"kind": "cumsum", "axis": axis, "exclusive": bool(node.attrs.get("exclusive", 0)),
                        "reverse": bool(node.attrs.get("reverse", 0))}, [x], layout=x.layout)


@PLAIN.on("Expand")
def expand(reader, node, args):
    x = _t(reader, node, args[0])
    shape = [int(d) for d in reader._const(node, args[1], "shape").value]
    dims = _dims(reader, x)
    if len(shape) > len(dims):
        dims = [1] * (len(shape) - len(dims)) + dims
    if any(s != d and 1 not in (s, d) for s, d in zip(shape[::-1], dims[::-1])):
        raise Refused(f"expanding {_dims(reader, x)} to {shape}")
    out = [max(a, b) for a, b in zip(dims, [1] * (len(dims) - len(shape)) + shape)]
    if x.layout == "plain" and (len(out) != len(_dims(reader, x)) or out[0] != reader.batch):
        raise Refused(f"expanding {_dims(reader, x)} to {shape} copies across the batch")
    per = out[1:] if x.layout == "plain" else out
    # a copy: adding a zero constant of the target shape broadcasts it, as ONNX's Expand
    zero = reader.emit(_part(node, "zeros"), {"kind": "constant", "shape": per}, tuple(per), [],
                       output=False, layout=x.layout)
    import numpy as np
    reader._weight(zero.layer, "value", Const(array=np.zeros(per, "float32")))
    _out(reader, node, {"kind": "binary", "op": "add"}, [x, zero], layout=x.layout)


@PLAIN.on("Gemm")
def gemm(reader, node, args):
    a = node.attrs
    x = _t(reader, node, args[0])
    if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 or not isinstance(args[1], Const):
        raise Refused("transA, alpha or beta other than 1, or a weight that is a layer's output")
    trans = a.get("transB", 0)
    units = args[1].dims[0] if trans else args[1].dims[1]
    _dense(reader, node, x, args[1], units, trans, args[2] if len(args) > 2 and args[2] is not None else None)


@PLAIN.on("Pad")
def pad(reader, node, args):
    x = args[0]
    pads = [int(p) for p in reader._const(node, args[1], "pads").value] if len(args) > 1 and args[1] is not None \
        else list(node.attrs.get("pads", []))
    if pads and not any(pads):
        return reader._alias(node, x)          # swin's window padding where none is needed
    if isinstance(x, Held) and x.layout not in ("nchw", "nhwc"):
        return _pad_tensor(reader, node, _t(reader, node, x), args)
    if isinstance(x, Held) and x.layout == "nhwc" and len(pads) == 8 and not any(pads[i] for i in (0, 3, 4, 7)) \
            and node.attrs.get("mode", "constant") == "constant" and not (len(args) > 2 and args[2] is not None
                                                                           and float(reader._const(node, args[2], "value").value.reshape(-1)[0])):
        t, l, b_, r = pads[1], pads[2], pads[5], pads[6]
        return reader.emit(node, {"kind": "zero_pad", "padding": [t, b_, l, r]}, None, [x], layout="nhwc")
    LAYERS["Pad"](reader, node, [_as_map(reader, node, _t(reader, node, x) if isinstance(x, Held) and x.layout != "nchw" else x),
                                 *args[1:]])


@PLAIN.on("BatchNormalization")
def batch_normalization(reader, node, args):
    x = _t(reader, node, args[0])
    if len(_dims(reader, x)) == 2 and x.layout == "full":
        # BatchNorm1d of tokens flattened with the batch (LeViT): channels are the last axis
        names = ("gamma", "beta", "moving_mean", "moving_variance")
        wk = {k: (reader._const(node, a, k), None) for k, a in zip(names, args[1:5])}
        return reader.emit(node, {"kind": "batch_norm", "eps": float(node.attrs.get("epsilon", 1e-5))}, x.shape,
                           [x], wk, layout="full")
    LAYERS["BatchNormalization"](reader, node, [_as_map(reader, node, x), *args[1:]])


@PLAIN.on("Clip")
def clip(reader, node, args):
    """Clip to other bounds than an activation's: a max and a min by constants."""
    x = args[0] if isinstance(args[0], Held) and args[0].layout in ("nchw", "nhwc", "vec", "plain", "full") \
        else _t(reader, node, args[0])

    def bound(i, key):
        if len(args) > i and args[i] is not None:
            return float(reader._const(node, args[i], key).value.reshape(-1)[0])
        return node.attrs.get(key)
    lo, hi = bound(1, "min"), bound(2, "max")
    steps = [(op, v) for op, v in (("max", lo), ("min", hi)) if v is not None and math.isfinite(v)]
    if not steps:
        return reader._alias(node, x)
    for k, (op, v) in enumerate(steps):
        last = k == len(steps) - 1
        x = reader.emit(node if last else _part(node, op), {"kind": "binary", "op": op, "scalar": v}, x.shape,
                        [x], output=None if last else False, layout=x.layout, chw=x.chw)


@PLAIN.on("Conv")
def conv(reader, node, args):
    x = args[0]
    if isinstance(x, Const):        # a convolution of a constant (EdgeNeXt's position grid) runs too
        x = _operand(reader, node, x, len(x.dims))
    LAYERS["Conv"](reader, node, [_as_map(reader, node, x), *args[1:]])


@PLAIN.on("ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Resize")
def via_map(reader, node, args):
    """The map world's own handler, its input made a map first."""
    LAYERS[node.op](reader, node, [_as_map(reader, node, args[0]), *args[1:]])
