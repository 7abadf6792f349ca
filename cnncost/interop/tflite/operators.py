"""TFLite's builtin operators onto cnncost kinds: one handler per operator in `OPERATORS`,
called as handler(r, op) with r the reader (interop/tflite/reader.py), whose helpers read
the operator's tensors (`r.act`, `r.const`, `r.ints` ...) and write our layers (`r.emit`).
The reader has checked the operator's arity (its ARITY) and folded its shape arithmetic
before a handler runs; a handler refuses what it cannot read (Refused) or what is damaged
(Damaged), and the reader names the operator in the message."""
from __future__ import annotations

import math

from cnncost.interop.handlers import Handlers
from cnncost.interop.refusals import Refused
from cnncost.interop.tflite.file import Damaged, TensorInfo

OPERATORS = Handlers("TFLite")
QUANTIZED = ("int8", "uint8", "int16")
PER_CHANNEL = {"add": ("shift", "beta"), "mul": ("scale", "gamma")}   # x op a constant per channel


def _padding(r, op):
    return "same" if r.opt(op, 0, "b") == 0 else "valid"


def _kernel(r, op, i, perm):
    w = r.const(op.inputs[i], "kernel")
    r.shape(op.inputs[i], len(perm), "kernel", w.shape)
    if 0 in w.shape:
        raise Damaged(f"its kernel has shape {list(w.shape)}")
    return w, lambda: w.real().transpose(perm)       # made only when weights are asked for


def _bias(r, op, i, channels):
    if len(op.inputs) <= i or op.inputs[i] < 0:
        return None
    b = r.const(op.inputs[i], "bias")
    if tuple(b.shape) != (channels,):
        raise Damaged(f"its bias (tensor {op.inputs[i]}) has shape {list(b.shape)}; the kernel makes {channels}")
    return b, b.real


@OPERATORS.on("CONV_2D")
def conv_2d(r, op):
    x = r.act(op.inputs[0])
    w, k = _kernel(r, op, 1, (1, 2, 3, 0))             # [out, kh, kw, in] -> [kh, kw, in, out]
    c = r.shape(op.inputs[0], 4, "input")[-1]
    if c % w.shape[3]:
        raise Damaged(f"an input of {c} channels for a kernel of shape {list(w.shape)}")
    groups = c // w.shape[3]
    bias = _bias(r, op, 2, w.shape[0])
    weights = {"kernel": (w, k), **({"bias": bias} if bias else {})}
    r.emit(op, "conv", [x], weights=weights, fused=r.opt(op, 3, "b"), filters=w.shape[0],
           kernel=[w.shape[1], w.shape[2]], stride=[r.opt(op, 2, "i", 1), r.opt(op, 1, "i", 1)],
           padding=_padding(r, op), dilation=[r.opt(op, 5, "i", 1), r.opt(op, 4, "i", 1)],
           groups=groups if groups > 1 else None, bias=bias is not None)


@OPERATORS.on("DEPTHWISE_CONV_2D")
def depthwise_conv_2d(r, op):
    x = r.act(op.inputs[0])
    w, _ = _kernel(r, op, 1, (0, 1, 2, 3))
    c = r.shape(op.inputs[0], 4, "input")[-1]
    if w.shape[0] != 1 or not c or w.shape[3] % c:
        raise Damaged(f"an input of {c} channels for a depthwise kernel of shape {list(w.shape)}")
    mult = w.shape[3] // c
    bias = _bias(r, op, 2, w.shape[3])
    def k():
        return w.real().reshape(w.shape[1], w.shape[2], c, mult)
    r.emit(op, "depthwise_conv", [x], weights={"kernel": (w, k), **({"bias": bias} if bias else {})},
           fused=r.opt(op, 4, "b"), kernel=[w.shape[1], w.shape[2]],
           stride=[r.opt(op, 2, "i", 1), r.opt(op, 1, "i", 1)], padding=_padding(r, op),
           dilation=[r.opt(op, 6, "i", 1), r.opt(op, 5, "i", 1)],
           depth_multiplier=mult if mult > 1 else None, bias=bias is not None)


