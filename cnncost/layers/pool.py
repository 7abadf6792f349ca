"""Pooling: windowed max / average (padding, ceil mode), global and adaptive pools."""
from __future__ import annotations

import math

from cnncost.errors import ShapeError
from cnncost.layers import geometry
from cnncost.layers.base import (Arg, Kind, NoMults, OutputSized, Saved, SavesNothing, numel, register,
                                 require_rank)


class _WindowPool(NoMults, Kind):
    family = "pooling"
    args = {
        "kernel": Arg("pair"),
        "stride": Arg("pair", None, doc="defaults to the kernel size"),
        "padding": Arg("padding", "valid"),
        "ceil_mode": Arg("bool", False),
    }

    def validate(self, a):
        if a.stride is None:
            a["stride"] = a.kernel
        if a.padding != "same":
            (kh, kw), (t, b, l, r) = a.kernel, a.padding
            if max(t, b) > kh // 2 or max(l, r) > kw // 2:
                raise ShapeError(f"padding {list(a.padding)} must be at most half the kernel "
                                 f"{list(a.kernel)}")

    def geometry(self, a, shape):
        require_rank(shape, (3,))
        return geometry.resolve(shape[:2], a.kernel, a.stride, (1, 1), a.padding, a.ceil_mode)

    def output_shape(self, a, ins):
        (oh, ow), _ = self.geometry(a, ins[0])
        return (oh, ow, ins[0][2])

    def window(self, a, ins):
        _, pads = self.geometry(a, ins[0])
        return a.kernel, a.stride, (1, 1), (pads[0], pads[2])

    def workspace(self, a, ins, out):
        (kh, kw), (sh, sw) = a.kernel, a.stride
        padded = ((out[0] - 1) * sh + kh) * ((out[1] - 1) * sw + kw) * out[2]
        return max(padded, numel(ins[0])) + 2 * numel(out)

    def onnx_pads(self, a, ins, out):
        """[top, left, bottom, right] with the ceil-mode overhang added at the bottom /
        right, so the exported pool runs in floor mode and needs no ceil rule of ONNX's."""
        _, (t, b, l, r) = self.geometry(a, ins[0])
        (kh, kw), (sh, sw) = a.kernel, a.stride
        eb = max(0, (out[0] - 1) * sh + kh - (ins[0][0] + t + b))
        er = max(0, (out[1] - 1) * sw + kw - (ins[0][1] + l + r))
        return (t, l, b, r), (eb, er)

    def _windows(self, a, x, fill, ops, extra_fill=None):
        """Yield each kernel tap's strided view of the input padded with `fill`; the extra
        bottom/right rows that make ceil-mode windows fit are padded with `extra_fill`.
        The number of windows is derived here from the array, independently of the
        analysis's shape rule, so that `verify` really checks that rule."""
        np = ops.np
        _, (t, b, l, r) = self.geometry(a, x.shape[1:])
        (kh, kw), (sh, sw) = a.kernel, a.stride
        oh = _window_count(x.shape[1], t, b, kh, sh, a.ceil_mode)
        ow = _window_count(x.shape[2], l, r, kw, sw, a.ceil_mode)
        xp = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=fill)
        eb = max(0, (oh - 1) * sh + kh - xp.shape[1])
        er = max(0, (ow - 1) * sw + kw - xp.shape[2])
        if eb or er:
            xp = np.pad(xp, ((0, 0), (0, eb), (0, er), (0, 0)),
                        constant_values=fill if extra_fill is None else extra_fill)
        for i in range(kh):
            for j in range(kw):
                yield xp[:, i: i + (oh - 1) * sh + 1: sh, j: j + (ow - 1) * sw + 1: sw, :]


def _window_count(size, lo, hi, k, s, ceil_mode):
    """Windows start every s pixels from the padded edge. Floor mode keeps those that fit
    in the padded input; ceil mode also keeps one last partial window, provided it starts
    inside the input or its leading padding."""
    padded = size + lo + hi
    if ceil_mode:
        return len(range(0, min(padded - k + s, size + lo), s))
    return len(range(0, padded - k + 1, s))


@register
class MaxPool(_WindowPool):
    name = "max_pool"
    doc = "max pooling"
    flops_rule = "kh*kw - 1 comparisons per output element"
    saves_rule = "its input and the argmax indices (int64, one per output element)"

    def saved(self, a, ins, out, grads, trains):
        return Saved(inputs=(0,), int64=numel(out))

    def flops(self, a, ins, out):
        return (a.kernel[0] * a.kernel[1] - 1) * out[0] * out[1] * out[2]

    def onnx(self, a, ins, out, b):
        (t, l, bo, r), (eb, er) = self.onnx_pads(a, ins, out)
        return b.op("MaxPool", [b.inputs[0]], kernel_shape=list(a.kernel), strides=list(a.stride),
                    pads=[t, l, bo + eb, r + er])

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
    flops_rule = "kh*kw per output element (adds + one divide)"

    def flops(self, a, ins, out):
        return a.kernel[0] * a.kernel[1] * out[0] * out[1] * out[2]

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
        ones = np.ones((1,) + x.shape[1:3] + (1,), x.dtype)
        count = sum(self._windows(a, ones, 1.0 if include else 0.0, ops, extra_fill=0.0))
        return total / count

    def onnx(self, a, ins, out, b):
        # Explicit padding that counts (PyTorch) becomes real zeros; the ceil overhang and
        # TensorFlow "same" padding are ONNX pads, which count_include_pad=0 leaves out.
        (t, l, bo, r), (eb, er) = self.onnx_pads(a, ins, out)
        x = b.inputs[0]
        if a.count_include_pad and a.padding != "same" and any((t, l, bo, r)):
            x = b.op("Pad", [x, b.const([0, 0, t, l, 0, 0, bo, r])])
            t = l = bo = r = 0
        return b.op("AveragePool", [x], kernel_shape=list(a.kernel), strides=list(a.stride),
                    pads=[t, l, bo + eb, r + er], count_include_pad=0)


