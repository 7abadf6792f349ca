"""Convolutions and pools of 1-D, 2-D and 3-D maps as the converter writes them: CONV_2D,
DEPTHWISE_CONV_2D, CONV_3D, CONV_3D_TRANSPOSE, AVERAGE_POOL_2D and MAX_POOL_2D, handlers of `OPERATORS`.

A 1-D layer (Keras' Conv1D, MaxPool1D ...) is written as the 2-D operator on the map with a
unit axis added: EXPAND_DIMS or RESHAPE to (1, T, C) or (T, 1, C) before it, RESHAPE or
SQUEEZE back after it. The reader holds such a tensor as a view of our (T, C) layer
(`r.views`: the file's shape, and which of H and W is the unit axis); a window that spans
only the other axis is our 1-D layer, whose output is a view again; any other operator
reads the view as the file's tensor (a reshape layer, made then).

A dilated convolution is written as SPACE_TO_BATCH_ND (the map padded and split into the
d x d maps of its every d-th positions, in the batch), the convolution undilated and
BATCH_TO_SPACE_ND (interleaved back, then cropped): read as one dilated convolution of the
padded map, then the crop. Its MACs are the interpreter's: positions the crop drops are
computed too (none when the map's size is a multiple of the dilation)."""
from __future__ import annotations

import math

from cnncost.interop.refusals import Refused
from cnncost.interop.tflite.file import Damaged
from cnncost.interop.tflite.operators import OPERATORS, bias_of, kernel_of, padding_of

CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def _kept(values: list, unit: int | None) -> list:
    """A 2-D window argument ([h, w]) for our layer: without the unit axis of a 1-D map."""
    return values if unit is None else [v for a, v in enumerate(values) if a != unit]


def _source(r, i: int, kernel: list) -> tuple[str, int | None]:
    """(our layer, unit) of tensor i: unit the axis (0: H, 1: W) of a 1-D map's view whose
    window spans only the other axis, else None (a view read as the file's tensor)."""
    view = r.views.get(i)
    if view is not None and kernel[view[1]] == 1:
        return r.act(i, held=True), view[1]
    return r.act(i), None


def _held(r, t: int, unit: int | None):
    """The shape our layer makes for file tensor t: the file's, the unit axis left out."""
    shape = r.t[t].shape[1:]
    if unit is None:
        return None
    if len(shape) != 3 or shape[unit] != 1:
        raise Damaged(f"its output {list(r.t[t].shape)} of a 1-D map has no unit axis {unit + 1}")
    return tuple(d for a, d in enumerate(shape) if a != unit)


def _window(r, op, kind: str, i: int, window: dict, weights: dict, fused: int, **args) -> str:
    """Our layer for a 2-D window operator on tensor i: 1-D when i is a 1-D map's view and
    the window spans only its other axis (the kernel's unit axis squeezed out)."""
    x, unit = _source(r, i, window["kernel"])
    if unit is not None:
        weights = {k: (info, _squeezed(fn, unit) if k == "kernel" else fn) for k, (info, fn) in weights.items()}
    name = r.emit(op, kind, [x], weights=weights, fused=fused, held=_held(r, op.outputs[0], unit),
                  **{k: _kept(v, unit) for k, v in window.items()}, **args)
    if unit is not None:
        r.views[op.outputs[0]] = (r.t[op.outputs[0]].shape, unit)
    return name


def _squeezed(fn, unit):
    return lambda: fn().squeeze(unit)


def _conv_2d_args(r, op):
    """CONV_2D's weights and window: kernel [out, kh, kw, in] -> ours [kh, kw, in, out]."""
    w, k = kernel_of(r, op, 1, (1, 2, 3, 0))
    c = r.shape(op.inputs[0], 4, "input")[-1]
    if c % w.shape[3]:
        raise Damaged(f"an input of {c} channels for a kernel of shape {list(w.shape)}")
    bias = bias_of(r, op, 2, w.shape[0])
    window = {"kernel": [w.shape[1], w.shape[2]], "stride": [r.opt(op, 2, "i", 1), r.opt(op, 1, "i", 1)],
              "dilation": [r.opt(op, 5, "i", 1), r.opt(op, 4, "i", 1)]}
    args = {"filters": w.shape[0], "groups": c // w.shape[3] if c > w.shape[3] else None,
            "bias": bias is not None}
    return {"kernel": (w, k), **({"bias": bias} if bias else {})}, window, args, r.opt(op, 3, "b")


