"""Evaluate ONNX nodes whose inputs are all known values: the shape arithmetic exporters
emit (Shape -> Gather -> Unsqueeze -> Concat -> Reshape), Constant nodes, and constant
operands prepared in the graph (a Div of two constants). Each op follows its ONNX
operator spec, in both the attribute form of older opsets and the input form of newer.
fold() checks a node's inputs and the size of its outputs, then calls the op's folder (FOLDERS).
"""
from __future__ import annotations

import math
from collections.abc import Callable

from cnncost.interop.onnx.proto import DTYPES


class FoldError(ValueError):
    pass


class TooLarge(FoldError):
    """A constant bigger than a network could need: the file is refused, not partly read."""


def _axes(node, args, index):
    """An axes list from input `index` (newer opsets) or the `axes` attribute."""
    if len(args) > index and args[index] is not None:
        return [int(a) for a in args[index].reshape(-1)]
    value = node.attrs.get("axes")
    return None if value is None else [int(a) for a in value]


def _reduce(node, args, fn):
    x = args[0]
    axes = _axes(node, args, 1)
    if axes is None or not axes:
        if axes == [] and node.attrs.get("noop_with_empty_axes", 0):
            return x
        axes = list(range(x.ndim))
    return fn(x, axis=tuple(a % x.ndim for a in axes), keepdims=bool(node.attrs.get("keepdims", 1)))


def _slice(node, args):
    x = args[0]
    if len(args) > 1:
        starts, ends = [int(v) for v in args[1]], [int(v) for v in args[2]]
        axes = [int(v) for v in args[3]] if len(args) > 3 and args[3] is not None else list(range(len(starts)))
        steps = [int(v) for v in args[4]] if len(args) > 4 and args[4] is not None else [1] * len(starts)
    else:
        starts, ends = list(node.attrs["starts"]), list(node.attrs["ends"])
        axes = list(node.attrs.get("axes", range(len(starts))))
        steps = [1] * len(starts)
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        index[a % x.ndim] = slice(s, e if abs(e) < 2 ** 62 else None, st)     # +-INT_MAX: to the end
    return x[tuple(index)]


def reshape_target(shape, target, allowzero=False):
    """ONNX Reshape's target with 0 (copy) and -1 (infer) resolved."""
    out = [int(shape[i]) if d == 0 and not allowzero else int(d) for i, d in enumerate(target)]
    if out.count(-1) > 1:
        raise FoldError(f"reshape target {list(target)} has several -1")
    total = math.prod(shape)
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        if known == 0 or total % known:
            raise FoldError(f"cannot reshape {list(shape)} to {list(target)}")
        out[out.index(-1)] = total // known
    if math.prod(out) != total:
        raise FoldError(f"cannot reshape {list(shape)} to {list(target)}")
    return out


def constant_attr(node):
    import numpy as np

    a = node.attrs
    if "value" in a:
        if not callable(getattr(a["value"], "value", None)):       # a damaged file's attribute of another type
            raise FoldError("a Constant whose value is not a tensor")
        return a["value"].value()
    for key, dtype in (("value_float", np.float32), ("value_int", np.int64)):
        if key in a:
            return np.array(a[key], dtype)
    for key, dtype in (("value_floats", np.float32), ("value_ints", np.int64)):
        if key in a:
            return np.array(a[key], dtype)
    raise FoldError("Constant without a value (sparse and string constants are not supported)")


# a folded constant a network could need: relative-position tables, attention masks, a weight
# dequantized or transposed (the importer raises it to the largest initializer)
FOLD_ELEMENTS = 1 << 24


def _count(dims) -> int:
    out = 1
    for d in dims:
        d = int(d)
        if d < 0:
            raise FoldError(f"a negative dimension in {[int(v) for v in dims][:8]}")
        out *= d
    return out


