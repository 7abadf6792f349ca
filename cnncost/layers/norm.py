"""Normalisation and regularisation: batch norm (inference form), LRN, dropout; layer,
group and instance norm (statistics of the input itself)."""
from __future__ import annotations

from cnncost.layers.base import (Arg, Kind, NoMults, OutputSized, PointWise, Saved, SavesNothing, numel, register,
                                 require_rank, same_map_in_groups)


@register
class BatchNorm(PointWise, NoMults, OutputSized, Kind):
    name, family = "batch_norm", "normalization"
    doc = "batch normalisation over the last axis; gamma/beta trainable, running mean/variance non-trainable"
    args = {"eps": Arg("float", 1e-5), "scale": Arg("bool", True), "center": Arg("bool", True)}
    flops_rule = "2 per element (inference: folded scale and shift)"
    saves_rule = "its input and 2 x C statistics (training mode: the batch mean and inverse deviation)"

    onnx_layout = "any"

    def saved(self, a, ins, out, grads, trains):
        return Saved(inputs=(0,), fixed=2 * ins[0][-1])

    def output_shape(self, a, ins):
        require_rank(ins[0], (1, 2, 3, 4))  # channels last: a map's C, a vector's features, tokens', a stack of maps'
        return ins[0]

    def weight_shapes(self, a, ins):
        c = ins[0][-1]
        w = {}
        if a.scale:
            w["gamma"] = (c,)
        if a.center:
            w["beta"] = (c,)
        return w

    def stat_shapes(self, a, ins):
        c = ins[0][-1]
        return {"moving_mean": (c,), "moving_variance": (c,)}

    def init_weight(self, a, ins, name, shape, rng, dtype):
        """Near the identity: gamma ~ 1, variance in [0.5, 1.5], beta and mean ~ 0."""
        arr = rng.standard_normal(shape, dtype=dtype)
        if name == "gamma":
            return 1.0 + 0.1 * arr
        if name == "moving_variance":
            return rng.uniform(0.5, 1.5, shape).astype(dtype)
        return arr * dtype(0.1)

    def flops(self, a, ins, out):
        return 2 * numel(out)

    def forward(self, a, w, xs, ops):
        np = ops.np
        scale = 1.0 / np.sqrt(w["moving_variance"] + a.eps)
        if a.scale:
            scale = scale * w["gamma"]
        shift = -w["moving_mean"] * scale
        if a.center:
            shift = shift + w["beta"]
        x = xs[0]
        if ops.may_overwrite_input:
            x *= scale.astype(x.dtype)
        else:
            x = x * scale.astype(x.dtype)
        x += shift.astype(x.dtype)
        return x

    def onnx(self, a, ins, out, b):
        c = ins[0][-1]
        gamma = b.weight("gamma", b.w["gamma"]) if a.scale else b.const([1.0] * c, "float32")
        beta = b.weight("beta", b.w["beta"]) if a.center else b.const([0.0] * c, "float32")
        rank = len(ins[0])
        x = b.inputs[0]
        moved = rank >= 2 and not (rank == 3 and b.layout == "nchw")    # ONNX's channels are axis 1
        if moved:
            x = b.op("Transpose", [x], perm=[0, rank] + list(range(1, rank)))
        y = b.op("BatchNormalization", [x, gamma, beta, b.weight("moving_mean", b.w["moving_mean"]),
                                        b.weight("moving_variance", b.w["moving_variance"])], epsilon=float(a.eps))
        return b.op("Transpose", [y], perm=[0] + list(range(2, rank + 1)) + [1]) if moved else y


@register
class LRN(PointWise, NoMults, OutputSized, Kind):
    name, family = "lrn", "normalization"
    doc = "local response normalisation across channels, PyTorch form: a / (k + alpha/size * sum a^2)^beta"
    args = {"size": Arg("int", 5), "alpha": Arg("float", 1e-4), "beta": Arg("float", 0.75),
            "k": Arg("float", 1.0)}
    flops_rule = "size + 4 per element (square, window sum, scale, add k, power, divide)"
    saves_rule = "its input, its output and one map of denominators (PyTorch's LRN is composed of ops)"

    def saved(self, a, ins, out, grads, trains):
        return Saved(inputs=(0,), output=True, per_example=numel(out))

    def output_shape(self, a, ins):
        require_rank(ins[0], (1, 3))
        return ins[0]

    def flops(self, a, ins, out):
        return (a.size + 4) * numel(out)

    def forward(self, a, w, xs, ops):
        np = ops.np
        x = xs[0]
        sq = np.square(x)
        lo, hi = a.size // 2, (a.size - 1) // 2
        padded = np.pad(sq, [(0, 0)] * (x.ndim - 1) + [(lo, hi)])
        c = x.shape[-1]
        window = sum(padded[..., i: i + c] for i in range(a.size))
        return x / (a.k + (a.alpha / a.size) * window) ** a.beta

    def onnx(self, a, ins, out, b):
        x = b.inputs[0]
        if a.size % 2:   # ONNX's window is ours for odd sizes
            return b.op("LRN", [x], size=a.size, alpha=float(a.alpha), beta=float(a.beta), bias=float(a.k))
        # even sizes: ONNX centres the window one channel later than PyTorch; spell it out as
        # a mean of squares over a (size, 1, 1) window of a 5-D view, padded (size/2, size/2-1)
        lo, hi = a.size // 2, (a.size - 1) // 2
        sq = b.op("Unsqueeze", [b.op("Mul", [x, x]), b.const([1])])
        mean = b.op("AveragePool", [sq], kernel_shape=[a.size, 1, 1], pads=[lo, 0, 0, hi, 0, 0],
                    count_include_pad=1)
        den = b.op("Add", [b.op("Mul", [b.op("Squeeze", [mean, b.const([1])]),
                                        b.const(a.alpha, "float32")]), b.const(a.k, "float32")])
        return b.op("Div", [x, b.op("Pow", [den, b.const(a.beta, "float32")])])


