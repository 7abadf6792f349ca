"""OpenVINO layers that move data or compute shapes (Parameter, Result, Const, Convert,
reshapes, transposes, concat, split, slices, pads, ShapeOf and its arithmetic), each written
as its ONNX node(s) through the translator `t` (translate.py). A weight kept as float16 or
int8 (Const -> Convert [-> Subtract] -> Multiply) is written as a DequantizeLinear of the
stored tensor: the ONNX reader then counts its bytes as stored."""
from __future__ import annotations

from cnncost.interop.onnx.proto import ValueInfo
from cnncost.interop.openvino.ir import Layer
from cnncost.interop.openvino.ops import INT_MAX, _flag
from cnncost.interop.openvino.translate import OPS, Translator
from cnncost.interop.openvino.weights import ELEMENTS
from cnncost.interop.refusals import Refused

# OpenVINO element type or port precision -> ONNX data type
ONNX_TYPES = {**{k: v[0] for k, v in ELEMENTS.items()}, "FP32": 1, "FP16": 10, "I64": 7, "I32": 6, "U8": 2,
              "I8": 3, "BOOL": 9, "FP64": 11}


@OPS.on("Parameter")
def parameter(t: Translator, layer: Layer) -> None:
    dims = t.dims(layer, 0, output=True)
    t.graph.inputs.append(ValueInfo(t.out(layer), ONNX_TYPES.get(layer.attrs.get("element_type", "f32"), 1),
                                    list(dims)))


@OPS.on("Result")
def result(t: Translator, layer: Layer) -> None:
    t.graph.outputs.append(ValueInfo(t.src(layer, 0), 1, list(t.dims(layer, 0))))


@OPS.on("Const")
def const(t: Translator, layer: Layer) -> None:
    """Nothing until a layer reads it (translate.Translator.src)."""


# ---- stored weights: decompression ----------------------------------------------------------
@OPS.on("Convert")
def convert(t: Translator, layer: Layer) -> None:
    to = ONNX_TYPES.get(layer.attrs.get("destination_type", ""))
    if to is None:
        raise Refused(f"a Convert to {layer.attrs.get('destination_type', '')[:12]!r}")
    frm, _ = t.source(layer, 0)
    stored = frm.attrs.get("element_type") if frm.type == "Const" else None
    if stored == "f16" and to == 1:          # a float16 weight: a DequantizeLinear of unit scale keeps its dtype
        one = t.new_const(f"{layer.name}/unit", [1.0], "f32", ())
        t.node("DequantizeLinear", [t.src(layer, 0), one], [t.out(layer)], layer.name)
    elif stored in ("i8", "u8") and to == 1 and _dequantize(t, layer):
        pass
    else:
        t.node("Cast", [t.src(layer, 0)], [t.out(layer)], layer.name, to=to)


def _dequantize(t: Translator, layer: Layer) -> bool:
    """Convert(int8 Const) [-> Subtract zero point] -> Multiply scale, the zero point and
    scale one value or one per output channel: one DequantizeLinear, written at the Convert
    with the Multiply's output. False where the layers around it are otherwise."""
    zero = None
    step = t.sole_reader(layer, "Subtract")
    at = layer
    if step is not None:
        sub, i = step
        if i != 0 or not t.is_constant(sub, 1):
            return False
        zero, at = (sub, 1), sub
    found = t.sole_reader(at, "Multiply")
    if found is None or not t.is_constant(found[0], 1 - found[1]):
        return False
    mul, i = found
    scale = (mul, 1 - i)
    weight = t.dims(layer, 0)
    axis = _axis(weight, t.dims(*scale)) if zero is None else _axis(weight, t.dims(*scale), t.dims(*zero))
    if axis is False:
        return False
    ins = [t.src(layer, 0)]
    for where in (scale, zero) if zero is not None else (scale,):
        value = t.src(*_through_convert(t, *where))
        shape = [] if axis is None else [weight[axis]]
        ins.append(t.node_out("Reshape", [value, t.new_const("shape", shape, dims=(len(shape),))], mul.name))
    t.node("DequantizeLinear", ins, [t.out(mul)], mul.name, axis=0 if axis is None else axis)
    t.done.update({mul.id} | ({zero[0].id} if zero else set()))
    return True


def _through_convert(t: Translator, layer: Layer, i: int) -> tuple:
    """An integer zero point is read as stored (Const u8 -> Convert): the Const itself."""
    frm, _ = t.source(layer, i)
    if frm.type == "Convert" and t.source(frm, 0)[0].type == "Const" and \
            t.source(frm, 0)[0].attrs.get("element_type") in ("i8", "u8"):
        return frm, 0
    return layer, i