def _depthwise_args(r, op):
    """DEPTHWISE_CONV_2D's: kernel [1, kh, kw, C x multiplier] -> ours [kh, kw, C, multiplier]."""
    w, _ = kernel_of(r, op, 1, (0, 1, 2, 3))
    c = r.shape(op.inputs[0], 4, "input")[-1]
    if w.shape[0] != 1 or not c or w.shape[3] % c:
        raise Damaged(f"an input of {c} channels for a depthwise kernel of shape {list(w.shape)}")
    mult = w.shape[3] // c
    bias = bias_of(r, op, 2, w.shape[3])
    window = {"kernel": [w.shape[1], w.shape[2]], "stride": [r.opt(op, 2, "i", 1), r.opt(op, 1, "i", 1)],
              "dilation": [r.opt(op, 6, "i", 1), r.opt(op, 5, "i", 1)]}
    args = {"depth_multiplier": mult if mult > 1 else None, "bias": bias is not None}
    weights = {"kernel": (w, lambda: w.real().reshape(w.shape[1], w.shape[2], c, mult)),
               **({"bias": bias} if bias else {})}
    return weights, window, args, r.opt(op, 4, "b")


CONV_ARGS = {"CONV_2D": ("conv", _conv_2d_args), "DEPTHWISE_CONV_2D": ("depthwise_conv", _depthwise_args)}


@OPERATORS.on(*CONVS)
def conv_2d(r, op):
    r.act(op.inputs[0], held=True)          # a refused operator's output: not refused again
    kind, read = CONV_ARGS[op.code]
    weights, window, args, fused = read(r, op)
    _window(r, op, kind, op.inputs[0], window, weights, fused, padding=padding_of(r, op), **args)


