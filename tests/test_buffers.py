"""The executor never lets an in-place write reach a value another layer still reads.

Pass-through kinds return their input or a view of it; in-place consumers (relu, relu6,
batch_norm, add) overwrite an input they read last. Every pairing, with the shared value
read again later, must give what a copy-everything reference gives."""
import numpy as np
import pytest

from cnncost.runtime import executor
from cnncost.layers import KINDS

from conftest import analyze_text

# Layers that hand back their input's buffer (or may): each on a 4x4x4 map.
PASS_THROUGH = ["kind: dropout", "kind: identity", "kind: quantize", "kind: activation, fn: linear", "kind: linear", "kind: flatten",
                "kind: channel_shuffle, groups: 1", "kind: zero_pad, padding: 0",
                "kind: concat, inputs: [SRC, SRC]", "kind: add, inputs: [SRC, SRC]",
                "kind: multiply, inputs: [SRC, SRC]", "kind: max_pool, kernel: 1",
                "kind: avg_pool, kernel: 1", "kind: adaptive_avg_pool, output_size: 4",
                "kind: reshape, shape: [0, 0, -1]", "kind: transpose, perm: [0, 1, 2, 3]"]
IN_PLACE = ["kind: relu, inputs: [p]", "kind: relu6, inputs: [p]", "kind: batch_norm, inputs: [p]",
            "kind: add, inputs: [p, twin]"]


def reference(graph, x, weights):
    """Every forward on private copies of its inputs: nothing can alias."""
    values = {0: x.copy()}
    for node in graph.layers:
        xs = [values[i].copy() for i in node.inputs]
        w = {k.split("/", 1)[1]: v for k, v in weights.items() if k.startswith(node.name + "/")}
        values[node.index] = node.kind.forward(node.args, w, xs, executor.Ops(False))
    return values[graph.output.index]


def check(text):
    g = analyze_text(text).graph
    weights = executor.init_weights(g, seed=3)
    x = np.random.default_rng(1).standard_normal((2, 4, 4, 4)).astype(np.float32)
    x_before = x.copy()
    got = executor.run(g, x, weights).output
    np.testing.assert_array_equal(x, x_before)          # the caller's array is untouched
    np.testing.assert_allclose(got, reference(g, x, weights), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("consumer", IN_PLACE)
@pytest.mark.parametrize("passthrough", PASS_THROUGH)
@pytest.mark.parametrize("source", ["input", "c0"])
def test_pass_through_then_in_place_consumer(source, passthrough, consumer):
    """source feeds p (pass-through), whose last reader q may write in place, and later the
    final concat: q must not overwrite source. `input` is the network input (fan-out of
    the caller's array)."""
    layer = passthrough.replace("SRC", source)
    flat = "flatten" in passthrough
    text = f"""
        input: [4, 4, 4]
        layers:
          - {{name: c0, kind: conv, filters: 4, kernel: 1}}
          - {{name: p, {layer}{'' if 'inputs' in layer else f', inputs: [{source}]'}}}
          - {{name: twin, kind: multiply, inputs: [p, p]}}
          - {{name: q, {consumer}}}
          - {{name: tail, kind: {'flatten' if flat else 'linear'}, inputs: [{source}]}}
          - {{name: out, kind: concat, inputs: [q, tail, twin]}}
    """
    check(text)


def test_the_issue_example_gives_minus_one_and_four():
    g = analyze_text("""
        input: [1, 2, 1]
        layers:
          - {name: a, kind: activation, fn: linear}
          - {name: b, kind: activation, fn: relu}
          - {name: c, kind: add, inputs: [input, b]}
    """).graph
    out = executor.run(g, np.array([-1.0, 2.0], np.float32).reshape(1, 1, 2, 1), {}).output
    assert out.ravel().tolist() == [-1.0, 4.0]


def test_chain_of_views_shared_by_three_readers():
    check("""
        input: [4, 4, 4]
        layers:
          - {name: c0, kind: conv, filters: 4, kernel: 1}
          - {name: v1, kind: dropout}
          - {name: v2, kind: linear}
          - {name: r1, kind: relu, inputs: [v2]}
          - {name: r2, kind: batch_norm, inputs: [v1]}
          - {name: s, kind: add, inputs: [r1, r2, c0]}
    """)


def test_every_kind_is_listed_or_never_returns_its_input():
    """A new kind that can return its input's buffer must join PASS_THROUGH."""
    listed = {p.split(",")[0].split(": ")[1] for p in PASS_THROUGH} | {"activation", "separable_conv"}
    listed -= {"zero_pad", "channel_shuffle", "max_pool", "avg_pool", "adaptive_avg_pool", "transpose"}  # not always
    for name, kind in KINDS.items():
        if name in listed:
            continue
        text = {"conv": "filters: 4, kernel: 1", "conv_transpose": "filters: 4, kernel: 1",
                "pixel_shuffle": "factor: 2", "pixel_unshuffle": "factor: 2", "upsample": "scale: 1",
                "group_norm": "groups: 2", "subtract": "inputs: [input, input]", "divide": "inputs: [input, input]",
                "crop": "size: [2, 2]", "slice": "stop: 2", "depthwise_conv": "kernel: 1",
                "dense": "units: 4", "lrn": "size: 3", "zero_pad": "padding: 1", "pad": "padding: [0, 0, 0, 0, 0, 0]",
                "channel_shuffle": "groups: 2",
                "max_pool": "kernel: 2", "avg_pool": "kernel: 2", "adaptive_avg_pool": "output_size: 2",
                "unary": "fn: exp", "binary": "op: mul, inputs: [input, input]", "reduce": "op: mean, axes: [3]",
                "cumsum": "axis: 1", "gather": "axis: 1, indices: [0, 1]", "matmul": "inputs: [input, input]",
                "einsum": "equation: 'hwc,hwc->hw', inputs: [input, input]", "constant": "shape: [4, 4, 4]",
                "transpose": "perm: [0, 3, 1, 2]", "relative_position_bias": "window: 2, heads: 2",
                "lstm": "units: 4", "gru": "units: 4", "rnn": "units: 4", "embedding": "vocab: 2, dim: 4",
                "tile": "repeats: [1, 1, 1]"}.get(name, "")
        shape = {"lstm": [4, 4], "gru": [4, 4], "rnn": [4, 4], "embedding": [4]}.get(name, [4, 4, 4])   # a sequence, token ids
        g = analyze_text(f"input: {shape}\nlayers:\n  - {{name: k, kind: {name}{', ' + text if text else ''}}}\n").graph
        x = np.ones([1, *shape], np.float32)
        y = executor.run(g, x, executor.init_weights(g)).output
        assert not np.shares_memory(x, y), name
