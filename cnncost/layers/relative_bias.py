"""The relative-position bias of windowed attention (Swin, torchvision's and timm's): a
learned table of one value per head for each of the (2w - 1)^2 offsets between two
positions of a w x w window, read out for every pair of the window's w^2 positions as a
[heads, w^2, w^2] tensor added to the attention scores. The table is the layer's weight;
the index of offsets follows from w alone (no data), as in torchvision's buffer.
"""
from __future__ import annotations

from cnncost.layers.base import Arg, Kind, NoMults, OutputSized, SavesNothing, Tensorial, register


def offset_index(w: int):
    """[w^2, w^2] row of the table for each pair of positions (torchvision's rule)."""
    import numpy as np

    coords = np.stack(np.meshgrid(np.arange(w), np.arange(w), indexing="ij")).reshape(2, -1)
    rel = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0) + (w - 1)
    return rel[:, :, 0] * (2 * w - 1) + rel[:, :, 1]


@register
class RelativePositionBias(SavesNothing, Tensorial, NoMults, OutputSized, Kind):
    name, family = "relative_position_bias", "attention"
    doc = "windowed attention's learned bias per head and offset: [heads, w^2, w^2] from a ((2w-1)^2, heads) table"
    arity = (0,)
    args = {"window": Arg("int"), "heads": Arg("int")}

    def window(self, a, ins):
        return None          # reads no pixel

    def output_shape(self, a, ins):
        n = a.window * a.window
        return (a.heads, n, n)

    def weight_shapes(self, a, ins):
        return {"table": ((2 * a.window - 1) ** 2, a.heads)}

    def forward(self, a, w, xs, ops):
        n = a.window * a.window
        bias = w["table"][offset_index(a.window).reshape(-1)].reshape(n, n, a.heads).transpose(2, 0, 1)
        return ops.np.broadcast_to(bias, (ops.batch,) + bias.shape).copy()

    def onnx(self, a, ins, out, b):
        table = b.weight("table", b.w["table"])
        y = b.op("Gather", [table, b.const(offset_index(a.window))], axis=0)       # [n, n, heads]
        y = b.op("Unsqueeze", [b.op("Transpose", [y], perm=[2, 0, 1]), b.const([0])])
        return b.op("Expand", [y, b.const([b.batch, *out])])