@OPERATORS.on("CONV_3D")
def conv_3d(r, op):
    """Conv3DOptions: padding, stride_d, stride_w, stride_h, fused activation, dilation_d,
    dilation_w, dilation_h; its kernel [kd, kh, kw, in, out] is ours as it is."""
    x = r.act(op.inputs[0])
    w, k = kernel_of(r, op, 1, (0, 1, 2, 3, 4))
    c = r.shape(op.inputs[0], 5, "input")[-1]
    if c % w.shape[3]:
        raise Damaged(f"an input of {c} channels for a kernel of shape {list(w.shape)}")
    bias = bias_of(r, op, 2, w.shape[4])
    r.emit(op, "conv", [x], weights={"kernel": (w, k), **({"bias": bias} if bias else {})},
           fused=r.opt(op, 4, "b"), filters=w.shape[4], kernel=list(w.shape[:3]),
           stride=[r.opt(op, 1, "i", 1), r.opt(op, 3, "i", 1), r.opt(op, 2, "i", 1)], padding=padding_of(r, op),
           dilation=[r.opt(op, 5, "i", 1), r.opt(op, 7, "i", 1), r.opt(op, 6, "i", 1)],
           groups=c // w.shape[3] if c > w.shape[3] else None, bias=bias is not None)


@OPERATORS.on("CONV_3D_TRANSPOSE")
def conv_3d_transpose(r, op):
    """Inputs: the output shape, the kernel [kd, kh, kw, out, in] (ours as it is), the
    input, a bias; Conv3DOptions as CONV_3D's. TensorFlow's output size as PyTorch's
    padding: what the full transposed output has beyond the shape asked for is cropped, the
    smaller half at the start (TRANSPOSE_CONV's rule, per axis)."""
    out_shape = r.ints(op.inputs[0], "output shape")
    w, k = kernel_of(r, op, 1, (0, 1, 2, 3, 4))
    x = r.act(op.inputs[2])
    sizes = r.shape(op.inputs[2], 5, "input")[1:4]
    if len(out_shape) != 5 or out_shape[4] != w.shape[3] or r.shape(op.inputs[2], 5, "input")[4] != w.shape[4]:
        raise Damaged(f"an output shape {list(out_shape)} for a kernel of shape {list(w.shape)}")
    stride = [r.opt(op, 1, "i", 1), r.opt(op, 3, "i", 1), r.opt(op, 2, "i", 1)]
    dilation = [r.opt(op, 5, "i", 1), r.opt(op, 7, "i", 1), r.opt(op, 6, "i", 1)]
    pads, extra = [], []
    for n, kk, s, d, want in zip(sizes, w.shape[:3], stride, dilation, out_shape[1:4]):
        crop = (n - 1) * s + (kk - 1) * d + 1 - want
        pads += [max(crop, 0) // 2, max(crop, 0) - max(crop, 0) // 2]
        extra.append(max(-crop, 0))
    bias = bias_of(r, op, 3, w.shape[3]) if len(op.inputs) > 3 else None
    r.emit(op, "conv_transpose", [x], weights={"kernel": (w, k), **({"bias": bias} if bias else {})},
           fused=r.opt(op, 4, "b"), filters=w.shape[3], kernel=list(w.shape[:3]), stride=stride,
           dilation=dilation, padding=pads, output_padding=extra if any(extra) else None, rank=3,
           bias=bias is not None)


def _pool(r, op, kind, **fixed):
    window = {"kernel": [r.opt(op, 4, "i", 1), r.opt(op, 3, "i", 1)],
              "stride": [r.opt(op, 2, "i", 1), r.opt(op, 1, "i", 1)]}
    _window(r, op, kind, op.inputs[0], window, {}, r.opt(op, 5, "b"), padding=padding_of(r, op), **fixed)


@OPERATORS.on("AVERAGE_POOL_2D")
def average_pool_2d(r, op):
    _pool(r, op, "avg_pool", count_include_pad=False)
    if r.layers[-1]["precision"].get("scale"):     # TFLite rounds the raw integers' mean
        r.layers[-1]["precision"]["rounding"] = "raw"


@OPERATORS.on("MAX_POOL_2D")
def max_pool_2d(r, op):
    _pool(r, op, "max_pool")


# ---- the reshapes around a 1-D layer ------------------------------------------------------
def _view_of(r, op) -> tuple | None:
    """What a RESHAPE, SQUEEZE or EXPAND_DIMS of a 1-D map makes with no layer: ("view",
    unit) when it adds or moves the map's unit axis, ("same",) when it drops it; else None."""
    i, out = op.inputs[0], r.t[op.outputs[0]].shape
    layer = r.values.get(i)
    if layer in (None, "refused") or (i not in r.views and len(r.t[i].shape) != 3):
        return None
    ours = tuple(r.shapes[layer])
    if len(ours) != 2 or not out or out[0] != r.t[i].shape[0]:
        return None
    if i in r.views and tuple(out[1:]) == ours:
        return ("same",)
    for unit, shape in enumerate(((1, *ours), (ours[0], 1, ours[1]))):
        if tuple(out[1:]) == shape:
            return ("view", unit)
    return None


@OPERATORS.on("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def reshape_to_output(r, op):
    view = _view_of(r, op)
    if view is None:
        shape, out = r.t[op.inputs[0]].shape, r.t[op.outputs[0]].shape
        if shape and out and shape[0] != out[0]:
            raise Refused(f"a reshape of {list(shape)} to {list(out)} moves positions into the batch (as an unrolled "
                          "recurrence's time-major steps): cnncost's batch is the model's")
        r.emit(op, "reshape", [r.act(op.inputs[0])], shape=list(out[1:]))
        return
    r.values[op.outputs[0]] = r.act(op.inputs[0], held=True)
    if view[0] == "view":
        r.views[op.outputs[0]] = (r.t[op.outputs[0]].shape, view[1])


# ---- the dilated convolution: SPACE_TO_BATCH_ND, the convolution, BATCH_TO_SPACE_ND ---------
def _chain(r, op) -> list:
    """[SPACE_TO_BATCH_ND, (a reshape), the convolution, (a reshape), BATCH_TO_SPACE_ND], each
    the one reader of the one before; Refused when the file holds anything else."""
    steps = [(("EXPAND_DIMS", "RESHAPE"), True), (CONVS, False), (("RESHAPE", "SQUEEZE"), True),
             (("BATCH_TO_SPACE_ND",), False)]
    chain, at = [op], op
    for codes, optional in steps:
        nxt = r.only_reader(at.outputs[0])
        if nxt is not None and nxt.code in codes and nxt.inputs and nxt.outputs and nxt.inputs[0] == at.outputs[0]:
            chain.append(nxt)
            at = nxt
        elif not optional:
            raise Refused("SPACE_TO_BATCH_ND moves positions into the batch: read only as a dilated "
                          "convolution (SPACE_TO_BATCH_ND, CONV_2D or DEPTHWISE_CONV_2D, BATCH_TO_SPACE_ND)")
        else:
            chain.append(None)
    return chain


def _pairs(flat: list, n: int, what: str) -> list:
    if len(flat) != 2 * n or any(v < 0 for v in flat):
        raise Damaged(f"its {what} {flat} for {n} spatial axes")
    return [flat[2 * a:2 * a + 2] for a in range(n)]


@OPERATORS.on("SPACE_TO_BATCH_ND")
def space_to_batch_nd(r, op):
    r.act(op.inputs[0], held=True)
    _, before, conv, after, b2s = _chain(r, op)
    block = r.ints(op.inputs[1], "block shape")
    rank = len(r.shape(op.inputs[0], (3, 4), "input")) - 2
    r.shape(b2s.outputs[0], rank + 2, "output")
    if len(block) != rank or r.ints(b2s.inputs[1], "block shape") != block or min(block) < 1:
        raise Damaged(f"block shapes {block} and {r.ints(b2s.inputs[1], 'block shape')} for a map of "
                      f"{rank} spatial axes")
    pads = _pairs(r.ints(op.inputs[2], "paddings"), rank, "paddings")
    crops = _pairs(r.ints(b2s.inputs[2], "crops"), rank, "crops")
    kind, read = CONV_ARGS[conv.code]
    weights, window, args, fused = read(r, conv)
    unit, axes = _dilated_axes(r, op, before, window, rank)
    if any(window["stride"][a] != 1 or window["dilation"][a] != 1 for a in axes) or \
            (padding_of(r, conv) == "same" and any(window["kernel"][a] > 1 for a in axes)):
        raise Refused("a convolution between SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND that strides, dilates or "
                      "pads: not the converter's dilated convolution")
    blocks = [0] if before is not None else axes       # the block (and pads, crops) of each axis
    if unit is not None and before is None and (block[unit], pads[unit], crops[unit]) != (1, [0, 0], [0, 0]):
        raise Refused("SPACE_TO_BATCH_ND along a 1-D map's unit axis")
    x = r.act(op.inputs[0], held=unit is not None and before is None)
    geometry = [(window["kernel"][a], block[b], pads[b], crops[b]) for a, b in zip(axes, blocks)]
    if unit is not None:
        weights = {k: (info, _squeezed(fn, unit) if k == "kernel" else fn) for k, (info, fn) in weights.items()}
    weights, args, fused, last = _moved_bias(r, b2s, weights, args, fused)
    _emit_dilated(r, (conv, last), x, kind, (weights, args, fused), geometry, unit if before is None else None)
    r.done.update(o.index for o in (before, conv, after, b2s, last) if o is not None)


def _moved_bias(r, b2s, weights, args, fused) -> tuple:
    """(weights, args, fused activation, the last operator read): the converter gives the
    convolution between the two moves a bias of zeros and adds the layer's own after
    BATCH_TO_SPACE_ND (an ADD of a constant per channel, with the activation): that is the
    layer's bias again. A bias of zeros with no such ADD is no bias (a separable
    convolution's depthwise half)."""
    bias = weights.get("bias")
    if bias is not None and (bias[0].data is None or any(bytes(bias[0].data))):
        return weights, args, fused, b2s
    rest = {k: v for k, v in weights.items() if k != "bias"}
    y, add = b2s.outputs[0], r.only_reader(b2s.outputs[0])
    if add is not None and add.code == "ADD" and not fused and len(add.inputs) == 2 and y in add.inputs:
        c = r.constant(add.inputs[1 - add.inputs.index(y)])
        channels = r.t[y].shape[-1]
        if c is not None and tuple(r.t[add.outputs[0]].shape) == tuple(r.t[y].shape) and \
                math.prod(c.shape) == channels == c.shape[-1]:
            return {**rest, "bias": (c, lambda: c.real().reshape(-1))}, {**args, "bias": True}, r.opt(add, 0, "b"), add
    return rest, {**args, "bias": False}, fused, b2s


@OPERATORS.on("BATCH_TO_SPACE_ND")
def batch_to_space_nd(r, op):
    r.act(op.inputs[0])            # what a refused SPACE_TO_BATCH_ND made is not refused again
    raise Refused("BATCH_TO_SPACE_ND moves the batch into positions: read only as the end of a dilated "
                  "convolution (SPACE_TO_BATCH_ND, CONV_2D or DEPTHWISE_CONV_2D, BATCH_TO_SPACE_ND)")


def _dilated_axes(r, op, before, window, rank) -> tuple:
    """(unit, axes): the convolution's spatial axes (0: H, 1: W) the blocks are along, and
    a 1-D map's unit axis (its view's, or the reshape's in the chain), whose kernel is 1."""
    view = r.views.get(op.inputs[0])
    if before is not None:                     # (T, C) split, then made (1, T, C) or (T, 1, C)
        shape = r.t[before.outputs[0]].shape
        if rank != 1 or len(shape) != 4 or 1 not in shape[1:3]:
            raise Refused(f"SPACE_TO_BATCH_ND then a reshape to {list(shape)}: not a 1-D dilated convolution")
        unit = list(shape[1:3]).index(1)
    else:
        unit = None if view is None else view[1]
    if unit is not None and window["kernel"][unit] != 1:
        raise Refused("a 1-D map's dilated convolution whose kernel spans its unit axis")
    return unit, [a for a in range(2) if a != unit]


def _emit_dilated(r, ops, x, kind, read, geometry, unit) -> None:
    """One dilated convolution over the padded map (stride 1), then a slice per cropped axis;
    the last layer is BATCH_TO_SPACE_ND's tensor (a view again when the input was one).
    geometry: (kernel, block, pads, crops) per spatial axis of ours."""
    conv, last = ops
    weights, args, fused = read
    ours = list(r.shapes[x])
    if len(ours) != len(geometry) + 1:
        raise Damaged(f"a dilated convolution of {len(geometry)} spatial axes on a map of shape {ours}")
    padded = [n + sum(p) for n, (_, _, p, _) in zip(ours, geometry)]
    full = [n - (k - 1) * d for n, (k, d, _, _) in zip(padded, geometry)]
    if min(full) - max(sum(c) for *_, c in geometry) < 1 or any(n % d for n, (_, d, _, _) in zip(padded, geometry)):
        raise Damaged(f"paddings, crops and blocks {[g[1:] for g in geometry]} for a map of {ours[:-1]}")
    held = _held(r, last.outputs[0], unit) or tuple(r.t[last.outputs[0]].shape[1:])
    cropped = [a for a, g in enumerate(geometry) if any(g[3])]
    y = r.emit(conv, kind, [x], weights=weights, fused=fused, out=last.outputs[0],
               held=(*full, held[-1]) if cropped else held, kernel=[g[0] for g in geometry],
               dilation=[g[1] for g in geometry], padding=[p for g in geometry for p in g[2]], **args)
    for k, a in enumerate(cropped):
        final = k == len(cropped) - 1
        crop = geometry[a][3]
        y = r.emit(last, "slice", [y], held=held if final else None, keep=not final, suffix="" if final else ".crop",
                   axis=a + 1, start=crop[0], stop=r.shapes[y][a] - crop[1])
    if unit is not None:
        r.views[last.outputs[0]] = (r.t[last.outputs[0]].shape, unit)
