"""Caffe's layer types onto cnncost kinds: one handler per type in `LAYERS`, called as
handler(r, ld, xs) with r the reader (interop/caffe/reader.py), ld the layer as the net
gives it (its params are `ld.params`) and xs the Values of its bottoms; it returns one Value
per top. Window layers and InnerProduct are in windows.py.

BatchNorm holds three blobs: the mean and the variance, each times a moving-average factor
(the third blob; Caffe divides by it), read here as our batch_norm's statistics with no gamma
or beta: the Scale after it holds those (our scale, and shift for its bias)."""
from __future__ import annotations

from cnncost.interop.caffe.blobs import Want
from cnncost.interop.caffe.net import blob_shape
from cnncost.interop.caffe.text import TextError, as_int
from cnncost.interop.handlers import Handlers
from cnncost.interop.refusals import Refused

LAYERS = Handlers("Caffe")
# bottoms a type reads (least, most; None: any number); one otherwise
BOTTOMS = {"Input": (0, 0), "Eltwise": (2, None), "Concat": (1, None), "Silence": (1, None), "Scale": (1, 2)}


def check_bottoms(ld) -> None:
    least, most = BOTTOMS.get(ld.type, (1, 1))
    n = len(ld.bottoms)
    if n < least or (most is not None and n > most):
        need = str(least) if most == least else f"{least} or more" if most is None else f"{least} to {most}"
        raise TextError(f"{n} bottom(s); a {ld.type} reads {need}", ld.line, ld.col)


def _axis(ld, x, axis: int) -> int:
    """Caffe's axis of x's blob (batch 0, negative from the end) as our kinds' (batch 0)."""
    rank = len(x.caffe) + 1
    if not -rank <= axis < rank:
        raise TextError(f"axis {axis} of a blob of {rank} axes", ld.line, ld.col)
    axis %= rank
    if axis == 0:
        raise Refused("along the batch axis")
    if x.layout == "map":
        return {1: 3, 2: 1, 3: 2}[axis]
    return axis


def _same(r, ld, xs):
    """Element-wise inputs in one layout: flattened maps of one shape stay so; a mix is made
    Caffe's order."""
    if all(x.layout == xs[0].layout and x.chw == xs[0].chw for x in xs):
        return xs
    return [r.plain(ld, x) for x in xs]


# ---- inputs and plumbing -----------------------------------------------------------------
@LAYERS.on("Input")
def input_layer(r, ld, xs):
    shapes = [blob_shape(m) for m in ld.params.message("input_param").messages("shape")]
    if len(shapes) not in (1, len(ld.tops)):
        raise TextError(f"{len(shapes)} shapes for {len(ld.tops)} tops: one, or one per top", ld.line, ld.col)
    for i, top in enumerate(ld.tops):
        r.add_input(top, shapes[min(i, len(shapes) - 1)], ld)
    return [r.blobs[top] for top in ld.tops]


@LAYERS.on("Split")
def split(r, ld, xs):
    return [xs[0]] * len(ld.tops)


@LAYERS.on("Silence")
def silence(r, ld, xs):
    return []


@LAYERS.on("Dropout")
def dropout(r, ld, xs):
    x = xs[0]
    rate = ld.params.message("dropout_param").float("dropout_ratio", 0.5)
    if not 0.0 <= rate < 1.0:
        raise TextError(f"dropout_ratio {rate} is not in [0, 1)", ld.line, ld.col)
    return [r.emit(ld, "dropout", [x], layout=x.layout, chw=x.chw, rate=rate)]


# ---- element-wise functions --------------------------------------------------------------
UNARY = {"Sigmoid": ("sigmoid", {}), "TanH": ("tanh", {}), "AbsVal": ("unary", {"fn": "abs"}),
         "BNLL": ("softplus", {})}


@LAYERS.on(*UNARY)
def unary(r, ld, xs):
    kind, args = UNARY[ld.type]
    return [r.emit(ld, kind, xs, layout=xs[0].layout, chw=xs[0].chw, **args)]


