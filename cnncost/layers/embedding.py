"""Embedding: a lookup table of token vectors, for the text models that feed recurrent
layers and transformers. Its input holds integer token ids (per example (T,), or any
shape: each id becomes a row); the output appends the vector axis.

The executor and the exported ONNX model carry the ids as float32 values (the network's
input is one float tensor; the export casts to int64 before its Gather), exact for every
id below 2^24; `verify` draws random ids in [0, vocab) for an input that feeds an
embedding. Params vocab x dim; a lookup multiplies and adds nothing: 0 mults, 0 FLOPs.
"""
from __future__ import annotations

from cnncost.errors import CnnCostError
from cnncost.layers.base import Arg, Kind, NoMults, Saved, Tensorial, numel, register

EXACT_IDS = 2**24          # float32 holds every integer below it


@register
class Embedding(NoMults, Tensorial, Kind):
    name, family = "embedding", "embedding"
    doc = "a table lookup: integer token ids (T,) -> vectors (T, dim) (Keras Embedding, PyTorch nn.Embedding)"
    args = {"vocab": Arg("int", doc="number of token ids (rows of the table)"),
            "dim": Arg("int", doc="length of each vector")}
    flops_rule = "0 (a gather)"
    saves_rule = "its token ids (int64), when its table trains (the table's gradient is a scatter-add)"

    def output_shape(self, a, ins):
        return tuple(ins[0]) + (a.dim,)

    def weight_shapes(self, a, ins):
        return {"embeddings": (a.vocab, a.dim)}

    def id_range(self, a, ins):
        return a.vocab

    def saved(self, a, ins, out, grads, trains):
        return Saved(int64=numel(ins[0]) if trains else 0)

    def workspace(self, a, ins, out):
        return 2 * numel(ins[0])       # the ids as int64

    def forward(self, a, w, xs, ops):
        np, x = ops.np, xs[0]
        if a.vocab > EXACT_IDS:
            raise CnnCostError(f"embedding of {a.vocab:,} ids: the executor carries ids as float32, exact only "
                               f"below {EXACT_IDS:,}")
        ids = x.astype(np.int64)
        if x.size and (not np.array_equal(ids, x) or ids.min() < 0 or ids.max() >= a.vocab):
            bad = x[(ids != x) | (ids < 0) | (ids >= a.vocab)].flat[0]
            raise CnnCostError(f"token ids must be integers in [0, {a.vocab}); "
                               f"the input holds {float(bad):g}")
        return w["embeddings"][ids]

    def onnx(self, a, ins, out, b):
        from onnx import TensorProto

        ids = b.op("Cast", [b.inputs[0]], to=TensorProto.INT64)
        return b.op("Gather", [b.weight("embeddings", b.w["embeddings"]), ids], axis=0)
