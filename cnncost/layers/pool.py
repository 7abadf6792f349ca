"""Pooling: windowed max / average (padding, ceil mode), global and adaptive pools, over
1-D (T x C), 2-D (H x W x C) and 3-D (D x H x W x C) maps."""
from __future__ import annotations

import itertools
import math
from typing import NamedTuple

from cnncost.errors import ShapeError
from cnncost.layers import geometry
from cnncost.layers.base import (Arg, Kind, NoMults, OutputSized, Saved, SavesNothing, numel, register,
                                 require_rank)


class PoolWindow(NamedTuple):
    """A pool's window resolved on its input: d spatial axes, per axis the kernel, stride,
    pads (per side: lo_0, hi_0, ...), input and output sizes."""
    d: int
    kernel: tuple
    stride: tuple
    pads: tuple
    sizes: tuple
    outs: tuple


class _WindowPool(NoMults, Kind):
    family = "pooling"
    args = {
        "kernel": Arg("axes", doc="kernel size k (along every axis) or one per axis"),
        "stride": Arg("axes", None, doc="defaults to the kernel size"),
        "padding": Arg("padding_nd", "valid"),
        "ceil_mode": Arg("bool", False),
    }

    def validate(self, a):
        if a.stride is None:
            a["stride"] = a.kernel

    def geometry(self, a, shape) -> PoolWindow:
        """The window on a 1-D (T x C), 2-D (H x W x C) or 3-D (D x H x W x C) map."""
        require_rank(shape, (2, 3, 4))
        d = geometry.spatial_rank(a, shape, stack=False)
        kernel, stride = geometry.per_axis("kernel", a.kernel, d), geometry.per_axis("stride", a.stride, d)
        pads = geometry.sides(a.padding, d)
        if pads != "same" and any(max(pads[2 * i: 2 * i + 2]) > k // 2 for i, k in enumerate(kernel)):
            shown = (list(a.padding), list(a.kernel)) if d == 2 else (list(pads), list(kernel))
            raise ShapeError(f"padding {shown[0]} must be at most half the kernel {shown[1]}")
        sizes = tuple(shape[:-1])
        outs, pads = geometry.resolve_nd(sizes, kernel, stride, (1,) * d, pads, a.ceil_mode)
        return PoolWindow(d, kernel, stride, pads, sizes, outs)

    def output_shape(self, a, ins):
        return (*self.geometry(a, ins[0]).outs, ins[0][-1])

    def window(self, a, ins):
        w = self.geometry(a, ins[0])
        return w.kernel, w.stride, (1,) * w.d, w.pads[::2]

    def taps(self, a, ins) -> int:
        return numel(self.geometry(a, ins[0]).kernel)

    def workspace(self, a, ins, out):
        w = self.geometry(a, ins[0])
        padded = math.prod((o - 1) * s + k for o, s, k in zip(w.outs, w.stride, w.kernel)) * out[-1]
        return max(padded, numel(ins[0])) + 2 * numel(out)

    def onnx_pads(self, a, ins, out):
        """(pads before, pads after) per axis with the ceil-mode overhang added after, so
        the exported pool runs in floor mode and needs no ceil rule of ONNX's."""
        w = self.geometry(a, ins[0])
        lo, hi = w.pads[::2], w.pads[1::2]
        extra = [max(0, (o - 1) * s + k - (n + b + e))
                 for o, s, k, n, b, e in zip(w.outs, w.stride, w.kernel, w.sizes, lo, hi)]
        return list(lo), [e + x for e, x in zip(hi, extra)]

    def onnx_pool(self, a, ins, op, b, x, pads, **attrs):
        """An ONNX pool of this layer's window; a 1-D or 3-D map (held channels last) is
        turned channels first around it."""
        w = self.geometry(a, ins[0])
        if w.d != 2:
            x = b.channels_first(x, w.d)
        y = b.op(op, [x], kernel_shape=list(w.kernel), strides=list(w.stride), pads=pads, **attrs)
        return y if w.d == 2 else b.channels_last(y, w.d)

    def _windows(self, a, x, fill, ops, extra_fill=None):
        """Yield each kernel tap's strided view of the input padded with `fill`; the extra
        rows at the end of each axis that make ceil-mode windows fit are padded with
        `extra_fill`. The number of windows is derived here from the array, independently
        of the analysis's shape rule, so that `verify` really checks that rule."""
        np = ops.np
        w = self.geometry(a, x.shape[1:])
        lo, hi = w.pads[::2], w.pads[1::2]
        counts = [_window_count(n, b, e, k, s, a.ceil_mode)
                  for n, b, e, k, s in zip(x.shape[1:-1], lo, hi, w.kernel, w.stride)]
        xp = np.pad(x, ((0, 0), *zip(lo, hi), (0, 0)), constant_values=fill)
        extra = [max(0, (o - 1) * s + k - n) for o, s, k, n in zip(counts, w.stride, w.kernel, xp.shape[1:-1])]
        if any(extra):
            xp = np.pad(xp, ((0, 0), *((0, e) for e in extra), (0, 0)),
                        constant_values=fill if extra_fill is None else extra_fill)
        for tap in itertools.product(*(range(k) for k in w.kernel)):
            yield xp[(slice(None), *(slice(t, t + (o - 1) * s + 1, s) for t, o, s in zip(tap, counts, w.stride)))]


def _window_count(size, lo, hi, k, s, ceil_mode):
    """Windows start every s pixels from the padded edge. Floor mode keeps those that fit
    in the padded input; ceil mode also keeps one last partial window, provided it starts
    inside the input or its leading padding."""
    padded = size + lo + hi
    # len(range(0, stop, s)) in integer arithmetic (a size may be an expression: formula/)
    if ceil_mode:
        return max(0, (min(padded - k + s, size + lo) + s - 1) // s)
    return max(0, (padded - k + s) // s)


@register
class MaxPool(_WindowPool):
    name = "max_pool"
    doc = "max pooling"
    flops_rule = "kh*kw - 1 comparisons per output element (kernel taps - 1 on any map)"
    saves_rule = "its input and the argmax indices (int64, one per output element)"

    def saved(self, a, ins, out, grads, trains):
        return Saved(inputs=(0,), int64=numel(out))

    def flops(self, a, ins, out):
        return (self.taps(a, ins) - 1) * numel(out)

    def onnx(self, a, ins, out, b):
        lo, hi = self.onnx_pads(a, ins, out)
        return self.onnx_pool(a, ins, "MaxPool", b, b.inputs[0], lo + hi)

    def forward(self, a, w, xs, ops):
        out = None
        for view in self._windows(a, xs[0], -ops.np.inf, ops):
            out = view.copy() if out is None else ops.np.maximum(out, view, out=out)
        return out


@register
class AvgPool(SavesNothing, _WindowPool):
    name = "avg_pool"
    doc = "average pooling (count_include_pad as PyTorch; 'same' padding is never counted, as TensorFlow)"
    args = {**_WindowPool.args, "count_include_pad": Arg("bool", True)}
    flops_rule = "kh*kw per output element (adds + one divide; kernel taps on any map)"

    def flops(self, a, ins, out):
        return self.taps(a, ins) * numel(out)

    def forward(self, a, w, xs, ops):
        np = ops.np
        x = xs[0]
        total = None
        for view in self._windows(a, x, 0.0, ops):
            total = view.copy() if total is None else np.add(total, view, out=total)
        # Divisor per output cell: pool a mask of the positions that count. Explicit
        # padding counts when count_include_pad (PyTorch); the ceil-mode overhang and
        # TensorFlow "same" padding never do.
        include = a.count_include_pad and a.padding != "same"
        ones = np.ones((1,) + x.shape[1:-1] + (1,), x.dtype)
        count = sum(self._windows(a, ones, 1.0 if include else 0.0, ops, extra_fill=0.0))
        return total / count

    def onnx(self, a, ins, out, b):
        # Explicit padding that counts (PyTorch) becomes real zeros; the ceil overhang and
        # TensorFlow "same" padding are ONNX pads, which count_include_pad=0 leaves out.
        lo, hi = self.onnx_pads(a, ins, out)
        pads = self.geometry(a, ins[0]).pads
        x = b.inputs[0]
        if a.count_include_pad and a.padding != "same" and any(pads):
            # zeros where the map is held: NCHW for a 2-D map, channels last otherwise
            before, after = pads[::2], pads[1::2]
            x = b.op("Pad", [x, b.const([0, 0, *before, 0, 0, *after] if len(ins[0]) == 3
                                        else [0, *before, 0, 0, *after, 0])])
            lo = [0] * len(lo)
            hi = [h - p for h, p in zip(hi, after)]
        return self.onnx_pool(a, ins, "AveragePool", b, x, lo + hi, count_include_pad=0)


class _GlobalPool(NoMults, OutputSized, Kind):
    family = "pooling"
    args = {"keepdims": Arg("bool", False)}

    def output_shape(self, a, ins):
        require_rank(ins[0], (2, 3, 4))
        c = ins[0][-1]
        return (*(1,) * (len(ins[0]) - 1), c) if a.keepdims else (c,)

    def window(self, a, ins):
        return "global"

    def onnx(self, a, ins, out, b):
        if len(ins[0]) != 3:     # a 1-D or 3-D map, held channels last: reduce its spatial axes
            return b.op(self.onnx_reduce, [b.inputs[0]], axes=list(range(1, len(ins[0]))), keepdims=int(a.keepdims))
        if a.keepdims:
            return b.op(self.onnx_op, [b.inputs[0]])
        # the vector in one node (opset 17: axes as an attribute), read back as this layer
        return b.op(self.onnx_reduce, [b.inputs[0]], axes=[2, 3], keepdims=0)


def spatial_axes(x) -> tuple:
    """The spatial axes of a batch of maps (batch first, channels last)."""
    return tuple(range(1, x.ndim - 1))


@register
class GlobalAvgPool(SavesNothing, _GlobalPool):
    name = "global_avg_pool"
    doc = "mean over the map's spatial axes (H and W; T; D, H and W)"
    onnx_op, onnx_reduce = "GlobalAveragePool", "ReduceMean"
    flops_rule = "H*W per channel"

    def flops(self, a, ins, out):
        return numel(ins[0])

    def forward(self, a, w, xs, ops):
        return xs[0].mean(axis=spatial_axes(xs[0]), keepdims=a.keepdims)


@register
class GlobalMaxPool(_GlobalPool):
    name = "global_max_pool"
    doc = "max over the map's spatial axes (H and W; T; D, H and W)"
    onnx_op, onnx_reduce = "GlobalMaxPool", "ReduceMax"
    flops_rule = "H*W - 1 per channel"
    saves_rule = "its input and the argmax indices (int64, one per output element)"

    def saved(self, a, ins, out, grads, trains):
        return Saved(inputs=(0,), int64=numel(out))

    def flops(self, a, ins, out):
        return (numel(ins[0][:-1]) - 1) * ins[0][-1]

    def forward(self, a, w, xs, ops):
        return xs[0].max(axis=spatial_axes(xs[0]), keepdims=a.keepdims)


def adaptive_windows(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive pooling windows: [floor(i*size/out), ceil((i+1)*size/out))."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def window_total(size: int, out: int) -> int:
    """Sum of the adaptive window lengths, in closed form (no loop over a huge `out`):
    sum_i ceil((i+1)*size/out) - floor(i*size/out) = size + out - gcd(size, out)."""
    return size + out - math.gcd(size, out)


def averaging(size: int, n: int) -> list[list[float]]:
    """The n x size matrix that averages each of PyTorch's adaptive windows."""
    rows = [[0.0] * size for _ in range(n)]
    for i, (s, e) in enumerate(adaptive_windows(size, n)):
        rows[i][s:e] = [1.0 / (e - s)] * (e - s)
    return rows


@register
class AdaptiveAvgPool(SavesNothing, NoMults, OutputSized, Kind):
    name, family = "adaptive_avg_pool", "pooling"
    doc = "average pool to a fixed output size (PyTorch windows) of a 1-D, 2-D or 3-D map"
    args = {"output_size": Arg("axes", doc="one size (every axis) or one per axis")}
    flops_rule = "window size per output element"

    def sizes(self, a, shape) -> tuple:
        """The output size per spatial axis of a T x C, H x W x C or D x H x W x C map."""
        require_rank(shape, (2, 3, 4))
        return geometry.per_axis("output_size", a.output_size, len(shape) - 1)

    def output_shape(self, a, ins):
        return (*self.sizes(a, ins[0]), ins[0][-1])

    def window(self, a, ins):
        # windows vary in size; the largest one and the mean step bound the field
        outs, d = self.sizes(a, ins[0]), len(ins[0]) - 1
        return (tuple(-(-n // o) for n, o in zip(ins[0], outs)), tuple(max(1, n // o) for n, o in zip(ins[0], outs)),
                (1,) * d, (0,) * d)

    def flops(self, a, ins, out):
        return math.prod(window_total(n, o) for n, o in zip(ins[0], self.sizes(a, ins[0]))) * ins[0][-1]

    def forward(self, a, w, xs, ops):
        np = ops.np
        x = xs[0]
        outs = self.sizes(a, x.shape[1:])
        # Adaptive windows are separable: one averaging matrix per axis ("nhwc,ph,qw->npqc").
        ins, mids = "dhw"[-len(outs):] if len(outs) > 1 else "t", "pqr"[:len(outs)]
        spec = f"n{ins}c," + ",".join(f"{o}{i}" for o, i in zip(mids, ins)) + f"->n{mids}c"
        return np.einsum(spec, x, *(np.array(averaging(n, o), x.dtype) for n, o in zip(x.shape[1:-1], outs)),
                         optimize=True)

    def onnx(self, a, ins, out, b):
        outs, d = self.sizes(a, ins[0]), len(ins[0]) - 1
        x = b.inputs[0]
        if set(outs) == {1}:          # the common case is a global average
            if d != 2:
                return b.op("ReduceMean", [x], axes=list(range(1, d + 1)), keepdims=1)
            return b.op("GlobalAveragePool", [x])
        if all(n % o == 0 for n, o in zip(ins[0], outs)):  # equal windows: a plain average pool
            k = [n // o for n, o in zip(ins[0], outs)]
            if d != 2:
                return b.channels_last(b.op("AveragePool", [b.channels_first(x, d)], kernel_shape=k, strides=k), d)
            return b.op("AveragePool", [x], kernel_shape=k, strides=k)
        if d == 2:   # ONNX has no adaptive pool: the same two averaging matrices, A_h @ X @ A_w^T
            (h, w, _), (oh, ow) = ins[0], outs
            ah = b.const(averaging(h, oh), "float32")
            awt = b.const([list(col) for col in zip(*averaging(w, ow))], "float32")
            return b.op("MatMul", [b.op("MatMul", [ah, x]), awt])
        # a map held channels last: one averaging matrix per axis in one Einsum
        ins_, mids = ("t", "p") if d == 1 else ("dhw", "pqr")
        mats = [b.const(averaging(n, o), "float32") for n, o in zip(ins[0], outs)]
        return b.op("Einsum", [x, *mats], equation=f"n{ins_}c," + ",".join(f"{o}{i}" for o, i in zip(mids, ins_))
                    + f"->n{mids}c")
