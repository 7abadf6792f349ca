"""ONNX operators that become counted layers: convolutions, dense, element-wise functions
and arithmetic, normalisations and pooling: handlers of the LAYERS table (onnx/handlers),
each given the importer (reader._Importer), which supplies emit, the constant and layout
checks and the per-channel / per-feature weight rules."""
from __future__ import annotations

from cnncost.interop.onnx import fold as onnx_fold
from cnncost.interop.onnx.handlers import LAYERS
from cnncost.interop.onnx.values import Const, Held
from cnncost.interop.refusals import Refused


BINARY_OPS = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div"}


def _size(c) -> int:
    n = 1
    for d in c.dims:
        n *= d
    return n


# ---- convolutions and dense -------------------------------------------------------
@LAYERS.on("Conv")
def conv(reader, node, args, transpose=False):
    x = _nd_map(reader, node, args[0])
    x = reader._map(x, "nchw", "ncx", *(() if transpose else ("stack",)))
    w = reader._const(node, args[1], "weight")
    a = node.attrs
    groups = a.get("group", 1)
    d = len(w.dims) - 2
    if d != _spatial(x):
        raise Refused(f"a weight of dims {list(w.dims)} against a map of {_spatial(x)} spatial axes")
    if transpose:
        f = w.dims[1] * groups          # (C_in, C_out / groups, k...)
    else:
        f, cg = w.dims[:2]
    kernel = list(w.dims[2:])
    stride, dilation = list(a.get("strides", [1] * d)), list(a.get("dilations", [1] * d))
    pads = _pads(node, _sizes(x), kernel, stride, dilation, transpose)
    body = {"kind": "conv_transpose" if transpose else "conv", "filters": f, "kernel": kernel,
            "stride": stride, "dilation": dilation, "padding": pads, "groups": groups,
            "bias": len(args) > 2 and args[2] is not None, **({"rank": d} if d != 2 else {})}
    if transpose:
        if "output_shape" in a:
            raise Refused("output_shape is not supported; export with explicit pads")
        body["output_padding"] = list(a.get("output_padding", [0] * d))
    wk = {"kernel": (w, lambda k: k.transpose(*range(2, 2 + d), 1, 0))}
    if body["bias"]:
        wk["bias"] = (reader._const(node, args[2], "bias"), None)
    reader.emit(node, body, None, [x], wk, layout=x.layout)


def _nd_map(reader, node, x):
    """A plain (C, T) or (C, D, H, W) tensor a convolution or a pool reads: a 1-D or 3-D
    channels-first map, ours channels last (worlds._as_map)."""
    from cnncost.interop.onnx.worlds import _as_map

    if isinstance(x, Held) and x.layout in ("plain", "full") and len(reader._onnx_dims(x)) in (3, 5):
        return _as_map(reader, node, x)
    return x


def _spatial(x) -> int:
    return 2 if x.layout in ("nchw", "stack") else len(x.shape) - 1


def _sizes(x) -> tuple:
    return tuple(x.shape[-3:-1]) if x.layout in ("nchw", "stack") else tuple(x.shape[:-1])


@LAYERS.on("ConvTranspose")
def conv_transpose(reader, node, args):
    conv(reader, node, args, transpose=True)


