"""OpenVINO layers that compute (convolutions, MatMul, arithmetic, activations, pools,
normalisations, resizes, FakeQuantize), each written as its ONNX node(s) through the
translator `t` (translate.py). Read against the OpenVINO opset specifications (docs/ops);
the attributes are the layer's <data>, as text."""
from __future__ import annotations

import math

from cnncost.interop.openvino.translate import CONV_LIKE, OPS, Translator
from cnncost.interop.openvino.ir import Layer
from cnncost.interop.refusals import Refused

INT_MAX = 2 ** 63 - 1


def _flag(layer: Layer, key: str, default: str = "false") -> bool:
    return layer.attrs.get(key, default).strip().lower() in ("true", "1")


def _window(t: Translator, layer: Layer, d: int) -> dict:
    """Strides, dilations and padding of a convolution or pool over d spatial axes."""
    attrs = {"strides": t.ints(layer, "strides", ",".join("1" * d))}
    if "dilations" in layer.attrs:
        attrs["dilations"] = t.ints(layer, "dilations")
    auto = layer.attrs.get("auto_pad", "explicit").lower()
    if auto in ("explicit", "notset", ""):
        begin, end = t.ints(layer, "pads_begin", ",".join("0" * d)), t.ints(layer, "pads_end", ",".join("0" * d))
        if len(begin) != d or len(end) != d:
            raise Refused(f"pads_begin {begin} and pads_end {end} for a window over {d} axes")
        attrs["pads"] = begin + end
    elif auto in ("valid", "same_upper", "same_lower"):
        attrs["auto_pad"] = auto.upper()
    else:
        raise Refused(f"auto_pad {auto!r}")
    if any(len(v) != d for k, v in attrs.items() if k != "auto_pad" and k != "pads"):
        raise Refused(f"strides or dilations {attrs} for a window over {d} axes")
    return attrs


def _bias(t: Translator, layer: Layer, channels: int):
    """(bias value, the Add) when the layer's only reader adds a constant of one value per
    output channel ([1, C, 1, 1]): the converter's split of a convolution's bias."""
    found = t.sole_reader(layer, "Add")
    if found is None:
        return None
    add, at = found
    other = 1 - at
    out = t.dims(layer, 0, output=True)
    if len(add.inputs) != 2 or not t.is_constant(add, other) or t.dims(add, 0, output=True) != out:
        return None
    dims = list(t.dims(add, other))
    if None in dims:
        return None
    along = [len(out) - len(dims) + k for k, n in enumerate(dims) if n != 1]      # axes it varies on
    if math.prod(dims) != channels or along not in ([1], [] if channels == 1 else [1]):
        return None
    bias = t.node_out("Reshape", [t.src(add, other), t.new_const("bias_shape", [channels])], f"{add.name}/bias")
    t.done.add(add.id)
    return bias, add


@OPS.on(*CONV_LIKE)
def convolution(t: Translator, layer: Layer) -> None:
    grouped, transposed = layer.type.startswith("Group"), "Backprop" in layer.type
    x, w = t.src(layer, 0), t.src(layer, 1)
    wd = t.dims(layer, 1)
    d = len(wd) - 2 - grouped
    if d < 1 or any(v is None for v in wd):
        raise Refused(f"a kernel of dims {list(wd)}")
    attrs = {**_window(t, layer, d), "kernel_shape": list(wd[-d:])}
    if grouped:            # [G, O/G, I/G, k...] (backprop: [G, I/G, O/G, k...]) -> ONNX's [G*(.), (.), k...]
        attrs["group"] = wd[0]
        w = t.node_out("Reshape", [w, t.new_const("kernel_shape", [wd[0] * wd[1], *wd[2:]])], f"{layer.name}/kernel")
    if transposed:
        if len(layer.inputs) > 2:
            raise Refused("an output_shape input: convert the model with explicit pads")
        attrs["output_padding"] = t.ints(layer, "output_padding", ",".join("0" * d))
    channels = wd[0] * wd[2] if grouped and transposed else wd[0] * wd[1] if grouped else \
        wd[1] if transposed else wd[0]
    fused = _bias(t, layer, channels)
    inputs, (target, name) = [x, w], (layer, layer.name)
    if fused is not None:
        inputs.append(fused[0])
        target, name = fused[1], fused[1].name
    t.node("ConvTranspose" if transposed else "Conv", inputs, [t.out(target)], name, **attrs)