def _axis(weight: tuple, *others):
    """The one axis the scale (and zero point) vary along, None when one value, False when
    neither (grouped scales: not one DequantizeLinear)."""
    axes = set()
    for dims in others:
        if len(dims) > len(weight):
            return False
        varying = [len(weight) - len(dims) + k for k, n in enumerate(dims) if n != 1]
        if len(varying) > 1 or any(dims[k - len(weight) + len(dims)] != weight[k] for k in varying):
            return False
        axes.update(varying)
    return None if not axes else axes.pop() if len(axes) == 1 else False


# ---- moves ---------------------------------------------------------------------------------
@OPS.on("Reshape")
def reshape(t: Translator, layer: Layer) -> None:
    if not _flag(layer, "special_zero"):
        try:
            target = t.constant(layer, 1, "target shape")
        except Refused:
            target = None
        if target is not None and (target == 0).any():
            raise Refused("a target shape with a literal 0 (special_zero false): an empty tensor")
    t.node("Reshape", [t.src(layer, 0), t.src(layer, 1)], [t.out(layer)], layer.name)


@OPS.on("Squeeze", "Unsqueeze")
def squeeze(t: Translator, layer: Layer) -> None:
    ins = [t.src(layer, 0)] + ([t.src(layer, 1)] if len(layer.inputs) > 1 else [])
    t.node(layer.type, ins, [t.out(layer)], layer.name)


@OPS.on("Transpose")
def transpose(t: Translator, layer: Layer) -> None:
    perm = [int(v) for v in t.constant(layer, 1, "order").reshape(-1)]
    rank = len(t.dims(layer, 0))
    t.node("Transpose", [t.src(layer, 0)], [t.out(layer)], layer.name, perm=perm or list(range(rank))[::-1])


@OPS.on("Concat")
def concat(t: Translator, layer: Layer) -> None:
    t.node("Concat", [t.src(layer, i) for i in range(len(layer.inputs))], [t.out(layer)], layer.name,
           axis=t.ints(layer, "axis")[0])


@OPS.on("Split", "VariadicSplit")
def split(t: Translator, layer: Layer) -> None:
    axis = int(t.constant(layer, 1, "axis").reshape(-1)[0])
    rank = len(t.dims(layer, 0))
    sizes = [p.dims[axis % rank] if len(p.dims) == rank else None for p in layer.outputs]
    if any(s is None for s in sizes):
        raise Refused("parts of dynamic size")
    t.node("Split", [t.src(layer, 0), t.new_const(f"{layer.name}/sizes", sizes)],
           [t.out(layer, i) for i in range(len(layer.outputs))], layer.name, axis=axis)


@OPS.on("DepthToSpace")
def depth_to_space(t: Translator, layer: Layer) -> None:
    mode = {"blocks_first": "DCR", "depth_first": "CRD"}.get(layer.attrs.get("mode", "blocks_first"))
    if mode is None:
        raise Refused(f"mode {layer.attrs.get('mode')!r}")
    t.node("DepthToSpace", [t.src(layer, 0)], [t.out(layer)], layer.name,
           blocksize=t.ints(layer, "block_size")[0], mode=mode)


