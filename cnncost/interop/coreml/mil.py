"""An ML Program's operations (MIL, coremltools' iOS 15+ opsets) onto ONNX nodes, one
handler per operation in `MIL`, called as handler(r, op) with r the program reader
(interop/coreml/program.py), whose helpers read the operation's arguments: `r.x` an
activation's name, `r.tensor` an activation or a constant as an ONNX input, `r.ints`,
`r.number`, `r.text` a constant argument's value. A handler writes ONNX nodes through
`r.g` (interop/coreml/graph.py), named by the operation's output.

MIL's windows are ONNX's: weights [out, in / groups, kh, kw] (conv_transpose [in, out /
groups, ...]); a custom `pad` lists begin and end per axis ([top, bottom, left, right]),
where ONNX lists every axis' begin, then every end."""
from __future__ import annotations

from cnncost.interop.handlers import Handlers
from cnncost.interop.refusals import Refused

MIL = Handlers("Core ML")
AUTO_PAD = {"valid": "VALID", "same": "SAME_UPPER", "same_lower": "SAME_LOWER"}


def _pads(r, op, d: int) -> dict:
    kind = r.text(op, "pad_type", "valid")
    if kind == "custom":
        p = r.ints(op, "pad", [0] * 2 * d)
        if len(p) != 2 * d:
            raise Refused(f"pad {p} for a {d}-D window")
        return {"pads": p[0::2] + p[1::2]}
    if kind not in AUTO_PAD:
        raise Refused(f"pad_type {kind!r}")
    return {"auto_pad": AUTO_PAD[kind]}


def _window(r, op, d: int) -> dict:
    return {"strides": r.ints(op, "strides", [1] * d), **_pads(r, op, d)}


def _conv_inputs(r, op):
    """(ONNX inputs, attributes) of a conv or conv_transpose: its weight, bias and window."""
    dims = r.dims(op, "weight")
    d = len(dims) - 2
    if d < 1:
        raise Refused(f"a weight of shape {list(dims)}")
    ins = [r.x(op, "x"), r.tensor(op, "weight")] + ([r.tensor(op, "bias")] if "bias" in op.inputs else [])
    attrs = {**_window(r, op, d), "dilations": r.ints(op, "dilations", [1] * d), "group": r.number(op, "groups", 1),
             "kernel_shape": list(dims[2:])}
    return ins, attrs


@MIL.on("conv")
def conv(r, op):
    ins, attrs = _conv_inputs(r, op)
    r.node("Conv", ins, op, **attrs)


@MIL.on("conv_transpose")
def conv_transpose(r, op):
    ins, attrs = _conv_inputs(r, op)
    if "auto_pad" in attrs:          # the output's size says what was cropped: explicit pads
        attrs.pop("auto_pad")
        attrs["pads"], extra = _transposed_pads(r.in_dims(op, "x")[2:], r.out_dims(op)[2:], attrs["kernel_shape"],
                                                attrs["strides"], attrs["dilations"])
        if any(extra):
            attrs["output_padding"] = extra
    r.node("ConvTranspose", ins, op, **attrs)