def _pads(node, sizes, kernel, stride, dilation, transpose=False):
    """Per side, axis by axis ([top, bottom, left, right] on a 2-D map) from `pads`
    (ONNX's: every axis' start, then every axis' end) or `auto_pad`."""
    d = len(kernel)
    auto = node.attrs.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        p = list(node.attrs.get("pads", [0] * 2 * d))
        if len(p) != 2 * d:
            raise Refused(f"pads {p}: a {d}-D window needs {2 * d}")
        return [v for i in range(d) for v in (p[i], p[d + i])]
    if auto == "VALID":
        return [0] * 2 * d
    if transpose:
        raise Refused(f"auto_pad {auto} of a ConvTranspose is not supported; export with explicit pads")
    out = []
    for size, k, s, dl in zip(sizes, kernel, stride, dilation):
        total = max(0, (-(-size // s) - 1) * s + (k - 1) * dl + 1 - size)
        lo = total // 2 if auto == "SAME_UPPER" else total - total // 2
        out += [lo, total - lo]
    return out


@LAYERS.on("Gemm")
def gemm(reader, node, args):
    a = node.attrs
    x = reader._map(args[0], "vec")
    if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
        raise Refused("transA, alpha or beta other than 1 has no cnncost kind")
    b = reader._const(node, args[1], "weight")
    trans = a.get("transB", 0)
    units = b.dims[0] if trans else b.dims[1]
    bias = len(args) > 2 and args[2] is not None
    _dense(reader, node, x, b, units, trans, args[2] if bias else None)


@LAYERS.on("MatMul")
def matmul(reader, node, args):
    x = reader._map(args[0], "vec", "nhwc")
    b = reader._const(node, args[1], "weight")
    if len(b.dims) != 2 or b.dims[0] != x.shape[-1]:
        raise Refused(f"a weight of dims {list(b.dims)} against {x.shape[-1]} features")
    _dense(reader, node, x, b, b.dims[1], False, None)


def _dense(reader, node, x, b, units, trans, bias):
    def layout(k):
        k = k.T if trans else k
        if x.chw is not None:          # rows in C, H, W order -> ours, H, W, C
            c, h, w = x.chw
            k = k.reshape(c, h, w, units).transpose(1, 2, 0, 3).reshape(-1, units)
        return k
    wk = {"kernel": (b, layout)}
    if bias is not None:
        bias = reader._const(node, bias, "bias")
        if [d for d in bias.dims if d != 1] != [units]:
            raise Refused(f"a bias of dims {list(bias.dims)} for {units} units")
        wk["bias"] = (bias, lambda v: v.reshape(-1))
    on_map = {"per_position": True} if len(x.shape) == 3 else {}     # the file's own design
    reader.emit(node, {"kind": "dense", "units": units, "bias": bias is not None, **on_map},
                x.shape[:-1] + (units,), [x], wk, layout=x.layout, extra={"open_bias": bias is None})


# ---- element-wise ---------------------------------------------------------------
ACTIVATIONS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hard_swish",
               "Softplus": "softplus", "SiLU": "silu", "Mish": "mish"}


def _activation(reader, node, args, body):
    # element-wise: a map held as one of its views (a channel shuffle's grouped reshape,
    # quantized between its Reshape and Transpose in QDQ) stays that view of the new layer
    x = reader._map(args[0], "nchw", "nhwc", "vec", "plain", "full", "stack", "grouped", "shuffled",
                    "unshuffle6", "unshuffle_t", "ncx")
    view = x.layout in ("grouped", "shuffled", "unshuffle6", "unshuffle_t")
    reader.emit(node, body, x.shape, [x], layout=x.layout, chw=x.chw, extra=dict(x.extra) if view else {})


def _real(reader, node, q, scale, zp, axis, what):
    """A quantized constant in real units, (q - zero point) x scale per `axis`, keeping
    the dtype the file stores it in."""
    import numpy as np

    c = reader._const(node, q, what)
    s = np.asarray(reader._const(node, scale, f"{what} scale").value, np.float64)
    z = np.asarray(reader._const(node, zp, f"{what} zero point").value if zp is not None else 0, np.float64)
    shape = [1] * len(c.dims)
    if s.size > 1:
        shape[axis] = s.size
    real = (c.value.astype(np.float64) - z.reshape(shape if z.size > 1 else ())) * s.reshape(shape if s.size > 1 else ())
    return Const(array=real.astype(np.float32), source=c.source, stored=c.file_dtype())


def _requantized(reader, node, scale, zp):
    """The layer just emitted stores its output quantized (QLinearConv, QLinearMatMul)."""
    s, z = reader._const(node, scale, "output scale").value, reader._const(node, zp, "output zero point").value
    if s.size != 1 or z.size != 1:
        raise Refused("an output quantized per channel")
    p = reader.layers[-1].setdefault("precision", {"dtype": "float32"})
    p.update({"dtype": str(z.dtype), "scale": float(s.reshape(-1)[0]), "zero_point": int(z.reshape(-1)[0]),
              "rounding": "even"})


@LAYERS.on("QLinearConv")
def qlinear_conv(reader, node, args):
    """QOperator form: x (x_scale, x_zp), w (w_scale, w_zp), y_scale, y_zp, int32 bias
    at x_scale x w_scale. Our activations are in real units, so it is a conv of the real
    weights whose output is quantized."""
    import numpy as np

    w = _real(reader, node, args[3], args[4], args[5], 0, "weight")
    operands = [args[0], w]          # not `conv`, the handler it goes to
    if len(args) > 8 and args[8] is not None:
        b = reader._const(node, args[8], "bias")
        s = np.asarray(reader._const(node, args[1], "x scale").value, np.float64) * \
            np.asarray(reader._const(node, args[4], "weight scale").value, np.float64).reshape(-1)
        operands.append(Const(array=(b.value.astype(np.float64) * s).astype(np.float32), source=b.source,
                              stored="int32"))
    conv(reader, node, operands)
    _requantized(reader, node, args[6], args[7])


@LAYERS.on("QLinearMatMul")
def qlinear_matmul(reader, node, args):
    b = _real(reader, node, args[3], args[4], args[5], 1, "weight")
    x = reader._map(args[0], "vec", "nhwc")
    if len(b.dims) != 2 or b.dims[0] != x.shape[-1]:
        raise Refused(f"a weight of dims {list(b.dims)} against {x.shape[-1]} features")
    _dense(reader, node, x, b, b.dims[1], False, None)
    _requantized(reader, node, args[6], args[7])


@LAYERS.on("QuantizeLinear")
def quantize_linear(reader, node, args):
    """A QDQ file's activation quantized: stored as int8 (uint8) until its DequantizeLinear."""
    scale = reader._const(node, args[1], "scale").value
    zp = reader._const(node, args[2], "zero point").value if len(args) > 2 and args[2] is not None else None
    if scale.size != 1 or (zp is not None and zp.size != 1):
        raise Refused("an activation quantized per channel")
    dtype = str(zp.dtype) if zp is not None else "uint8"
    if dtype not in ("int8", "uint8", "int16"):
        raise Refused(f"quantized to {dtype}")
    _activation(reader, node, args, {"kind": "quantize", "to": dtype, "precision": {
        "dtype": dtype, "scale": float(scale.reshape(-1)[0]), "rounding": "even",
        "zero_point": int(zp.reshape(-1)[0]) if zp is not None else 0}})


@LAYERS.on("DequantizeLinear")
def dequantize_linear(reader, node, args):
    scale = reader._const(node, args[1], "scale").value
    if scale.size != 1:
        raise Refused("an activation dequantized per channel")
    _activation(reader, node, args, {"kind": "quantize", "to": "float32", "precision": {
        "dtype": "float32", "step": float(scale.reshape(-1)[0])}})


@LAYERS.on("Relu", "Sigmoid", "Tanh", "HardSwish", "Softplus", "SiLU", "Mish")
def listed_activation(reader, node, args):
    _activation(reader, node, args, {"kind": ACTIVATIONS[node.op]})


@LAYERS.on("Gelu")
def gelu(reader, node, args):
    approx = node.attrs.get("approximate", "none")
    _activation(reader, node, args, {"kind": "gelu", **({"approximate": "tanh"} if approx == "tanh" else {})})


@LAYERS.on("LeakyRelu")
def leaky_relu(reader, node, args):
    _activation(reader, node, args, {"kind": "leaky_relu", "slope": float(node.attrs.get("alpha", 0.01))})


@LAYERS.on("Elu")
def elu(reader, node, args):
    _activation(reader, node, args, {"kind": "elu", "alpha": float(node.attrs.get("alpha", 1.0))})


@LAYERS.on("HardSigmoid")
def hard_sigmoid(reader, node, args):
    if abs(node.attrs.get("alpha", 0.2) - 1 / 6) > 1e-6 or abs(node.attrs.get("beta", 0.5) - 0.5) > 1e-6:
        raise Refused("alpha and beta other than 1/6 and 1/2 (PyTorch's hardsigmoid) have no cnncost kind")
    _activation(reader, node, args, {"kind": "hard_sigmoid"})


@LAYERS.on("Clip")
def clip(reader, node, args):
    def bound(i, key, default):
        if len(args) > i and args[i] is not None:
            return float(reader._const(node, args[i], key).value.reshape(-1)[0])
        return float(node.attrs.get(key, default))
    lo, hi = bound(1, "min", float("-inf")), bound(2, "max", float("inf"))
    fn = {(0.0, 6.0): "relu6", (0.0, float("inf")): "relu", (-1.0, 1.0): "hard_tanh"}.get((lo, hi))
    if fn is None:
        raise Refused(f"Clip({lo}, {hi}) has no cnncost kind (relu, relu6 and hard_tanh do)")
    _activation(reader, node, args, {"kind": fn})


@LAYERS.on("Softmax")
def softmax(reader, node, args):
    x = reader._map(args[0], "nchw", "nhwc", "vec")
    if reader.model.opsets[""] < 13 and x.layout != "vec":
        raise Refused("before opset 13 Softmax spans every axis after `axis`, not the channels alone")
    reader._channel_axis(x, node.attrs.get("axis", -1 if reader.model.opsets[""] >= 13 else 1))
    _activation(reader, node, args, {"kind": "softmax"})


@LAYERS.on("PRelu")
def prelu(reader, node, args):
    x = reader._map(args[0], "nchw", "nhwc", "vec")
    shared = reader._per_channel(x, reader._const(node, args[1], "slope"))
    reader.emit(node, {"kind": "prelu", **({"shared": True} if shared else {})}, x.shape, [x],
                {"slope": (args[1], reader._per_feature(x))}, layout=x.layout, chw=x.chw)


def _binary(reader, node, args, kind):
    tensors = [a for a in args if isinstance(a, Held)]
    if len(tensors) == len(args):
        _merge(reader, node, tensors, kind)
        return
    x, c = (args[0], args[1]) if isinstance(args[0], Held) else (args[1], args[0])
    if x is args[1] and node.op in ("Sub", "Div") and not (c.source is None and _size(c) == 1):
        raise Refused("a constant minus or divided by a layer's output has no cnncost kind")
    reader._map(x, "nchw", "nhwc", "vec", "plain")
    if c.source is None and node.op in BINARY_OPS and _size(c) == 1:
        # a computed scalar (attention's 1/sqrt(d), a decode's stride) is no weight of the file
        value = float(c.value.reshape(-1)[0])
        return reader.emit(node, {"kind": "binary", "op": BINARY_OPS[node.op], "scalar": value,
                                  **({"scalar_first": True} if x is args[1] else {})}, x.shape, [x],
                           layout=x.layout, chw=x.chw)
    if c.source is None and x.layout in ("plain", "full"):
        raise Refused("a computed tensor (an anchor grid, strides) is no weight: the general binary")
    shared = reader._per_channel(x, c)
    layer = reader.by_name.get(x.layer)
    sole = reader.consumers[node.inputs[0] if x is args[0] else node.inputs[1]] == 1
    if node.op == "Add" and sole and x.extra.get("open_bias") and not shared:   # MatMul + Add: its bias
        layer["bias"] = True
        reader._weight(layer["name"], "bias", c, lambda v: v.reshape(-1))
        reader._alias(node, x, extra={})
        return
    if sole and not shared and x.extra.get("affine") == node.op:      # a group norm's gamma, then beta
        reader._weight(layer["name"], "gamma" if node.op == "Mul" else "beta", c, lambda v: v.reshape(-1))
        reader._alias(node, x, extra={"affine": "Add" if node.op == "Mul" else None})
        if node.op == "Mul":
            layer["affine"] = True
        return
    if x.extra.get("affine") == "Add":
        raise Refused("a group norm scaled but not shifted has no cnncost kind")
    kind, weight, how = {"Mul": ("scale", "gamma", None), "Div": ("scale", "gamma", "reciprocal"),
                         "Add": ("shift", "beta", None), "Sub": ("shift", "beta", "negate")}[node.op]
    transform = {None: lambda v: v.reshape(-1), "reciprocal": lambda v: 1.0 / v.reshape(-1),
                 "negate": lambda v: -v.reshape(-1)}[how]
    reader.emit(node, {"kind": kind, **({"shared": True} if shared else {})}, x.shape, [x],
                {weight: (c, reader._per_feature(x, transform))}, layout=x.layout, chw=x.chw)


def _merge(reader, node, xs, kind):
    layouts = {x.layout for x in xs}
    if layouts == {"plain"} and (node.op not in ("Add", "Sum") or len({x.shape for x in xs}) == 1):
        from cnncost.layers.merge import broadcast_shape
        try:
            shape = broadcast_shape([x.shape for x in xs])
        except Exception:
            raise Refused(f"operands {[x.shape for x in xs]} do not broadcast") from None
        return reader.emit(node, {"kind": kind}, shape, xs, layout="plain")
    maps = [x for x in xs if x.layout != "vec"]
    vecs_as_maps = all(x.extra.get("as_map") for x in xs if x.layout == "vec")
    if len(layouts - {"vec"}) > 1 or (maps and not vecs_as_maps) or not layouts <= {"nchw", "nhwc", "vec", "ncx"}:
        raise Refused(f"operands held as {', '.join(x.layout for x in xs)}: no cnncost kind broadcasts these")
    shapes = [x.shape for x in xs]
    from cnncost.layers.merge import broadcast_shape
    try:
        shape = broadcast_shape(shapes)
    except Exception:
        raise Refused(f"operands {shapes} do not broadcast") from None
    if node.op in ("Add", "Sum") and len(set(shapes)) > 1:
        raise Refused(f"add of unequal shapes {shapes}")
    layout = maps[0].layout if maps else "vec"
    if len({x.chw for x in xs}) > 1:
        reader._whole_features(*xs)
    reader.emit(node, {"kind": kind}, shape, xs, layout=layout, chw=xs[0].chw)


MERGES = {"Add": "add", "Mul": "multiply", "Sub": "subtract", "Div": "divide"}     # of two layers' outputs


@LAYERS.on(*MERGES)
def arithmetic(reader, node, args):
    _binary(reader, node, args, MERGES[node.op])


@LAYERS.on("Sum")
def sum_(reader, node, args):
    if len(args) == 1:
        return reader._alias(node, reader._map(args[0], "nchw", "nhwc", "vec"))
    if not all(isinstance(a, Held) for a in args):
        raise Refused("a Sum with constant operands has no cnncost kind")
    _merge(reader, node, args, "add")


# ---- normalisation ----------------------------------------------------------------
@LAYERS.on("BatchNormalization")
def batch_normalization(reader, node, args):
    x = reader._map(args[0], "nchw", "vec", "stack", "ncx")
    if node.attrs.get("training_mode", 0):
        raise Refused("training_mode=1: export the model in eval mode")
    names = ("gamma", "beta", "moving_mean", "moving_variance")
    wk = {k: (reader._const(node, a, k), reader._per_feature(x)) for k, a in zip(names, args[1:5])}
    reader.emit(node, {"kind": "batch_norm", "eps": float(node.attrs.get("epsilon", 1e-5))}, x.shape, [x], wk,
                layout=x.layout, chw=x.chw)


def _identity_affine(scale, bias):
    """Whether scale and bias are all ones and all zeros (not learned: PyTorch's affine=False)."""
    if scale is None:
        return True
    if max(scale.dims or (1,)) > 1 << 16:
        return False
    import numpy as np
    return bool(np.all(scale.value == 1) and (bias is None or np.all(bias.value == 0)))


@LAYERS.on("InstanceNormalization")
def instance_normalization(reader, node, args):
    x = reader._map(args[0], "nchw", "gn")
    scale, bias = reader._const(node, args[1], "scale"), reader._const(node, args[2], "bias")
    eps = float(node.attrs.get("epsilon", 1e-5))
    plain = _identity_affine(scale, bias)
    if x.layout == "gn":
        if not plain:
            raise Refused("a group norm's InstanceNormalization with a learned scale has no cnncost kind")
        return reader._alias(node, x, layout="gnorm", extra={**x.extra, "eps": eps})
    wk = {} if plain else {"gamma": (scale, None), "beta": (bias, None)}
    reader.emit(node, {"kind": "instance_norm", "eps": eps, "affine": not plain}, x.shape, [x], wk)


@LAYERS.on("LayerNormalization")
def layer_normalization(reader, node, args):
    x = reader._map(args[0], "nhwc", "vec")
    reader._channel_axis(x, node.attrs.get("axis", -1))
    scale = reader._const(node, args[1], "scale") if len(args) > 1 and args[1] is not None else None
    bias = reader._const(node, args[2], "bias") if len(args) > 2 and args[2] is not None else None
    if scale is not None and bias is None:
        raise Refused("a LayerNorm with a scale and no bias has no cnncost kind")
    eps = float(node.attrs.get("epsilon", 1e-5))
    order = reader._per_feature(x)
    wk = {} if scale is None else {"gamma": (scale, order), "beta": (bias, order)}
    reader.emit(node, {"kind": "layer_norm", "eps": eps, **({} if scale is not None else {"affine": False})},
                x.shape, [x], wk, layout=x.layout, chw=x.chw)
    for extra in node.outputs[1:]:
        if extra and reader.consumers[extra]:
            raise Refused("its mean and inverse deviation outputs are used (training graphs only)")


@LAYERS.on("LRN")
def lrn(reader, node, args):
    x = reader._map(args[0], "nchw")
    size = node.attrs["size"]
    if size % 2 == 0:
        raise Refused(f"an LRN of even size {size}: ONNX centres its window one channel away from "
                       "PyTorch's, which cnncost's lrn computes")
    reader.emit(node, {"kind": "lrn", "size": size, "alpha": float(node.attrs.get("alpha", 1e-4)),
                       "beta": float(node.attrs.get("beta", 0.75)), "k": float(node.attrs.get("bias", 1.0))},
                x.shape, [x])


@LAYERS.on("Dropout")
def dropout(reader, node, args):
    x = reader._map(args[0], "nchw", "nhwc", "vec", "plain", "full", "ncx")
    if len(node.outputs) > 1 and node.outputs[1] and reader.consumers[node.outputs[1]]:
        raise Refused("its mask is used (training graphs only)")
    rate = node.attrs.get("ratio", 0.5)
    if len(args) > 1 and args[1] is not None:
        rate = float(reader._const(node, args[1], "ratio").value.reshape(-1)[0])
    reader.emit(node, {"kind": "dropout", "rate": round(float(rate), 6)}, x.shape, [x], layout=x.layout,
                chw=x.chw)


@LAYERS.on("Identity")
def identity(reader, node, args):
    reader._alias(node, args[0])


@LAYERS.on("Cast")
def cast(reader, node, args):
    if onnx_fold.DTYPES.get(node.attrs.get("to")) not in ("float32", "float16", "float64"):
        raise Refused("a cast of a layer's output to a non-float type")
    reader._alias(node, args[0])


# ---- pooling ----------------------------------------------------------------------
POOL_KINDS = {"MaxPool": "max_pool", "AveragePool": "avg_pool"}


@LAYERS.on(*POOL_KINDS)
def pool(reader, node, args):
    kind = POOL_KINDS[node.op]
    x = reader._map(_nd_map(reader, node, args[0]), "nchw", "ncx")
    a = node.attrs
    kernel = list(a["kernel_shape"])
    d = len(kernel)
    if d != _spatial(x):
        raise Refused(f"a {d}-D window on a map of {_spatial(x)} spatial axes")
    if any(v != 1 for v in a.get("dilations", [1] * d)):
        raise Refused("a dilated pool has no cnncost kind")
    if len(node.outputs) > 1 and node.outputs[1] and reader.consumers[node.outputs[1]]:
        raise Refused("its indices output is used")
    stride = list(a.get("strides", [1] * d))
    body = {"kind": kind, "kernel": kernel, "stride": stride,
            # a Pad of -inf before a max pool is the pool's own padding (moves.pad)
            "padding": x.extra["max_pad"] if "max_pad" in x.extra and node.op == "MaxPool"
            else _pads(node, _sizes(x), kernel, stride, (1,) * d),
            "ceil_mode": bool(a.get("ceil_mode", 0))}
    if node.op == "AveragePool":
        body["count_include_pad"] = bool(a.get("count_include_pad", 0))
    reader.emit(node, body, None, [x], layout=x.layout)


@LAYERS.on("GlobalAveragePool", "GlobalMaxPool")
def global_pool(reader, node, args):
    x = reader._map(_nd_map(reader, node, args[0]), "nchw", "ncx")
    kind = "global_avg_pool" if node.op == "GlobalAveragePool" else "global_max_pool"
    reader.emit(node, {"kind": kind, "keepdims": True}, (1,) * _spatial(x) + (x.shape[-1],), [x],
                layout=x.layout)


@LAYERS.on("ReduceMean", "ReduceMax")
def spatial_reduce(reader, node, args):
    x = reader._map(args[0], "nchw", "nhwc")
    rank = 4
    axes = onnx_fold._axes(node, [None if a is None else getattr(a, "value", None) for a in args], 1)
    spatial = {"nchw": {2, 3}, "nhwc": {1, 2}}[x.layout]
    if axes is None or {a % rank for a in axes} != spatial:
        raise Refused(f"a mean over axes {axes} of a {x.layout} map: cnncost's global pools take H and W")
    keep = bool(node.attrs.get("keepdims", 1))
    kind = "global_avg_pool" if node.op == "ReduceMean" else "global_max_pool"
    reader.emit(node, {"kind": kind, "keepdims": keep}, (1, 1, x.shape[2]) if keep else (x.shape[2],), [x],
                layout=x.layout if keep else "vec")