class _GlobalPool(NoMults, OutputSized, Kind):
    family = "pooling"
    args = {"keepdims": Arg("bool", False)}

    def output_shape(self, a, ins):
        require_rank(ins[0], (3,))
        c = ins[0][2]
        return (1, 1, c) if a.keepdims else (c,)

    def window(self, a, ins):
        return "global"

    def onnx(self, a, ins, out, b):
        if a.keepdims:
            return b.op(self.onnx_op, [b.inputs[0]])
        # the vector in one node (opset 17: axes as an attribute), read back as this layer
        return b.op(self.onnx_reduce, [b.inputs[0]], axes=[2, 3], keepdims=0)


@register
class GlobalAvgPool(SavesNothing, _GlobalPool):
    name = "global_avg_pool"
    doc = "mean over H and W"
    onnx_op, onnx_reduce = "GlobalAveragePool", "ReduceMean"
    flops_rule = "H*W per channel"

    def flops(self, a, ins, out):
        h, w, c = ins[0]
        return h * w * c

    def forward(self, a, w, xs, ops):
        return xs[0].mean(axis=(1, 2), keepdims=a.keepdims)


@register
class GlobalMaxPool(_GlobalPool):
    name = "global_max_pool"
    doc = "max over H and W"
    onnx_op, onnx_reduce = "GlobalMaxPool", "ReduceMax"
    flops_rule = "H*W - 1 per channel"
    saves_rule = "its input and the argmax indices (int64, one per output element)"

    def saved(self, a, ins, out, grads, trains):
        return Saved(inputs=(0,), int64=numel(out))

    def flops(self, a, ins, out):
        h, w, c = ins[0]
        return (h * w - 1) * c

    def forward(self, a, w, xs, ops):
        return xs[0].max(axis=(1, 2), keepdims=a.keepdims)


def adaptive_windows(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive pooling windows: [floor(i*size/out), ceil((i+1)*size/out))."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def window_total(size: int, out: int) -> int:
    """Sum of the adaptive window lengths, in closed form (no loop over a huge `out`):
    sum_i ceil((i+1)*size/out) - floor(i*size/out) = size + out - gcd(size, out)."""
    return size + out - math.gcd(size, out)


@register
class AdaptiveAvgPool(SavesNothing, NoMults, OutputSized, Kind):
    name, family = "adaptive_avg_pool", "pooling"
    doc = "average pool to a fixed output size (PyTorch windows)"
    args = {"output_size": Arg("pair")}
    flops_rule = "window size per output element"

    def output_shape(self, a, ins):
        require_rank(ins[0], (3,))
        return (a.output_size[0], a.output_size[1], ins[0][2])

    def window(self, a, ins):
        # windows vary in size; the largest one and the mean step bound the field
        (h, w, _), (oh, ow) = ins[0], a.output_size
        return (-(-h // oh), -(-w // ow)), (max(1, h // oh), max(1, w // ow)), (1, 1), (0, 0)

    def flops(self, a, ins, out):
        h, w, c = ins[0]
        return window_total(h, a.output_size[0]) * window_total(w, a.output_size[1]) * c

    def forward(self, a, w, xs, ops):
        np = ops.np
        x = xs[0]

        def averaging(size, out):
            m = np.zeros((out, size), x.dtype)
            for i, (s, e) in enumerate(adaptive_windows(size, out)):
                m[i, s:e] = 1.0 / (e - s)
            return m

        # Adaptive windows are separable: one averaging matrix per axis.
        return np.einsum("nhwc,ph,qw->npqc", x, averaging(x.shape[1], a.output_size[0]),
                         averaging(x.shape[2], a.output_size[1]), optimize=True)

    def onnx(self, a, ins, out, b):
        (h, w, _), (oh, ow) = ins[0], a.output_size
        if (oh, ow) == (1, 1):          # the common case is a global average
            return b.op("GlobalAveragePool", [b.inputs[0]])
        if h % oh == 0 and w % ow == 0:  # equal windows: a plain average pool
            return b.op("AveragePool", [b.inputs[0]], kernel_shape=[h // oh, w // ow], strides=[h // oh, w // ow])
        # otherwise ONNX has no adaptive pool: the same two averaging matrices, A_h @ X @ A_w^T
        def averaging(size, n):
            rows = [[0.0] * size for _ in range(n)]
            for i, (s, e) in enumerate(adaptive_windows(size, n)):
                rows[i][s:e] = [1.0 / (e - s)] * (e - s)
            return rows

        ah = b.const(averaging(h, oh), "float32")
        awt = b.const([list(col) for col in zip(*averaging(w, ow))], "float32")
        return b.op("MatMul", [b.op("MatMul", [ah, b.inputs[0]]), awt])
