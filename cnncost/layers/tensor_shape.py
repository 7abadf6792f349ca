"""Tensor kinds that move data without arithmetic: reshape (ONNX's 0 and -1), transpose,
gather (constant positions, or a second input's), and constant tensors (anchor grids, position tables).

Axes and permutations count the batch as axis 0, as NumPy, PyTorch and ONNX do on a
batch; every kind works per example, so the batch axis itself stays where it is. A map's
axes are ours, H x W x C: reshaping a map reads it in H, W, C order.
"""
from __future__ import annotations

import math

from cnncost.errors import ShapeError, SpecError
from cnncost.layers.base import (Arg, Kind, NoMults, OutputSized, SavesNothing, Tensorial, example_axes,
                                 fmt_shape, numel, register)


@register
class Reshape(SavesNothing, Tensorial, NoMults, Kind):
    name, family = "reshape", "reshape"
    doc = "a new shape of the same elements per example: 0 copies the input's size there, -1 is inferred"
    args = {"shape": Arg("ints", minimum=-1, doc="per-example sizes (the batch is kept)")}

    def validate(self, a):
        if list(a.shape).count(-1) > 1:
            raise SpecError(f"Invalid value for argument `shape`. Expected at most one -1. Received shape={list(a.shape)}.")

    def output_shape(self, a, ins):
        src = ins[0]
        dims = []
        for i, d in enumerate(a.shape):
            if d == 0:
                if i >= len(src):
                    raise ShapeError(f"shape {list(a.shape)}: a 0 at position {i} copies no size of {fmt_shape(src)}")
                d = src[i]
            dims.append(d)
        known = math.prod(d for d in dims if d != -1)
        total = numel(src)
        if -1 in dims:
            if known == 0 or total % known:
                raise ShapeError(f"cannot reshape {fmt_shape(src)} ({total:,} elements) to {list(a.shape)}")
            dims[dims.index(-1)] = total // known
        if math.prod(dims) != total:
            raise ShapeError(f"cannot reshape {fmt_shape(src)} ({total:,} elements) to "
                             f"{fmt_shape(dims)} ({math.prod(dims):,} elements)")
        return tuple(dims)

    def workspace(self, a, ins, out):
        return numel(out)     # a copy when the input is not contiguous

    def forward(self, a, w, xs, ops):
        return xs[0].reshape((xs[0].shape[0],) + tuple(self.output_shape(a, [xs[0].shape[1:]])))

    def onnx(self, a, ins, out, b):
        return b.op("Reshape", [b.inputs[0], b.const([0, *out])])


@register
class Transpose(SavesNothing, Tensorial, NoMults, OutputSized, Kind):
    name, family = "transpose", "reshape"
    doc = "a permutation of the axes, batch first as in PyTorch and ONNX ([0, 2, 1] swaps the last two of three)"
    args = {"perm": Arg("ints", minimum=0, doc="every axis once, the batch (0) first")}

    def output_shape(self, a, ins):
        rank = len(ins[0])
        if sorted(a.perm) != list(range(rank + 1)) or a.perm[0] != 0:
            raise ShapeError(f"perm {list(a.perm)} must order the {rank + 1} axes of a batch of "
                             f"{fmt_shape(ins[0])}, each once, the batch (0) first")
        return tuple(ins[0][p - 1] for p in a.perm[1:])

    def forward(self, a, w, xs, ops):
        return ops.np.ascontiguousarray(xs[0].transpose(a.perm))

    def onnx(self, a, ins, out, b):
        return b.op("Transpose", [b.inputs[0]], perm=list(a.perm))