@OPS.on("MatMul")
def matmul(t: Translator, layer: Layer) -> None:
    """A product with a constant 2-D weight is a Gemm (its bias then an Add the ONNX reader
    joins); a transpose flag on anything else is a Transpose of the last two axes."""
    ta, tb = _flag(layer, "transpose_a"), _flag(layer, "transpose_b")
    a, b = t.src(layer, 0), t.src(layer, 1)
    da, db = t.dims(layer, 0), t.dims(layer, 1)
    if len(da) == 2 and len(db) == 2 and not ta and t.is_constant(layer, 1):
        t.node("Gemm", [a, b], [t.out(layer)], layer.name, transB=int(tb))
        return
    ins = []
    for value, flag, dims in ((a, ta, da), (b, tb, db)):
        if flag and len(dims) >= 2:
            perm = list(range(len(dims) - 2)) + [len(dims) - 1, len(dims) - 2]
            value = t.node_out("Transpose", [value], f"{layer.name}/transposed", perm=perm)
        ins.append(value)
    t.node("MatMul", ins, [t.out(layer)], layer.name)


# ---- element-wise ----------------------------------------------------------------------
BINARY = {"Add": "Add", "Multiply": "Mul", "Subtract": "Sub", "Divide": "Div", "Maximum": "Max",
          "Minimum": "Min", "Power": "Pow", "Equal": "Equal", "Less": "Less", "Greater": "Greater",
          "FloorMod": "Mod"}
UNARY = {"ReLU": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "HSwish": "HardSwish", "Mish": "Mish",
         "SoftPlus": "Softplus", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt", "Abs": "Abs", "Negative": "Neg",
         "Floor": "Floor", "Ceiling": "Ceil", "Erf": "Erf", "Sin": "Sin", "Cos": "Cos", "Sign": "Sign",
         "LogicalNot": "Not"}


@OPS.on(*BINARY)
def binary(t: Translator, layer: Layer) -> None:
    if layer.attrs.get("auto_broadcast", "numpy").lower() not in ("numpy", "none"):
        raise Refused(f"auto_broadcast {layer.attrs['auto_broadcast']!r} (numpy's rule is read)")
    t.node(BINARY[layer.type], [_operand(t, layer, 0), _operand(t, layer, 1)], [t.out(layer)], layer.name)


def _operand(t: Translator, layer: Layer, i: int) -> str:
    """A one-value Const is a number of the computation (attention's 1/sqrt(d)), not a weight
    of the model: written as an ONNX Constant node, as an exporter writes a Python number (an
    initializer would count as a parameter)."""
    frm, _ = t.source(layer, i)
    converted = frm.type == "Convert" and t.source(frm, 0)[0].type == "Const"      # a float16 number
    const = t.source(frm, 0)[0] if converted else frm
    if const.type != "Const" or not const.outputs or math.prod(d or 0 for d in const.outputs[0].dims) != 1:
        return t.src(layer, i)
    tensor = t.bin.tensor(f"{const.name}:value", const.attrs, const.outputs[0].dims,
                          f"layer {const.id} ('{const.name}')")
    value = t.node_out("Constant", [], const.name, value=tensor)
    return t.node_out("Cast", [value], const.name, to=1) if converted else value


@OPS.on(*UNARY)
def unary(t: Translator, layer: Layer) -> None:
    t.node(UNARY[layer.type], [t.src(layer, 0)], [t.out(layer)], layer.name)


