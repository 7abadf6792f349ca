"""NeuralNetwork layers (NeuralNetwork.proto) onto ONNX nodes: one handler per layer type in
`LAYERS`, called as handler(r, f) with r the reader (interop/coreml/neural.py: `r.x` an
input blob, `r.weights` a WeightParams as an initializer, `r.node` the layer's ONNX node)
and f its parameter message (neural.Fields). Read for coremltools' exact array mapping (each
blob N x C x H x W, or N x C).

Kernels are ONNX's: a convolution's [out, kernel channels, kh, kw], a deconvolution's
[kernel channels, out / groups, kh, kw], an inner product's [out, in]."""
from __future__ import annotations

import math

from cnncost.errors import ModelFileError
from cnncost.interop.handlers import Handlers
from cnncost.interop.refusals import Refused

LAYERS = Handlers("Core ML NeuralNetwork")


@LAYERS.on("slice")
def slice_layer(r, f):
    """SliceLayerParams: numpy's [start:end:stride] along C, H or W of a C x H x W blob (a
    negative end counts from the end)."""
    axis = {0: -3, 1: -2, 2: -1}.get(f.int(4))
    if axis is None:
        raise Refused(f"slice axis {f.int(4)}")
    start, end, stride = f.int(1), f.int(2), f.int(3, 1) or 1
    if end == 0 or start < 0:
        raise Refused(f"a slice from {start} to {end}")
    r.node("Slice", [r.x(), r.g.numbers([start]), r.g.numbers([end]), r.g.numbers([axis]), r.g.numbers([stride])])


@LAYERS.on("gelu")
def gelu(r, f):
    mode = f.int(1)
    if mode == 2:
        raise Refused("gelu's sigmoid approximation")
    r.node("Gelu", [r.x()], **({"approximate": "tanh"} if mode == 1 else {}))


def _pads(f, valid: int, same: int) -> dict:
    """ValidPadding's [top, bottom, left, right] as ONNX pads, or SamePadding's mode."""
    s = f.sub(same)
    if s is not None:
        return {"auto_pad": "SAME_LOWER" if s.int(1) == 1 else "SAME_UPPER"}
    v, edges = f.sub(valid), []
    amounts = v.sub(1) if v is not None else None
    for e in (amounts.subs(10) if amounts is not None else []):
        edges.append((e.int(1), e.int(2)))
    edges = edges or [(0, 0), (0, 0)]
    if len(edges) != 2:
        raise Refused(f"padding of {len(edges)} axes")
    return {"pads": [edges[0][0], edges[1][0], edges[0][1], edges[1][1]]}