def _broadcast(shapes) -> int:
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(rank):
        sizes = {int(s[axis - rank + len(s)]) for s in shapes if axis - rank + len(s) >= 0} - {1}
        if len(sizes) > 1:
            raise FoldError(f"shapes {[list(s) for s in shapes][:4]} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return _count(out)


def out_elements(node, args) -> int:
    """How many elements `node`'s outputs hold, from its inputs' shapes and attributes alone,
    before anything is allocated (ops whose output is no larger than an input: that input's)."""
    import numpy as np

    op, x = node.op, args[0] if args else None
    sizes = [int(np.size(v)) for v in args if v is not None]
    if op == "ConstantOfShape":
        return _count(np.asarray(x).reshape(-1)) if x is not None else 1
    if op == "Range":
        start, limit, delta = (np.asarray(v).reshape(-1)[0].item() if np.size(v) else 0 for v in args[:3])
        if delta == 0:
            raise FoldError("Range with a delta of 0")
        return max(0, math.ceil((limit - start) / delta))
    if op == "Expand":
        return _broadcast([np.shape(x), [int(d) for d in np.asarray(args[1]).reshape(-1)]])
    if op == "Tile":
        return np.size(x) * _count(np.asarray(args[1]).reshape(-1))
    if op == "Concat":
        return sum(sizes)
    if op == "Gather":
        axis = node.attrs.get("axis", 0)
        width = np.shape(x)[axis % max(np.ndim(x), 1)] if np.ndim(x) else 1
        return np.size(x) // max(width, 1) * np.size(args[1])
    if op in ("DequantizeLinear", "QuantizeLinear"):         # scales per axis: the input's shape
        return np.size(x)
    if op == "BatchNormalization":
        return _broadcast([np.shape(x), (np.size(args[1]),) + (1,) * max(np.ndim(x) - 2, 0)])
    if op in ("Constant", "Shape", "Size", "Reshape", "Unsqueeze", "Squeeze", "Slice", "Split", "Flatten",
              "Transpose", "ScatterND", "CumSum", "Trilu") or len(sizes) < 2:
        return max(sizes, default=0)
    return _broadcast([np.shape(v) for v in args if v is not None])


BINARY = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater", "Min", "Max", "Mod"})
ARITY = {"Range": 3, "Where": 3, "ScatterND": 3, "BatchNormalization": 5, "Gather": 2, "Expand": 2, "Tile": 2,
         "Reshape": 2, "CumSum": 2, "DequantizeLinear": 2, "QuantizeLinear": 2, "Min": 1, "Max": 1,
         "ConstantOfShape": 1, "MatMul": 2, "LSTM": 3, "GRU": 3, "RNN": 3}


def fold(node, args, shape_of=None, limit=FOLD_ELEMENTS) -> list:
    """The outputs of `node` given its inputs' values (None for an omitted input).
    `shape_of` gives the ONNX shape of a tensor input (for Shape on a layer's output). An
    output of more than `limit` elements is refused before it is made."""
    op, a = node.op, node.attrs
    need = 0 if op == "Constant" or shape_of is not None else 1 if op == "Reshape" and "shape" in a else \
        ARITY.get(op, 2 if op in BINARY else 1)
    if len(args) < need or any(v is None for v in args[:need]):
        given = sum(v is not None for v in args)
        raise FoldError(f"{op} needs {need} input{'s' if need > 1 else ''}, the node gives {given}")
    if shape_of is None and op != "Constant":
        n = out_elements(node, args)
        if n > limit:
            raise TooLarge(f"its constant output would hold {n:,} elements (at most {limit:,} are folded)")
    folder = FOLDERS.get(op)
    if folder is None:      # pragma: no cover - the reader folds only what FOLDABLE lists
        raise FoldError(f"{op} of constants")
    return folder(node, args, args[0] if args else None, shape_of)


# op name -> its folder, called as folder(node, args, x, shape_of) with x the first input (None
# for Shape on a layer's output) once fold() has checked the inputs and the output's size. Each
# folder imports numpy itself: counting a model without shape arithmetic needs none.
FOLDERS: dict[str, Callable] = {}


def _folds(*ops):
    """Register the decorated function as the folder of `ops`."""
    def register(fn):
        FOLDERS.update(dict.fromkeys(ops, fn))
        return fn
    return register


@_folds("Constant")
def _constant(node, args, x, shape_of):
    return [constant_attr(node)]


@_folds("Shape")
def _shape(node, args, x, shape_of):
    """Of a constant, or of a layer's output; opset 15's start and end slice the result."""
    import numpy as np

    dims = np.array(shape_of if x is None else x.shape, np.int64)
    start, end = node.attrs.get("start", 0), node.attrs.get("end")
    return [dims[start:end]]


@_folds("Size")
def _size(node, args, x, shape_of):
    import numpy as np

    return [np.array(int(np.prod(shape_of if x is None else x.shape)), np.int64)]


@_folds("Identity")
def _identity(node, args, x, shape_of):
    return [x]


@_folds("DequantizeLinear", "QuantizeLinear")
def _qdq(node, args, x, shape_of):
    """A QDQ file's weights, per tensor or per axis."""
    import numpy as np

    scale = np.asarray(args[1], np.float64)
    zp = np.asarray(args[2] if len(args) > 2 and args[2] is not None else 0)
    shape = [1] * x.ndim
    if scale.ndim == 1 and scale.size > 1:
        shape[node.attrs.get("axis", 1) % x.ndim] = scale.size
    scale, zpf = scale.reshape(shape if scale.size > 1 else ()), zp.astype(np.float64).reshape(
        shape if zp.size > 1 else ())
    if node.op == "DequantizeLinear":
        return [((x.astype(np.float64) - zpf) * scale).astype(np.float32)]
    target = zp.dtype if np.issubdtype(zp.dtype, np.integer) else np.dtype(np.uint8)
    info = np.iinfo(target)
    return [np.clip(np.round(x / scale) + zpf, info.min, info.max).astype(target)]


@_folds("Gather")
def _gather(node, args, x, shape_of):
    import numpy as np

    return [np.take(x, np.asarray(args[1]), axis=node.attrs.get("axis", 0))]


@_folds("Unsqueeze")
def _unsqueeze(node, args, x, shape_of):
    import numpy as np

    axes = _axes(node, args, 1)
    rank = x.ndim + len(axes)
    out = x
    for ax in sorted(ax % rank for ax in axes):      # ascending: each axis is of the output's rank
        out = np.expand_dims(out, ax)
    return [out]


@_folds("Squeeze")
def _squeeze(node, args, x, shape_of):
    import numpy as np

    axes = _axes(node, args, 1)
    return [np.squeeze(x, axis=None if axes is None else tuple(ax % x.ndim for ax in axes))]


@_folds("Concat")
def _concat(node, args, x, shape_of):
    """Omitted inputs are skipped and scalars taken as length 1 (a shape assembled from Gathers)."""
    import numpy as np

    parts = [np.asarray(v) for v in args if v is not None]
    return [np.concatenate([p.reshape(1) if p.ndim == 0 else p for p in parts], axis=node.attrs.get("axis", 0))]


@_folds("Cast")
def _cast(node, args, x, shape_of):
    import numpy as np

    to = DTYPES.get(node.attrs.get("to"))
    if to is None:
        raise FoldError(f"Cast to element type {node.attrs.get('to')}")
    return [np.asarray(x).astype(to)]


@_folds("Slice")
def _slice_folder(node, args, x, shape_of):
    return [_slice(node, args)]


@_folds("Reshape")
def _reshape(node, args, x, shape_of):
    import numpy as np

    a = node.attrs
    target = args[1] if len(args) > 1 else a["shape"]       # opset 1-4: the `shape` attribute
    return [np.reshape(x, reshape_target(x.shape, list(target), bool(a.get("allowzero", 0))))]


@_folds("Flatten")
def _flatten(node, args, x, shape_of):
    import numpy as np

    axis = node.attrs.get("axis", 1) % max(x.ndim, 1)
    return [x.reshape(int(np.prod(x.shape[:axis])), -1)]


@_folds("Transpose")
def _transpose(node, args, x, shape_of):
    import numpy as np

    return [np.transpose(x, node.attrs.get("perm"))]


@_folds("Expand")
def _expand(node, args, x, shape_of):
    import numpy as np

    return [x * np.ones([int(d) for d in args[1]], dtype=x.dtype)]


@_folds("Tile")
def _tile(node, args, x, shape_of):
    import numpy as np

    return [np.tile(x, [int(d) for d in args[1]])]


@_folds("ConstantOfShape")
def _constant_of_shape(node, args, x, shape_of):
    """Filled with the `value` attribute's one element (its type too), else float32 zeros."""
    import numpy as np

    a = node.attrs
    value = a["value"].value().reshape(-1)[0] if "value" in a else np.float32(0)
    return [np.full([int(d) for d in x], value, dtype=np.asarray(value).dtype)]


@_folds("Range")
def _range(node, args, x, shape_of):
    import numpy as np

    return [np.arange(args[0], args[1], args[2]).astype(np.asarray(args[0]).dtype)]


@_folds("Where")
def _where(node, args, x, shape_of):
    import numpy as np

    return [np.where(args[0], args[1], args[2])]


@_folds("Split")
def _split(node, args, x, shape_of):
    """Sizes from input 1 (opset 13) or the `split` attribute, else equal parts, one per output."""
    import numpy as np

    axis = node.attrs.get("axis", 0)
    sizes = args[1] if len(args) > 1 and args[1] is not None else node.attrs.get("split")
    if sizes is None:
        n = len(node.outputs)
        sizes = [x.shape[axis] // n] * n
    return np.split(x, np.cumsum([int(s) for s in sizes])[:-1], axis=axis)


@_folds("BatchNormalization")
def _batch_norm(node, args, x, shape_of):
    """Of a constant: weight standardisation (NF-ResNet)."""
    import numpy as np

    scale, bias, mean, var = (np.asarray(v).reshape((-1,) + (1,) * (x.ndim - 2)) for v in args[1:5])
    return [((x - mean) / np.sqrt(var + node.attrs.get("epsilon", 1e-5)) * scale + bias).astype(x.dtype)]


@_folds("Clip")
def _clip(node, args, x, shape_of):
    """Bounds from inputs 1 and 2 (opset 11) or the `min` and `max` attributes, else unbounded."""
    import numpy as np

    lo = args[1] if len(args) > 1 and args[1] is not None else node.attrs.get("min", -np.inf)
    hi = args[2] if len(args) > 2 and args[2] is not None else node.attrs.get("max", np.inf)
    return [np.clip(x, lo, hi).astype(x.dtype)]


# ops that are one numpy function, by that function's name (numpy is imported only when folding)
_REDUCE_NP = {"ReduceProd": "prod", "ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "max",
              "ReduceMin": "min"}
_BINARY_NP = {"Add": "add", "Sub": "subtract", "Mul": "multiply", "Pow": "power", "Equal": "equal",
              "Less": "less", "Greater": "greater", "Min": "minimum", "Max": "maximum"}
_UNARY_NP = {"Sqrt": "sqrt", "Neg": "negative", "Abs": "abs", "Floor": "floor", "Ceil": "ceil",
             "Not": "logical_not", "Exp": "exp", "Log": "log", "Reciprocal": "reciprocal", "Tanh": "tanh",
             "Sin": "sin", "Cos": "cos", "Sign": "sign"}


@_folds(*_REDUCE_NP)
def _reduction(node, args, x, shape_of):
    import numpy as np

    return [np.asarray(_reduce(node, args, getattr(np, _REDUCE_NP[node.op]))).astype(x.dtype)]


@_folds(*_BINARY_NP)
def _binary(node, args, x, shape_of):
    """Applied pairwise from the left (Min and Max take several inputs); a comparison gives bool."""
    import numpy as np

    op = node.op
    out = args[0]
    for y in args[1:]:
        out = getattr(np, _BINARY_NP[op])(out, y)
    return [np.asarray(out).astype(np.result_type(args[0], args[1]) if op not in ("Equal", "Less", "Greater")
                                   else bool)]


@_folds("Div")
def _div(node, args, x, shape_of):
    """An integer Div truncates toward zero, as C and onnxruntime do (numpy's // floors)."""
    import numpy as np

    if np.issubdtype(np.asarray(x).dtype, np.integer):
        return [np.asarray(np.trunc(x / args[1])).astype(x.dtype)]
    return [np.asarray(x / args[1]).astype(x.dtype)]


@_folds("Mod")
def _mod(node, args, x, shape_of):
    """fmod=1 takes the dividend's sign (C's fmod), else the divisor's (Python's %)."""
    import numpy as np

    return [np.fmod(x, args[1]) if node.attrs.get("fmod", 0) else np.mod(x, args[1])]


@_folds(*_UNARY_NP)
def _unary(node, args, x, shape_of):
    import numpy as np

    return [np.asarray(getattr(np, _UNARY_NP[node.op])(x)).astype(np.asarray(x).dtype)]


@_folds("Relu")
def _relu(node, args, x, shape_of):
    import numpy as np

    return [np.asarray(np.maximum(x, 0)).astype(np.asarray(x).dtype)]


@_folds("Sigmoid")
def _sigmoid(node, args, x, shape_of):
    import numpy as np

    return [np.asarray(1 / (1 + np.exp(-x))).astype(np.asarray(x).dtype)]


@_folds("CumSum")
def _cumsum(node, args, x, shape_of):
    """exclusive leaves each element out of its own sum; reverse sums from the end."""
    import numpy as np

    a = node.attrs
    axis = int(np.asarray(args[1]).reshape(-1)[0])
    y = np.flip(x, axis) if a.get("reverse", 0) else x
    out = np.cumsum(y, axis=axis, dtype=x.dtype)
    if a.get("exclusive", 0):
        out = out - y
    return [np.flip(out, axis) if a.get("reverse", 0) else out]


@_folds("ScatterND")
def _scatter_nd(node, args, x, shape_of):
    """Shifted-window masks, relative-position tables (of constants)."""
    import numpy as np

    if node.attrs.get("reduction", "none") != "none":
        raise FoldError(f"ScatterND with reduction {node.attrs.get('reduction')}")
    out, idx, upd = np.array(x, copy=True), np.asarray(args[1]), np.asarray(args[2])
    k = idx.shape[-1]
    flat = idx.reshape(-1, k)
    out[tuple(flat.T)] = upd.reshape((flat.shape[0],) + out.shape[k:])
    return [out]


@_folds("Softmax")
def _softmax(node, args, x, shape_of):
    import numpy as np

    axis = node.attrs.get("axis", -1)
    e = np.exp(x - x.max(axis=axis, keepdims=True))         # less the maximum: no overflow
    return [(e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)]


@_folds("Trilu")
def _trilu(node, args, x, shape_of):
    import numpy as np

    k = int(np.asarray(args[1]).reshape(-1)[0]) if len(args) > 1 and args[1] is not None else 0
    return [np.triu(x, k) if node.attrs.get("upper", 1) else np.tril(x, k)]


@_folds("Erf")
def erf(node, args, x, shape_of):
    import numpy as np

    return [np.vectorize(math.erf)(x).astype(x.dtype)]      # numpy has no erf


FOLDABLE = frozenset(FOLDERS)
# not folded: a MatMul, Einsum or Conv of constants runs at every forward in the file, and its MACs
# are counted (ConViT's position projection, MaxViT's relative-position einsum)
