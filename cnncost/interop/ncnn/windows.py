"""ncnn's window layers onto cnncost kinds: Input, Convolution, ConvolutionDepthWise,
Deconvolution, DeconvolutionDepthWise, Pooling and InnerProduct (their keys:
docs/developer-guide/operation-param-weight-table.md). Kernels are stored as PyTorch's
(out, in / groups, kh, kw), turned into ours (kh, kw, in / groups, out); a fused
activation (9=activation_type, 10=activation_params) is a layer of its own after."""
from __future__ import annotations

import math
from cnncost.errors import ModelFileError
from cnncost.interop.ncnn.blobs import Held
from cnncost.interop.ncnn.table import LAYERS
from cnncost.interop.refusals import Refused

MAX_WINDOW = 1 << 16
SAME_UPPER, SAME_LOWER = -233, -234


@LAYERS.on("Input")
def input_layer(r, layer):
    """The input's shape: the layer's 0=w 1=h 11=d 2=c, or --input-shape (N x C x H x W,
    ncnn's c h w with the batch in front), which wins: ncnn takes any size at run time."""
    if layer.bottoms or len(layer.tops) != 1:
        raise ModelFileError("an Input layer has no inputs and one output")
    p = layer.params
    w, h, d, c = p.int(0), p.int(1), p.int(11), p.int(2)
    dims = tuple(v for v in (c, d, h, w) if v > 0)
    given = r.input_shape
    if isinstance(given, tuple) and given and isinstance(given[0], tuple):      # NAME=... for each input
        given = dict(given).get(layer.name, dict(given).get(layer.tops[0]))
    elif given is not None and any(other.type == "Input" and other is not layer for other in r.layers_in):
        raise ModelFileError("a model of several inputs takes --input-shape NAME=NxCxHxW,NAME2=... for each")
    if given is not None:
        dims, batch = tuple(given[1:]), given[0]
        r.batch, r.batch_from = (batch, "--input-shape") if r.batch in (None, batch) else (r.batch, r.batch_from)
    if not dims or min(dims) < 1 or len(dims) > 4:
        raise ModelFileError(f"its shape {list(dims)} is not known or not a blob's (the file gives none: "
                             "pnnx writes none; give --input-shape NxCxHxW, e.g. 1x3x224x224)")
    name = "input" if sum(x.type == "Input" for x in r.layers_in) == 1 else r.names(_input_name(layer.name))
    r.names.add(name)
    held = Held(name, (*dims[1:], dims[0]) if len(dims) > 1 else dims, "map" if len(dims) > 1 else "plain")
    r.inputs.append((name, held))
    r.put(layer, held)


def _input_name(text: str) -> str:
    import re

    name = re.sub(r"[^A-Za-z0-9_]", "_", text) or "x"
    return "x_" + name if name[0].isdigit() or name == "input" else name


def _positive(layer, **values) -> None:
    for key, v in values.items():
        if not 1 <= v <= MAX_WINDOW:
            raise ModelFileError(f"{key} {v} (1 to {MAX_WINDOW:,})")


# ncnn's keys per axis, ours in order (d, h, w): kernel, dilation, stride, pad before, pad after
AXIS_KEYS = {"w": (1, 2, 3, 4, 15), "h": (11, 12, 13, 14, 16), "d": (21, 22, 23, 24, 17)}
# the key each takes its default from (h and d from w; the pad after from the pad before)
FALLBACK = {11: 1, 12: 2, 13: 3, 14: 4, 21: 1, 22: 2, 23: 3, 24: 4}
AXES = {1: "w", 2: "hw", 3: "dhw"}


def _get(p, key):
    default = {2: 1, 3: 1}.get(key, 0)
    return p.int(key, _get(p, FALLBACK[key]) if key in FALLBACK else default)


def _window(p, d: int):
    """kernel, dilation, stride (ours: d, h, w) and the pads per side ([before, after]
    per axis) of a window over d spatial axes."""
    keys = [AXIS_KEYS[a] for a in AXES[d]]
    kernel, dilation, stride = ([_get(p, k[i]) for k in keys] for i in range(3))
    pads = [v for k in keys for v in (_get(p, k[3]), p.int(k[4], _get(p, k[3])))]
    return kernel, dilation, stride, pads


