"""Caffe's window layers and its fully connected one, handlers of `LAYERS`: Convolution
(grouped, dilated; DepthwiseConvolution of the MobileNet ports), Deconvolution, Pooling and
InnerProduct. Their weights are Caffe's [out, in / group, kh, kw] (a Deconvolution's
[in, out / group, kh, kw]) and [out, in] (in C, H, W order), made ours here.

Caffe rounds a pooling's output up: out = ceil((in + 2 pad - k) / stride) + 1, less one
when padding makes the last window start in the padding (pooling_layer.cpp). That is
PyTorch's ceil mode wherever a window starts inside the input; where Caffe keeps a window
that starts past it (no padding, kernel < stride), the window is empty and Caffe's value
there is not a pooling's: refused."""
from __future__ import annotations

from cnncost.interop.caffe.layers import LAYERS
from cnncost.interop.caffe.blobs import Want
from cnncost.interop.caffe.text import Message, TextError, as_int
from cnncost.interop.refusals import Refused
from cnncost.spec.limits import DEFAULTS


def _sizes(p: Message, name: str, default: int | None, least: int, most: int = 2) -> list[int] | None:
    """[h, w] from `name` (one value for both axes, or at most `most` values) or from its _h
    and _w forms (kernel_size: kernel_h and kernel_w)."""
    short = name.removesuffix("_size")
    both, hw = p.all(name), (p.one(f"{short}_h"), p.one(f"{short}_w"))
    if both and any(hw):
        both[0].fail(f"given with {short}_h / {short}_w: give one or the other")
    if any(hw) and not all(hw):
        (hw[0] or hw[1]).fail(f"{short}_h and {short}_w are given together")
    fields = both or [f for f in hw if f is not None]
    if len(both) > most:
        both[most].fail(f"{len(both)} values; a 2-D {'pooling' if most == 1 else 'layer'} takes "
                        f"{'one' if most == 1 else 'one, or one per axis'}")
    values = [as_int(f, least) for f in fields]
    for f, v in zip(fields, values):
        if v > DEFAULTS["max_dim"]:
            f.fail(f"{v:,} is over the limit of {DEFAULTS['max_dim']:,}")
    if not values:
        return None if default is None else [default, default]
    return values * 2 if len(values) == 1 else values


def _window(p: Message, ld, pooling: bool = False):
    kernel = _sizes(p, "kernel_size", None, 1, 1 if pooling else 2)
    if kernel is None:
        raise TextError(f"{'pooling_param' if pooling else 'convolution_param'} has no kernel_size", p.line, p.col)
    stride = _sizes(p, "stride", 1, 1, 1 if pooling else 2)
    pad = _sizes(p, "pad", 0, 0, 1 if pooling else 2)
    dilation = [1, 1] if pooling else _sizes(p, "dilation", 1, 1, 2)
    if p.int("axis", 1, None) != 1:
        raise Refused(f"a {ld.type} on axis {p.int('axis', 1, None)}: Caffe's channels are axis 1")
    return kernel, stride, pad, dilation


def _kept(values, default):
    """A per-axis argument for the spec: one number when both axes agree; None at its default."""
    if values == [default, default]:
        return None
    return values[0] if values[0] == values[1] else values


def _from_oihw(k):
    return k.transpose(2, 3, 1, 0)


