"""ncnn's element-wise layers onto cnncost kinds: activations, BinaryOp and Eltwise,
BatchNorm, Scale, PReLU, and the layers that make no layer of ours (Split, Noop, Dropout).
An element-wise layer keeps its input's layout (a map stays a map)."""
from __future__ import annotations

import math
from cnncost.errors import ModelFileError
from cnncost.interop.ncnn.table import LAYERS
from cnncost.interop.ncnn.windows import clip_kind, hard_swish_kind
from cnncost.interop.refusals import Refused

SIMPLE = {"Sigmoid": "sigmoid", "TanH": "tanh", "Swish": "swish", "Mish": "mish", "Softplus": "softplus"}


def _unary(r, layer, kind, **args):
    r.one_to_one(layer)
    r.put(layer, r.emit(layer, kind, [r.x(layer)], **args))


@LAYERS.on(*SIMPLE)
def simple(r, layer):
    _unary(r, layer, SIMPLE[layer.type])


@LAYERS.on("ReLU")
def relu(r, layer):
    slope = layer.params.float(0)
    _unary(r, layer, "leaky_relu", slope=slope) if slope else _unary(r, layer, "relu")


@LAYERS.on("Clip")
def clip(r, layer):
    _unary(r, layer, clip_kind(layer.params.float(0, -3.4028234663852886e38),
                               layer.params.float(1, 3.4028234663852886e38)))


@LAYERS.on("HardSwish")
def hard_swish(r, layer):
    hard_swish_kind(layer.params.float(0, 0.2), layer.params.float(1, 0.5))
    _unary(r, layer, "hard_swish")


@LAYERS.on("HardSigmoid")
def hard_sigmoid(r, layer):
    hard_swish_kind(layer.params.float(0, 0.2), layer.params.float(1, 0.5))
    _unary(r, layer, "hard_sigmoid")


@LAYERS.on("GELU")
def gelu(r, layer):
    _unary(r, layer, "gelu", approximate="tanh" if layer.params.int(0) else None)


@LAYERS.on("ELU")
def elu(r, layer):
    _unary(r, layer, "elu", alpha=layer.params.float(0, 0.1))


# UnaryOp's op_type -> our unary fn
UNARY = {0: "abs", 1: "neg", 2: "floor", 3: "ceil", 5: "sqrt", 7: "exp", 8: "log", 9: "sin", 10: "cos",
         15: "reciprocal"}


@LAYERS.on("UnaryOp")
def unary_op(r, layer):
    op = layer.params.int(0)
    if op == 16:
        return _unary(r, layer, "tanh")
    if op == 4:
        return _unary(r, layer, "unary", fn="pow", exponent=2.0)
    if op not in UNARY:
        raise Refused(f"op_type {op}")
    _unary(r, layer, "unary", fn=UNARY[op])


@LAYERS.on("AbsVal")
def abs_val(r, layer):
    _unary(r, layer, "unary", fn="abs")


@LAYERS.on("Split")
def split(r, layer):
    """Every output is the input: no layer of ours."""
    x = r.ins(layer, 1, 1)[0]
    for i in range(len(layer.tops)):
        r.put(layer, x, i)


@LAYERS.on("Noop", "Dropout")
def passthrough(r, layer):
    """Noop, and Dropout at inference: the input itself (Dropout's 0=scale other than 1
    multiplies by it)."""
    r.one_to_one(layer)
    x = r.x(layer)
    scale = layer.params.float(0, 1.0) if layer.type == "Dropout" else 1.0
    r.put(layer, x if scale == 1.0 else r.emit(layer, "binary", [x], op="mul", scalar=scale))


# BinaryOp's op_type -> (our binary op, operands swapped)
BINARY = {0: ("add", False), 1: ("sub", False), 2: ("mul", False), 3: ("div", False), 4: ("max", False),
          5: ("min", False), 6: ("pow", False), 7: ("sub", True), 8: ("div", True), 9: ("pow", True)}
KINDS = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide"}


@LAYERS.on("BinaryOp")
def binary_op(r, layer):
    """0=op_type, 1=with_scalar, 2=b. Two blobs broadcast by ncnn's rule
    (docs/developer-guide/binaryop-broadcasting.md): a scalar-like blob, equal ranks with
    axes of 1, or a 1-D blob of a map's channels (SE's scale): each is NumPy's broadcast
    of the two as we hold them, maps channels last."""
    p = layer.params
    op = p.int(0)
    if op not in BINARY:
        raise Refused(f"op_type {op}")
    name, swapped = BINARY[op]
    if p.int(1):
        r.one_to_one(layer)
        r.put(layer, r.emit(layer, "binary", [r.x(layer)], op=name, scalar=p.float(2),
                            scalar_first=True if swapped else None))
        return
    a, b = r.ins(layer, 2, 2)
    if len(layer.tops) != 1:
        raise ModelFileError(f"has {len(layer.tops)} outputs; it makes one")
    a, b = _aligned(r, a, b)
    if swapped:
        a, b = b, a
    if a.shape == b.shape and name in KINDS:
        held = r.emit(layer, KINDS[name], [a, b])
    elif name in ("mul", "sub", "div"):
        held = r.emit(layer, KINDS[name], [a, b], layout=_wider(a, b).layout)
    else:
        held = r.emit(layer, "binary", [a, b], op=name, layout=_wider(a, b).layout)
    r.put(layer, held)