@LAYERS.on("ReLU")
def relu(r, ld, xs):
    slope = ld.params.message("relu_param").float("negative_slope", 0.0)
    args = {"slope": slope} if slope else {}
    return [r.emit(ld, "leaky_relu" if slope else "relu", xs, layout=xs[0].layout, chw=xs[0].chw, **args)]


@LAYERS.on("ELU")
def elu(r, ld, xs):
    alpha = ld.params.message("elu_param").float("alpha", 1.0)
    return [r.emit(ld, "elu", xs, layout=xs[0].layout, chw=xs[0].chw, alpha=alpha)]


@LAYERS.on("Softmax")
def softmax(r, ld, xs):
    x = xs[0]
    axis = ld.params.message("softmax_param").int("axis", 1, None)
    if x.layout == "flat" and axis in (1, -1):        # the whole vector: its order does not matter
        return [r.emit(ld, "softmax", [x], layout="flat", chw=x.chw)]
    ours = _axis(ld, x, axis)
    last = len(x.shape)
    return [r.emit(ld, "softmax", [x], layout=x.layout, axis=None if ours == last else ours)]


# ---- per channel -------------------------------------------------------------------------
@LAYERS.on("PReLU")
def prelu(r, ld, xs):
    x = r.channels(ld, xs[0])
    shared = ld.params.message("prelu_param").bool("channel_shared", False)
    c = 1 if shared else x.shape[-1]
    r.takes_blobs(ld, 1)
    return [r.emit(ld, "prelu", [x], layout=x.layout, weights={"slope": _want(ld, 0, c)},
                   shared=True if shared else None)]


def _want(ld, i, c):
    return Want(ld.name, (i,), ((c,),))


@LAYERS.on("BatchNorm")
def batch_norm(r, ld, xs):
    x = r.channels(ld, xs[0])
    p = ld.params.message("batch_norm_param")
    eps = p.float("eps", 1e-5)
    if not p.bool("use_global_stats", True) and r.with_weights:
        raise Refused("use_global_stats: false normalises by each batch's own statistics (training)")
    c = x.shape[-1]

    def stat(i):
        def make(values, factor):
            f = factor.reshape(-1)[0]
            return values * (0.0 if f == 0 else 1.0 / f)      # Caffe's moving-average factor
        return Want(ld.name, (i, 2), ((c,), (1,)), make)
    r.takes_blobs(ld, 3)
    r.batch_norms += 1
    return [r.emit(ld, "batch_norm", [x], layout=x.layout, weights={"moving_mean": stat(0), "moving_variance": stat(1)},
                   eps=eps if eps != 1e-5 else None, scale=False, center=False)]


def _per_channel_axis(ld, p):
    if p.int("axis", 1, None) != 1 or p.int("num_axes", 1, None) != 1:
        raise Refused(f"a {ld.type} over axes other than the channels (axis {p.int('axis', 1, None)}, num_axes "
                      f"{p.int('num_axes', 1, None)})")


@LAYERS.on("Scale")
def scale(r, ld, xs):
    p = ld.params.message("scale_param")
    bias = p.bool("bias_term", False)
    x = r.channels(ld, xs[0])
    c = x.shape[-1]
    if len(xs) == 2:                       # x times a second bottom of one value per channel
        s = xs[1]
        if s.caffe not in ((c,), (c, 1, 1)):
            raise Refused(f"a Scale of {s.caffe} over a blob of {x.caffe}: cnncost reads one factor per channel")
        y = r.emit(ld, "multiply", [x, s if s.layout != "flat" else r.plain(ld, s)], layout=x.layout)
    else:
        _per_channel_axis(ld, p)
        y = r.emit(ld, "scale", [x], layout=x.layout, weights={"gamma": _want(ld, 0, c)})
    r.takes_blobs(ld, int(len(xs) == 1) + int(bias))
    if bias:
        y = r.emit(ld, "shift", [y], layout=x.layout, suffix=".bias", weights={"beta": _want(ld, int(len(xs) == 1), c)})
    return [y]