@register
class Dropout(PointWise, NoMults, Kind):
    name, family = "dropout", "regularization"
    doc = "dropout; an identity at inference"
    args = {"rate": Arg("float", 0.5)}
    onnx_layout = "any"
    saves_rule = "its mask: one element per output (training mode)"

    def saved(self, a, ins, out, grads, trains):
        return Saved(per_example=numel(out))

    def workspace(self, a, ins, out):
        return 0             # returns its input

    def forward(self, a, w, xs, ops):
        return xs[0]

    def onnx(self, a, ins, out, b):     # an identity at inference, kept as a node to read back
        return b.op("Dropout", [b.inputs[0], b.const(float(a.rate), "float32")])



@register
class Identity(SavesNothing, PointWise, NoMults, Kind):
    name, family = "identity", "regularization"
    doc = ("the input unchanged: Keras' Identity, and layers that act only in training (data "
           "augmentation, noise), kept so that the network reads as its file does")
    args = {"note": Arg("text", None, doc="what the layer is in the file it came from (RandomFlip, GaussianNoise)")}
    onnx_layout = "any"

    def workspace(self, a, ins, out):
        return 0             # returns its input

    def forward(self, a, w, xs, ops):
        return xs[0]

    def onnx(self, a, ins, out, b):
        return b.op("Identity", [b.inputs[0]])


@register
class Quantize(SavesNothing, PointWise, NoMults, Kind):
    name, family = "quantize", "quantization"
    doc = ("a change of storage: quantize (real -> integer: divide by the scale, round, add the zero "
           "point, saturate) or dequantize (integer -> real); the values are the layer's `precision`")
    args = {"to": Arg("choice", "int8", choices=("int8", "uint8", "int16", "float32", "float16"),
                      doc="the dtype it stores its output in")}
    flops_rule = "2 per element (scale and shift; rounding and saturation not counted)"
    onnx_layout = "any"

    def flops(self, a, ins, out):
        return 2 * numel(out)

    def workspace(self, a, ins, out):
        return 0

    def forward(self, a, w, xs, ops):
        return xs[0]         # in real units both sides: the executor applies the output's quantization

    def onnx(self, a, ins, out, b):
        return b.op("Identity", [b.inputs[0]])

def _full(shape, value):
    import numpy as np
    return np.full(shape, value, dtype="float32")


def _normalize(np, x, axes, eps):
    """(x - mean) / sqrt(var + eps) over `axes`, the biased variance (PyTorch)."""
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=axes, keepdims=True)
    return centred / np.sqrt(var + eps)


class _Affine(PointWise, NoMults, OutputSized, Kind):
    """What the three statistics normalisations share: per-channel gamma and beta (when
    affine), 8 FLOPs per element (mean, centre, square, variance, normalise, scale, shift
    and the reduction adds)."""

    family = "normalization"
    flops_rule = "8 per element (statistics, normalisation, scale and shift)"
    saves_rule = "its input and 2 statistics (mean, inverse deviation) per normalised group"

    def saved(self, a, ins, out, grads, trains):
        return Saved(inputs=(0,), per_example=2 * self.statistics(a, ins))

    def statistics(self, a, ins) -> int:
        """How many groups of elements are normalised together, per example."""
        raise NotImplementedError

    def weight_shapes(self, a, ins):
        c = tuple(ins[0][-a.get("axes", 1):])
        return {"gamma": c, "beta": c} if a.get("affine", True) else {}

    def init_weight(self, a, ins, name, shape, rng, dtype):
        arr = rng.standard_normal(shape, dtype=dtype)
        return 1.0 + 0.1 * arr if name == "gamma" else arr * dtype(0.1)

    def flops(self, a, ins, out):
        return 8 * numel(out)

    def _affine(self, a, w, y):
        return y * w["gamma"] + w["beta"] if a.get("affine", True) else y

    def _onnx_affine(self, a, ins, b, y):
        if not a.get("affine", True):
            return y
        gamma, beta = b.weight("gamma", b.w["gamma"]), b.weight("beta", b.w["beta"])
        if len(ins[0]) == 3:      # (C,) against NCHW: (C, 1, 1)
            gamma, beta = (b.op("Unsqueeze", [t, b.const([1, 2])]) for t in (gamma, beta))
        return b.op("Add", [b.op("Mul", [y, gamma]), beta])