def _scalar(t: Translator, layer: Layer, i: int, what: str) -> float:
    value = t.constant(layer, i, what).reshape(-1)
    if value.size != 1:
        raise Refused(f"its {what} holds {value.size} values, not one")
    return float(value[0])


@OPS.on("HSigmoid", "HardSigmoid")
def hard_sigmoid(t: Translator, layer: Layer) -> None:
    alpha, beta = (1 / 6, 0.5) if layer.type == "HSigmoid" else \
        (_scalar(t, layer, 1, "alpha"), _scalar(t, layer, 2, "beta"))
    t.node("HardSigmoid", [t.src(layer, 0)], [t.out(layer)], layer.name, alpha=alpha, beta=beta)


@OPS.on("Swish")
def swish(t: Translator, layer: Layer) -> None:
    if len(layer.inputs) > 1 and _scalar(t, layer, 1, "beta") != 1.0:
        raise Refused("a Swish of beta other than 1 has no cnncost kind (SiLU's beta is 1)")
    t.node("SiLU", [t.src(layer, 0)], [t.out(layer)], layer.name)


@OPS.on("Gelu")
def gelu(t: Translator, layer: Layer) -> None:
    mode = layer.attrs.get("approximation_mode", "ERF").upper()
    if mode not in ("ERF", "TANH"):
        raise Refused(f"approximation_mode {mode!r}")
    t.node("Gelu", [t.src(layer, 0)], [t.out(layer)], layer.name, approximate="tanh" if mode == "TANH" else "none")


@OPS.on("Elu")
def elu(t: Translator, layer: Layer) -> None:
    t.node("Elu", [t.src(layer, 0)], [t.out(layer)], layer.name, alpha=t.number(layer, "alpha"))


@OPS.on("Clamp")
def clamp(t: Translator, layer: Layer) -> None:
    bounds = [t.new_const(f"{layer.name}/{k}", [t.number(layer, k)], "f32", ()) for k in ("min", "max")]
    t.node("Clip", [t.src(layer, 0), *bounds], [t.out(layer)], layer.name)


@OPS.on("PReLU")
def prelu(t: Translator, layer: Layer) -> None:
    """One slope for every channel is a LeakyReLU (the converter writes PyTorch's LeakyReLU so)."""
    slope = t.dims(layer, 1)
    if all(d == 1 for d in slope) and t.is_constant(layer, 1):
        t.node("LeakyRelu", [t.src(layer, 0)], [t.out(layer)], layer.name, alpha=_scalar(t, layer, 1, "slope"))
    else:
        t.node("PRelu", [t.src(layer, 0), t.src(layer, 1)], [t.out(layer)], layer.name)


@OPS.on("SoftMax", "Softmax", "LogSoftmax")
def softmax(t: Translator, layer: Layer) -> None:
    op = "LogSoftmax" if layer.type == "LogSoftmax" else "Softmax"
    t.node(op, [t.src(layer, 0)], [t.out(layer)], layer.name, axis=t.ints(layer, "axis", "1")[0])


# ---- pools, reductions, normalisation, resize -------------------------------------------
@OPS.on("MaxPool", "AvgPool")
def pool(t: Translator, layer: Layer) -> None:
    kernel = t.ints(layer, "kernel")
    d = len(kernel)
    attrs = {**_window(t, layer, d), "kernel_shape": kernel}
    rounding = layer.attrs.get("rounding_type", "floor").lower()
    if rounding not in ("floor", "ceil", "ceil_torch"):
        raise Refused(f"rounding_type {rounding!r}")
    attrs["ceil_mode"] = int(rounding != "floor")
    if rounding == "ceil":
        _ceil_as_torch(t, layer, kernel, attrs)
    if layer.type == "AvgPool":
        attrs["count_include_pad"] = int(not _flag(layer, "exclude-pad"))
        t.node("AveragePool", [t.src(layer, 0)], [t.out(layer)], layer.name, **attrs)
    else:
        outs = [t.out(layer, i) for i in range(min(len(layer.outputs), 2))]
        t.node("MaxPool", [t.src(layer, 0)], outs, layer.name, **attrs)


