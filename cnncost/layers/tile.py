"""`tile`: the input repeated whole along each axis (ONNX's Tile, NumPy's tile, PyTorch's
Tensor.repeat): data moves only, no arithmetic. GC ViT repeats its global query once per
window this way."""
from __future__ import annotations

from cnncost.errors import ShapeError
from cnncost.layers.base import Arg, Kind, NoMults, OutputSized, SavesNothing, Tensorial, fmt_shape, register


@register
class Tile(SavesNothing, Tensorial, NoMults, OutputSized, Kind):
    name, family = "tile", "reshape"
    doc = "the input repeated whole `repeats[i]` times along each per-example axis i (ONNX's Tile, numpy.tile)"
    args = {"repeats": Arg("ints", minimum=1, doc="one count per axis of an example (the batch is not repeated)")}

    def output_shape(self, a, ins):
        if len(a.repeats) != len(ins[0]):
            raise ShapeError(f"repeats {list(a.repeats)} for an input of {len(ins[0])} axes per example "
                             f"({fmt_shape(ins[0])}): give one count per axis")
        return tuple(d * r for d, r in zip(ins[0], a.repeats))

    def forward(self, a, w, xs, ops):
        return ops.np.tile(xs[0], (1, *a.repeats))

    def onnx(self, a, ins, out, b):
        return b.op("Tile", [b.inputs[0], b.const([1, *a.repeats])])