def _wider(a, b):
    return a if len(a.shape) >= len(b.shape) else b


def _aligned(r, a, b):
    """The two operands held so that NumPy broadcasts them as ncnn does."""
    na, nb = math.prod(a.shape), math.prod(b.shape)
    if na == 1 or nb == 1:
        return a, b
    if len(a.shape) == len(b.shape):
        if a.layout != b.layout:
            b = r.as_map(b) if a.layout == "map" else r.as_plain(b)
        if all(x == y or 1 in (x, y) for x, y in zip(a.dims, b.dims)):
            return a, b
    else:
        big_first = len(a.shape) > len(b.shape)
        big, small = (a, b) if big_first else (b, a)
        if len(small.shape) == 1 and small.shape[0] == big.dims[0]:       # one value a channel
            big = r.as_map(big)
            return (big, small) if big_first else (small, big)
    raise Refused(f"operands of ncnn shapes {list(a.dims)} and {list(b.dims)} (c, h, w order): a broadcast "
                  "cnncost does not read")


@LAYERS.on("Eltwise")
def eltwise(r, layer):
    """0=op_type (0 product, 1 sum, 2 max) of blobs of one shape; 1=coeffs weigh a sum."""
    p = layer.params
    xs = r.ins(layer, 2)
    if len(layer.tops) != 1:
        raise ModelFileError(f"has {len(layer.tops)} outputs; it makes one")
    xs = [xs[0]] + [r.as_map(x) if xs[0].layout == "map" else r.as_plain(x) for x in xs[1:]]
    op, coeffs = p.int(0), p.floats(1)
    if op == 1 and coeffs:
        if len(coeffs) != len(xs):
            raise ModelFileError(f"{len(coeffs)} coeffs for {len(xs)} inputs")
        xs = [x if c == 1.0 else r.emit(layer, "binary", [x], suffix=f".coeff{i}", op="mul", scalar=c)
              for i, (x, c) in enumerate(zip(xs, coeffs))]
    if op == 0:
        held = r.emit(layer, "multiply", xs)
    elif op == 1:
        held = r.emit(layer, "add", xs)
    elif op == 2:
        held = xs[0]
        for i, x in enumerate(xs[1:]):
            held = r.emit(layer, "binary", [held, x], op="max", suffix="" if i == len(xs) - 2 else f".max{i}")
    else:
        raise ModelFileError(f"op_type {op} (0: product, 1: sum, 2: max)")
    r.put(layer, held)


def _channels(r, layer, held, n, what):
    """A per-channel layer's input as a map (channels last) of `n` channels."""
    x = r.as_map(held)
    if x.shape[-1] != n:
        raise ModelFileError(f"{what} {n} for an input of {x.dims[0] if len(x.shape) > 1 else x.shape[0]} channels")
    return x


@LAYERS.on("BatchNorm")
def batch_norm(r, layer):
    """0=channels, 1=eps; weights slope, mean, variance, bias (float32, untagged)."""
    r.one_to_one(layer)
    n = layer.params.int(0)
    x = _channels(r, layer, r.x(layer), n, "channels")
    same = lambda v: v        # noqa: E731 - each statistic is ours as it is
    weights = {w: (r.load(n, False, w), same) for w in ("gamma", "moving_mean", "moving_variance", "beta")}
    r.put(layer, r.emit(layer, "batch_norm", [x], weights=weights, eps=layer.params.float(1)))


@LAYERS.on("Scale")
def scale(r, layer):
    """0=scale_data_size, 1=bias_term: a multiplier per channel, then a bias."""
    r.one_to_one(layer)
    n = layer.params.int(0)
    if n == -233:
        raise Refused("its scale from a second input")
    x = _channels(r, layer, r.x(layer), n, "scale_data_size")
    held = r.emit(layer, "scale", [x], weights={"gamma": (r.load(n, False, "scale"), lambda v: v)},
                  suffix=".scale" if layer.params.int(1) else "")
    if layer.params.int(1):
        held = r.emit(layer, "shift", [held], weights={"beta": (r.load(n, False, "bias"), lambda v: v)})
    r.put(layer, held)


@LAYERS.on("PReLU")
def prelu(r, layer):
    """0=num_slope: one slope a channel, or one for all."""
    r.one_to_one(layer)
    n = layer.params.int(0)
    x = r.x(layer)
    if n != 1:
        x = _channels(r, layer, x, n, "num_slope")
    r.put(layer, r.emit(layer, "prelu", [x], weights={"slope": (r.load(n, False, "slope"), lambda v: v)},
                        shared=True if n == 1 else None))