def _ceil_as_torch(t: Translator, layer: Layer, kernel, attrs) -> None:
    """OpenVINO's `ceil` lets a last window start in the end padding; PyTorch's (cnncost's)
    drops that window: where the two differ at this size, refused."""
    sizes = t.dims(layer, 0)[-len(kernel):]
    pads = attrs.get("pads")
    if pads is None or any(s is None for s in sizes):
        return
    dil = attrs.get("dilations", [1] * len(kernel))
    for i, (n, k, s, dl) in enumerate(zip(sizes, kernel, attrs["strides"], dil)):
        lo, hi = pads[i], pads[len(kernel) + i]
        out = -(-(n + lo + hi - (k - 1) * dl - 1) // s) + 1
        if (out - 1) * s >= n + lo:
            raise Refused(f"rounding_type ceil lets the last window of axis {i} start in the padding, which "
                          "PyTorch's ceil mode (cnncost's) drops")


REDUCE = {"ReduceMean": "ReduceMean", "ReduceMax": "ReduceMax", "ReduceSum": "ReduceSum", "ReduceMin": "ReduceMin",
          "ReduceProd": "ReduceProd", "ReduceL2": "ReduceL2"}


@OPS.on(*REDUCE)
def reduce(t: Translator, layer: Layer) -> None:
    axes = [int(a) for a in t.constant(layer, 1, "axes").reshape(-1)]
    t.node(REDUCE[layer.type], [t.src(layer, 0)], [t.out(layer)], layer.name, axes=axes,
           keepdims=int(_flag(layer, "keep_dims")))


@OPS.on("BatchNormInference")
def batch_norm(t: Translator, layer: Layer) -> None:
    # opset1's inputs are gamma, beta, data, mean, variance; opset5's data first
    order = (2, 0, 1, 3, 4) if layer.version == "opset1" else (0, 1, 2, 3, 4)
    t.node("BatchNormalization", [t.src(layer, i) for i in order], [t.out(layer)], layer.name,
           epsilon=t.number(layer, "epsilon"))


@OPS.on("LRN")
def lrn(t: Translator, layer: Layer) -> None:
    axes = [int(a) for a in t.constant(layer, 1, "axes").reshape(-1)]
    if axes != [1]:
        raise Refused(f"an LRN over axes {axes} (across channels, axis 1, is read)")
    t.node("LRN", [t.src(layer, 0)], [t.out(layer)], layer.name, size=t.ints(layer, "size")[0],
           alpha=t.number(layer, "alpha"), beta=t.number(layer, "beta"), bias=t.number(layer, "bias"))


MODES = {"nearest": "nearest", "linear": "linear", "linear_onnx": "linear", "cubic": "cubic"}


@OPS.on("Interpolate")
def interpolate(t: Translator, layer: Layer) -> None:
    """v4 (data, sizes, scales, axes) and v11 (data, scales or sizes, axes) as a Resize of
    every axis (sizes or scales of the axes it leaves alone: theirs)."""
    a = layer.attrs
    if layer.version not in ("opset4", "opset11"):
        raise Refused(f"Interpolate of {layer.version}: convert the model with a recent OpenVINO (opset4 or 11)")
    mode = MODES.get(a.get("mode", "nearest"))
    if mode is None:
        raise Refused(f"mode {a.get('mode')!r} has no cnncost kind (nearest, linear and cubic have)")
    if _flag(layer, "antialias") or any(t.ints(layer, k, "0") != [0] * len(t.ints(layer, k, "0"))
                                        for k in ("pads_begin", "pads_end")):
        raise Refused("antialiasing or padding has no cnncost kind")
    rank = len(t.dims(layer, 0))
    by_sizes = a.get("shape_calculation_mode", "sizes") == "sizes"
    given = 1 if layer.version == "opset11" or by_sizes else 2
    axes_at = 2 if layer.version == "opset11" else 3
    axes = [int(v) % rank for v in t.constant(layer, axes_at, "axes").reshape(-1)] \
        if len(layer.inputs) > axes_at else list(range(rank))
    if axes != list(range(rank - len(axes), rank)):
        raise Refused(f"a resize of axes {axes}: the trailing axes, in order, are read")
    value = t.src(layer, given)
    if len(axes) < rank:           # the leading axes are kept: size 1 or scale 1 (only the spatial ones are read)
        lead = t.new_const(f"{layer.name}/kept", [1] * (rank - len(axes)), "i64" if by_sizes else "f32")
        if by_sizes:
            value = t.node_out("Cast", [value], f"{layer.name}/sizes", to=7)
        value = t.node_out("Concat", [lead, value], f"{layer.name}/all", axis=0)
    attrs = {"mode": mode, "coordinate_transformation_mode": a.get("coordinate_transformation_mode", "half_pixel"),
             "nearest_mode": a.get("nearest_mode", "round_prefer_floor")}
    if mode == "cubic":
        attrs["cubic_coeff_a"] = t.number(layer, "cube_coeff", "-0.75")
    ins = [t.src(layer, 0), "", "", value] if by_sizes else [t.src(layer, 0), "", value]
    t.node("Resize", ins, [t.out(layer)], layer.name, **attrs)


PER_CHANNEL = "per_channel_fq"       # in the names of the layers of an activation quantized per channel


@OPS.on("FakeQuantize")
def fake_quantize(t: Translator, layer: Layer) -> None:
    """An activation quantized to `levels` steps and back: QuantizeLinear + DequantizeLinear
    of one scale and zero point, when its output range is its input range (NNCF's). Ranges
    per channel (NNCF's before a depthwise conv) are the same pair stored in 8 bits whose
    rounding `run` does not apply (cnncost's precision holds one scale a tensor): its names
    carry PER_CHANNEL and the reader drops the placeholder scale."""
    import numpy as np

    levels = t.ints(layer, "levels")[0]
    lo, hi, out_lo, out_hi = (t.constant(layer, i, k).astype(np.float64).reshape(-1)
                              for i, k in ((1, "input_low"), (2, "input_high"), (3, "output_low"),
                                           (4, "output_high")))
    if levels not in (255, 256) or not (lo.shape == hi.shape == out_lo.shape == out_hi.shape) \
            or (hi <= lo).any() or not (np.allclose(lo, out_lo, rtol=1e-6, atol=1e-12)
                                        and np.allclose(hi, out_hi, rtol=1e-6, atol=1e-12)):
        raise Refused(f"{levels} levels, input range unlike its output range: 8-bit quantization whose output "
                      "range is its input range is read")
    signed = bool((lo < 0).any())
    name = layer.name
    if lo.size == 1:
        scale = float((hi[0] - lo[0]) / (levels - 1))
        zero = -float(lo[0]) / scale
        if abs(zero - round(zero)) > 1e-3 or not 0 <= round(zero) <= 255:
            raise Refused(f"a zero point of {zero:.4f}, not an integer step of its range")
        zp = round(zero) - (128 if signed else 0)
    else:
        scale, zp, name = 1.0, 0, f"{layer.name}/{PER_CHANNEL}"
    s = t.new_const(f"{layer.name}/scale", [scale], "f32", ())
    z = t.new_const(f"{layer.name}/zero_point", [zp], "i8" if signed else "u8", ())
    q = t.node_out("QuantizeLinear", [t.src(layer, 0), s, z], f"{name}/q")
    t.node("DequantizeLinear", [q, s, z], [t.out(layer)], name)
