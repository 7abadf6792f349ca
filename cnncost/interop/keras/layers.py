"""Keras layer classes onto cnncost kinds: one small function per class (or operation),
in the table MAPPERS (the recurrent ones, Embedding and TimeDistributed in sequences.py).
Each mapper receives an `Emit` (the layer's name, config and inputs) and emits our layers:
the first reads the layer's inputs, each later one the one before, the last is the layer's
output; a part that is not the layer itself is named under it (`conv1.relu`), so --depth
folds it in. `keys` lists our weight names in the order Keras stores them (None: Keras'
own bookkeeping, Normalization's count) and `knames` the names Keras gives each (tf.keras 2
and Keras 3 differ for some: DepthwiseConv2D's `depthwise_kernel` / `kernel`)."""
from __future__ import annotations

from cnncost.interop.handlers import Handlers
from cnncost.interop.keras.emit import Emit
from cnncost.interop.refusals import Refused

# Keras class (or "op:" + a Keras 3 operation's) -> its mapper, mapper(emit)
MAPPERS = Handlers("Keras")
# classes that are models used as layers: walked, their names becoming blocks
NESTED = ("Functional", "Sequential", "Model")


# ---- shared readings ---------------------------------------------------------------------
def _pair(v, what="size"):
    if isinstance(v, int):
        return [v, v]
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, int) for x in v):
        return list(v)
    raise Refused(f"a {what} of {v!r} (expected an integer or two)")


def _axes_n(v, rank: int, what: str = "size"):
    """A window argument of a rank-`rank` layer (Conv1D's [3], Conv3D's [3, 3, 3]) as a list."""
    if rank == 2:
        return _pair(v, what)
    if isinstance(v, int):
        return [v] * rank
    if isinstance(v, (list, tuple)) and len(v) == rank and all(isinstance(x, int) for x in v):
        return list(v)
    raise Refused(f"a {what} of {v!r} (expected an integer or {rank})")


def _window_padding(e: Emit, kernel: list, dilation: list):
    """valid, same, or Keras' causal (1-D only): the (k - 1) x dilation steps before the first,
    none after, as explicit padding [before, after] of the T axis."""
    p = str(e.get("padding", "valid")).lower()
    if p == "causal" and len(kernel) == 1:
        return [(kernel[0] - 1) * dilation[0], 0]
    e.need(p in ("valid", "same"), f"padding '{p}'")
    return p


def _channels_last(e: Emit):
    fmt = e.get("data_format", "channels_last")
    e.need(fmt in (None, "channels_last"), f"data_format {fmt} (only channels_last is read)")


def _padding(e: Emit):
    p = str(e.get("padding", "valid")).lower()
    e.need(p in ("valid", "same"), f"padding '{p}'")
    return p


def _activation_name(value) -> str:
    if value is None:
        return "linear"
    if isinstance(value, dict):          # Keras 3 may serialize a built-in as an object
        value = value.get("config", value.get("class_name"))
        if isinstance(value, dict):
            value = value.get("name")
    return str(value)


def activation(e: Emit, value, part: str | None = None) -> None:
    """A Keras activation (a string or its serialized form) as our layer(s); none for linear."""
    fn = _activation_name(value)
    name = part if part is not None else fn
    simple = {"relu": "relu", "relu6": "relu6", "sigmoid": "sigmoid", "tanh": "tanh", "swish": "swish",
              "silu": "swish", "elu": "elu", "softplus": "softplus", "mish": "mish", "hard_swish": "hard_swish",
              "hard_silu": "hard_swish", "log_softmax": "log_softmax", "softmax": "softmax"}
    if fn == "linear":
        return
    if fn in simple:
        e.layer(simple[fn], name)
    elif fn == "gelu":
        e.layer("gelu", name)                                   # Keras' default is the erf form
    elif fn == "leaky_relu":
        e.layer("leaky_relu", name, slope=0.2)                  # keras.activations.leaky_relu's default
    elif fn == "exponential":
        e.layer("exp", name)
    elif fn == "hard_sigmoid":
        if e.major >= 3:                                        # relu6(x + 3) / 6
            e.layer("hard_sigmoid", name)
        else:                                                   # tf.keras 2: clip(0.2 x + 0.5, 0, 1)
            e.layer("binary", f"{name}_scale", op="mul", scalar=1.2)
            e.layer("hard_sigmoid", name)
    else:
        raise Refused(f"activation '{fn}'", label=f"activation {fn}")