@LAYERS.on("Bias")
def bias(r, ld, xs):
    if len(xs) != 1:
        raise Refused("a Bias of a second bottom")
    _per_channel_axis(ld, ld.params.message("bias_param"))
    x = r.channels(ld, xs[0])
    r.takes_blobs(ld, 1)
    return [r.emit(ld, "shift", [x], layout=x.layout, weights={"beta": _want(ld, 0, x.shape[-1])})]


@LAYERS.on("LRN")
def lrn(r, ld, xs):
    x = r.as_map(ld, xs[0])
    p = ld.params.message("lrn_param")
    if p.enum("norm_region", {"ACROSS_CHANNELS": 0, "WITHIN_CHANNEL": 1}, "ACROSS_CHANNELS") != "ACROSS_CHANNELS":
        raise Refused("LRN within each channel (a spatial window; cnncost's lrn is across channels)")
    size = p.int("local_size", 5, 1)
    if size % 2 == 0:
        raise TextError(f"local_size {size} is even (Caffe takes odd sizes)", p.line, p.col)
    return [r.emit(ld, "lrn", [x], layout="map", size=size, alpha=p.float("alpha", 1.0),
                   beta=p.float("beta", 0.75), k=p.float("k", 1.0))]


# ---- merges --------------------------------------------------------------------------------
@LAYERS.on("Eltwise")
def eltwise(r, ld, xs):
    p = ld.params.message("eltwise_param")
    op = p.enum("operation", {"PROD": 0, "SUM": 1, "MAX": 2}, "SUM")
    coeffs = p.floats("coeff")
    if len(xs) < 2:
        raise TextError(f"an Eltwise of {len(xs)} bottom(s)", ld.line, ld.col)
    if coeffs and (op != "SUM" or len(coeffs) != len(xs)):
        raise TextError(f"{len(coeffs)} coeff(s) for a {op} of {len(xs)} bottoms (Caffe takes one per bottom, "
                        "for SUM)", ld.line, ld.col)
    xs = _same(r, ld, xs)
    layout, chw = xs[0].layout, xs[0].chw
    if op == "PROD":
        return [r.emit(ld, "multiply", xs, layout=layout, chw=chw)]
    if op == "MAX":
        y = xs[0]
        for i, x in enumerate(xs[1:]):
            y = r.emit(ld, "binary", [y, x], layout=layout, chw=chw, suffix="" if i == len(xs) - 2 else f".{i}",
                       op="max")
        return [y]
    if coeffs == [1.0, -1.0]:
        return [r.emit(ld, "subtract", xs, layout=layout, chw=chw)]
    terms = []
    for i, (x, c) in enumerate(zip(xs, coeffs or [1.0] * len(xs))):
        terms.append(x if c == 1.0 else r.emit(ld, "binary", [x], layout=layout, chw=chw, suffix=f".coeff{i}",
                                                op="mul", scalar=c))
    return [r.emit(ld, "add", terms, layout=layout, chw=chw)]


def _concat_axis(ld, p) -> int:
    if p.has("axis") and p.has("concat_dim"):
        raise TextError("axis and concat_dim (an alias): give one", ld.line, ld.col)
    return p.int("axis", 1, None) if p.has("axis") else p.int("concat_dim", 1)


@LAYERS.on("Concat")
def concat(r, ld, xs):
    axis = _concat_axis(ld, ld.params.message("concat_param"))
    if len({x.layout for x in xs}) > 1 or any(x.layout == "flat" for x in xs):
        xs = [r.plain(ld, x) for x in xs]
    ours = _axis(ld, xs[0], axis)
    if len(xs) == 1:
        return [xs[0]]
    return [r.emit(ld, "concat", xs, layout=xs[0].layout, axis=None if ours == len(xs[0].shape) else ours)]


