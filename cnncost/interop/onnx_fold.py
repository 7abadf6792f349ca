"""Evaluate ONNX nodes whose inputs are all known values: the shape arithmetic exporters
emit (Shape -> Gather -> Unsqueeze -> Concat -> Reshape), Constant nodes, and constant
operands prepared in the graph (a Div of two constants). Each op follows its ONNX
operator spec, in both the attribute form of older opsets and the input form of newer.
"""
from __future__ import annotations

import math

from cnncost.interop.onnx_proto import DTYPES

FOLDABLE = frozenset({"Constant", "Shape", "Size", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast",
                      "Slice", "Reshape", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Neg", "Abs", "Floor",
                      "Ceil", "Equal", "Less", "Greater", "Not", "Where", "ConstantOfShape", "Range",
                      "Expand", "Identity", "Transpose", "ReduceProd", "ReduceSum", "ReduceMean", "ReduceMax",
                      "ReduceMin", "Min", "Max", "Mod", "Flatten", "Split", "Tile", "Erf", "Sigmoid",
                      "Tanh", "Relu", "Exp", "Log", "Reciprocal", "Clip", "BatchNormalization", "CumSum",
                      "ScatterND", "Softmax", "Trilu", "Sin", "Cos", "Sign", "DequantizeLinear", "QuantizeLinear"})
# not folded: a MatMul, Einsum or Conv of constants runs at every forward in the file, and its MACs
# are counted (ConViT's position projection, MaxViT's relative-position einsum)


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
         "ConstantOfShape": 1}