@OPS.on("ShuffleChannels")
def shuffle_channels(t: Translator, layer: Layer) -> None:
    """ShuffleFlenet's shuffle as PyTorch spells it: a view of (g, C/g), a transpose, a view."""
    dims = t.dims(layer, 0)
    group = t.ints(layer, "group", "1")[0]
    if t.ints(layer, "axis", "1")[0] % max(len(dims), 1) != 1 or len(dims) != 4 or None in dims[1:] \
            or group < 1 or dims[1] % group:
        raise Refused(f"a shuffle of axis {layer.attrs.get('axis', 1)} in {group} groups of dims {list(dims)}")
    _, c, h, w = dims
    split_ = t.node_out("Reshape", [t.src(layer, 0), t.new_const("shape", [-1, group, c // group, h, w])],
                        layer.name)
    moved = t.node_out("Transpose", [split_], layer.name, perm=[0, 2, 1, 3, 4])
    t.node("Reshape", [moved, t.new_const("shape", [-1, c, h, w])], [t.out(layer)], layer.name)


@OPS.on("Pad")
def pad(t: Translator, layer: Layer) -> None:
    mode = layer.attrs.get("pad_mode", "constant")
    if mode not in ("constant", "edge", "reflect"):
        raise Refused(f"pad_mode {mode!r}")
    pads = t.node_out("Concat", [t.src(layer, 1), t.src(layer, 2)], layer.name, axis=0)
    value = [t.src(layer, 3)] if len(layer.inputs) > 3 and mode == "constant" else []
    t.node("Pad", [t.src(layer, 0), pads, *value], [t.out(layer)], layer.name, mode=mode)


# ---- shapes and their arithmetic (folded by the ONNX reader) ---------------------------------
@OPS.on("ShapeOf")
def shape_of(t: Translator, layer: Layer) -> None:
    t.node("Shape", [t.src(layer, 0)], [t.out(layer)], layer.name)


@OPS.on("Gather")
def gather(t: Translator, layer: Layer) -> None:
    if t.ints(layer, "batch_dims", "0") not in ([], [0]):
        raise Refused("a Gather with batch_dims")
    axis = int(t.constant(layer, 2, "axis").reshape(-1)[0])
    t.node("Gather", [t.src(layer, 0), t.src(layer, 1)], [t.out(layer)], layer.name, axis=axis)


@OPS.on("Slice")
def slice_(t: Translator, layer: Layer) -> None:
    """(data, start, stop, step[, axes]) -> ONNX's (data, starts, ends, axes, steps)."""
    axes = t.src(layer, 4) if len(layer.inputs) > 4 else ""
    t.node("Slice", [t.src(layer, 0), t.src(layer, 1), t.src(layer, 2), axes, t.src(layer, 3)], [t.out(layer)],
           layer.name)


@OPS.on("StridedSlice")
def strided_slice(t: Translator, layer: Layer) -> None:
    """Begin and end of every axis, each ignored where its mask says (from the first or to
    the last); a shrunk axis is squeezed after. New axes and ellipses are refused."""
    masks = {k: t.ints(layer, k, "") for k in ("begin_mask", "end_mask", "new_axis_mask", "shrink_axis_mask",
                                                 "ellipsis_mask")}
    if any(masks["new_axis_mask"]) or any(masks["ellipsis_mask"]):
        raise Refused("new axes or an ellipsis")
    begin = [int(v) for v in t.constant(layer, 1, "begin").reshape(-1)]
    end = [int(v) for v in t.constant(layer, 2, "end").reshape(-1)]
    step = [int(v) for v in t.constant(layer, 3, "stride").reshape(-1)] if len(layer.inputs) > 3 else [1] * len(begin)
    if not len(begin) == len(end) == len(step):
        raise Refused(f"begin {begin}, end {end} and stride {step} of different lengths")
    shrink = [i for i, v in enumerate(masks["shrink_axis_mask"]) if v and i < len(begin)]
    for i in range(len(begin)):
        if i < len(masks["begin_mask"]) and masks["begin_mask"][i]:
            begin[i] = 0 if step[i] > 0 else INT_MAX
        if i < len(masks["end_mask"]) and masks["end_mask"][i]:
            end[i] = INT_MAX if step[i] > 0 else -INT_MAX
        if i in shrink:
            end[i], step[i] = begin[i] + 1 if begin[i] != -1 else INT_MAX, 1
    ins = [t.src(layer, 0), t.new_const("starts", begin), t.new_const("ends", end),
           t.new_const("axes", list(range(len(begin)))), t.new_const("steps", step)]
    if not shrink:
        t.node("Slice", ins, [t.out(layer)], layer.name)
        return
    cut = t.node_out("Slice", ins, layer.name)
    t.node("Squeeze", [cut, t.new_const("axes", shrink)], [t.out(layer)], layer.name)


@OPS.on("Broadcast")
def broadcast(t: Translator, layer: Layer) -> None:
    if layer.attrs.get("mode", "numpy") not in ("numpy", "bidirectional"):
        raise Refused(f"mode {layer.attrs.get('mode')!r}")
    t.node("Expand", [t.src(layer, 0), t.src(layer, 1)], [t.out(layer)], layer.name)


@OPS.on("Tile")
def tile(t: Translator, layer: Layer) -> None:
    t.node("Tile", [t.src(layer, 0), t.src(layer, 1)], [t.out(layer)], layer.name)


@OPS.on("Range")
def range_(t: Translator, layer: Layer) -> None:
    t.node("Range", [t.src(layer, i) for i in range(3)], [t.out(layer)], layer.name)


@OPS.on("Select")
def select(t: Translator, layer: Layer) -> None:
    t.node("Where", [t.src(layer, i) for i in range(3)], [t.out(layer)], layer.name)


@OPS.on("ConvertLike")
def convert_like(t: Translator, layer: Layer) -> None:
    to = ONNX_TYPES.get(layer.inputs[1].precision if len(layer.inputs) > 1 else "", 1)
    t.node("Cast", [t.src(layer, 0)], [t.out(layer)], layer.name, to=to)
