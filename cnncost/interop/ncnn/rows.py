"""ncnn's layers over a blob's rows, as pnnx writes a transformer's or an MLP's: Gemm with
a constant B (a Linear on a 3-D input), LayerNorm and Reduction. They read the blob in
ncnn's own order (plain): a row is ncnn's w, our last axis."""
from __future__ import annotations

from cnncost.errors import ModelFileError
from cnncost.interop.ncnn.table import LAYERS
from cnncost.interop.ncnn.tensors import _ours
from cnncost.interop.refusals import Refused


@LAYERS.on("Gemm")
def gemm(r, layer):
    """Y = A op(B) + C with B (5=constantB) and C (6=constantC) in the .bin: 3=transB, 7/8/9
    M, N, K, 10=constant_broadcast_type_C (4: one value a column, a bias; -1: none)."""
    r.one_to_one(layer)
    p = layer.params
    if p.int(4) or not p.int(5) or p.int(2):
        raise Refused("a product of two blobs, or with A constant or transposed (cnncost reads x B, B constant)")
    if p.float(0, 1.0) != 1.0 or p.float(1, 1.0) != 1.0 or any(p.int(k) for k in (11, 12, 13, 14, 18)):
        raise Refused("alpha or beta other than 1, or an output layout or int8 option")
    n, k = p.int(8), p.int(9)
    if not 1 <= n <= 1 << 24 or not 1 <= k <= 1 << 24:
        raise ModelFileError(f"constantN {n} and constantK {k}")
    x = r.as_plain(r.x(layer))
    if x.shape[-1] != k:
        raise ModelFileError(f"rows of {x.shape[-1]} values for constantK {k}")
    trans = p.int(3)
    weights = {"kernel": (r.load(n * k, True, "B"), (lambda v: v.reshape(n, k).T) if trans else
                          (lambda v: v.reshape(k, n)))}
    bias = p.int(6) and p.int(10) != -1
    if bias:
        if p.int(10) != 4:
            raise Refused(f"constant C broadcast as type {p.int(10)} (cnncost reads 4: a bias per column)")
        weights["bias"] = (r.load(n, True, "C"), lambda v: v)
    r.put(layer, r.emit(layer, "dense", [x], weights=weights, units=n, bias=bool(bias),
                        per_position=True if len(x.shape) == 3 else None))


@LAYERS.on("LayerNorm")
def layer_norm(r, layer):
    """0=affine_size (a row, w; or a channel, w x h), 1=eps, 2=affine: gamma, beta."""
    r.one_to_one(layer)
    p = layer.params
    x = r.as_plain(r.x(layer))
    size = p.int(0)
    axes = 1 if size == x.shape[-1] else 2 if len(x.shape) > 2 and size == x.shape[-1] * x.shape[-2] else 0
    if not axes:
        raise ModelFileError(f"affine_size {size} for a blob of shape {list(x.dims)} (c, h, w)")
    affine = bool(p.int(2, 1))
    same = lambda v: v        # noqa: E731
    weights = {w: (r.load(size, False, w), same) for w in ("gamma", "beta")} if affine else {}
    r.put(layer, r.emit(layer, "layer_norm", [x], weights=weights, eps=p.float(1, 0.001),
                        affine=None if affine else False, axes=axes if axes > 1 else None))


REDUCE = {0: "sum", 3: "mean", 4: "max", 5: "min", 8: "l2"}


@LAYERS.on("Reduction")
def reduction(r, layer):
    """0=operation, 1=reduce_all, 2=coeff, 3=axes, 4=keepdims, 5=fixbug0 (pnnx writes 1:
    the axes are the blob's, c first)."""
    r.one_to_one(layer)
    p = layer.params
    op = REDUCE.get(p.int(0))
    if op is None or p.float(2, 1.0) != 1.0:
        raise Refused(f"operation {p.int(0)} with coeff {p.float(2, 1.0)} (cnncost reduces by sum, mean, max, "
                      "min and l2)")
    x = r.x(layer)
    if not p.int(5):
        raise Refused("axes in old ncnn's numbering (5=fixbug0 not set)")
    rank = len(x.shape)
    axes = list(range(rank)) if p.int(1) else p.ints(3)
    if not axes:
        raise ModelFileError("no axes to reduce")
    ours = sorted({_ours(x, a) for a in axes})
    keep = bool(p.int(4))
    if x.layout == "map" and rank > 1 and ours == list(range(1, rank)) and op in ("mean", "max"):
        kind = "global_avg_pool" if op == "mean" else "global_max_pool"
        r.put(layer, r.emit(layer, kind, [x], keepdims=True if keep else None, layout=None if keep else "plain"))
        return
    if not keep and len(ours) < rank:
        x = r.as_plain(x)
        ours = sorted({_ours(x, a) for a in axes})
    r.put(layer, r.emit(layer, "reduce", [x], op=op, axes=ours, keepdims=keep))
