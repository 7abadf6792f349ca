"""Seeded generator of random valid networks over every layer kind and option, and the
differential check: the same network, weights and input through onnxruntime and through
our executor, every layer compared.

Rerun one seed (prints the spec and the first disagreeing layer):

    python tests/differential.py --seed 17
"""
from __future__ import annotations

import random
import sys

import numpy as np

from cnncost.runtime import executor
from cnncost.api import analyze
from cnncost.errors import ShapeError, SpecError
from cnncost.runtime import onnxruntime_engine
from cnncost.spec import parse_spec

ACTIVATIONS = ["relu", "relu6", "tanh", "sigmoid", "hard_sigmoid", "swish", "hard_swish",
               "softmax", "linear", "leaky_relu, slope: 0.2", "elu, alpha: 0.7", "gelu",
               "gelu, approximate: tanh", "mish", "silu", "hard_tanh", "softplus"]


def _pad(r: random.Random, k: int = 3):
    return r.choice(["valid", "same", str(r.randint(0, 2)), f"[{r.randint(0, 1)}, {r.randint(0, 2)}]",
                     f"[{r.randint(0, 2)}, {r.randint(0, 1)}, {r.randint(0, 1)}, {r.randint(0, 2)}]"])


def _window(r: random.Random) -> str:
    kernel = r.choice(["1", "2", "3", "[1, 3]", "[3, 2]", "5"])
    return (f"kernel: {kernel}, stride: {r.choice(['1', '2', '[1, 2]', '3'])}, "
            f"dilation: {r.choice(['1', '1', '2', '[2, 1]'])}, padding: {_pad(r)}")


def _transpose(r: random.Random, c: int) -> str:
    groups = r.choice([g for g in (1, 2, 3) if c % g == 0])
    stride, dilation = r.randint(1, 3), r.choice([1, 1, 2])
    return (f"kind: conv_transpose, filters: {groups * r.randint(1, 3)}, kernel: {r.choice(['1', '2', '3', '[2, 3]'])}, "
            f"stride: {stride}, padding: {r.choice(['0', '1', '[1, 0, 0, 2]'])}, dilation: {dilation}, "
            f"output_padding: {r.randint(0, max(stride, dilation) - 1)}, groups: {groups}, "
            f"bias: {r.choice(['true', 'false'])}")


def _upsample(r: random.Random, cur: str, shapes: dict) -> str:
    mode = r.choice(["nearest", "bilinear"])
    how = r.choice(["scale", "size", "like"])
    text = f"kind: upsample, mode: {mode}"
    if mode == "bilinear" and r.random() < 0.5:
        text += ", align_corners: true"
    if r.random() < 0.3:               # ONNX Resize's arithmetic instead of PyTorch's
        text += ", coordinates: onnx"
    if how == "scale":
        return text + f", scale: {r.choice(['2', '3', '[1, 2]'])}"
    bigger = [n for n, s in shapes.items() if len(s) == 3 and n != cur]
    if how == "like" and bigger:
        return text + f", inputs: [{cur}, {r.choice(bigger)}]"
    return text + f", size: [{r.randint(1, 13)}, {r.randint(1, 13)}]"