@LAYERS.on("Convolution", "DepthwiseConvolution", "Deconvolution")
def convolution(r, ld, xs):
    x = r.as_map(ld, xs[0])
    p = ld.params.message("convolution_param")
    kernel, stride, pad, dilation = _window(p, ld)
    out = p.int("num_output", None, 1)
    if out is None:
        raise TextError("convolution_param has no num_output", p.line, p.col)
    c = x.shape[-1]
    # the MobileNet ports' DepthwiseConvolution is a convolution of one channel per group
    group = p.int("group", c if ld.type == "DepthwiseConvolution" else 1, 1)
    if c % group or out % group:
        raise TextError(f"group {group} does not divide the {c} input channels and num_output {out}", p.line, p.col)
    bias = p.bool("bias_term", True)
    transposed = ld.type == "Deconvolution"
    held = (c, out // group, *kernel) if transposed else (out, c // group, *kernel)
    weights = {"kernel": Want(ld.name, (0,), (held,), _from_oihw)}
    if bias:
        weights["bias"] = Want(ld.name, (1,), ((out,),))
    r.takes_blobs(ld, 2 if bias else 1)
    args = {"filters": out, "kernel": _kept(kernel, None), "stride": _kept(stride, 1),
            "padding": None if pad == [0, 0] else [pad[0], pad[0], pad[1], pad[1]],
            "dilation": _kept(dilation, 1), "groups": group if group > 1 else None,
            "bias": False if not bias else None}
    return [r.emit(ld, "conv_transpose" if transposed else "conv", [x], layout="map", weights=weights, **args)]


def caffe_pooled(size: int, k: int, s: int, pad: int, ceil: bool) -> int:
    """pooling_layer.cpp's output size along one axis."""
    span = size + 2 * pad - k
    out = (-(-span // s) if ceil else span // s) + 1
    if pad and (out - 1) * s >= size + pad:
        out -= 1
    return out


@LAYERS.on("Pooling")
def pooling(r, ld, xs):
    x = r.as_map(ld, xs[0])
    p = ld.params.message("pooling_param")
    method = p.enum("pool", {"MAX": 0, "AVE": 1, "STOCHASTIC": 2}, "MAX")
    if method == "STOCHASTIC":
        raise Refused("stochastic pooling (at test time a weighting by the activations; no cnncost kind)")
    if p.has("dilation"):
        raise Refused("a dilated pooling (a fork's; Caffe's pooling has no dilation)")
    if p.bool("global_pooling", False):
        if p.has("kernel_size") or p.has("kernel_h") or p.int("pad", 0) or p.int("stride", 1) != 1:
            raise TextError("global_pooling with a kernel, a pad or a stride (Caffe refuses them)", p.line, p.col)
        kind = "global_max_pool" if method == "MAX" else "global_avg_pool"
        return [r.emit(ld, kind, [x], layout="map", keepdims=True)]
    kernel, stride, pad, _ = _window(p, ld, pooling=True)
    ceil = p.enum("round_mode", {"CEIL": 0, "FLOOR": 1}, "CEIL") == "CEIL"
    outs = []
    for n, k, s, q, axis in zip(x.shape[:2], kernel, stride, pad, ("height", "width")):
        if q >= k:
            raise TextError(f"pad {q} is not less than the kernel {k} (Caffe refuses it)", p.line, p.col)
        if q > k // 2:
            raise Refused(f"pad {q} with a kernel of {k}: cnncost's pools pad at most half the kernel (PyTorch's rule)")
        out = caffe_pooled(n, k, s, q, ceil)
        if out < 1:
            raise TextError(f"a kernel of {k} is larger than the {axis} {n} padded by {q}", p.line, p.col)
        if (out - 1) * s >= n + q:
            raise Refused(f"its last window along the {axis} starts past the input ({n}, kernel {k}, stride {s}): "
                          "Caffe pools an empty window there")
        outs.append(out)
    floor = [(n + 2 * q - k) // s + 1 for n, k, s, q in zip(x.shape[:2], kernel, stride, pad)]
    y = r.emit(ld, "max_pool" if method == "MAX" else "avg_pool", [x], layout="map", kernel=_kept(kernel, None),
               stride=_kept(stride, None) if stride != kernel else None,
               padding=None if pad == [0, 0] else [pad[0], pad[0], pad[1], pad[1]],
               ceil_mode=True if outs != floor else None)
    if list(y.shape[:2]) != outs:
        raise TextError(f"Caffe pools to {outs}, cnncost's rule to {list(y.shape[:2])} (a reader bug)", p.line, p.col)
    return [y]


@LAYERS.on("InnerProduct")
def inner_product(r, ld, xs):
    x = xs[0]
    p = ld.params.message("inner_product_param")
    out = p.int("num_output", None, 1)
    if out is None:
        raise TextError("inner_product_param has no num_output", p.line, p.col)
    rank = len(x.caffe) + 1
    if p.int("axis", 1, None) not in (1, 1 - rank):
        raise Refused(f"an InnerProduct on axis {p.int('axis', 1, None)}: cnncost's flattens after the batch")
    transpose, bias = p.bool("transpose", False), p.bool("bias_term", True)
    chw = x.chw
    if x.layout == "map":                    # Caffe flattens what it reads: C, H, W order
        h, w, c = x.shape
        chw = (c, h, w)
        x = r.emit(ld, "flatten", [x], layout="plain", suffix=".flatten")
    elif len(x.shape) > 1:
        x = r.emit(ld, "reshape", [x], layout="plain", suffix=".flatten", shape=[-1])
    k = x.shape[0]

    def kernel(a):
        a = a if transpose else a.T                      # (in, out)
        if chw is not None:                              # rows from C, H, W order to ours, H, W, C
            c, h, w = chw
            a = a.reshape(c, h, w, out).transpose(1, 2, 0, 3).reshape(k, out)
        return a
    weights = {"kernel": Want(ld.name, (0,), ((k, out) if transpose else (out, k),), kernel)}
    if bias:
        weights["bias"] = Want(ld.name, (1,), ((out,),))
    r.takes_blobs(ld, 2 if bias else 1)
    return [r.emit(ld, "dense", [x], layout="plain", weights=weights, units=out,
                   bias=False if not bias else None)]
