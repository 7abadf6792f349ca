"""TFLite's builtin operators onto cnncost kinds: one handler per operator in `OPERATORS`,
called as handler(r, op) with r the reader (interop/tflite/reader.py), whose helpers read
the operator's tensors (`r.act`, `r.const`, `r.ints` ...) and write our layers (`r.emit`).
Convolutions and pools, of 1-D, 2-D and 3-D maps, are in windows.py; recurrent operators in
sequences.py.
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


def padding_of(r, op):
    return "same" if r.opt(op, 0, "b") == 0 else "valid"


def kernel_of(r, op, i, perm):
    w = r.const(op.inputs[i], "kernel")
    r.shape(op.inputs[i], len(perm), "kernel", w.shape)
    if 0 in w.shape:
        raise Damaged(f"its kernel has shape {list(w.shape)}")
    return w, lambda: w.real().transpose(perm)       # made only when weights are asked for


def bias_of(r, op, i, channels):
    if len(op.inputs) <= i or op.inputs[i] < 0:
        return None
    b = r.const(op.inputs[i], "bias")
    if tuple(b.shape) != (channels,):
        raise Damaged(f"its bias (tensor {op.inputs[i]}) has shape {list(b.shape)}; the kernel makes {channels}")
    return b, b.real


@OPERATORS.on("TRANSPOSE_CONV")
def transpose_conv(r, op):
    out_shape = r.ints(op.inputs[0], "output shape")
    w, k = kernel_of(r, op, 1, (1, 2, 0, 3))             # [out, kh, kw, in] -> [kh, kw, out, in]
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
    bias = bias_of(r, op, 3, w.shape[0])
    r.emit(op, "conv_transpose", [x], weights={"kernel": (w, k), **({"bias": bias} if bias else {})},
           fused=r.opt(op, 3, "b"), filters=w.shape[0], kernel=[w.shape[1], w.shape[2]], stride=s,
           padding=pads, output_padding=extra if any(extra) else None, bias=bias is not None)


@OPERATORS.on("FULLY_CONNECTED")
def fully_connected(r, op):
    x = r.act(op.inputs[0])
    w, k = kernel_of(r, op, 1, (1, 0))
    shape = r.shape(op.inputs[0], (1, 8), "input")
    if len(shape) > 2 and not r.opt(op, 2, "b"):        # TFLite flattens what it reads
        if math.prod(shape[1:]) != w.shape[1]:
            raise Refused("a fully connected layer that folds positions into the batch")
        x = r.emit(op, "reshape", [x], shape=[-1], suffix=".flatten", keep=True)
    elif shape[-1] != w.shape[1]:
        raise Damaged(f"an input of shape {list(shape)} for a kernel of shape {list(w.shape)}")
    bias = bias_of(r, op, 2, w.shape[0])
    r.emit(op, "dense", [x], weights={"kernel": (w, k), **({"bias": bias} if bias else {})},
           fused=r.opt(op, 0, "b"), units=w.shape[0], bias=bias is not None)


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


@OPERATORS.on("TRANSPOSE")
def transpose(r, op):
    perm = r.ints(op.inputs[1], "permutation")
    if sorted(perm) != list(range(len(r.t[op.inputs[0]].shape))):
        raise Damaged(f"permutation {perm} for an input of shape {list(r.t[op.inputs[0]].shape)}")
    if perm[0] != 0:
        raise Refused("a transpose that moves the batch axis")
    r.emit(op, "transpose", [r.act(op.inputs[0])], perm=perm)


# code -> our reduction, and the kind for a map's H and W (MEAN: a global average pool)
REDUCE = {"MEAN": ("reduce_mean", "global_avg_pool"), "SUM": ("reduce_sum", None),
          "REDUCE_MAX": ("reduce_max", "global_max_pool")}


@OPERATORS.on(*REDUCE)
def reduce(r, op):
    kind, spatial = REDUCE[op.code]
    rank = len(r.shape(op.inputs[0], (1, 16), "input"))
    given = r.ints(op.inputs[1], "axes")
    if any(not -rank <= a < rank for a in given):
        raise Damaged(f"axes {given} of an input of rank {rank}")
    axes = sorted(a % rank for a in given)
    keep = bool(r.opt(op, 0, "b"))
    if spatial and 3 <= rank <= 5 and axes == list(range(1, rank - 1)):     # every position of a map
        _unary(r, op, spatial, keepdims=True if keep else None)
    else:
        _unary(r, op, kind, axes=axes, keepdims=keep)


@OPERATORS.on("PAD", "PADV2")
def pad(r, op):
    """A map's H and W padded with zeros: zero_pad; any other axes or value: pad."""
    flat = r.ints(op.inputs[1], "paddings")
    pads = [flat[i:i + 2] for i in range(0, len(flat), 2)]
    if len(pads) != len(r.t[op.inputs[0]].shape) or min(flat, default=0) < 0:
        raise Damaged(f"paddings {pads} for an input of shape {list(r.t[op.inputs[0]].shape)}")
    if pads[0] != [0, 0]:
        raise Refused("padding the batch")
    value = 0.0
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        value = float(r.value(op.inputs[2], "padding value"))
    if len(pads) == 4 and pads[3] == [0, 0] and value == 0.0:
        _unary(r, op, "zero_pad", padding=[pads[1][0], pads[1][1], pads[2][0], pads[2][1]])
    else:
        _unary(r, op, "pad", padding=[p for pair in pads[1:] for p in pair], value=value or None)


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
    """One axis sliced (a recurrent layer's last step, x[:, -1], drops it: shrink_axis_mask,
    then a reshape)."""
    shape = r.t[op.inputs[0]].shape
    begin, end, step = (r.ints(op.inputs[i], "bound") for i in (1, 2, 3))
    masks = [r.opt(op, i, "i") for i in range(5)]
    if masks[2] or masks[3]:
        raise Refused("a strided slice with ellipsis or new-axis masks")
    if not len(begin) == len(end) == len(step) <= len(shape) or 0 in step or 0 in shape:
        raise Damaged(f"begin {begin}, end {end} and strides {step} for an input of shape {list(shape)}")
    axes = []
    for ax, (b, e, s) in enumerate(zip(begin, end, step)):
        if masks[4] >> ax & 1:                 # one position, the axis dropped
            if not -shape[ax] <= b < shape[ax]:
                raise Damaged(f"position {b} of an axis of {shape[ax]}")
            b, e, s = b % shape[ax], b % shape[ax] + 1, 1
        else:
            b = 0 if masks[0] >> ax & 1 else b % shape[ax] if b < 0 else b
            e = shape[ax] if masks[1] >> ax & 1 else e + shape[ax] if e < 0 else min(e, shape[ax])
        if (b, e, s) != (0, shape[ax], 1):
            axes.append((ax, b, e, s))
    dropped = masks[4] & ((1 << len(begin)) - 1)
    if len(axes) > 1 or any(a[0] == 0 for a in axes) or dropped & 1 or not axes and not dropped:
        raise Refused("a strided slice over several axes or the batch")
    if not dropped:
        ax, b, e, s = axes[0]
        _unary(r, op, "slice", axis=ax, start=b, stop=e, step=s if s != 1 else None)
        return
    x = r.act(op.inputs[0])
    if axes:
        ax, b, e, s = axes[0]
        x = r.emit(op, "slice", [x], keep=True, suffix=".slice", axis=ax, start=b, stop=e, step=s if s != 1 else None)
    r.emit(op, "reshape", [x], shape=list(r.t[op.outputs[0]].shape[1:]))


