"""Tensors of any rank: each tensor kind's forward on hand-made arrays, several inputs and
outputs, receptive fields that say n/a, and the errors that name what a kind accepts."""
import numpy as np
import pytest

from cnncost.errors import ShapeError, SpecError
from cnncost.runtime import executor

from conftest import analyze_text


def forward(input_shape, layers: str, x, weights=None):
    """Run `layers` (YAML lines) on the batch x; return the graph and the output."""
    g = analyze_text(f"input: {list(input_shape)}\nlayers:\n{layers}").graph
    w = executor.init_weights(g) if weights is None else weights
    res = executor.run(g, x, w)
    assert res.ok, [r for r in res.layers if not r.ok]
    return g, res.output


X = np.arange(24, dtype=np.float32).reshape(1, 4, 6) / 10


@pytest.mark.parametrize("layer,expected", [
    ("kind: reshape, shape: [3, -1]", X.reshape(1, 3, 8)),
    ("kind: reshape, shape: [0, 2, 3]", X.reshape(1, 4, 2, 3)),
    ("kind: transpose, perm: [0, 2, 1]", X.transpose(0, 2, 1)),
    ("kind: gather, axis: 2, indices: [5, 0, -1]", X[:, :, [5, 0, 5]]),
    ("kind: gather, axis: 1, indices: [0], keepdims: false", X[:, 0]),
    ("kind: slice, axis: 2, start: 1, stop: 6, step: 2", X[:, :, 1:6:2]),
    ("kind: softmax, axis: 1", np.exp(X) / np.exp(X).sum(axis=1, keepdims=True)),
    ("kind: log_softmax, axis: -1", X - np.log(np.exp(X).sum(axis=2, keepdims=True))),
    ("kind: reduce_mean, axes: [2]", X.mean(axis=2, keepdims=True)),
    ("kind: reduce_sum, axes: [1, 2], keepdims: false", X.sum(axis=(1, 2)).reshape(1, 1)),
    ("kind: reduce_max, axes: [1], keepdims: false", X.max(axis=1)),
    ("kind: reduce_min, axes: [2]", X.min(axis=2, keepdims=True)),
    ("kind: reduce_l2, axes: [2]", np.sqrt((X * X).sum(axis=2, keepdims=True))),
    ("kind: cumsum, axis: 2", X.cumsum(axis=2)),
    ("kind: cumsum, axis: 2, exclusive: true", np.concatenate([np.zeros((1, 4, 1)), X.cumsum(axis=2)[:, :, :-1]], 2)),
    ("kind: cumsum, axis: 1, reverse: true", X[:, ::-1].cumsum(axis=1)[:, ::-1]),
    ("kind: exp", np.exp(X)),
    ("kind: sqrt", np.sqrt(X)),
    ("kind: neg", -X),
    ("kind: pow, exponent: 3", X ** 3),
    ("kind: erf", np.array([[[__import__("math").erf(v) for v in row] for row in X[0]]])),
    ("kind: binary, op: sub, scalar: 1.0, scalar_first: true", 1.0 - X),
    ("kind: binary, op: div, scalar: 4.0", X / 4.0),
    ("kind: matmul, transpose_b: true, inputs: [input, input]", X @ X.transpose(0, 2, 1)),
    ("kind: einsum, equation: 'nd,md->nm', inputs: [input, input]", np.einsum("bnd,bmd->bnm", X, X)),
    ("kind: einsum, equation: 'nd->d'", X.sum(axis=1)),
])
def test_tensor_kind_forward_on_hand_arrays(layer, expected):
    _, y = forward((4, 6), f"  - {{name: t, {layer}}}\n", X)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_binary_broadcasts_per_example_not_against_the_batch():
    x = np.random.default_rng(0).standard_normal((2, 4, 6)).astype(np.float32)
    _, y = forward((4, 6), """\
  - {name: m, kind: reduce_max, axes: [2]}
  - {name: row, kind: gather, axis: 1, indices: [0], keepdims: false, inputs: input}
  - {name: a, kind: binary, op: sub, inputs: [input, m]}
  - {name: b, kind: maximum, inputs: [a, row]}
""", x)
    expected = np.maximum(x - x.max(axis=2, keepdims=True), x[:, 0][:, None, :])
    np.testing.assert_allclose(y, expected, rtol=1e-6)