def _transposed_pads(sizes, outs, kernel, stride, dilation):
    """ONNX pads (begins, then ends) and output_padding of a transposed convolution from its
    input and output sizes: what the full output, (n - 1) s + (k - 1) d + 1, loses."""
    if any(not isinstance(o, int) for o in outs) or len(outs) != len(sizes):
        raise Refused("a transposed convolution of unknown output size")
    begins, ends, extra = [], [], []
    for n, o, k, s, d in zip(sizes, outs, kernel, stride, dilation):
        crop = (n - 1) * s + (k - 1) * d + 1 - o
        begins.append(max(crop, 0) // 2)
        ends.append(max(crop, 0) - max(crop, 0) // 2)
        extra.append(max(-crop, 0))
    return begins + ends, extra


@MIL.on("linear")
def linear(r, op):
    """y = x W^T + b, W [out, in]: a Gemm on a vector, a MatMul by W^T (a Transpose the
    importer folds) on more axes."""
    x, w = r.x(op, "x"), r.tensor(op, "weight")
    bias = [r.tensor(op, "bias")] if "bias" in op.inputs else []
    if len(r.in_dims(op, "x")) == 2:
        r.node("Gemm", [x, w, *bias], op, transB=1)
        return
    wt = r.g.node("Transpose", [w], [r.g.temp(w)], f"{r.name(op)}.weight_t", perm=[1, 0])
    if not bias:
        r.node("MatMul", [x, wt], op)
        return
    y = r.g.node("MatMul", [x, wt], [r.g.temp(r.name(op))], r.name(op))
    r.node("Add", [y, bias[0]], op)


@MIL.on("matmul")
def matmul(r, op):
    ins = []
    for arg, flag in (("x", "transpose_x"), ("y", "transpose_y")):
        t = r.tensor(op, arg)
        if r.flag(op, flag):
            rank = len(r.in_dims(op, arg))
            perm = list(range(rank - 2)) + [rank - 1, rank - 2]
            t = r.g.node("Transpose", [t], [r.g.temp(t)], f"{r.name(op)}.{arg}_t", perm=perm)
        ins.append(t)
    r.node("MatMul", ins, op)


BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "real_div": "Div", "maximum": "Max", "minimum": "Min",
          "pow": "Pow"}


@MIL.on(*BINARY)
def binary(r, op):
    r.node(BINARY[op.type], [r.tensor(op, "x"), r.tensor(op, "y")], op)


UNARY = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "silu": "SiLU", "exp": "Exp", "sqrt": "Sqrt",
         "abs": "Abs", "erf": "Erf", "identity": "Identity", "cast": "Identity", "floor": "Floor",
         "ceil": "Ceil", "inverse": "Reciprocal", "log": "Log", "sign": "Sign", "sin": "Sin", "cos": "Cos",
         "softplus": "Softplus"}


@MIL.on(*UNARY)
def unary(r, op):
    if op.type == "cast" and r.text(op, "dtype", "fp32") not in ("fp32", "fp16", "fp64"):
        raise Refused(f"a cast to {r.text(op, 'dtype', '?')}")
    if op.type == "inverse" and r.number(op, "epsilon", 1e-4) > 1e-3:
        raise Refused("an inverse with a large epsilon")
    r.node(UNARY[op.type], [r.x(op, "x")], op)


@MIL.on("thresholded_relu")
def thresholded_relu(r, op):
    """x where x > alpha, else 0: coremltools writes PyTorch's hardswish as t * hard_sigmoid(t)
    of t = thresholded_relu(x, -3), where the threshold changes nothing (hard_sigmoid is 0
    at and below -3): read as x itself when every reader of t is that hard sigmoid or the
    product, so the importer reads x * hard_sigmoid(x) as it reads an exporter's."""
    t = r.name(op)
    gates = [o.outputs[0].name for o in r.readers(t) if o.type == "sigmoid_hard" and
             abs(r.number(o, "alpha", 0.2) - 1 / 6) < 1e-3 and r.number(o, "beta", 0.5) == 0.5]
    ok = r.number(op, "alpha", 1.0) <= -3 and r.readers(t) and all(
        o.type == "sigmoid_hard" and o.outputs[0].name in gates or
        o.type == "mul" and sorted(map(str, o.inputs.get("x", []) + o.inputs.get("y", []))) == sorted([t, *gates])
        for o in r.readers(t))
    if not ok:
        raise Refused("a threshold other than hardswish's")
    r.node("Identity", [r.x(op, "x")], op)


@MIL.on("relu6")
def relu6(r, op):
    r.node("Clip", [r.x(op, "x"), r.g.numbers([0.0], "float32", ()), r.g.numbers([6.0], "float32", ())], op)


@MIL.on("clip")
def clip(r, op):
    lo, hi = r.number(op, "alpha"), r.number(op, "beta")
    r.node("Clip", [r.x(op, "x"), r.g.numbers([float(lo)], "float32", ()), r.g.numbers([float(hi)], "float32", ())],
           op)


@MIL.on("gelu")
def gelu(r, op):
    mode = r.text(op, "mode", "EXACT")
    if mode not in ("EXACT", "TANH_APPROXIMATION"):
        raise Refused(f"gelu of mode {mode}")
    r.node("Gelu", [r.x(op, "x")], op, **({"approximate": "tanh"} if mode != "EXACT" else {}))