def _same_pads(size, k, d, s, lower: bool):
    """ncnn's SAME padding of one axis (the larger half after, or before when `lower`)."""
    extent = d * (k - 1) + 1
    total = max(extent + (size - 1) // s * s - size, 0)
    return [total - total // 2, total // 2] if lower else [total // 2, total - total // 2]


def _padding(x, kernel, dilation, stride, pads):
    """Our `padding` (before, after per axis) for ncnn's pads, or computed from the input
    for SAME_UPPER (-233) and SAME_LOWER (-234)."""
    if max(pads) > 0:
        if min(pads) < 0:
            raise Refused(f"pads {list(pads)} mixing sizes and SAME markers")
        return pads
    if set(pads) in ({SAME_UPPER}, {SAME_LOWER}):
        lower = pads[0] == SAME_LOWER
        return [v for n, k, d, s in zip(x.shape[:-1], kernel, dilation, stride) for v in _same_pads(n, k, d, s, lower)]
    if set(pads) != {0}:
        raise Refused(f"pads {list(pads)}")
    return pads


def _int8_scales(r, layer, n_weight_scales):
    """The int8 scales a quantized layer keeps after its bias (walked, not used)."""
    term = layer.params.int(8)
    if not term:
        return
    if r.with_weights:
        raise Refused("an int8-quantized layer (int8_scale_term): cnncost counts it, but runs only float models")
    r.load(n_weight_scales, False, "int8 weight scales")
    r.load(1, False, "int8 input scale")
    if term > 100 and layer.type != "InnerProduct":
        r.load(1, False, "int8 output scale")


def fused(r, layer, held):
    """The activation a Convolution, Deconvolution or InnerProduct fuses, as a layer."""
    p = layer.params
    kind = p.int(9)
    values = p.floats(10)
    if kind == 0:
        return held
    if kind == 2 and values:
        return r.emit(layer, "leaky_relu", [held], suffix=".act", slope=values[0]) if values[0] else \
            r.emit(layer, "relu", [held], suffix=".act")
    if kind == 3 and len(values) == 2:
        return r.emit(layer, clip_kind(values[0], values[1]), [held], suffix=".act")
    if kind == 6 and len(values) == 2:
        hard_swish_kind(values[0], values[1])
        return r.emit(layer, "hard_swish", [held], suffix=".act")
    simple = {1: "relu", 4: "sigmoid", 5: "mish"}
    if kind not in simple:
        raise Refused(f"fused activation_type {kind} with params {values}")
    return r.emit(layer, simple[kind], [held], suffix=".act")


def clip_kind(lo: float, hi: float) -> str:
    fn = {(0.0, 6.0): "relu6", (-1.0, 1.0): "hard_tanh"}.get((lo, hi))
    if fn is None and lo == 0.0 and hi >= 3.4e38:
        fn = "relu"
    if fn is None:
        raise Refused(f"clip to [{lo}, {hi}]: cnncost has relu, relu6 and hard_tanh")
    return fn


def hard_swish_kind(alpha: float, beta: float) -> None:
    if abs(alpha - 1 / 6) > 1e-6 or abs(beta - 0.5) > 1e-6:
        raise Refused(f"alpha {alpha} and beta {beta} other than 1/6 and 1/2 (PyTorch's) have no cnncost kind")


CONVS = {"Convolution": 2, "ConvolutionDepthWise": 2, "Convolution1D": 1, "ConvolutionDepthWise1D": 1,
         "Convolution3D": 3, "ConvolutionDepthWise3D": 3}


def _checked(layer, x, filters, groups, kernel, dilation, stride, size):
    _positive(layer, num_output=filters, group=groups, kernel=max(kernel), dilation=max(dilation), stride=max(stride))
    _positive(layer, kernel=min(kernel), dilation=min(dilation), stride=min(stride))
    c = x.shape[-1]
    if c % groups or filters % groups:
        raise ModelFileError(f"{c} input channels and {filters} outputs in {groups} groups")
    want = filters * (c // groups) * math.prod(kernel)
    if size != want:
        raise ModelFileError(f"weight_data_size {size:,}: {filters} outputs of {c // groups} channels of "
                             f"{'x'.join(map(str, kernel))} take {want:,}")


@LAYERS.on(*CONVS)
def convolution(r, layer):
    """A convolution of a 1-D (T x C, ncnn's w x h), 2-D or 3-D map; ConvolutionDepthWise's
    7=group groups it."""
    r.one_to_one(layer)
    p = layer.params
    if p.int(19):
        raise Refused("weights from a second input (dynamic_weight)")
    if p.float(18):
        raise Refused("padding with a value other than 0 (pad_value)")
    d = CONVS[layer.type]
    x = r.as_map(r.x(layer))
    if len(x.shape) != d + 1:
        raise ModelFileError(f"a {layer.type} of a blob of {len(x.shape)} axes")
    filters, groups = p.int(0), p.int(7, 1) if "DepthWise" in layer.type else 1
    kernel, dilation, stride, pads = _window(p, d)
    size = p.int(6)
    _checked(layer, x, filters, groups, kernel, dilation, stride, size)
    cin = x.shape[-1] // groups
    order = (*range(2, d + 2), 1, 0)
    weights = {"kernel": (r.load(size, True, "kernel"),
                          lambda v: v.reshape(filters, cin, *kernel).transpose(order))}
    if p.int(5):
        weights["bias"] = (r.load(filters, False, "bias"), lambda v: v)
    _int8_scales(r, layer, filters if "DepthWise" not in layer.type else groups if p.int(8) % 100 == 1 else 1)
    held = r.emit(layer, "conv", [x], weights=weights, filters=filters, kernel=kernel, stride=stride,
                  dilation=dilation, padding=_padding(x, kernel, dilation, stride, pads),
                  groups=groups if groups > 1 else None, bias=bool(p.int(5)))
    r.put(layer, fused(r, layer, held))


@LAYERS.on("Deconvolution", "DeconvolutionDepthWise")
def deconvolution(r, layer):
    """The full transposed output ((n - 1) s + extent + output_pad), its pads cut off (or,
    with SAME markers, cut to 20=output_w 21=output_h): PyTorch's padding and
    output_padding. ncnn's kernel is (group, out / group, in / group, kh, kw)."""
    r.one_to_one(layer)
    p = layer.params
    if p.int(28):
        raise Refused("weights from a second input (dynamic_weight)")
    x = r.as_map(r.x(layer))
    if len(x.shape) != 3:
        raise Refused(f"a {len(x.shape) - 1}-D map (ncnn's Deconvolution1D and Deconvolution3D are other types)")
    filters, groups = p.int(0), p.int(7, 1) if layer.type == "DeconvolutionDepthWise" else 1
    kernel, dilation, stride, sides = _window(p, 2)
    pads = (sides[2], sides[3], sides[0], sides[1])          # left, right, top, bottom: ncnn's order
    size, (kh, kw), c = p.int(6), kernel, x.shape[-1]
    _checked(layer, x, filters, groups, kernel, dilation, stride, size)
    extra = [p.int(19, p.int(18)), p.int(18)]
    full = [(n - 1) * s + d * (k - 1) + 1 + e for n, s, d, k, e in zip(x.shape[:2], stride, dilation, kernel, extra)]
    if max(pads) > 0:
        if min(pads) < 0:
            raise Refused(f"pads {list(pads)} mixing sizes and SAME markers")
        padding = [pads[2], pads[3], pads[0], pads[1]]
    elif min(pads) in (SAME_UPPER, SAME_LOWER) and p.int(20) > 0 and p.int(21, p.int(20)) > 0:
        cut = [full[0] - p.int(21, p.int(20)), full[1] - p.int(20)]
        if min(cut) < 0:
            raise Refused(f"an output of {p.int(21, p.int(20))}x{p.int(20)}, larger than the full {full[0]}x{full[1]}")
        lower = min(pads) == SAME_LOWER
        padding = [v for n in cut for v in ((n - n // 2, n // 2) if lower else (n // 2, n - n // 2))]
    else:
        padding = [0, 0, 0, 0]
    g, fo, ci = groups, filters // groups, c // groups
    weights = {"kernel": (r.load(size, True, "kernel"),
                          lambda v: v.reshape(g, fo, ci, kh, kw).transpose(3, 4, 1, 0, 2).reshape(kh, kw, fo, g * ci))}
    if p.int(5):
        weights["bias"] = (r.load(filters, False, "bias"), lambda v: v)
    held = r.emit(layer, "conv_transpose", [x], weights=weights, filters=filters, kernel=kernel, stride=stride,
                  dilation=dilation, padding=padding, output_padding=extra if any(extra) else None,
                  groups=groups if groups > 1 else None, bias=bool(p.int(5)))
    r.put(layer, fused(r, layer, held))


@LAYERS.on("InnerProduct")
def inner_product(r, layer):
    """A dense layer on the input flattened in ncnn's order (c, h, w); on a 2-D blob whose
    rows are num_input wide, one per row (ncnn's gemm path)."""
    r.one_to_one(layer)
    p = layer.params
    units, size = p.int(0), p.int(2)
    _positive(layer, num_output=units)
    x = r.x(layer)
    if size % units:
        raise ModelFileError(f"weight_data_size {size:,} is not a multiple of num_output {units}")
    n_in = size // units
    plain = r.as_plain(x)
    if len(x.shape) == 2 and plain.shape[-1] == n_in:
        x = plain
    elif len(x.shape) > 1:
        if math.prod(x.shape) != n_in:
            raise ModelFileError(f"an input of {math.prod(x.shape):,} values for {n_in:,} inputs a unit")
        x = x if x.layout == "map" and math.prod(x.shape[:-1]) == 1 else plain
        x = r.emit(layer, "flatten", [x], suffix=".flatten", layout="plain")
    if x.shape[-1] != n_in:
        raise ModelFileError(f"an input of {x.shape[-1]:,} values for {n_in:,} inputs a unit")
    weights = {"kernel": (r.load(size, True, "kernel"), lambda v: v.reshape(units, n_in).T)}
    if p.int(1):
        weights["bias"] = (r.load(units, False, "bias"), lambda v: v)
    _int8_scales(r, layer, units)
    held = r.emit(layer, "dense", [x], weights=weights, units=units, bias=bool(p.int(1)))
    r.put(layer, fused(r, layer, held))
