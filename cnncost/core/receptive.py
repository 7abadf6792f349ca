"""Receptive fields: for every layer, the size of the input region one output unit sees,
its effective stride (jump) in input pixels, and the input coordinate of the top-left
corner of the first unit's field (negative where padding reaches outside the image); one
value per spatial axis of the input map: samples of a T x C sequence, (h, w) of an image,
(d, h, w) of a volume.

Per axis: size_out = size_in + (k - 1) * d * jump_in; jump_out = jump_in * s;
start_out = start_in - pad_before * jump_in. Over branches the largest field is taken.
A layer whose every output reads a whole map (a global pool, a norm over the map, a
flatten) has the union of its input's fields as its own (a finite field, legitimately
larger than the image when padding is reached). Every layer that reads such a layer,
directly or through a multiply or add (squeeze-and-excitation), sees the whole input: its
field is `whole` and stops compounding (compounding a global pool's jump through later
windows gave meaningless 10^22-pixel fields). Past a tensor kind (a reshape into tokens, a
matmul, a softmax over an axis that is not a map's) a field means nothing: `n/a`, never a
guess, for that layer and every layer that reads it.
All exact: integers, which become Fractions as soon as a layer's stride is one (an
upsampling layer has a stride below one), so every layer after it stays exact.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from cnncost.core.graph import Graph
from cnncost.records import FrozenStruct

if TYPE_CHECKING:      # Fractions arrive with the layers that make them: no import at start-up
    from fractions import Fraction


class Field(FrozenStruct):
    """whole: sees the whole input (size, jump and start no longer apply); spans_map: each
    output read the whole input map (its readers are `whole`); na: no receptive field, the
    value is no longer a map's. size, jump, start: (int | Fraction) per spatial axis
    ((t,); (y, x); (z, y, x))."""

    __slots__ = ("size", "jump", "start", "whole", "spans_map", "na")

    def __init__(self, size: tuple, jump: tuple, start: tuple, whole: bool = False, spans_map: bool = False,
                 na: bool = False):
        put = object.__setattr__          # one per layer of every report: no keyword dict
        put(self, "size", size)
        put(self, "jump", jump)
        put(self, "start", start)
        put(self, "whole", whole)
        put(self, "spans_map", spans_map)
        put(self, "na", na)


WHOLE = Field((0, 0), (0, 0), (0, 0), whole=True)
NA = Field((0, 0), (0, 0), (0, 0), na=True)


def exact(value: int | Fraction) -> int | str:
    """An int when whole, else 'p/q' (JSON has no exact fractions)."""
    if type(value) is int:           # most fields: no Fraction at all (a hot path of every report)
        return value
    return int(value) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def input_field(shape: tuple) -> Field:
    """A map's field starts at one sample, pixel or voxel, per spatial axis (T x C: one
    axis, H x W x C: two, D x H x W x C: three); a vector's as a 2-D one, as it always has;
    other tensors have none."""
    axes = {1: 2, 2: 1, 3: 2, 4: 3}.get(len(shape))
    return NA if axes is None else Field((1,) * axes, (1,) * axes, (0,) * axes)


def receptive_fields(graph: Graph) -> list[Field]:
    fields = [input_field(graph.nodes[i].out_shape) for i in graph.inputs]
    for node in graph.layers:
        ins = [fields[i] for i in node.inputs]
        na = whole = False
        for f in ins:
            na, whole = na or f.na, whole or f.whole or f.spans_map
        if na or whole:
            fields.append(NA if na else WHOLE)
            continue
        win = node.kind.window(node.args, node.in_shapes)
        if win == "n/a":
            fields.append(NA)
            continue
        if not ins:                   # a constant: no pixel reaches it
            fields.append(Field((1, 1), (1, 1), (0, 0)))
            continue
        base = max(ins, key=lambda f: (_volume(f.size), f.size))
        if win is None:
            fields.append(base)
        elif win == "global":
            sizes = node.in_shapes[0][:-1]          # the spatial axes of the map it reads
            size = tuple(s + (n - 1) * j for s, n, j in zip(base.size, sizes, base.jump))
            fields.append(Field(size, tuple(j * n for j, n in zip(base.jump, sizes)), base.start,
                                spans_map=True))
        else:
            kernel, stride, dilation, lo = win
            fields.append(Field(
                tuple(s + (k - 1) * d * j for s, k, d, j in zip(base.size, kernel, dilation, base.jump)),
                tuple(j * st for j, st in zip(base.jump, stride)),
                tuple(s - p * j for s, p, j in zip(base.start, lo, base.jump))))
    return fields


def _volume(size: tuple):
    out = 1
    for n in size:
        out *= n
    return out