@register
class Gather(SavesNothing, Tensorial, NoMults, OutputSized, Kind):
    name, family = "gather", "reshape"
    doc = ("take positions `indices` (constants) along `axis`, or the positions a second input holds "
           "(a learned table read out at an index buffer: LeViT's attention biases); one index with "
           "keepdims false drops the axis (x[:, 0])")
    arity = (1, 2)
    args = {"axis": Arg("int", minimum=None),
            "indices": Arg("ints", None, minimum=None, doc="the positions; omitted when a second input holds them"),
            "keepdims": Arg("bool", True, doc="false: a single index, and the axis is dropped")}

    def validate(self, a):
        if not a.keepdims and (a.indices is None or len(a.indices) != 1):
            raise SpecError("Invalid value for argument `keepdims`. Expected true unless `indices` is one index "
                            "(only one index drops its axis).")

    def _where(self, a, ins):
        (axis,) = example_axes([a.axis], len(ins[0]))
        if (a.indices is None) == (len(ins) == 1):
            raise ShapeError("give `indices` or a second input that holds them, not both" if a.indices is not None
                             else "no positions: give `indices`, or a second input that holds them")
        if a.indices is None:
            return axis, None
        size = ins[0][axis]
        for i in a.indices:
            if not -size <= i < size:
                raise ShapeError(f"index {i} is outside axis {a.axis} of size {size}")
        return axis, [i % size for i in a.indices]

    def output_shape(self, a, ins):
        axis, idx = self._where(a, ins)
        shape = list(ins[0])
        if idx is None:                  # the index input's shape takes the axis' place (ONNX's Gather)
            return tuple(shape[:axis] + list(ins[1]) + shape[axis + 1:])
        if a.keepdims:
            shape[axis] = len(idx)
        else:
            del shape[axis]
        if not shape:
            raise ShapeError("the result would be a scalar per example; keep the axis (keepdims true)")
        return tuple(shape)

    def forward(self, a, w, xs, ops):
        np = ops.np
        axis, idx = self._where(a, [x.shape[1:] for x in xs])
        if idx is not None:
            taken = np.take(xs[0], idx if a.keepdims else idx[0], axis=axis + 1)
            return np.ascontiguousarray(taken)
        # each example's own positions: the gathered axis next to the batch, one fancy index
        x, pos = np.moveaxis(xs[0], axis + 1, 1), np.rint(xs[1]).astype(np.int64)
        size = x.shape[1]
        if pos.size and not (-size <= pos.min() and pos.max() < size):
            raise ShapeError(f"a position of the second input is outside axis {a.axis} of size {size}")
        batch = np.arange(x.shape[0]).reshape((-1,) + (1,) * (pos.ndim - 1))
        taken = x[batch, pos]            # (batch, *positions, the axes before, the axes after)
        k = pos.ndim - 1
        return np.ascontiguousarray(np.moveaxis(taken, list(range(1, 1 + k)), list(range(axis + 1, axis + 1 + k))))

    def onnx(self, a, ins, out, b):
        axis, idx = self._where(a, ins)
        if idx is not None:
            return b.op("Gather", [b.inputs[0], b.const(idx if a.keepdims else idx[0])], axis=axis + 1)
        # GatherND with one batch axis reads each example's positions; the axis moved next to it
        rank = len(ins[0]) + 1
        perm = [0, axis + 1] + [d for d in range(1, rank) if d != axis + 1]
        # positions rounded half to even as the forward's rint, then int64 (7)
        pos = b.op("Unsqueeze", [b.op("Cast", [b.op("Round", [b.inputs[1]])], to=7), b.const([-1])])
        taken = b.op("GatherND", [b.op("Transpose", [b.inputs[0]], perm=perm), pos], batch_dims=1)
        k = len(ins[1])
        # taken: (batch, *positions, the axes before, the axes after) -> ours
        order = [0] + [1 + k + d for d in range(axis)] + [1 + d for d in range(k)] + \
            [1 + k + d for d in range(axis, len(ins[0]) - 1)]
        return b.op("Transpose", [taken], perm=order)


@register
class Constant(SavesNothing, Tensorial, NoMults, OutputSized, Kind):
    name, family = "constant", "constant"
    doc = ("a tensor that reads no input (anchor grid, position table, class token): a non-trainable "
           "buffer, or a learned one with `learned: true` (ViT's position embedding)")
    arity = (0,)
    args = {"shape": Arg("ints", doc="per-example sizes"),
            "learned": Arg("bool", False, doc="a trained parameter (counted in params), not a buffer")}

    def window(self, a, ins):
        return None         # depends on no pixel

    def output_shape(self, a, ins):
        return tuple(a.shape)

    def weight_shapes(self, a, ins):
        return {"value": tuple(a.shape)} if a.learned else {}

    def stat_shapes(self, a, ins):
        return {} if a.learned else {"value": tuple(a.shape)}

    def init_weight(self, a, ins, name, shape, rng, dtype):
        return (rng.standard_normal(shape, dtype=dtype) * dtype(0.5)).astype(dtype)

    def forward(self, a, w, xs, ops):
        v = w["value"]
        return ops.np.broadcast_to(v, (ops.batch,) + v.shape).copy()

    def onnx(self, a, ins, out, b):
        # a learned tensor is an initializer (a weight of the file); a buffer a Constant node
        value = b.w["value"].reshape((1,) + tuple(a.shape))
        v = b.weight("value", value) if a.learned else b.tensor(value)
        return b.op("Expand", [v, b.const([b.batch, *a.shape])])