@MIL.on("leaky_relu")
def leaky_relu(r, op):
    r.node("LeakyRelu", [r.x(op, "x")], op, alpha=float(r.number(op, "alpha", 0.01)))


@MIL.on("elu")
def elu(r, op):
    r.node("Elu", [r.x(op, "x")], op, alpha=float(r.number(op, "alpha", 1.0)))


@MIL.on("sigmoid_hard")
def sigmoid_hard(r, op):
    alpha = float(r.number(op, "alpha", 0.2))
    if abs(alpha - 1 / 6) < 1e-4:         # a float16 program's 1/6 (0.16662598): PyTorch's hardsigmoid
        alpha = 1 / 6
    r.node("HardSigmoid", [r.x(op, "x")], op, alpha=alpha, beta=float(r.number(op, "beta", 0.5)))


@MIL.on("prelu")
def prelu(r, op):
    slope = r.tensor(op, "alpha")
    rank, c = len(r.in_dims(op, "x")), r.dims(op, "alpha")
    shaped = r.g.node("Reshape", [slope, r.g.numbers([c[0]] + [1] * (rank - 2))], [r.g.temp(slope)],
                      f"{r.name(op)}.slope") if rank > 2 else slope
    r.node("PRelu", [r.x(op, "x"), shaped], op)


def _scale_shift(r, op) -> list:
    """gamma and beta, or ones and zeros where the operation has none."""
    c = r.in_dims(op, "x")[1]
    gamma = r.tensor(op, "gamma") if "gamma" in op.inputs else r.g.numbers([1.0] * c, "float32")
    beta = r.tensor(op, "beta") if "beta" in op.inputs else r.g.numbers([0.0] * c, "float32")
    return [gamma, beta]


@MIL.on("batch_norm")
def batch_norm(r, op):
    r.node("BatchNormalization", [r.x(op, "x"), *_scale_shift(r, op), r.tensor(op, "mean"), r.tensor(op, "variance")],
           op, epsilon=float(r.number(op, "epsilon", 1e-5)))


@MIL.on("instance_norm")
def instance_norm(r, op):
    r.node("InstanceNormalization", [r.x(op, "x"), *_scale_shift(r, op)], op, epsilon=float(r.number(op, "epsilon", 1e-5)))


@MIL.on("layer_norm")
def layer_norm(r, op):
    rank = len(r.in_dims(op, "x"))
    axes = sorted(a % rank for a in r.ints(op, "axes", [-1]))
    if axes != list(range(axes[0], rank)):
        raise Refused(f"a layer norm over axes {axes}, not the last ones")
    ins = [r.x(op, "x")] + [r.tensor(op, k) for k in ("gamma", "beta") if k in op.inputs]
    r.node("LayerNormalization", ins, op, axis=axes[0], epsilon=float(r.number(op, "epsilon", 1e-5)))


POOLS = {"avg_pool": "AveragePool", "max_pool": "MaxPool"}


@MIL.on(*POOLS)
def pool(r, op):
    kernel = r.ints(op, "kernel_sizes")
    attrs = {"kernel_shape": kernel, **_window(r, op, len(kernel)), "ceil_mode": int(r.flag(op, "ceil_mode"))}
    if "exclude_padding_from_average" in op.inputs:          # avg_pool's
        attrs["count_include_pad"] = int(not r.flag(op, "exclude_padding_from_average"))
    r.node(POOLS[op.type], [r.x(op, "x")], op, **attrs)


REDUCE = {"reduce_mean": "ReduceMean", "reduce_max": "ReduceMax", "reduce_sum": "ReduceSum",
          "reduce_min": "ReduceMin"}


@MIL.on(*REDUCE)
def reduce(r, op):
    rank = len(r.in_dims(op, "x"))
    axes = r.ints(op, "axes", list(range(rank)))
    keep = r.flag(op, "keep_dims")
    if op.type in ("reduce_mean", "reduce_max") and rank == 4 and keep and sorted(a % 4 for a in axes) == [2, 3]:
        r.node("GlobalAveragePool" if op.type == "reduce_mean" else "GlobalMaxPool", [r.x(op, "x")], op)
    elif op.type == "reduce_sum":
        r.node("ReduceSum", [r.x(op, "x"), r.g.numbers(axes)], op, keepdims=int(keep))
    else:
        r.node(REDUCE[op.type], [r.x(op, "x")], op, axes=axes, keepdims=int(keep))