@OPERATORS.on("TRANSPOSE_CONV")
def transpose_conv(r, op):
    out_shape = r.ints(op.inputs[0], "output shape")
    w, k = _kernel(r, op, 1, (1, 2, 0, 3))             # [out, kh, kw, in] -> [kh, kw, out, in]
    x = r.act(op.inputs[2])
    h, wd = r.shape(op.inputs[2], 4, "input")[1:3]
    if len(out_shape) != 4:
        raise Damaged(f"an output shape of {len(out_shape)} values, not 4")
    s = [r.opt(op, 2, "i", 1), r.opt(op, 1, "i", 1)]
    pads, extra = [], []
    for i, (n, kk) in enumerate(((h, w.shape[1]), (wd, w.shape[2]))):
        crop = (n - 1) * s[i] + kk - out_shape[1 + i]       # TensorFlow's: the smaller half on top
        pads += [max(crop, 0) // 2, max(crop, 0) - max(crop, 0) // 2]
        extra.append(max(-crop, 0))
    bias = _bias(r, op, 3, w.shape[0])
    r.emit(op, "conv_transpose", [x], weights={"kernel": (w, k), **({"bias": bias} if bias else {})},
           fused=r.opt(op, 3, "b"), filters=w.shape[0], kernel=[w.shape[1], w.shape[2]], stride=s,
           padding=pads, output_padding=extra if any(extra) else None, bias=bias is not None)


@OPERATORS.on("FULLY_CONNECTED")
def fully_connected(r, op):
    x = r.act(op.inputs[0])
    w, k = _kernel(r, op, 1, (1, 0))
    shape = r.shape(op.inputs[0], (1, 8), "input")
    if len(shape) > 2 and not r.opt(op, 2, "b"):        # TFLite flattens what it reads
        if math.prod(shape[1:]) != w.shape[1]:
            raise Refused("a fully connected layer that folds positions into the batch")
        x = r.emit(op, "reshape", [x], shape=[-1], suffix=".flatten", keep=True)
    elif shape[-1] != w.shape[1]:
        raise Damaged(f"an input of shape {list(shape)} for a kernel of shape {list(w.shape)}")
    bias = _bias(r, op, 2, w.shape[0])
    r.emit(op, "dense", [x], weights={"kernel": (w, k), **({"bias": bias} if bias else {})},
           fused=r.opt(op, 0, "b"), units=w.shape[0], bias=bias is not None)


def _pool(r, op, kind, **fixed):
    r.emit(op, kind, [r.act(op.inputs[0])], fused=r.opt(op, 5, "b"),
           kernel=[r.opt(op, 4, "i", 1), r.opt(op, 3, "i", 1)],
           stride=[r.opt(op, 2, "i", 1), r.opt(op, 1, "i", 1)], padding=_padding(r, op), **fixed)


@OPERATORS.on("AVERAGE_POOL_2D")
def average_pool_2d(r, op):
    _pool(r, op, "avg_pool", count_include_pad=False)
    if r.layers[-1]["precision"].get("scale"):     # TFLite rounds the raw integers' mean
        r.layers[-1]["precision"]["rounding"] = "raw"


@OPERATORS.on("MAX_POOL_2D")
def max_pool_2d(r, op):
    _pool(r, op, "max_pool")


ARITH = {"ADD": "add", "SUB": "sub", "MUL": "mul", "DIV": "div", "MAXIMUM": "max", "MINIMUM": "min"}


@OPERATORS.on(*ARITH)
def arith(r, op):
    name = ARITH[op.code]
    a, b = op.inputs[:2]
    fused = r.opt(op, 0, "b")
    kinds = {"add": "add", "mul": "multiply", "sub": "subtract", "div": "divide"}
    ca, cb = r.constant(a), r.constant(b)
    if ca is not None or cb is not None:
        first = ca is not None
        c = ca if first else cb
        x = r.act(b if first else a)
        size = math.prod(c.shape)
        if size == 1:
            r.emit(op, "binary", [x], fused=fused, op=name, scalar=float(r.value(c.index, "constant")),
                   scalar_first=True if first and name in ("sub", "div") else None)
            return
        out = r.t[op.outputs[0]].shape
        if name in PER_CHANNEL and out and size == c.shape[-1] == out[-1]:
            kind, wn = PER_CHANNEL[name]
            r.emit(op, kind, [x], weights={wn: (c, lambda: c.real().reshape(-1))}, fused=fused)
            return
        raise Refused(f"{name} with a constant of shape {list(c.shape)}")
    ins = [r.act(a), r.act(b)]
    if name in kinds:
        r.emit(op, kinds[name], ins, fused=fused)
    else:
        r.emit(op, "binary", ins, fused=fused, op=name)


def _unary(r, src, kind, **args):
    r.emit(src, kind, [r.act(src.inputs[0])], **args)


UNARY = {"RELU": "relu", "RELU6": "relu6", "RELU_N1_TO_1": "hard_tanh", "LOGISTIC": "sigmoid", "TANH": "tanh",
         "HARD_SWISH": "hard_swish", "ELU": "elu", "EXP": "exp", "SQRT": "sqrt", "ABS": "abs", "NEG": "neg",
         "LOG": "log", "LOG_SOFTMAX": "log_softmax"}


@OPERATORS.on(*UNARY)
def unary(r, op):
    _unary(r, op, UNARY[op.code])


@OPERATORS.on("GELU")
def gelu(r, op):
    _unary(r, op, "gelu", approximate="tanh" if r.opt(op, 0, "b") else None)


@OPERATORS.on("LEAKY_RELU")
def leaky_relu(r, op):
    _unary(r, op, "leaky_relu", slope=float(r.opt(op, 0, "f", 0.2)))


@OPERATORS.on("PRELU")
def prelu(r, op):
    x = r.act(op.inputs[0])
    c = r.const(op.inputs[1], "slope")
    r.emit(op, "prelu", [x], weights={"slope": (c, lambda: c.real().reshape(-1))},
           shared=True if math.prod(c.shape) == 1 else None)


@OPERATORS.on("SOFTMAX")
def softmax(r, op):
    if abs(r.opt(op, 0, "f", 1.0) - 1.0) > 1e-6:
        raise Refused("softmax with beta other than 1")
    _unary(r, op, "softmax")


@OPERATORS.on("CONCATENATION")
def concatenation(r, op):
    ins = [r.act(i) for i in op.inputs]
    r.emit(op, "concat", ins, fused=r.opt(op, 1, "b"), axis=r.opt(op, 0, "i", -1))


@OPERATORS.on("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def reshape_to_output(r, op):
    out = r.t[op.outputs[0]].shape
    r.emit(op, "reshape", [r.act(op.inputs[0])], shape=list(out[1:]))


@OPERATORS.on("TRANSPOSE")
def transpose(r, op):
    perm = r.ints(op.inputs[1], "permutation")
    if sorted(perm) != list(range(len(r.t[op.inputs[0]].shape))):
        raise Damaged(f"permutation {perm} for an input of shape {list(r.t[op.inputs[0]].shape)}")
    if perm[0] != 0:
        raise Refused("a transpose that moves the batch axis")
    r.emit(op, "transpose", [r.act(op.inputs[0])], perm=perm)


# code -> our reduction, and the kind for a map's H and W (MEAN: a global average pool)
REDUCE = {"MEAN": ("reduce_mean", "global_avg_pool"), "SUM": ("reduce_sum", None), "REDUCE_MAX": ("reduce_max", None)}


@OPERATORS.on(*REDUCE)
def reduce(r, op):
    kind, spatial = REDUCE[op.code]
    rank = len(r.shape(op.inputs[0], (1, 16), "input"))
    given = r.ints(op.inputs[1], "axes")
    if any(not -rank <= a < rank for a in given):
        raise Damaged(f"axes {given} of an input of rank {rank}")
    axes = sorted(a % rank for a in given)
    keep = bool(r.opt(op, 0, "b"))
    if spatial and axes == [1, 2] and len(r.t[op.inputs[0]].shape) == 4:
        _unary(r, op, spatial, keepdims=True if keep else None)
    else:
        _unary(r, op, kind, axes=axes, keepdims=keep)


@OPERATORS.on("PAD", "PADV2")
def pad(r, op):
    flat = r.ints(op.inputs[1], "paddings")
    pads = [flat[i:i + 2] for i in range(0, len(flat), 2)]
    if len(pads) != 4 or pads[0] != [0, 0] or pads[3] != [0, 0]:
        raise Refused(f"padding {pads} (H and W are read)")
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        if float(r.value(op.inputs[2], "padding value")) != 0.0:
            raise Refused("padding with a value other than zero")
    _unary(r, op, "zero_pad", padding=[pads[1][0], pads[1][1], pads[2][0], pads[2][1]])


# code -> our mode, and the option fields of align_corners and half_pixel_centers
RESIZE = {"RESIZE_BILINEAR": ("bilinear", 2, 3), "RESIZE_NEAREST_NEIGHBOR": ("nearest", 0, 1)}


@OPERATORS.on(*RESIZE)
def resize(r, op):
    mode, align_at, half_at = RESIZE[op.code]
    size = r.ints(op.inputs[1], "size")
    align, half = bool(r.opt(op, align_at, "b")), bool(r.opt(op, half_at, "b"))
    if half:
        coords = "tensorflow"
    elif mode == "nearest" and not align:
        coords = "onnx"                      # asymmetric, floor: TensorFlow 1's nearest
    elif mode == "bilinear" and align:
        coords = None
    else:
        raise Refused(f"{mode} resize without half-pixel centres")
    _unary(r, op, "upsample", mode=mode, size=size, coordinates=coords,
           align_corners=True if align and mode == "bilinear" else None)


@OPERATORS.on("STRIDED_SLICE")
def strided_slice(r, op):
    shape = r.t[op.inputs[0]].shape
    begin, end, step = (r.ints(op.inputs[i], "bound") for i in (1, 2, 3))
    masks = [r.opt(op, i, "i") for i in range(5)]
    if masks[2] or masks[3] or masks[4]:
        raise Refused("a strided slice with ellipsis, new-axis or shrink masks")
    if not len(begin) == len(end) == len(step) <= len(shape) or 0 in step or 0 in shape:
        raise Damaged(f"begin {begin}, end {end} and strides {step} for an input of shape {list(shape)}")
    axes = []
    for ax, (b, e, s) in enumerate(zip(begin, end, step)):
        b = 0 if masks[0] >> ax & 1 else b % shape[ax] if b < 0 else b
        e = shape[ax] if masks[1] >> ax & 1 else e + shape[ax] if e < 0 else min(e, shape[ax])
        if (b, e, s) != (0, shape[ax], 1):
            axes.append((ax, b, e, s))
    if len(axes) != 1 or axes[0][0] == 0:
        raise Refused("a strided slice over several axes or the batch")
    ax, b, e, s = axes[0]
    _unary(r, op, "slice", axis=ax, start=b, stop=e, step=s if s != 1 else None)


def _split(r, op, sizes, axis, x):
    start = 0
    for out, size in zip(op.outputs, sizes):
        r.emit(op, "slice", [x], out=out, axis=axis, start=start, stop=start + size)
        start += size


def _axis(r, op, i, shape):
    axis = r.ints(op.inputs[i], "axis")
    if len(axis) != 1 or not -len(shape) <= axis[0] < len(shape):
        raise Damaged(f"axis {axis} of an input of shape {list(shape)}")
    return axis[0] % len(shape)


@OPERATORS.on("SPLIT")
def split(r, op):
    shape = r.t[op.inputs[1]].shape
    axis = _axis(r, op, 0, shape)
    x = r.act(op.inputs[1])
    n = len(op.outputs)
    _split(r, op, [shape[axis] // n] * n, axis, x)


@OPERATORS.on("SPLIT_V")
def split_v(r, op):
    x = r.act(op.inputs[0])
    axis = _axis(r, op, 2, r.t[op.inputs[0]].shape)
    if any(len(r.t[o].shape) <= axis for o in op.outputs):
        raise Damaged(f"outputs of shapes {[list(r.t[o].shape) for o in op.outputs]} split along axis {axis}")
    _split(r, op, [r.t[o].shape[axis] for o in op.outputs], axis, x)


@OPERATORS.on("BATCH_MATMUL")
def batch_matmul(r, op):
    if r.opt(op, 0, "b"):
        raise Refused("adj_x (a transposed first operand)")
    a, b = r.act(op.inputs[0]), r.act(op.inputs[1])
    rhs = r.t[op.inputs[1]]
    if rhs.dtype in QUANTIZED and rhs.zero_point and rhs.zero_point[0] and rhs.scale:
        # TFLite's integer kernel reads its second operand as if its zero point were 0
        # (measured against the interpreter: 33 steps off otherwise): that offset, as a layer
        b = r.emit(op, "binary", [b], op="add", scalar=float(rhs.zero_point[0] * rhs.scale[0]),
                   suffix=".rhs_zero_point", keep=True)
    r.emit(op, "matmul", [a, b], transpose_b=True if r.opt(op, 1, "b") else None)


@OPERATORS.on("QUANTIZE")
def quantize(r, op):
    _unary(r, op, "quantize", to=r.t[op.outputs[0]].dtype)


@OPERATORS.on("DEQUANTIZE")
def dequantize(r, op):
    src = r.constant(op.inputs[0])
    if src is not None:                    # a float16 (or int8) weight made float: fold it
        folded = TensorInfo(op.outputs[0], src.name, src.shape, src.dtype, src.buffer, src.scale,
                            src.zero_point, src.axis, src.data)
        r.consts[op.outputs[0]] = folded
        return
    _unary(r, op, "quantize", to=r.t[op.outputs[0]].dtype)