@register
class LayerNorm(_Affine):
    name = "layer_norm"
    doc = ("layer normalisation over the last `axes` axes (1: the channels at each position, ConvNeXt's "
           "LayerNorm, channels last; a transformer's over each token's features)")
    args = {"eps": Arg("float", 1e-5), "affine": Arg("bool", True),
            "axes": Arg("int", 1, doc="how many trailing axes the statistics span")}
    onnx_layout = "plain"

    def output_shape(self, a, ins):
        if a.axes > len(ins[0]):
            from cnncost.errors import ShapeError
            raise ShapeError(f"axes={a.axes}: the input has only {len(ins[0])} axes per example")
        return ins[0]

    def window(self, a, ins):
        return None if a.axes == 1 else "global" if len(ins[0]) == 3 else "n/a"

    def statistics(self, a, ins):
        return numel(ins[0]) // numel(ins[0][-a.axes:])

    def forward(self, a, w, xs, ops):
        x = xs[0]
        return self._affine(a, w, _normalize(ops.np, x, tuple(range(x.ndim - a.axes, x.ndim)), a.eps))

    def onnx(self, a, ins, out, b):
        c = tuple(ins[0][-a.axes:])
        gamma = b.weight("gamma", b.w["gamma"]) if a.affine else b.const(_full(c, 1.0), "float32")
        beta = b.weight("beta", b.w["beta"]) if a.affine else b.const(_full(c, 0.0), "float32")
        return b.op("LayerNormalization", [b.inputs[0], gamma, beta], axis=-a.axes, epsilon=float(a.eps))


MAP_RANKS = (2, 3, 4)     # T x C, H x W x C, D x H x W x C: statistics over the spatial axes


@register
class GroupNorm(_Affine):
    name = "group_norm"
    doc = "group normalisation: statistics over the spatial axes (H, W; T; D, H, W) and each group of C / groups channels"
    args = {"groups": Arg("int"), "eps": Arg("float", 1e-5), "affine": Arg("bool", True)}

    def statistics(self, a, ins):
        return a.groups

    def window(self, a, ins):
        return "global"       # the statistics span the whole map

    def statistics(self, a, ins):
        return ins[0][-1]

    def output_shape(self, a, ins):
        return same_map_in_groups(a.groups, ins, MAP_RANKS)

    def forward(self, a, w, xs, ops):
        x = xs[0]
        grouped = x.reshape(*x.shape[:-1], a.groups, x.shape[-1] // a.groups)
        axes = (*range(1, x.ndim - 1), x.ndim)     # the spatial axes and the channels of a group
        return self._affine(a, w, _normalize(ops.np, grouped, axes, a.eps).reshape(x.shape))

    def onnx(self, a, ins, out, b):
        # exporters' own pattern: Reshape -> InstanceNormalization -> Reshape -> Mul -> Add
        d, c = len(ins[0]) - 1, ins[0][-1]
        x = b.inputs[0] if d == 2 else b.channels_first(b.inputs[0], d)
        y = b.op("Reshape", [x, b.const([0, a.groups, -1])])
        y = b.op("InstanceNormalization", [y, b.const([1.0] * a.groups, "float32"),
                                           b.const([0.0] * a.groups, "float32")], epsilon=float(a.eps))
        y = b.op("Reshape", [y, b.const([0, c, *ins[0][:-1]])])
        return self._onnx_affine(a, ins, b, y if d == 2 else b.channels_last(y, d))


@register
class InstanceNorm(_Affine):
    name = "instance_norm"
    doc = "instance normalisation: statistics over the spatial axes (H and W; T; D, H, W) per channel (affine false by default, as PyTorch)"
    args = {"eps": Arg("float", 1e-5), "affine": Arg("bool", False)}

    def window(self, a, ins):
        return "global"       # the statistics span the whole map

    def output_shape(self, a, ins):
        require_rank(ins[0], MAP_RANKS)
        return ins[0]

    def forward(self, a, w, xs, ops):
        return self._affine(a, w, _normalize(ops.np, xs[0], tuple(range(1, xs[0].ndim - 1)), a.eps))

    def onnx(self, a, ins, out, b):
        c, d = ins[0][-1], len(ins[0]) - 1
        gamma = b.weight("gamma", b.w["gamma"]) if a.affine else b.const([1.0] * c, "float32")
        beta = b.weight("beta", b.w["beta"]) if a.affine else b.const([0.0] * c, "float32")
        x = b.inputs[0] if d == 2 else b.channels_first(b.inputs[0], d)
        y = b.op("InstanceNormalization", [x, gamma, beta], epsilon=float(a.eps))
        return y if d == 2 else b.channels_last(y, d)