def _act_layer(e: Emit, value):
    """A layer that is only an activation: the layer itself carries the Keras name."""
    before = len(e.layers)
    activation(e, value, part="")
    if len(e.layers) == before:
        e.layer("identity", note="linear activation")


# ---- convolutions and dense ---------------------------------------------------------------
def _window(e: Emit, rank: int) -> dict:
    """A convolution's window arguments of any rank: kernel, stride, padding, dilation, rank."""
    k, d = _axes_n(e.get("kernel_size"), rank), _axes_n(e.get("dilation_rate", 1), rank)
    return {"kernel": k, "stride": _axes_n(e.get("strides", 1), rank), "padding": _window_padding(e, k, d),
            "dilation": d, "rank": None if rank == 2 else rank}


def _conv(rank: int):
    def conv(e: Emit):
        _channels_last(e)
        e.one_input()
        e.layer("conv", filters=e.get("filters"), groups=e.get("groups", 1) or 1, bias=bool(e.get("use_bias", True)),
                **_window(e, rank))
        e.weights("kernel", *(["bias"] if e.get("use_bias", True) else []))
        activation(e, e.get("activation"))
    return conv


def _depthwise(rank: int):
    def depthwise_conv(e: Emit):
        _channels_last(e)
        e.one_input()
        e.layer("depthwise_conv", depth_multiplier=e.get("depth_multiplier", 1), bias=bool(e.get("use_bias", True)),
                **_window(e, rank))
        e.weights(("kernel", "kernel", "depthwise_kernel"), *(["bias"] if e.get("use_bias", True) else []))
        activation(e, e.get("activation"))
    return depthwise_conv


def _separable(rank: int):
    def separable_conv(e: Emit):
        _channels_last(e)
        e.one_input()
        name = e.layer("separable_conv", filters=e.get("filters"), depth_multiplier=e.get("depth_multiplier", 1),
                       bias=bool(e.get("use_bias", True)), **_window(e, rank))
        e.weights(("kernel", "depthwise_kernel"), layer=f"{name}.depthwise")
        e.weights(("kernel", "pointwise_kernel"), *([("bias", "bias")] if e.get("use_bias", True) else []),
                  layer=f"{name}.pointwise")
        activation(e, e.get("activation"))
    return separable_conv


MAPPERS.on("Conv1D", "Convolution1D")(_conv(1))
MAPPERS.on("Conv2D", "Convolution2D")(_conv(2))
MAPPERS.on("Conv3D", "Convolution3D")(_conv(3))
MAPPERS.on("DepthwiseConv1D")(_depthwise(1))
MAPPERS.on("DepthwiseConv2D")(_depthwise(2))
MAPPERS.on("SeparableConv1D", "SeparableConvolution1D")(_separable(1))
MAPPERS.on("SeparableConv2D", "SeparableConvolution2D")(_separable(2))