@OPERATORS.on("REVERSE_V2")
def reverse_v2(r, op):
    """The positions of one axis in reverse order (Keras' go_backwards and Bidirectional):
    a slice that steps back."""
    shape = r.t[op.inputs[0]].shape
    axes = r.ints(op.inputs[1], "axis")
    if len(axes) != 1 or not -len(shape) <= axes[0] < len(shape):
        raise Damaged(f"axes {axes} of an input of shape {list(shape)}")
    axis = axes[0] % len(shape)
    if axis == 0:
        raise Refused("reversing the batch")
    _unary(r, op, "slice", axis=axis, start=shape[axis] - 1, stop=-1, step=-1)


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


@OPERATORS.on("GATHER")
def gather(r, op):
    """Rows of a constant table picked by the model's own integer input (Keras' Embedding,
    converted): the embedding kind. A gather of anything else has no kind."""
    table, ids = op.inputs[0], op.inputs[1]
    t = r.constant(table)
    axis = r.opt(op, 0, "i", 0)
    if t is None or len(t.shape) != 2 or axis != 0 or ids not in r.m.inputs or not r.t[ids].dtype.startswith("int"):
        raise Refused("a GATHER other than of a constant table's rows by the model's integer input (an embedding)")
    vocab, dim = t.shape
    r.emit(op, "embedding", [r.act(ids)], weights={"embeddings": (t, t.real)}, vocab=vocab, dim=dim)