def fold(node, args, shape_of=None, limit=FOLD_ELEMENTS) -> list:
    """The outputs of `node` given its inputs' values (None for an omitted input).
    `shape_of` gives the ONNX shape of a tensor input (for Shape on a layer's output). An
    output of more than `limit` elements is refused before it is made."""
    import numpy as np      # here, not at import: counting a model without shape arithmetic needs none

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
    x = args[0] if args else None
    if op == "Constant":
        return [constant_attr(node)]
    if op == "Shape":
        dims = np.array(shape_of if x is None else x.shape, np.int64)
        start, end = a.get("start", 0), a.get("end")
        return [dims[start:end]]
    if op == "Size":
        return [np.array(int(np.prod(shape_of if x is None else x.shape)), np.int64)]
    if op == "Identity":
        return [x]
    if op in ("DequantizeLinear", "QuantizeLinear"):      # a QDQ file's weights, per tensor or per axis
        scale = np.asarray(args[1], np.float64)
        zp = np.asarray(args[2] if len(args) > 2 and args[2] is not None else 0)
        shape = [1] * x.ndim
        if scale.ndim == 1 and scale.size > 1:
            shape[a.get("axis", 1) % x.ndim] = scale.size
        scale, zpf = scale.reshape(shape if scale.size > 1 else ()), zp.astype(np.float64).reshape(
            shape if zp.size > 1 else ())
        if op == "DequantizeLinear":
            return [((x.astype(np.float64) - zpf) * scale).astype(np.float32)]
        target = zp.dtype if np.issubdtype(zp.dtype, np.integer) else np.dtype(np.uint8)
        info = np.iinfo(target)
        return [np.clip(np.round(x / scale) + zpf, info.min, info.max).astype(target)]
    if op == "Gather":
        return [np.take(x, np.asarray(args[1]), axis=a.get("axis", 0))]
    if op == "Unsqueeze":
        axes = _axes(node, args, 1)
        rank = x.ndim + len(axes)
        out = x
        for ax in sorted(ax % rank for ax in axes):
            out = np.expand_dims(out, ax)
        return [out]
    if op == "Squeeze":
        axes = _axes(node, args, 1)
        return [np.squeeze(x, axis=None if axes is None else tuple(ax % x.ndim for ax in axes))]
    if op == "Concat":
        parts = [np.asarray(v) for v in args if v is not None]
        return [np.concatenate([p.reshape(1) if p.ndim == 0 else p for p in parts], axis=a.get("axis", 0))]
    if op == "Cast":
        to = DTYPES.get(a.get("to"))
        if to is None:
            raise FoldError(f"Cast to element type {a.get('to')}")
        return [np.asarray(x).astype(to)]
    if op == "Slice":
        return [_slice(node, args)]
    if op == "Reshape":
        target = args[1] if len(args) > 1 else a["shape"]
        return [np.reshape(x, reshape_target(x.shape, list(target), bool(a.get("allowzero", 0))))]
    if op == "Flatten":
        axis = a.get("axis", 1) % max(x.ndim, 1)
        return [x.reshape(int(np.prod(x.shape[:axis])), -1)]
    if op == "Transpose":
        return [np.transpose(x, a.get("perm"))]
    if op == "Expand":
        return [x * np.ones([int(d) for d in args[1]], dtype=x.dtype)]
    if op == "Tile":
        return [np.tile(x, [int(d) for d in args[1]])]
    if op == "ConstantOfShape":
        value = a["value"].value().reshape(-1)[0] if "value" in a else np.float32(0)
        return [np.full([int(d) for d in x], value, dtype=np.asarray(value).dtype)]
    if op == "Range":
        return [np.arange(args[0], args[1], args[2]).astype(np.asarray(args[0]).dtype)]
    if op == "Where":
        return [np.where(args[0], args[1], args[2])]
    if op == "Split":
        axis = a.get("axis", 0)
        sizes = args[1] if len(args) > 1 and args[1] is not None else a.get("split")
        if sizes is None:
            n = len(node.outputs)
            sizes = [x.shape[axis] // n] * n
        return np.split(x, np.cumsum([int(s) for s in sizes])[:-1], axis=axis)
    if op == "BatchNormalization":      # of a constant: weight standardisation (NF-ResNet)
        scale, bias, mean, var = (np.asarray(v).reshape((-1,) + (1,) * (x.ndim - 2)) for v in args[1:5])
        return [((x - mean) / np.sqrt(var + a.get("epsilon", 1e-5)) * scale + bias).astype(x.dtype)]
    if op == "Clip":
        lo = args[1] if len(args) > 1 and args[1] is not None else a.get("min", -np.inf)
        hi = args[2] if len(args) > 2 and args[2] is not None else a.get("max", np.inf)
        return [np.clip(x, lo, hi).astype(x.dtype)]
    reductions = {"ReduceProd": np.prod, "ReduceSum": np.sum, "ReduceMean": np.mean, "ReduceMax": np.max,
                  "ReduceMin": np.min}
    if op in reductions:
        return [np.asarray(_reduce(node, args, reductions[op])).astype(x.dtype)]
    binary = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Pow": np.power, "Equal": np.equal,
              "Less": np.less, "Greater": np.greater, "Min": np.minimum, "Max": np.maximum}
    if op in binary:
        out = args[0]
        for y in args[1:]:
            out = binary[op](out, y)
        return [np.asarray(out).astype(np.result_type(args[0], args[1]) if op not in ("Equal", "Less", "Greater")
                                       else bool)]
    if op == "Div":
        if np.issubdtype(np.asarray(x).dtype, np.integer):
            return [np.asarray(np.trunc(x / args[1])).astype(x.dtype)]
        return [np.asarray(x / args[1]).astype(x.dtype)]
    if op == "Mod":
        return [np.fmod(x, args[1]) if a.get("fmod", 0) else np.mod(x, args[1])]
    unary = {"Sqrt": np.sqrt, "Neg": np.negative, "Abs": np.abs, "Floor": np.floor, "Ceil": np.ceil,
             "Not": np.logical_not, "Exp": np.exp, "Log": np.log, "Reciprocal": np.reciprocal,
             "Tanh": np.tanh, "Relu": lambda v: np.maximum(v, 0), "Sigmoid": lambda v: 1 / (1 + np.exp(-v)),
             "Sin": np.sin, "Cos": np.cos, "Sign": np.sign}
    if op in unary:
        return [np.asarray(unary[op](x)).astype(np.asarray(x).dtype)]
    if op == "CumSum":
        axis = int(np.asarray(args[1]).reshape(-1)[0])
        y = np.flip(x, axis) if a.get("reverse", 0) else x
        out = np.cumsum(y, axis=axis, dtype=x.dtype)
        if a.get("exclusive", 0):
            out = out - y
        return [np.flip(out, axis) if a.get("reverse", 0) else out]
    if op == "ScatterND":       # shifted-window masks, relative-position tables (of constants)
        if a.get("reduction", "none") != "none":
            raise FoldError(f"ScatterND with reduction {a.get('reduction')}")
        out, idx, upd = np.array(x, copy=True), np.asarray(args[1]), np.asarray(args[2])
        k = idx.shape[-1]
        flat = idx.reshape(-1, k)
        out[tuple(flat.T)] = upd.reshape((flat.shape[0],) + out.shape[k:])
        return [out]
    if op == "Softmax":
        axis = a.get("axis", -1)
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return [(e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)]
    if op == "Trilu":
        k = int(np.asarray(args[1]).reshape(-1)[0]) if len(args) > 1 and args[1] is not None else 0
        return [np.triu(x, k) if a.get("upper", 1) else np.tril(x, k)]
    if op == "Erf":
        import math
        return [np.vectorize(math.erf)(x).astype(x.dtype)]
    raise FoldError(f"{op} of constants")  # pragma: no cover - FOLDABLE lists what is handled