@LAYERS.on("Slice")
def slice_layer(r, ld, xs):
    p = ld.params.message("slice_param")
    if p.has("axis") and p.has("slice_dim"):
        raise TextError("axis and slice_dim (an alias): give one", ld.line, ld.col)
    axis = p.int("axis", 1, None) if p.has("axis") else p.int("slice_dim", 1)
    x = xs[0] if xs[0].layout != "flat" else r.plain(ld, xs[0])
    ours = _axis(ld, x, axis)
    size = x.shape[ours - 1]
    points = p.ints("slice_point", 1)
    n = len(ld.tops)
    if points:
        if len(points) != n - 1 or points != sorted(set(points)) or points[-1] >= size:
            raise TextError(f"slice_point {points} for {n} tops of an axis of {size}", ld.line, ld.col)
    elif size % n:
        raise TextError(f"{n} tops of equal parts of an axis of {size}", ld.line, ld.col)
    else:
        points = [size // n * i for i in range(1, n)]
    cuts = [0, *points, size]
    return [r.emit(ld, "slice", [x], layout=x.layout, base=top, start=cuts[i] or None, stop=cuts[i + 1],
                   axis=None if ours == len(x.shape) else ours)
            for i, top in enumerate(ld.tops)]


# ---- shapes --------------------------------------------------------------------------------
@LAYERS.on("Flatten")
def flatten(r, ld, xs):
    x = xs[0]
    p = ld.params.message("flatten_param")
    if p.int("axis", 1, None) not in (1, -len(x.caffe) - 1) or p.int("end_axis", -1, None) not in (-1, len(x.caffe)):
        raise Refused("a Flatten of axes other than all past the batch")
    if len(x.shape) == 1:
        return [x]
    if x.layout == "map":
        h, w, c = x.shape
        return [r.emit(ld, "flatten", [x], layout="flat", chw=(c, h, w) if h * w > 1 else None)]
    return [r.emit(ld, "reshape", [x], layout="plain", shape=[-1])]


@LAYERS.on("Reshape")
def reshape(r, ld, xs):
    x = xs[0]
    target = _reshaped(r, ld, x)
    if target == x.caffe:
        return [x]
    if len(target) == 1 and x.layout == "map":
        return flatten(r, ld, xs)
    if x.layout == "flat" and target == x.chw:             # the flattening undone
        c, h, w = target
        return [r.emit(ld, "reshape", [x], layout="map", shape=[h, w, c])]
    if len(target) == 3 and target[1:] == (1, 1) and len(x.shape) == 1:
        return [r.emit(ld, "reshape", [r.plain(ld, x)], layout="map", shape=[1, 1, target[0]])]
    y = r.emit(ld, "reshape", [r.plain(ld, x)], layout="plain", shape=list(target))
    return [r.as_map(ld, y) if len(target) == 3 else y]


def _reshaped(r, ld, x) -> tuple:
    """The per-example shape Caffe's ReshapeLayer makes (0 copies an axis, -1 is inferred)."""
    p = ld.params.message("reshape_param")
    dims = [as_int(f, -1) for f in p.message("shape").all("dim")]
    full = (r.batch, *x.caffe)
    axis, num = p.int("axis", 0, None), p.int("num_axes", -1, -1)
    start = axis if axis >= 0 else len(full) + axis + 1
    end = len(full) if num == -1 else start + num
    if not 0 <= start <= end <= len(full) or dims.count(-1) > 1:
        raise TextError(f"reshape_param (shape {dims}, axis {axis}, num_axes {num}) for a blob of "
                        f"{list(full)}", ld.line, ld.col)
    new = []
    for i, d in enumerate(dims):
        if d == 0 and start + i >= len(full):
            raise TextError(f"dim {i} copies axis {start + i} of a blob of {len(full)} axes", ld.line, ld.col)
        new.append(full[start + i] if d == 0 else d)
    new = [*full[:start], *new, *full[end:]]
    total, known = 1, 1
    for d in full:
        total *= d
    for d in new:
        known *= d if d != -1 else 1
    if -1 in new:
        if known == 0 or total % known:
            raise TextError(f"cannot infer -1 in {new} from a blob of {list(full)}", ld.line, ld.col)
        new[new.index(-1)] = total // known
    elif known != total:
        raise TextError(f"shape {new} holds {known:,} values, the blob {total:,}", ld.line, ld.col)
    if not new or new[0] != r.batch:
        raise Refused(f"a Reshape to {new} that moves the batch ({r.batch})")
    if len(new) > 9:
        raise Refused(f"a Reshape to {len(new)} axes")
    return tuple(new[1:])