@MIL.on("reshape")
def reshape(r, op):
    r.node("Reshape", [r.x(op, "x"), r.g.numbers(r.ints(op, "shape"))], op)


@MIL.on("flatten2d")
def flatten2d(r, op):
    r.node("Flatten", [r.x(op, "x")], op, axis=r.number(op, "axis", 1))


@MIL.on("transpose")
def transpose(r, op):
    r.node("Transpose", [r.x(op, "x")], op, perm=r.ints(op, "perm"))


@MIL.on("squeeze", "expand_dims")
def squeeze(r, op):
    axes = r.ints(op, "axes", [i for i, d in enumerate(r.in_dims(op, "x")) if d == 1])
    r.node("Squeeze" if op.type == "squeeze" else "Unsqueeze", [r.x(op, "x"), r.g.numbers(axes)], op)


@MIL.on("concat")
def concat(r, op):
    if r.flag(op, "interleave"):
        raise Refused("an interleaved concat")
    r.node("Concat", [r.tensor(op, "values", i) for i in range(len(op.inputs.get("values", [])))], op,
           axis=r.number(op, "axis"))


@MIL.on("softmax")
def softmax(r, op):
    r.node("Softmax", [r.x(op, "x")], op, axis=r.number(op, "axis", -1))


@MIL.on("pad")
def pad(r, op):
    mode = r.text(op, "mode", "constant")
    if mode not in ("constant", "reflect", "replicate"):
        raise Refused(f"pad mode {mode}")
    p, rank = r.ints(op, "pad"), len(r.in_dims(op, "x"))
    if len(p) % 2 or len(p) > 2 * rank:
        raise Refused(f"pad {p} of a rank-{rank} tensor")
    p = [0] * (2 * rank - len(p)) + p                   # MIL pads the last axes, begin and end per axis
    onnx = p[0::2] + p[1::2]
    value = float(r.number(op, "constant_val", 0.0))
    r.node("Pad", [r.x(op, "x"), r.g.numbers(onnx), r.g.numbers([value], "float32", ())], op,
           mode={"reflect": "reflect", "replicate": "edge"}.get(mode, "constant"))


@MIL.on("upsample_nearest_neighbor", "upsample_bilinear", "resize_bilinear", "resize_nearest_neighbor")
def upsample(r, op):
    shape = r.out_dims(op)
    if any(not isinstance(d, int) for d in shape):
        raise Refused("an upsample of unknown output size")
    nearest = "nearest" in op.type
    if nearest:
        ctm = "asymmetric"
    elif r.flag(op, "align_corners") or r.text(op, "sampling_mode", "") == "STRICT_ALIGN_CORNERS":
        ctm = "align_corners"
    else:
        ctm = "pytorch_half_pixel"
    r.node("Resize", [r.x(op, "x"), "", "", r.g.numbers(shape)], op, mode="nearest" if nearest else "linear",
           coordinate_transformation_mode=ctm, nearest_mode="floor")


@MIL.on("slice_by_index")
def slice_by_index(r, op):
    dims = r.in_dims(op, "x")
    rank = len(dims)
    begin, end = r.ints(op, "begin"), r.ints(op, "end")
    stride = r.ints(op, "stride", [1] * rank)
    bmask, emask = r.flags(op, "begin_mask", rank), r.flags(op, "end_mask", rank)
    if any(r.flags(op, "squeeze_mask", rank)):
        raise Refused("a slice that drops an axis")
    starts, ends = [], []
    for a in range(rank):
        starts.append(0 if bmask[a] else begin[a])
        ends.append(dims[a] if emask[a] else end[a])
    r.node("Slice", [r.x(op, "x"), r.g.numbers(starts), r.g.numbers(ends), r.g.numbers(list(range(rank))),
                     r.g.numbers(stride)], op)


@MIL.on("split")
def split(r, op):
    axis = r.number(op, "axis")
    sizes = [o.dims[axis] for o in op.outputs]
    if any(not isinstance(s, int) for s in sizes):
        raise Refused("a split of unknown sizes")
    r.node("Split", [r.x(op, "x"), r.g.numbers(sizes)], op, axis=axis)