def _pool(r: random.Random) -> str:
    k = r.randint(1, 4)
    pad = "same" if r.random() < 0.2 else str(r.randint(0, k // 2))
    text = (f"kind: {r.choice(['max_pool', 'avg_pool'])}, kernel: {k}, stride: {r.randint(1, 3)}, "
            f"padding: {pad}, ceil_mode: {r.choice(['true', 'false'])}")
    if "avg" in text:
        text += f", count_include_pad: {r.choice(['true', 'false'])}"
    return text


def _map_layer(r: random.Random, cur: str, shapes: dict, producer: str = "") -> list[str]:
    """Candidate layers for a feature map `cur` (H x W x C); the caller keeps the first
    that the analysis accepts."""
    h, w, c = shapes[cur]
    same = [n for n, s in shapes.items() if s == shapes[cur] and n != cur]
    same_hw = [n for n, s in shapes.items() if len(s) == 3 and s[:2] == (h, w)]
    vectors = [n for n, s in shapes.items() if s in ((c,), (1,))]
    groups = r.choice([g for g in (1, 2, 3, c) if c % g == 0])
    kinds = {
        "conv": f"kind: conv, filters: {groups * r.randint(1, 3)}, {_window(r)}, groups: {groups}, "
                f"bias: {r.choice(['true', 'false'])}",
        "depthwise": f"kind: depthwise_conv, {_window(r)}, depth_multiplier: {r.randint(1, 2)}, "
                     f"bias: {r.choice(['true', 'false'])}",
        "separable": f"kind: separable_conv, filters: {r.randint(1, 5)}, {_window(r)}",
        "transpose": _transpose(r, c),
        "upsample": _upsample(r, cur, shapes),
        "layer_norm": f"kind: layer_norm, eps: {r.choice(['1e-5', '1e-6'])}",
        "group_norm": f"kind: group_norm, groups: {r.choice([g for g in (1, 2, 3, c) if c % g == 0])}",
        "instance_norm": f"kind: instance_norm, affine: {r.choice(['true', 'false'])}",
        "prelu": f"kind: prelu, shared: {r.choice(['true', 'false'])}",
        "crop": (f"kind: crop, size: [{r.randint(1, h)}, {r.randint(1, w)}]" if r.random() < 0.5 else
                 f"kind: crop, inputs: [{cur}, {r.choice([n for n, s in shapes.items() if len(s) == 3])}]"),
        "slice": f"kind: slice, start: {r.randint(0, c - 1)}, stop: {c}",
        "scale": f"kind: scale, shared: {r.choice(['true', 'false'])}",
        "shift": f"kind: shift, shared: {r.choice(['true', 'false'])}",
        "shuffle_up": f"kind: pixel_shuffle, factor: {r.choice([f for f in (2, 3) if c % (f * f) == 0] or [1])}",
        "shuffle_down": f"kind: pixel_unshuffle, factor: {r.choice([f for f in (2, 3) if h % f == 0 and w % f == 0] or [1])}",
        "pool": _pool(r),
        "global": f"kind: {r.choice(['global_avg_pool', 'global_max_pool'])}, keepdims: {r.choice(['true', 'false'])}",
        "adaptive": f"kind: adaptive_avg_pool, output_size: [{r.randint(1, h + 2)}, {r.randint(1, w + 2)}]",
        "bn": f"kind: batch_norm, scale: {r.choice(['true', 'false'])}, center: {r.choice(['true', 'false'])}",
        "lrn": f"kind: lrn, size: {r.randint(1, 6)}, alpha: {r.choice([1e-4, 0.5])}, beta: 0.75, k: {r.choice([1, 2])}",
        "dropout": "kind: dropout",
        "identity": "kind: identity",
        "quantize": "kind: quantize",
        "act": f"kind: activation, fn: {r.choice(ACTIVATIONS)}",
        "alias": f"kind: {r.choice(ACTIVATIONS)}",
        "zero_pad": f"kind: zero_pad, padding: {r.choice(['1', '[0, 2]', '[1, 0, 2, 1]', '0'])}",
        "pad": f"kind: pad, padding: [{r.randint(0, 2)}, {r.randint(0, 1)}, {r.randint(0, 1)}, {r.randint(0, 2)}, "
               f"{r.randint(0, 1)}, {r.randint(0, 1)}], value: {r.choice(['0.5', '-1.0', '0'])}",
        "shuffle": f"kind: channel_shuffle, groups: {r.choice([g for g in (1, 2, 3) if c % g == 0])}",
        "dense_map": f"kind: dense, units: {r.randint(1, 4)}",
    }
    if same:
        kinds["add"] = f"kind: add, inputs: [{cur}, {', '.join(r.sample(same, min(len(same), r.randint(1, 2))))}]"
    if len(same_hw) > 1:
        kinds["concat"] = f"kind: concat, inputs: [{cur}, {r.choice(same_hw)}]"
    if vectors:
        kinds["se_scale"] = f"kind: multiply, inputs: [{cur}, {r.choice(vectors)}]"
        kinds["centre"] = f"kind: subtract, inputs: [{r.choice([cur, r.choice(vectors)])}, {r.choice([cur] + vectors)}]"
    if shapes.get("input") == shapes[cur]:
        # the network input as divisor: exact in both engines, so no rounding is magnified
        kinds["ratio"] = f"kind: divide, inputs: [{cur}, input]"
    kinds["se"] = f"use: se_block, ratio: {r.choice([1, 2])}"
    # Statistics normalisations divide by the map's spread, so float32 rounding grows by
    # 1/std; drawn after learned layers, as networks place them, not after a padded or
    # constant map whose spread is near zero.
    if not any(k in producer for k in ("kind: conv", "kind: depthwise_conv", "kind: dense", "separable")):
        for k in ("layer_norm", "group_norm", "instance_norm"):
            kinds.pop(k)
    # layers that end the map (global, dense_map) are drawn less often than the rest
    weight = {"global": 0.3, "dense_map": 0.3, "pool": 3, "conv": 3, "depthwise": 2, "add": 2, "transpose": 2,
              "concat": 2, "alias": 2, "se_scale": 2}
    order = sorted(kinds, key=lambda k: r.random() ** (1 / weight.get(k, 1)), reverse=True)
    return [kinds[k] for k in order]


SAFE_UNARY = ["exp", "sin", "cos", "abs", "neg", "erf", "floor", "ceil", "sign", "pow, exponent: 2"]
POSITIVE_UNARY = ["log", "sqrt", "reciprocal", "pow, exponent: 0.5"]   # on positive values only


def _tensor_layer(r: random.Random, cur: str, shapes: dict, producer: str = "") -> list[str]:
    """Candidate tensor-kind layers for `cur` of any rank (tokens, attention scores, maps
    seen as tensors); axes count the batch as 0."""
    shape = shapes[cur]
    rank = len(shape)
    axis = r.randint(1, rank)
    same = [n for n, s in shapes.items() if s == shape and n != cur]
    perm = [0] + r.sample(range(1, rank + 1), rank)
    kinds = {
        "reshape": f"kind: reshape, shape: {r.choice([[0, -1], [-1], [-1, shape[-1]], [shape[0], -1, 1]])}",
        "transpose": f"kind: transpose, perm: {perm}",
        "softmax": f"kind: {r.choice(['softmax', 'log_softmax'])}, axis: {r.choice([axis, -1])}",
        "reduce": f"kind: reduce, op: {r.choice(['mean', 'sum', 'max', 'min', 'l2'])}, "
                  f"axes: {sorted(r.sample(range(1, rank + 1), r.randint(1, rank)))}, keepdims: {r.choice(['true', 'false'])}",
        "cumsum": f"kind: cumsum, axis: {axis}, exclusive: {r.choice(['true', 'false'])}, reverse: {r.choice(['true', 'false'])}",
        "gather": (f"kind: gather, axis: {axis}, indices: {[r.randrange(-shape[axis - 1], shape[axis - 1]) for _ in range(r.randint(1, 3))]}"
                   if r.random() < 0.7 or rank == 1 else f"kind: gather, axis: {axis}, indices: [{r.randrange(shape[axis - 1])}], keepdims: false"),
        "slice": f"kind: slice, axis: {axis}, start: 0, stop: {shape[axis - 1]}, step: {r.randint(1, 3)}",
        "unary": f"kind: {r.choice(SAFE_UNARY)}" if r.random() < 0.5 else f"kind: unary, fn: {r.choice(SAFE_UNARY)}",
        "scalar": f"kind: binary, op: {r.choice(['add', 'sub', 'mul', 'max', 'min'])}, scalar: {r.choice([0.5, -2.0, 3.0])}, "
                  f"scalar_first: {r.choice(['true', 'false'])}",
        "constant": f"kind: constant, shape: {list(shape[-r.randint(1, rank):])}, learned: {r.choice(['true', 'false'])}",
        "relbias": f"kind: relative_position_bias, window: {r.randint(1, 3)}, heads: {r.randint(1, 3)}",
        "layer_norm": f"kind: layer_norm, axes: {r.randint(1, rank)}",
        "dense": f"kind: dense, units: {r.randint(1, 5)}, bias: {r.choice(['true', 'false'])}, per_position: true",
        "act": f"kind: activation, fn: {r.choice(ACTIVATIONS)}",
        "tile": f"kind: tile, repeats: {[r.randint(1, 2) for _ in range(rank)]}",
    }
    if any(k in producer for k in ("fn: exp", "kind: exp", "sigmoid", "kind: softmax", "fn: softmax")):
        kinds["positive"] = f"kind: {r.choice(POSITIVE_UNARY)}"
    if rank >= 2:
        kinds["matmul_t"] = f"kind: matmul, transpose_b: true, inputs: [{cur}, {r.choice([cur] + same)}]"
        kinds["einsum"] = "kind: einsum, equation: '" + "".join("abcdefgh"[:rank]) + "," + \
            "".join("abcdefgh"[:rank - 2]) + "z" + "abcdefgh"[rank - 1] + "->" + "abcdefgh"[:rank - 1] + \
            f"z', inputs: [{cur}, {r.choice([cur] + same)}]"
        square = [n for n, s in shapes.items() if len(s) >= 2 and s[-2] == shape[-1] and n != cur]
        if square:
            kinds["matmul"] = f"kind: matmul, inputs: [{cur}, {r.choice(square)}]"
    if rank == 3:
        kinds["to_map"] = "kind: conv, filters: 2, kernel: 1"      # a tensor read as a map again
    others = [n for n, s in shapes.items() if n != cur and s]
    bcast = [n for n in others if _broadcasts(shapes[n], shape)]
    if bcast:
        kinds["binary"] = (f"kind: binary, op: {r.choice(['add', 'sub', 'mul', 'max', 'min'])}, "
                           f"inputs: [{cur}, {r.choice(bcast)}]")
    if same:
        kinds["concat"] = f"kind: concat, axis: {axis}, inputs: [{cur}, {r.choice(same)}]"
    weight = {"matmul_t": 3, "einsum": 2, "matmul": 3, "softmax": 2, "reshape": 2, "binary": 2}
    order = sorted(kinds, key=lambda k: r.random() ** (1 / weight.get(k, 1)), reverse=True)
    return [kinds[k] for k in order]


def _broadcasts(small, big) -> bool:
    return len(small) <= len(big) and all(a in (1, b) for a, b in zip(reversed(small), reversed(big)))


def _vector_layer(r: random.Random, cur: str, shapes: dict) -> list[str]:
    same = [n for n, s in shapes.items() if s == shapes[cur] and n != cur]
    out = [f"kind: dense, units: {r.randint(1, 6)}, bias: {r.choice(['true', 'false'])}",
           f"kind: activation, fn: {r.choice(ACTIVATIONS)}", "kind: dropout",
           "kind: batch_norm", "kind: flatten", "kind: layer_norm", "kind: prelu", "kind: scale", "kind: shift, shared: true",
           f"kind: slice, start: {r.randint(0, shapes[cur][0] - 1)}, stop: {shapes[cur][0]}"]
    if same:
        out.append(f"kind: {r.choice(['add', 'multiply', 'concat', 'subtract'])}, inputs: [{cur}, {r.choice(same)}]")
    return r.sample(out, len(out))


def network(seed: int) -> str:
    """A random valid spec. Layers read the previous layer or, often, an earlier one, so
    values fan out, also through pass-through layers and from the network input."""
    if random.Random(seed + 2_000_029).random() < SEQUENCES:
        return _sequence_network(seed)
    if random.Random(seed + 4_000_037).random() < ND_MAPS:
        return _nd_network(seed)
    r = random.Random(seed)
    tensors = r.random() < 0.35        # the tensor kinds: tokens, attention, any rank
    if r.random() < 0.08:
        shape = (r.randint(1, 12),)
    elif tensors and r.random() < 0.3:
        shape = tuple(r.randint(1, 6) for _ in range(r.choice([2, 2, 4])))
    else:
        shape = (r.randint(1, 11), r.randint(1, 11), r.choice([1, 2, 3, 4, 6]))
    layers: list[str] = []
    shapes = {"input": shape}
    made_by = {"input": ""}
    for i in range(r.randint(2, 12)):
        cur = r.choice(list(shapes)) if r.random() < 0.3 else list(shapes)[-1]
        if tensors and (len(shapes[cur]) not in (1, 3) or r.random() < 0.5):
            candidates = _tensor_layer(r, cur, shapes, made_by.get(cur, ""))
        elif len(shapes[cur]) == 3:
            candidates = _map_layer(r, cur, shapes, made_by.get(cur, ""))
        else:
            candidates = _vector_layer(r, cur, shapes)
        shapes = _add_first_valid(seed, shape, layers, shapes, made_by, f"l{i}", cur, candidates)
    if r.random() < 0.5 and len(shapes[list(shapes)[-1]]) == 3:
        layers += ["{name: head_flat, kind: flatten}", f"{{name: head, kind: dense, units: {r.randint(1, 5)}}}",
                   "{name: head_softmax, kind: softmax}"]
    return _yaml(shape, layers)


def _add_first_valid(seed, shape, layers, shapes, made_by, name, cur, candidates) -> dict:
    """Append to `layers` the first of (up to six) candidate bodies the analysis accepts, as
    layer `name` reading `cur`; the shapes of every layer after it."""
    for body in candidates[:6]:
        bare = "inputs:" in body or "kind: constant" in body or "relative_position_bias" in body
        layer = f"{{name: {name}, {body}" + ("" if bare else f", inputs: [{cur}]") + "}"
        try:
            rep = analyze(parse_spec(_yaml(shape, layers + [layer]), f"seed{seed}.yaml"))
        except (ShapeError, SpecError):
            continue
        layers.append(layer)
        made_by[name] = body
        return {"input": shape, **{row.name: tuple(row.output_shape) for row in rep.layers}}
    return shapes


SEQUENCES = 0.12         # of the seeds: a sequence network (a separate stream: the others draw as before)


def _recurrent(r: random.Random) -> str:
    kind = r.choice(["lstm", "gru", "rnn"])
    text = (f"kind: {kind}, units: {r.randint(1, 6)}, direction: {r.choice(['forward', 'reverse', 'bidirectional'])}, "
            f"bias: {r.choice(['true', 'true', 'false'])}, bias_layout: {r.choice(['pytorch', 'keras'])}")
    if kind == "gru":
        text += f", reset_after: {r.choice(['true', 'false'])}"
    if kind == "rnn":
        text += f", activation: {r.choice(['tanh', 'relu'])}"
    return text


def _sequence_network(seed: int) -> str:
    """Token ids through an embedding, or a T x C sequence, through a stack of recurrent
    layers (sometimes a second one from the same source, joined along the features), the
    last returning every step or its final state; then a few tensor or vector layers."""
    r = random.Random(seed + 3_000_017)
    steps = r.randint(1, 7)
    if r.random() < 0.35:
        shape, source = (steps,), "emb"
        layers = [f"{{name: emb, kind: embedding, vocab: {r.randint(1, 30)}, dim: {r.randint(1, 6)}}}"]
    else:
        shape, source, layers = (steps, r.randint(1, 6)), "input", []
    cur, depth = source, r.randint(1, 3)
    for i in range(depth):
        last = i == depth - 1 and r.random() < 0.35
        layers.append(f"{{name: r{i}, {_recurrent(r)}, return_sequences: {str(not last).lower()}, inputs: [{cur}]}}")
        cur = f"r{i}"
    if not last and r.random() < 0.4:
        layers += [f"{{name: side, {_recurrent(r)}, inputs: [{source}]}}",
                   f"{{name: joined, kind: concat, axis: 2, inputs: [{cur}, side]}}"]
    rep = analyze(parse_spec(_yaml(shape, layers), f"seed{seed}.yaml"))
    shapes = {"input": shape, **{row.name: tuple(row.output_shape) for row in rep.layers}}
    made_by: dict = {}
    for i in range(r.randint(0, 3)):
        cur = list(shapes)[-1]
        candidates = _vector_layer(r, cur, shapes) if len(shapes[cur]) == 1 else _tensor_layer(r, cur, shapes)
        shapes = _add_first_valid(seed, shape, layers, shapes, made_by, f"l{i}", cur, candidates)
    return _yaml(shape, layers)


ND_MAPS = 0.15           # of the other seeds: a network of 1-D (T x C) or 3-D (D x H x W x C) maps


def _axes_value(r: random.Random, d: int, lo: int, hi: int) -> str:
    """One number, or one per axis."""
    return str(r.randint(lo, hi)) if r.random() < 0.5 else str([r.randint(lo, hi) for _ in range(d)])


def _nd_padding(r: random.Random, d: int) -> str:
    return r.choice(["valid", "same", str(r.randint(0, 2)), str([r.randint(0, 2) for _ in range(d)]),
                     str([r.randint(0, 2) for _ in range(2 * d)])])


def _nd_map_layer(r: random.Random, cur: str, shapes: dict) -> list[str]:
    """Candidate layers for a map of d = 1 or 3 spatial axes (channels last)."""
    shape = shapes[cur]
    d, c = len(shape) - 1, shape[-1]
    groups = r.choice([g for g in (1, 2, c) if c % g == 0])
    window = (f"kernel: {_axes_value(r, d, 1, 3)}, stride: {_axes_value(r, d, 1, 2)}, "
              f"dilation: {_axes_value(r, d, 1, 2)}, padding: {_nd_padding(r, d)}")
    same = [n for n, s in shapes.items() if s == shape and n != cur]
    pool = f"kernel: {_axes_value(r, d, 1, 3)}, stride: {_axes_value(r, d, 1, 2)}, ceil_mode: {r.choice(['true', 'false'])}"
    stride, dilation = r.randint(1, 2), r.choice([1, 1, 2])
    sizes = [n + r.randint(-1, 3) for n in shape[:-1]]
    candidates = [
        f"kind: conv, filters: {groups * r.randint(1, 3)}, groups: {groups}, {window}, bias: {r.choice(['true', 'false'])}",
        f"kind: depthwise_conv, depth_multiplier: {r.randint(1, 2)}, {window}",
        f"kind: separable_conv, filters: {r.randint(1, 5)}, {window}",
        f"kind: conv_transpose, filters: {groups * r.randint(1, 2)}, groups: {groups}, kernel: {_axes_value(r, d, 1, 3)}, "
        f"stride: {stride}, dilation: {dilation}, padding: {r.randint(0, 1)}, "
        f"output_padding: {r.randint(0, max(stride, dilation) - 1)}",
        f"kind: {r.choice(['max_pool', 'avg_pool'])}, {pool}",
        f"kind: adaptive_avg_pool, output_size: {_axes_value(r, d, 1, 3)}",
        f"kind: {r.choice(['global_avg_pool', 'global_max_pool'])}, keepdims: true",
        f"kind: batch_norm",
        f"kind: instance_norm, affine: {r.choice(['true', 'false'])}",
        f"kind: group_norm, groups: {groups}",
        f"kind: zero_pad, padding: {r.choice([str(r.randint(0, 2)), str([r.randint(0, 2) for _ in range(2 * d)])])}",
        f"kind: pad, mode: {r.choice(['reflect', 'edge', 'constant'])}, "     # a reflection needs pad < size
        f"padding: {[r.randint(0, min(2, n - 1)) for n in shape[:-1] for _ in range(2)] + [0, 0]}",
        f"kind: crop, size: {[max(1, n - r.randint(0, 2)) for n in shape[:-1]]}",
        f"kind: upsample, mode: {r.choice(['nearest', 'linear'])}, "
        + (f"scale: {_axes_value(r, d, 1, 2)}" if r.random() < 0.5 else f"size: {[max(1, n) for n in sizes]}"),
        f"kind: {r.choice(['relu', 'sigmoid', 'tanh', 'gelu'])}",
    ]
    if same:
        candidates.append(f"kind: {r.choice(['add', 'multiply', 'concat'])}, inputs: [{cur}, {r.choice(same)}]")
    r.shuffle(candidates)
    return candidates


def _nd_network(seed: int) -> str:
    """A T x C sequence or a D x H x W x C volume through convolutions, transposed
    convolutions, pools, norms, padding, cropping and resizing of its rank."""
    r = random.Random(seed + 5_000_011)
    d = r.choice([1, 3])
    shape = (*(r.randint(2, 9) for _ in range(d)), r.choice([1, 2, 3, 4]))
    layers: list[str] = [f"{{name: l0, kind: conv, rank: {d}, filters: {r.randint(1, 4)}, kernel: 1}}"]
    shapes = {"input": shape, "l0": shape[:-1] + (analyze(parse_spec(_yaml(shape, layers), "l0.yaml")).layers[0].output_shape[-1],)}
    made_by: dict = {}
    for i in range(1, r.randint(3, 9)):
        cur = r.choice(list(shapes)) if r.random() < 0.25 else list(shapes)[-1]
        if len(shapes[cur]) != d + 1:
            continue
        shapes = _add_first_valid(seed, shape, layers, shapes, made_by, f"l{i}", cur, _nd_map_layer(r, cur, shapes))
    return _yaml(shape, layers)


def _yaml(shape, layers) -> str:
    return f"name: random\ninput: {list(shape)}\nlayers:\n" + "".join(f"  - {l}\n" for l in layers)


def check(seed: int):
    """Run the seed's network both ways; return (spec text, EngineComparison, RunResult)."""
    text = network(seed)
    r = random.Random(seed + 1_000_003)
    batch = r.choice([1, 2])
    graph = analyze(parse_spec(text, f"seed{seed}.yaml"), batch=batch).graph
    weights = executor.init_weights(graph, seed)
    x = executor.random_inputs(graph, batch, np.random.default_rng(seed))   # token ids for an embedding
    runs = []

    def ours(on_value):
        runs.append(executor.run(graph, x, weights, on_value=on_value))
        return runs[-1]

    comparison = onnxruntime_engine.compare(graph, weights, x, run_ours=ours, timing=False)
    return text, comparison, runs[0]


def explain_failure(seed: int, text: str, comparison, run) -> str:
    lines = [f"seed {seed} (rerun: python tests/differential.py --seed {seed})", text]
    lines += comparison.failures()
    lines += [f"layer '{row.name}': executed shape {row.executed_shape} vs analysed {row.output_shape}, "
              f"mults {row.executed_mults} vs {row.mults}" for row in run.layers if not row.ok]
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args()
    spec, comp, result = check(args.seed)
    ok = comp.ok and result.ok
    print(explain_failure(args.seed, spec, comp, result) if not ok else
          f"seed {args.seed}: {len(comp.layers)} layers agree (largest relative error "
          f"{comp.max_rel_error:.2e})\n{spec}")
    sys.exit(0 if ok else 1)