@LAYERS.on("convolution")
def convolution(r, f):
    out, kc, groups = f.int(1), f.int(2), f.int(10) or 1
    kernel, stride, dilation = f.ints(20) or [3, 3], f.ints(30) or [1, 1], f.ints(40) or [1, 1]
    if len(kernel) != 2 or min(kernel + stride + dilation + [out, kc]) < 1 or out % groups:
        raise ModelFileError(f"{r.path}: layer {r.layer_name!r}: {out} outputs of {kc} kernel channels, "
                             f"kernel {kernel}, stride {stride}, {groups} groups")
    deconv = bool(f.int(60))
    dims = [kc, out // groups, *kernel] if deconv else [out, kc, *kernel]
    ins = [r.x(), r.weights(f, 90, dims, "weights")]
    if f.int(70):
        ins.append(r.weights(f, 91, [out], "bias"))
    attrs = {"kernel_shape": kernel, "strides": stride, "dilations": dilation, "group": groups, **_pads(f, 50, 51)}
    if deconv:                    # outputShape only settles what explicit pads already say
        if "auto_pad" in attrs:
            raise Refused("a deconvolution of same padding")
        r.node("ConvTranspose", ins, **attrs)
    else:
        r.node("Conv", ins, **attrs)


@LAYERS.on("innerProduct")
def inner_product(r, f):
    n_in, n_out = f.int(1), f.int(2)
    if min(n_in, n_out) < 1:
        raise ModelFileError(f"{r.path}: layer {r.layer_name!r}: an inner product of {n_in} -> {n_out}")
    ins = [r.x(), r.weights(f, 20, [n_out, n_in], "weights")]
    if f.int(10):
        ins.append(r.weights(f, 21, [n_out], "bias"))
    r.node("Gemm", ins, transB=1)


@LAYERS.on("batchnorm")
def batchnorm(r, f):
    c = f.int(1)
    if f.int(5) or f.int(6):
        raise Refused("a batch norm that computes its mean and variance (instance normalization)")
    ins = [r.x()] + [r.weights(f, n, [c], what) for n, what in ((15, "gamma"), (16, "beta"), (17, "mean"),
                                                                   (18, "variance"))]
    r.node("BatchNormalization", ins, epsilon=f.float(10, 1e-5) or 1e-5)


ACTIVATIONS = {10: "Relu", 30: "Tanh", 40: "Sigmoid", 70: "Softplus"}


@LAYERS.on("activation")
def activation(r, f):
    kind = next(iter(f.f), None)
    a = f.sub(kind) if kind is not None else None
    if kind in ACTIVATIONS:
        r.node(ACTIVATIONS[kind], [r.x()])
    elif kind == 15:
        r.node("LeakyRelu", [r.x()], alpha=a.float(1, 0.0))
    elif kind == 50:
        r.node("Elu", [r.x()], alpha=a.float(1, 1.0))
    elif kind == 41:
        alpha = a.float(1, 0.2)
        r.node("HardSigmoid", [r.x()], alpha=1 / 6 if abs(alpha - 1 / 6) < 1e-4 else alpha, beta=a.float(2, 0.5))
    elif kind == 20 and a.float(1, 1.0) <= -3 and _hardswish_only(r, r.outputs[0]):
        r.node("Identity", [r.x()])          # see mil.thresholded_relu: hardswish as coremltools writes it
    elif kind == 5 and a.float(1, 0.0) == 1.0 and a.float(2, 0.0) == 0.0:
        r.node("Identity", [r.x()])
    else:
        raise Refused(f"activation field {kind}")


def _hardswish_only(r, t: str) -> bool:
    """Whether every reader of t is a hard sigmoid (1/6, 1/2) of it or the product of t and one."""
    readers = r.readers(t)
    gates = []
    for field, ins, outs, f in readers:          # NeuralNetworkLayer's fields: 130 activation, 231 multiply
        g = f.sub(41) if field == 130 and f is not None else None
        if g is not None and abs(g.float(1, 0.2) - 1 / 6) < 1e-4 and g.float(2, 0.5) == 0.5:
            gates.append(outs[0])
    return bool(readers) and all(field == 130 and outs[0] in gates or
                                 field == 231 and sorted(ins) == sorted([t, *gates]) for field, ins, outs, f in readers)


@LAYERS.on("pooling")
def pooling(r, f):
    kind = f.int(1)
    if kind not in (0, 1):
        raise Refused("L2 pooling")
    if f.int(60):
        r.node("GlobalMaxPool" if kind == 0 else "GlobalAveragePool", [r.x()])
        return
    if f.has(32):
        raise Refused("pooling with includeLastPixel padding (Caffe's ceil mode)")
    attrs = {"kernel_shape": f.ints(10) or [3, 3], "strides": f.ints(20) or [1, 1], **_pads(f, 30, 31)}
    if kind == 1:
        attrs["count_include_pad"] = int(not f.int(50))
    r.node("MaxPool" if kind == 0 else "AveragePool", [r.x()], **attrs)


@LAYERS.on("add", "multiply")
def add_multiply(r, f):
    """Core ML's add and multiply: every input together, or one input and alpha."""
    op, xs = {"add": "Add", "multiply": "Mul"}[r.kind], list(r.inputs)
    if len(xs) == 1:
        r.node(op, [xs[0], r.g.numbers([f.float(1, 0.0)], "float32", ())])
        return
    y = xs[0]
    for k, other in enumerate(xs[1:]):
        out = r.outputs[:1] if k == len(xs) - 2 else [r.g.temp(r.layer_name)]
        y = r.g.node(op, [y, other], out, r.layer_name)


BROADCAST = {"addBroadcastable": "Add", "multiplyBroadcastable": "Mul", "subtractBroadcastable": "Sub",
             "divideBroadcastable": "Div", "maxBroadcastable": "Max", "minBroadcastable": "Min"}


def _broadcast(op):
    return lambda r, f: r.node(op, [r.x(0), r.x(1)])


for _kind, _op in BROADCAST.items():
    LAYERS.on(_kind)(_broadcast(_op))


@LAYERS.on("concat")
def concat(r, f):
    if f.int(100):
        raise Refused("a sequence concat")
    r.node("Concat", list(r.inputs), axis=-3)


@LAYERS.on("concatND")
def concat_nd(r, f):
    if f.int(2):
        raise Refused("an interleaved concat")
    r.node("Concat", list(r.inputs), axis=f.int(1))


@LAYERS.on("flatten")
def flatten(r, f):
    if f.int(1):
        raise Refused("a channel-last flatten")
    r.node("Flatten", [r.x()], axis=1)


@LAYERS.on("flattenTo2D")
def flatten_to_2d(r, f):
    r.node("Flatten", [r.x()], axis=f.int(1, 1))


@LAYERS.on("reshapeStatic")
def reshape_static(r, f):
    r.node("Reshape", [r.x(), r.g.numbers(f.ints(1))])


@LAYERS.on("softmax")
def softmax(r, f):
    r.node("Softmax", [r.x()], axis=-3)


@LAYERS.on("softmaxND")
def softmax_nd(r, f):
    r.node("Softmax", [r.x()], axis=f.int(1))


@LAYERS.on("transpose")
def transpose(r, f):
    r.node("Transpose", [r.x()], perm=f.ints(1))


@LAYERS.on("squeeze", "expandDims")
def squeeze(r, f):
    if f.int(2):
        raise Refused("squeezeAll")
    r.node("Squeeze" if r.kind == "squeeze" else "Unsqueeze", [r.x(), r.g.numbers(f.ints(1))])


@LAYERS.on("clip")
def clip(r, f):
    r.node("Clip", [r.x(), r.g.numbers([f.float(1)], "float32", ()), r.g.numbers([f.float(2)], "float32", ())])


def _per_channel(r, f, shape_num, weights_num, what):
    """A scale or bias of shape [C], [C, 1, 1] or [1]: as ONNX broadcasts it on N x C x H x W."""
    shape = f.ints(shape_num) or [1]
    c = math.prod(shape)
    return r.weights(f, weights_num, [c, 1, 1] if c > 1 else [1], what)


@LAYERS.on("scale")
def scale(r, f):
    y = r.x()
    if f.int(3):
        y = r.g.node("Mul", [y, _per_channel(r, f, 1, 2, "scale")], [r.g.temp(r.layer_name)], r.layer_name)
        r.node("Add", [y, _per_channel(r, f, 4, 5, "bias")])
    else:
        r.node("Mul", [y, _per_channel(r, f, 1, 2, "scale")])


@LAYERS.on("bias")
def bias(r, f):
    r.node("Add", [r.x(), _per_channel(r, f, 1, 2, "bias")])


@LAYERS.on("upsample")
def upsample(r, f):
    factors = f.ints(1) or [1, 1]
    if f.has(7) or len(factors) != 2:
        raise Refused("a fractional upsample")
    mode, align = f.int(5), f.int(6)
    ctm = "asymmetric" if mode == 0 else "align_corners" if align == 1 else "pytorch_half_pixel"
    scales = r.g.numbers([1.0, 1.0, float(factors[0]), float(factors[1])], "float32")
    r.node("Resize", [r.x(), "", scales], mode="nearest" if mode == 0 else "linear",
           coordinate_transformation_mode=ctm, nearest_mode="floor")


@LAYERS.on("padding")
def padding(r, f):
    if not f.has(1):
        raise Refused("reflection or replication padding")
    edges = []
    amounts = f.sub(10)
    for e in (amounts.subs(10) if amounts is not None else []):
        edges.append((e.int(1), e.int(2)))
    if len(edges) != 2:
        raise Refused(f"padding of {len(edges)} axes")
    value = f.sub(1).float(1, 0.0)
    pads = [0, 0, edges[0][0], edges[1][0], 0, 0, edges[0][1], edges[1][1]]
    r.node("Pad", [r.x(), r.g.numbers(pads), r.g.numbers([value], "float32", ())], mode="constant")


@LAYERS.on("lrn")
def lrn(r, f):
    r.node("LRN", [r.x()], alpha=f.float(1), beta=f.float(2), size=f.int(3), bias=f.float(4, 1.0) or 1.0)


@LAYERS.on("reduceMean")
def reduce_mean(r, f):
    axes, keep = f.ints(1), bool(f.int(2))
    if f.int(3):
        raise Refused("a mean of every axis")
    if keep and sorted(a % 4 for a in axes) == [2, 3] and all(a < 0 or a > 1 for a in axes):
        r.node("GlobalAveragePool", [r.x()])
    else:
        r.node("ReduceMean", [r.x()], axes=axes, keepdims=int(keep))


@LAYERS.on("batchedMatmul")
def batched_matmul(r, f):
    if f.int(1) or f.int(2):
        raise Refused("a batched matmul with a transposed operand")
    if len(r.inputs) == 2:
        r.node("MatMul", [r.x(0), r.x(1)])
        return
    rows, cols = f.int(5), f.int(6)
    w = r.weights(f, 8, [rows, cols], "weights")
    ins = [r.x(), w] + ([r.weights(f, 9, [cols], "bias")] if f.int(7) else [])
    if len(ins) == 3:
        y = r.g.node("MatMul", ins[:2], [r.g.temp(r.layer_name)], r.layer_name)
        r.node("Add", [y, ins[2]])
    else:
        r.node("MatMul", ins)


@LAYERS.on("loadConstantND")
def load_constant(r, f):
    dims = f.ints(1)
    name = r.weights(f, 2, dims, "data")
    r.node("Identity", [name])
