"""Normalisation and regularisation: batch norm (inference form), LRN, dropout."""
from __future__ import annotations

from .base import Arg, Kind, numel, register


@register
class BatchNorm(Kind):
    name, family = "batch_norm", "normalization"
    doc = "batch normalisation over the last axis; gamma/beta trainable, running mean/variance non-trainable"
    args = {"eps": Arg("float", 1e-5), "scale": Arg("bool", True), "center": Arg("bool", True)}
    flops_rule = "2 per element (inference: folded scale and shift)"

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


@register
class LRN(Kind):
    name, family = "lrn", "normalization"
    doc = "local response normalisation across channels, PyTorch form: a / (k + alpha/size * sum a^2)^beta"
    args = {"size": Arg("int", 5), "alpha": Arg("float", 1e-4), "beta": Arg("float", 0.75),
            "k": Arg("float", 1.0)}
    flops_rule = "size + 4 per element (square, window sum, scale, add k, power, divide)"

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


@register
class Dropout(Kind):
    name, family = "dropout", "regularization"
    doc = "dropout; an identity at inference"
    args = {"rate": Arg("float", 0.5)}

    def forward(self, a, w, xs, ops):
        return xs[0]