def _conv_transpose(rank: int):
    def conv_transpose(e: Emit):
        """Keras' output size (deconv_output_length) as PyTorch's padding: the full transposed
        output less what 'same' (or output_padding) crops, the start getting the smaller half."""
        _channels_last(e)
        e.one_input()
        k, s = _axes_n(e.get("kernel_size"), rank), _axes_n(e.get("strides", 1), rank)
        d = _axes_n(e.get("dilation_rate", 1), rank)
        pad, extra = [], []
        out_pad = e.get("output_padding")
        out_pad = _axes_n(out_pad, rank, "output_padding") if out_pad is not None else None
        same = _padding(e) == "same"
        for i in range(rank):
            keff = (k[i] - 1) * d[i] + 1
            if out_pad is None:
                crop = keff - s[i] if same else min(keff - s[i], 0)   # out = in*s (same), in*s + max(k-s, 0) (valid)
            else:
                crop = 2 * (keff // 2 if same else 0) - out_pad[i]
            lo = max(crop, 0) // 2
            pad += [lo, max(crop, 0) - lo]
            extra.append(max(-crop, 0))
        e.layer("conv_transpose", filters=e.get("filters"), kernel=k, stride=s, dilation=d, padding=pad,
                output_padding=extra, bias=bool(e.get("use_bias", True)), **({} if rank == 2 else {"rank": rank}))
        e.weights("kernel", *(["bias"] if e.get("use_bias", True) else []))
        activation(e, e.get("activation"))
    return conv_transpose


for _rank in (1, 2, 3):
    MAPPERS.on(f"Conv{_rank}DTranspose", f"Convolution{_rank}DTranspose")(_conv_transpose(_rank))


@MAPPERS.on("Dense")
def dense(e: Emit):
    e.one_input()
    e.layer("dense", units=e.get("units"), bias=bool(e.get("use_bias", True)))
    e.weights("kernel", *(["bias"] if e.get("use_bias", True) else []))
    activation(e, e.get("activation"))


# ---- normalization --------------------------------------------------------------------------
def _axes(e: Emit, axis, what: str, many: bool = False) -> list:
    """A normalization's axes, which must be the trailing ones (the channels for BatchNorm):
    checked now when the config gives the input's rank, else after the graph is built."""
    axes = axis if isinstance(axis, list) else [axis]
    e.need(all(isinstance(a, int) for a in axes) and (many or len(axes) == 1), f"{what} over axes {axis}")
    if axes == [-1]:
        return axes
    rank = len((e.get("build_config") or {}).get("input_shape") or [])
    if rank:
        e.need(sorted(a % rank for a in axes) == list(range(rank - len(axes), rank)),
               f"{what} over axes {axis} of a rank-{rank} input (the trailing, channels-last, axes are read)")
    else:
        e.assumed.append((e.name, axes))
    return axes


@MAPPERS.on("BatchNormalization")
def batch_norm(e: Emit):
    e.one_input()
    _axes(e, e.get("axis", -1), "batch normalization")
    e.need(not e.get("renorm", False), "batch renormalization")
    scale, center = bool(e.get("scale", True)), bool(e.get("center", True))
    e.layer("batch_norm", eps=float(e.get("epsilon", 1e-3)), scale=scale, center=center)
    e.weights(*(["gamma"] if scale else []), *(["beta"] if center else []), "moving_mean", "moving_variance")


@MAPPERS.on("LayerNormalization")
def layer_norm(e: Emit):
    e.one_input()
    axes = _axes(e, e.get("axis", -1), "layer normalization", many=True)
    e.need(not e.get("rms_scaling", False), "rms_scaling")
    scale, center = bool(e.get("scale", True)), bool(e.get("center", True))
    e.need(scale == center, "scale without center (or center without scale)")
    e.layer("layer_norm", eps=float(e.get("epsilon", 1e-3)), affine=scale, axes=len(axes))
    if scale:
        e.weights("gamma", "beta")


@MAPPERS.on("Normalization")
def normalization(e: Emit):
    """(x - mean) / max(sqrt(var), 1e-7): a BatchNorm of the statistics, no gamma or beta;
    eps 1e-14 keeps the same floor. Adapted, the statistics are weights and Keras also keeps
    the sample count; given in the config (keras.applications' ConvNeXt and EfficientNetV2
    preprocessing), they are constants Keras does not count."""
    e.one_input()
    _axes(e, e.get("axis", -1), "normalization")
    e.need(not e.get("invert", False), "invert=True (the de-normalization)")
    mean, var = e.get("mean"), e.get("variance")
    name = e.layer("batch_norm", eps=1e-14, scale=False, center=False)
    if mean is None and var is None:
        e.weights(("moving_mean", "mean"), ("moving_variance", "variance"), (None, "count"))
        e.extra_non_trainable, e.extra_why = 1, f"Normalization '{e.name}' keeps its sample count (1)"
        return
    flat = [_flat(mean), _flat(var)]
    e.need(all(v and all(_number(x) for x in v) for v in flat) and len(flat[0]) == len(flat[1]),
           "a mean and variance that are not lists of numbers per channel")
    e.constants[f"{name}/moving_mean"], e.constants[f"{name}/moving_variance"] = flat
    e.extra_non_trainable = -2 * len(flat[0])
    e.extra_why = f"Normalization '{e.name}' holds its given mean and variance as constants, not weights"


def _flat(v):
    """A config's nested list ([[[[0.485, 0.456, 0.406]]]]) as a flat one; a number as one."""
    if _number(v):
        return [v]
    if isinstance(v, list):
        out = []
        for x in v:
            out += _flat(x) or [None]
        return out
    return []


# ---- activations as layers -------------------------------------------------------------------
@MAPPERS.on("Activation")
def activation_layer(e: Emit):
    e.one_input()
    _act_layer(e, e.get("activation"))


@MAPPERS.on("ReLU")
def relu(e: Emit):
    """Keras' ReLU(max_value, negative_slope, threshold)."""
    e.one_input()
    top, slope, threshold = e.get("max_value"), float(e.get("negative_slope", 0.0) or 0.0), e.get("threshold", 0.0)
    e.need(not threshold, f"threshold={threshold} (only 0 is read)")
    if slope == 0 and top is None:
        e.layer("relu")
    elif slope == 0 and float(top) == 6.0:
        e.layer("relu6")
    else:
        base = e.layer("leaky_relu" if slope else "relu", "relu" if top is not None else "", slope=slope or None)
        if top is not None:
            e.layer("binary", op="min", scalar=float(top), inputs=[base])


@MAPPERS.on("LeakyReLU")
def leaky_relu(e: Emit):
    e.one_input()
    slope = e.get("negative_slope", e.get("alpha", 0.3))
    e.layer("leaky_relu", slope=float(0.3 if slope is None else slope))


@MAPPERS.on("PReLU")
def prelu(e: Emit):
    e.one_input()
    shared = sorted(e.get("shared_axes") or [])
    e.need(shared in ([1, 2], [1, 2, 3]), f"shared_axes={shared or None} (a slope per position; "
                                          "[1, 2], one per channel, and [1, 2, 3] are read)")
    e.layer("prelu", shared=shared == [1, 2, 3] or None)
    e.weights(("slope", "alpha"))


@MAPPERS.on("ELU")
def elu(e: Emit):
    e.one_input()
    e.layer("elu", alpha=float(e.get("alpha", 1.0)))


@MAPPERS.on("Softmax")
def softmax(e: Emit):
    e.one_input()
    axis = e.get("axis", -1)
    axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
    e.need(isinstance(axis, int), f"softmax over axes {axis}")
    e.layer("softmax", axis=axis if axis != -1 else None)


# ---- pooling ---------------------------------------------------------------------------------
def _pool(kind, rank: int, **fixed):
    def pool(e: Emit):
        _channels_last(e)
        e.one_input()
        size = _axes_n(e.get("pool_size", 2), rank)
        strides = e.get("strides")
        e.layer(kind, kernel=size, stride=_axes_n(strides, rank) if strides is not None else size,
                padding=_padding(e), **fixed)
    return pool


def _global(kind):
    def pool(e: Emit):
        _channels_last(e)
        e.one_input()
        e.layer(kind, keepdims=True if e.get("keepdims", False) else None)
    return pool


for _rank in (1, 2, 3):
    MAPPERS.on(f"MaxPooling{_rank}D", f"MaxPool{_rank}D")(_pool("max_pool", _rank))
    MAPPERS.on(f"AveragePooling{_rank}D", f"AvgPool{_rank}D")(_pool("avg_pool", _rank, count_include_pad=False))
    MAPPERS.on(f"GlobalAveragePooling{_rank}D", f"GlobalAvgPool{_rank}D")(_global("global_avg_pool"))
    MAPPERS.on(f"GlobalMaxPooling{_rank}D", f"GlobalMaxPool{_rank}D")(_global("global_max_pool"))


# ---- merging ---------------------------------------------------------------------------------
def _merge(kind, **args):
    def merge(e: Emit):
        e.need(len(e.inputs) >= 2, f"merges {len(e.inputs)} input(s)")
        e.layer(kind, **args)
    return merge


MAPPERS.on("Add")(_merge("add"))
MAPPERS.on("Multiply")(_merge("multiply"))


@MAPPERS.on("Subtract")
def subtract(e: Emit):
    e.need(len(e.inputs) == 2, f"subtracts {len(e.inputs)} inputs (two are read)")
    e.layer("subtract")


def _chained(op):
    """Maximum / Minimum of n inputs: n - 1 binary layers, the last one the layer itself."""
    def merge(e: Emit):
        e.need(len(e.inputs) >= 2, f"merges {len(e.inputs)} input(s)")
        acc = e.inputs[0]
        for i, x in enumerate(e.inputs[1:], start=1):
            acc = e.layer("binary", "" if i == len(e.inputs) - 1 else f"step{i}", inputs=[acc, x], op=op)
    return merge


MAPPERS.on("Maximum")(_chained("max"))
MAPPERS.on("Minimum")(_chained("min"))


@MAPPERS.on("Average")
def average(e: Emit):
    e.need(len(e.inputs) >= 2, f"averages {len(e.inputs)} input(s)")
    e.layer("add", "sum")
    e.layer("binary", op="mul", scalar=1.0 / len(e.inputs))


@MAPPERS.on("Concatenate")
def concatenate(e: Emit):
    e.need(len(e.inputs) >= 2, f"concatenates {len(e.inputs)} input(s)")
    e.layer("concat", axis=e.get("axis", -1))


# ---- shape -----------------------------------------------------------------------------------
@MAPPERS.on("Flatten")
def flatten(e: Emit):
    e.one_input()
    e.layer("reshape", shape=[-1])


@MAPPERS.on("Reshape")
def reshape(e: Emit):
    e.one_input()
    e.layer("reshape", shape=list(e.get("target_shape")))


@MAPPERS.on("Permute")
def permute(e: Emit):
    e.one_input()
    e.layer("transpose", perm=[0] + list(e.get("dims")))


@MAPPERS.on("Rescaling")
def rescaling(e: Emit):
    e.one_input()
    scale, offset = e.get("scale", 1.0), e.get("offset", 0.0)
    e.need(isinstance(scale, (int, float)) and isinstance(offset, (int, float)),
           "a scale or offset per channel (a list)")
    if scale != 1 and offset != 0:
        e.layer("binary", "scale", op="mul", scalar=float(scale))
        e.layer("binary", op="add", scalar=float(offset))
    elif scale != 1 or offset != 0:
        e.layer("binary", op="mul" if scale != 1 else "add", scalar=float(scale if scale != 1 else offset))
    else:
        e.layer("identity", note="Rescaling(1, 0)")


def _inference_identity(what: str):
    def identity(e: Emit):
        e.one_input()
        e.layer("identity", note=what)
    return identity


MAPPERS.on("Identity")(_inference_identity("Identity"))
MAPPERS.on("GaussianNoise")(_inference_identity("GaussianNoise: noise in training only"))
MAPPERS.on("ActivityRegularization")(_inference_identity("ActivityRegularization: a training loss only"))
MAPPERS.on("StochasticDepth")(_inference_identity("StochasticDepth: drops paths in training only"))
for _cls in ("RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast", "RandomBrightness",
             "RandomHeight", "RandomWidth", "RandomGrayscale", "RandomHue", "RandomSaturation", "RandomSharpness",
             "RandomColorJitter", "RandomErasing", "RandomGaussianBlur", "RandomPerspective", "RandomShear",
             "RandomPosterization", "RandomInvert", "RandomColorDegeneration", "AutoContrast", "RandAugment",
             "AugMix", "CutMix", "MixUp", "Solarization"):
    MAPPERS.on(_cls)(_inference_identity(f"{_cls}: data augmentation, off at inference"))


@MAPPERS.on("Dropout", "SpatialDropout2D", "GaussianDropout", "AlphaDropout")
def dropout(e: Emit):
    e.one_input()
    e.layer("dropout", rate=float(e.get("rate", 0.5)))


# ---- tensor arithmetic: Keras 3's operations and tf.keras 2's TFOpLambda -----------------------
def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _arith(e: Emit, op: str, consts: list):
    """x op y for two tensors, or a tensor and a constant (on either side)."""
    if len(e.inputs) == 2 and not consts:
        kinds = {"add": ("add", {}), "mul": ("multiply", {}), "sub": ("subtract", {}), "div": ("divide", {})}
        kind, args = kinds.get(op, ("binary", {"op": op}))
        e.layer(kind, **args)
        return
    e.need(len(e.inputs) == 1 and len(consts) == 1 and _number(consts[0]),
           "an operation on something other than one or two tensors and a number")
    e.layer("binary", op=op, scalar=float(consts[0]), scalar_first=e.kwargs.get("_first") or None)


def _op(op):
    def mapper(e: Emit):
        first = e.consts and e.kwargs.get("_order") == "const_first"
        e.kwargs["_first"] = bool(first)
        _arith(e, op, [c for c in e.consts if c is not None])
    return mapper


def _unary_op(kind, **args):
    def mapper(e: Emit):
        e.one_input()
        e.layer(kind, **args)
    return mapper


# Keras 3's operations on symbolic tensors (keras.src.ops), as a Functional config records them
for _cls, _fn in (("Add", "add"), ("Subtract", "sub"), ("Multiply", "mul"), ("Divide", "div"), ("TrueDivide", "div"),
                  ("Maximum", "max"), ("Minimum", "min")):
    MAPPERS.on(f"op:{_cls}")(_op(_fn))
for _cls, _fn in (("Negative", "neg"), ("Sqrt", "sqrt"), ("Exp", "exp"), ("Relu", "relu"), ("Relu6", "relu6"),
                  ("Sigmoid", "sigmoid"), ("Tanh", "tanh"), ("Silu", "swish"), ("HardSigmoid", "hard_sigmoid"),
                  ("HardSilu", "hard_swish")):
    MAPPERS.on(f"op:{_cls}")(_unary_op(_fn))


@MAPPERS.on("op:Mean")
def _mean_op(e: Emit):
    e.one_input()
    axis = e.kwargs.get("axis", e.consts[0] if e.consts else None)
    e.need(axis is not None, "a mean over every axis, the batch's included")
    axes = axis if isinstance(axis, list) else [axis]
    e.layer("reduce_mean", axes=axes, keepdims=bool(e.kwargs.get("keepdims", False)))


TF_FUNCTIONS = {"__operators__.add": "add", "math.add": "add", "math.subtract": "sub", "math.multiply": "mul",
                "math.truediv": "div", "math.divide": "div", "math.maximum": "max", "math.minimum": "min"}
TF_UNARY = {"nn.relu": ("relu", {}), "nn.relu6": ("relu6", {}), "math.sigmoid": ("sigmoid", {}),
            "nn.sigmoid": ("sigmoid", {}), "math.tanh": ("tanh", {}), "nn.silu": ("swish", {}),
            "nn.swish": ("swish", {}), "math.exp": ("exp", {}), "math.sqrt": ("sqrt", {}),
            "math.negative": ("neg", {}), "nn.softmax": ("softmax", {})}


@MAPPERS.on("TFOpLambda")
def tf_op_lambda(e: Emit):
    """tf.keras 2's TFOpLambda: a TensorFlow function recorded by name; the arithmetic that
    preprocess_input and hand-written code emit is read, anything else refused by name."""
    fn = str(e.get("function", ""))
    label = f"TFOpLambda({fn})"
    if fn in TF_FUNCTIONS:
        y = e.kwargs.get("y")
        consts = [y] if y is not None else []
        if len(e.inputs) == 1 and not _number(y):
            raise Refused(f"{fn} of a tensor and {y!r}", label=label)
        _arith(e, TF_FUNCTIONS[fn], consts)
    elif fn in TF_UNARY:
        kind, args = TF_UNARY[fn]
        e.one_input()
        e.layer(kind, **args)
    elif fn == "math.reduce_mean":
        _mean_op(e)
    else:
        raise Refused(f"the TensorFlow function {fn} is not read", label=label)


@MAPPERS.on("CustomScaleLayer", "Custom>CustomScaleLayer")
def custom_scale(e: Emit):
    """keras.applications' InceptionResNetV2 (Keras 3): inputs[0] + inputs[1] * scale."""
    e.need(len(e.inputs) == 2, "expects two inputs")
    scaled = e.layer("binary", "scaled", inputs=[e.inputs[1]], op="mul", scalar=float(e.get("scale")))
    e.layer("add", inputs=[e.inputs[0], scaled])


@MAPPERS.on("LayerScale")
def layer_scale(e: Emit):
    """keras.applications' ConvNeXt LayerScale: a learned multiplier per channel."""
    e.one_input()
    e.layer("scale")
    e.weights(("gamma", "gamma", "variable"))          # Keras 3's LayerScale leaves its weight unnamed