def test_matmul_broadcasts_leading_axes_and_counts_its_macs():
    rep = analyze_text("""
        input: {a: [2, 3, 4], b: [4, 5]}
        layers:
          - {name: p, kind: matmul, inputs: [a, b]}
    """)
    row = rep.layers[0]
    # [2, 3, 4] x [4, 5]: 2 x 3 x 5 outputs of 4 products each
    assert (row.output_shape, row.mults, row.mult_class) == ([2, 3, 5], 120, "attention")
    assert rep.totals["mults_by_class"]["attention"] == 120
    rng = np.random.default_rng(1)
    xa, xb = rng.standard_normal((2, 2, 3, 4), dtype=np.float32), rng.standard_normal((2, 4, 5), dtype=np.float32)
    res = executor.run(rep.graph, {"a": xa, "b": xb}, {})
    np.testing.assert_allclose(res.output, xa @ xb[:, None], rtol=1e-5)
    assert res.layers[0].executed_mults == 2 * 120


def test_layer_norm_over_trailing_axes():
    x = np.random.default_rng(2).standard_normal((1, 3, 4, 5)).astype(np.float32)
    g, y = forward((3, 4, 5), "  - {name: n, kind: layer_norm, axes: 2, eps: 1e-5}\n", x,
                   weights={"n/gamma": np.ones((4, 5), np.float32), "n/beta": np.zeros((4, 5), np.float32)})
    m = x.mean(axis=(2, 3), keepdims=True)
    v = x.var(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(y, (x - m) / np.sqrt(v + 1e-5), rtol=1e-4, atol=1e-5)


def test_a_constant_is_a_buffer_unless_learned():
    rep = analyze_text("""
        input: [4, 6]
        layers:
          - {name: pos, kind: constant, shape: [4, 6]}
          - {name: cls, kind: constant, shape: [1, 6], learned: true}
          - {name: a, kind: add, inputs: [input, pos]}
          - {name: c, kind: concat, axis: 1, inputs: [cls, a]}
    """)
    rows = {r.name: r for r in rep.layers}
    assert (rows["pos"].params, rows["pos"].non_trainable_params) == (0, 24)
    assert (rows["cls"].params, rows["cls"].trainable_params) == (6, 6)
    assert rows["c"].output_shape == [5, 6]
    x = np.zeros((3, 4, 6), np.float32)
    w = executor.init_weights(rep.graph)
    y = executor.run(rep.graph, x, w).output
    np.testing.assert_array_equal(y[2, 1:], w["pos/value"])       # every example sees the same table
    np.testing.assert_array_equal(y[0, 0], w["cls/value"][0])


def test_several_outputs_are_reported_run_and_dead_layers_refused(tmp_path):
    spec = """
        input: [6, 6, 2]
        outputs: [head, aux]
        layers:
          - {name: conv, kind: conv, filters: 4, kernel: 3}
          - {name: pool, kind: global_avg_pool}
          - {name: head, kind: dense, units: 3}
          - {name: aux, kind: conv, filters: 1, kernel: 1, inputs: conv}
    """
    rep = analyze_text(spec)
    assert rep.outputs == ["head", "aux"] and rep.to_dict()["outputs"] == ["head", "aux"]
    assert "outputs head, aux" in rep.io_text()
    res = executor.run(rep.graph, np.ones((1, 6, 6, 2), np.float32), executor.init_weights(rep.graph))
    assert {k: v.shape for k, v in res.outputs.items()} == {"head": (1, 3), "aux": (1, 4, 4, 1)}
    # the aux output lives to the end: peak memory counts it
    assert rep.dead_layers == []
    with pytest.raises(SpecError, match=r"1 layer\(s\) reach no output \(aux\)"):
        analyze_text(spec.replace("outputs: [head, aux]", "outputs: [head]"))
    with pytest.raises(SpecError, match="unknown input 'nope'"):
        analyze_text(spec.replace("outputs: [head, aux]", "outputs: [head, nope]"))


def test_receptive_fields_are_na_past_a_tensor_kind_and_kept_before():
    rep = analyze_text("""
        input: [8, 8, 3]
        layers:
          - {name: conv, kind: conv, filters: 4, kernel: 3}
          - {name: tokens, kind: reshape, shape: [36, 4]}
          - {name: act, kind: gelu}
          - {name: back, kind: reshape, shape: [6, 6, 4]}
          - {name: conv2, kind: conv, filters: 4, kernel: 3}
    """)
    rows = {r.name: r for r in rep.layers}
    assert rows["conv"].receptive_field == [3, 3] and not rows["conv"].rf_na
    assert all(rows[n].rf_na and rows[n].receptive_field == [] for n in ("tokens", "act", "back", "conv2"))
    from cnncost.render.report import to_csv
    assert ",n/a," in to_csv(rep)


@pytest.mark.parametrize("layer,message", [
    ("kind: matmul, inputs: [input, input]", "inner sizes differ: 4x6 x 4x6"),
    ("kind: reshape, shape: [5, -1]", "cannot reshape 4x6 (24 elements) to [5, -1]"),
    ("kind: reshape, shape: [-1, -1]", "at most one -1"),
    ("kind: transpose, perm: [1, 0, 2]", "the batch (0) first"),
    ("kind: softmax, axis: 0", "axis 0 is the batch axis"),
    ("kind: reduce_mean, axes: [3]", "axes 3 is outside a tensor of rank 3"),
    ("kind: gather, axis: 1, indices: [4]", "index 4 is outside axis 1 of size 4"),
    ("kind: einsum, equation: 'n->n'", "operand 'n' names 1 axes of a rank-2 input"),
    ("kind: einsum, equation: 'N D'", "Expected lower-case letters"),
    ("kind: conv3d, filters: 2, kernel: 1", "expected a 3-D map (DxHxWxC) input (rank 4), received 4x6"),
    ("kind: lrn", "expected input of rank 1 or rank 3"),
    ("kind: pow", "pow needs it"),
    ("kind: binary, op: add", "two inputs, or one input and `scalar`"),
])
def test_tensor_errors_say_what_the_kind_accepts(layer, message):
    with pytest.raises((SpecError, ShapeError)) as info:
        analyze_text(f"input: [4, 6]\nlayers:\n  - {{name: x, {layer}}}\n")
    assert message in str(info.value)
    assert "test.yaml:3:" in str(info.value) and "layer 'x'" in str(info.value)


def test_several_inputs_need_their_names():
    with pytest.raises(SpecError, match="input name '1x' must be an identifier"):
        analyze_text("input: {1x: [3]}\nlayers:\n  - {name: a, kind: relu}\n")
    rep = analyze_text("""
        input: {image: [4, 4, 2], scale: [2]}
        layers:
          - {name: m, kind: multiply, inputs: [image, scale]}
    """)
    assert rep.inputs == {"image": [4, 4, 2], "scale": [2]}


TWO = __import__("pathlib").Path(__file__).parent / "specs" / "two_inputs_two_outputs.yaml"


def test_two_inputs_two_outputs_through_the_cli(tmp_path):
    from click.testing import CliRunner

    from cnncost.cli import cli

    x = tmp_path / "in.npz"
    rng = np.random.default_rng(0)
    np.savez(x, image=rng.standard_normal((1, 8, 8, 3)).astype("f4"), tokens=rng.standard_normal((1, 4, 6)).astype("f4"))
    runner = CliRunner()
    out = tmp_path / "out.npz"
    res = runner.invoke(cli, ["run", str(TWO), "--input", str(x), "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert "outputs: logits 1x3, aux 1x2" in res.output
    assert sorted(np.load(out)) == ["aux", "logits"]
    res = runner.invoke(cli, ["run", str(TWO), "--input", str(x), "--output", str(tmp_path / "o.npy")])
    assert res.exit_code == 2 and "write them to an .npz" in res.output
    res = runner.invoke(cli, ["report", str(TWO), "--format", "json"])
    assert res.exit_code == 0
    import json
    d = json.loads(res.output)
    assert d["inputs"] == {"image": [8, 8, 3], "tokens": [4, 6]} and d["outputs"] == ["logits", "aux"]
    assert d["totals"]["mults_by_class"]["attention"] == 192


def test_two_inputs_two_outputs_agree_with_onnxruntime():
    pytest.importorskip("onnxruntime")
    import cnncost

    v = cnncost.verify(str(TWO), engine="onnxruntime", batch=2)
    assert v.ok, v.failures()
    assert {r["name"] for r in v.to_dict()["engine"]["layers"]} >= {"logits", "aux", "scores", "mix"}


def test_relative_position_bias_reads_the_table_as_torchvision_does():
    """w = 2: positions (0,0) (0,1) (1,0) (1,1); the offset (dy, dx) of a pair is row
    (dy + 1) * 3 + (dx + 1) of the table, for each head."""
    g = analyze_text("input: [4]\nlayers:\n  - {name: b, kind: relative_position_bias, window: 2, heads: 2}\n").graph
    table = np.arange(18, dtype=np.float32).reshape(9, 2)
    y = executor.run(g, np.zeros((1, 4), np.float32), {"b/table": table}).output
    pos = [(0, 0), (0, 1), (1, 0), (1, 1)]
    want = np.array([[[table[(p[0] - q[0] + 1) * 3 + (p[1] - q[1] + 1), h] for q in pos] for p in pos] for h in (0, 1)])
    np.testing.assert_array_equal(y[0], want)


def test_the_dense_on_a_map_warning_is_for_maps_not_tokens(recwarn):
    analyze_text("""
        input: [4, 4, 3]
        layers:
          - {name: tokens, kind: reshape, shape: [2, 8, 3]}
          - {name: act, kind: gelu}
          - {name: d, kind: dense, units: 2}
    """)
    assert not [w for w in recwarn if "dense on a" in str(w.message)]
    analyze_text("input: [4, 4, 3]\nlayers:\n  - {name: d, kind: dense, units: 2}\n")
    assert [w for w in recwarn if "dense on a 4x4x3 feature map" in str(w.message)]


GATHERED = """
input: [4]
layers:
  - {name: table, kind: constant, shape: [2, 5], learned: true}
  - {name: pos, kind: constant, shape: [3, 3]}
  - {name: bias, kind: gather, axis: 2, inputs: [table, pos]}
"""


def test_a_learned_table_read_out_at_a_buffer_of_positions():
    """LeViT's attention biases: a [heads, offsets] table, read at a [N, N] buffer of
    offsets. The table is the params (10), the positions a buffer (9), the read-out an
    output of [2, 3, 3] with no arithmetic."""
    rep = analyze_text(GATHERED)
    bias = rep.layers[-1]
    assert (bias.output_shape, bias.params, bias.mults, bias.flops) == ([2, 3, 3], 0, 0, 0)
    assert (rep.totals["params"], rep.totals["non_trainable_params"]) == (10, 9)
    table = np.arange(10, dtype=np.float32).reshape(2, 5)
    pos = np.array([[0, 1, 4], [2, -1, 3], [4, 4, 0]], np.float32)
    y = executor.run(rep.graph, np.zeros((2, 4), np.float32), {"table/value": table, "pos/value": pos}).output
    np.testing.assert_array_equal(y, np.broadcast_to(np.take(table, pos.astype(int), axis=1), (2, 2, 3, 3)))


def test_each_example_reads_its_own_positions_on_any_axis():
    x = np.random.default_rng(2).standard_normal((2, 3, 4, 5)).astype(np.float32)
    g = analyze_text("""
        input: {x: [3, 4, 5], p: [2, 6]}
        layers:
          - {name: g, kind: gather, axis: 2, inputs: [x, p]}
    """).graph
    p = np.stack([np.arange(12).reshape(2, 6) % 4, (np.arange(12).reshape(2, 6) * 3) % 4]).astype(np.float32)
    res = executor.run(g, {"x": x, "p": p}, {})
    want = np.stack([np.take(x[b], p[b].astype(int), axis=1) for b in range(2)])   # [2, 3, 2, 6, 5]
    np.testing.assert_array_equal(res.output, want)


def test_a_gather_of_positions_agrees_with_onnxruntime(tmp_path):
    pytest.importorskip("onnxruntime")
    import cnncost

    path = tmp_path / "gathered.yaml"
    path.write_text(GATHERED + "  - {name: out, kind: binary, op: add, inputs: [bias, bias]}\n")
    v = cnncost.verify(str(path), engine="onnxruntime", batch=2)
    assert v.ok, v.failures()


@pytest.mark.parametrize("layer,message", [
    ("kind: gather, axis: 1, indices: [0], inputs: [input, input]", "give `indices` or a second input"),
    ("kind: gather, axis: 1", "no positions: give `indices`, or a second input"),
])
def test_a_gather_takes_its_positions_one_way(layer, message):
    with pytest.raises(ShapeError, match=message):
        analyze_text(f"input: [4, 6]\nlayers:\n  - {{name: x, {layer}}}\n")
