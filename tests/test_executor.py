"""The NumPy executor: each kind against a loop reference, exact identities, every bundled
network verified (shapes and executed mults), a wrong formula or shape rule caught."""
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnncost
from cnncost.runtime import executor
from cnncost.cli import cli
from cnncost.layers import KINDS
from cnncost.runtime.verify import verify as verify_source
from cnncost.sources import open_source


def verify(name, **kw):
    return verify_source(open_source(name), **kw)

import naive
from cnncost.errors import ShapeError
from conftest import analyze_text, one_layer


def run_layer(shape, layer, batch=2, seed=0):
    """Run a one-layer spec; return (input, weights of 'x', output, run result)."""
    rep = analyze_text(f"input: {list(shape)}\nlayers:\n  - {{name: x, {layer}}}\n")
    g = rep.graph
    w = executor.init_weights(g, seed)
    xin = np.random.default_rng(seed + 7).standard_normal((batch,) + tuple(shape)).astype(np.float32)
    res = executor.run(g, xin, w)
    assert res.ok, [(r.output_shape, r.executed_shape, r.mults, r.executed_mults) for r in res.layers]
    return xin, {k.split("/", 1)[1]: v for k, v in w.items()}, res.output, rep.layers[0]


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(h=st.integers(3, 9), w=st.integers(3, 9), groups=st.sampled_from([1, 2, 3]),
       cg=st.integers(1, 3), fg=st.integers(1, 3), k=st.integers(1, 3), s=st.integers(1, 3),
       d=st.integers(1, 2), pad=st.sampled_from(["valid", "same", 1, [0, 1, 2, 0]]),
       bias=st.booleans())
def test_conv_matches_loop_reference(h, w, groups, cg, fg, k, s, d, pad, bias):
    c, f = groups * cg, groups * fg
    if (k - 1) * d + 1 > min(h, w):
        return
    layer = (f"kind: conv, filters: {f}, kernel: {k}, stride: {s}, dilation: {d}, "
             f"padding: {pad if isinstance(pad, (int, list)) else pad}, groups: {groups}, "
             f"bias: {'true' if bias else 'false'}")
    x, wt, y, row = run_layer((h, w, c), layer)
    from cnncost.layers.conv import conv_geometry
    pads = conv_geometry(row_args(layer, (h, w, c)), (h, w, c))[2]
    ref = naive.conv(x.astype(np.float64), wt["kernel"].astype(np.float64), wt.get("bias"),
                     (s, s), (d, d), pads, groups)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


def row_args(layer, shape):
    rep = analyze_text(f"input: {list(shape)}\nlayers:\n  - {{name: x, {layer}}}\n")
    return rep.graph.layers[0].args


@SETTINGS
@given(h=st.integers(3, 8), c=st.integers(1, 4), m=st.integers(1, 3), k=st.integers(1, 3),
       s=st.integers(1, 2), pad=st.sampled_from(["valid", "same", 1]))
def test_depthwise_matches_grouped_loop_reference(h, c, m, k, s, pad):
    layer = f"kind: depthwise_conv, kernel: {k}, stride: {s}, padding: {pad}, depth_multiplier: {m}"
    x, wt, y, row = run_layer((h, h + 1, c), layer)
    from cnncost.layers.conv import conv_geometry
    pads = conv_geometry(row_args(layer, (h, h + 1, c)), (h, h + 1, c))[2]
    kernel = wt["kernel"].reshape(k, k, 1, c * m).astype(np.float64)
    ref = naive.conv(x.astype(np.float64), kernel, wt["bias"], (s, s), (1, 1), pads, c)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


@SETTINGS
@given(h=st.integers(1, 9), w=st.integers(1, 9), k=st.integers(1, 5), s=st.integers(1, 3),
       p=st.integers(0, 2), ceil=st.booleans(), op=st.sampled_from(["max", "avg"]),
       include=st.booleans())
def test_pools_match_loop_reference(h, w, k, s, p, ceil, op, include):
    """Also kernels larger than the padded input, which only ceil mode accepts (PyTorch)."""
    def fits(n):
        return ((n + 2 * p - k + s - 1) // s + 1 if ceil else (n + 2 * p - k) // s + 1) >= 1
    if p > k // 2 or not (fits(h) and fits(w)):
        return
    layer = (f"kind: {op}_pool, kernel: {k}, stride: {s}, padding: {p}, ceil_mode: {str(ceil).lower()}"
             + (f", count_include_pad: {str(include).lower()}" if op == "avg" else ""))
    x, _, y, _ = run_layer((h, w, 3), layer)
    ref = naive.pool(x.astype(np.float64), (k, k), (s, s), (p, p, p, p), ceil, op, include)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer, shape, out", [
    # PyTorch: AvgPool2d(4, 2, ceil_mode=True) on 3x3 -> 1x1, the mean of all 9 inputs
    ("kind: avg_pool, kernel: 4, stride: 2, ceil_mode: true", (3, 3, 1), (1, 1, 1)),
    # MaxPool2d(3, 2, ceil_mode=True) on 2x2 -> 1x1
    ("kind: max_pool, kernel: 3, stride: 2, ceil_mode: true", (2, 2, 1), (1, 1, 1)),
])
def test_ceil_mode_kernel_larger_than_input_follows_pytorch(layer, shape, out):
    x, _, y, row = run_layer(shape, layer, batch=1)
    assert y.shape[1:] == out and list(row.output_shape) == list(out)
    expected = x.mean() if "avg" in layer else x.max()
    np.testing.assert_allclose(y.ravel(), [expected], rtol=1e-6)


def test_without_ceil_mode_a_kernel_larger_than_the_input_is_an_error():
    with pytest.raises(ShapeError, match="larger than the padded input"):
        one_layer((3, 3, 1), "kind: avg_pool, kernel: 4, stride: 2")
    with pytest.raises(ShapeError, match="even in ceil mode"):
        one_layer((2, 2, 1), "kind: max_pool, kernel: 5, stride: 2, ceil_mode: true")


def test_same_avg_pool_excludes_padding_like_tensorflow():
    x, _, y, _ = run_layer((5, 5, 1), "kind: avg_pool, kernel: 3, stride: 2, padding: same")
    ref = naive.pool(x.astype(np.float64), (3, 3), (2, 2), (1, 1, 1, 1), False, "avg", False)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


@SETTINGS
@given(c=st.integers(1, 9), size=st.integers(1, 6))
def test_lrn_matches_loop_reference(c, size):
    x, _, y, _ = run_layer((3, 3, c), f"kind: lrn, size: {size}, alpha: 0.5, beta: 0.75, k: 2")
    np.testing.assert_allclose(y, naive.lrn(x.astype(np.float64), size, 0.5, 0.75, 2), rtol=1e-5)


@SETTINGS
@given(h=st.integers(1, 9), w=st.integers(1, 9), oh=st.integers(1, 4), ow=st.integers(1, 4))
def test_adaptive_avg_pool_matches_loop_reference(h, w, oh, ow):
    x, _, y, _ = run_layer((h, w, 2), f"kind: adaptive_avg_pool, output_size: [{oh}, {ow}]")
    np.testing.assert_allclose(y, naive.adaptive_avg(x.astype(np.float64), oh, ow), rtol=1e-5, atol=1e-6)


def test_identity_kernel_and_constant_input():
    rep = analyze_text("input: [5, 5, 3]\nlayers:\n  - {name: x, kind: conv, filters: 3, kernel: 3, padding: same, bias: false}\n")
    g = rep.graph
    kernel = np.zeros((3, 3, 3, 3), np.float32)
    kernel[1, 1] = np.eye(3)
    x = np.random.default_rng(0).standard_normal((1, 5, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(executor.run(g, x, {"x/kernel": kernel}).output, x)
    ones = np.ones((1, 5, 5, 3), np.float32)
    out = executor.run(g, ones, {"x/kernel": np.ones((3, 3, 3, 3), np.float32)}).output
    assert out[0, 2, 2, 0] == 27 and out[0, 0, 0, 0] == 12   # interior 3*3*3, corner 2*2*3


def test_merge_shape_ops_and_activations_forward():
    rep = analyze_text("""
        input: [4, 4, 4]
        layers:
          - {name: g, kind: global_avg_pool}
          - {name: m, kind: multiply, inputs: [input, g]}
          - {name: a, kind: add, inputs: [m, input]}
          - {name: c, kind: concat, inputs: [a, input]}
          - {name: s, kind: channel_shuffle, groups: 2}
          - {name: z, kind: zero_pad, padding: [1, 0, 0, 2]}
          - {name: h, kind: hard_swish}
          - {name: f, kind: flatten}
          - {name: sm, kind: softmax}
    """)
    g = rep.graph
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 4)).astype(np.float32)
    res = executor.run(g, x, executor.init_weights(g))
    assert res.ok
    mean = x.mean(axis=(1, 2), keepdims=True)
    a = x * mean + x
    cat = np.concatenate([a, x], axis=-1)
    shuffled = cat.reshape(2, 4, 4, 2, 4).transpose(0, 1, 2, 4, 3).reshape(2, 4, 4, 8)
    padded = np.pad(shuffled, ((0, 0), (1, 0), (0, 2), (0, 0)))
    hs = padded * np.clip(padded + 3, 0, 6) / 6
    flat = hs.reshape(2, -1)
    e = np.exp(flat - flat.max(axis=1, keepdims=True))
    np.testing.assert_allclose(res.output, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)


def test_batch_norm_inference_form():
    x, wt, y, _ = run_layer((2, 2, 3), "kind: batch_norm, eps: 0.001")
    ref = (x - wt["moving_mean"]) / np.sqrt(wt["moving_variance"] + 0.001) * wt["gamma"] + wt["beta"]
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


def test_every_kind_has_a_forward():
    for name, kind in KINDS.items():
        if name != "separable_conv":
            assert type(kind).forward is not type(kind).__mro__[-2].forward, name


@pytest.mark.parametrize("name", cnncost.bundled_names())
def test_every_bundled_network_verifies(name):
    """Executed shapes and multiplications equal the analysis; outputs are finite."""
    spec = cnncost.load_spec(name)
    overrides = {"resolution": 96} if "resolution" in spec.vars else None
    result = verify(name, overrides=overrides, batch=1)
    assert result.ok, result.failures()[:5]
    executed = sum(r.executed_mults for r in result.runs[0].layers)
    assert executed == result.report.totals["mults"]


def test_a_wrong_formula_is_caught(monkeypatch):
    conv = KINDS["conv"]
    original = type(conv).mults
    monkeypatch.setattr(type(conv), "mults", lambda self, a, ins, out: original(self, a, ins, out) + 1)
    result = verify("lenet5")
    assert not result.ok
    assert "layer 'c1' (conv): analysed mults 117,601, executed 117,600" in result.failures()[0]
    r = CliRunner().invoke(cli, ["verify", "lenet5"])
    assert r.exit_code == 1 and "FAIL: layer 'c1'" in r.output


def test_a_wrong_shape_rule_is_caught(monkeypatch):
    pool = KINDS["max_pool"]
    original = type(pool).output_shape

    def ceil_always(self, a, ins):
        h, w, c = original(self, a, ins)
        return (h + 1, w + 1, c) if ins[0][0] % 2 else (h, w, c)

    monkeypatch.setattr(type(pool), "output_shape", ceil_always)
    result = verify("alexnet")
    assert not result.ok
    assert "layer 'pool1' (max_pool): analysed shape 28x28x64, executed 27x27x64" in result.failures()


def test_verify_cli_json_fields():
    r = CliRunner().invoke(cli, ["verify", "separable_example", "--format", "json", "--repeat", "2"])
    import json
    data = json.loads(r.output)
    assert r.exit_code == 0 and data["ok"] is True
    assert data["timing"]["repeats"] == 2 and "forward_seconds_median" in data["timing"]
    assert [(l["mults"], l["executed_mults"]) for l in data["layers"]] == [(432, 432), (240, 240)]


def test_memory_guard_refuses_before_allocating():
    r = CliRunner().invoke(cli, ["verify", "vgg16", "--max-memory", "100M"])
    assert r.exit_code == 2 and "needs about 0.6" in r.output and "--max-memory" in r.output
    r = CliRunner().invoke(cli, ["verify", "resnet18", "--set", "resolution=100000"])
    assert r.exit_code == 2 and "needs about" in r.output


def test_weights_file_round_trip_and_errors(tmp_path):
    rep = cnncost.analyze("lenet5")
    weights = executor.init_weights(rep.graph, seed=3)
    path = tmp_path / "w.npz"
    np.savez(path, **weights)
    x = np.random.default_rng(0).standard_normal((32, 32, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    runner = CliRunner()
    r = runner.invoke(cli, ["run", "lenet5", "--input", str(tmp_path / "x.npy"), "--weights", str(path),
                            "--output", str(tmp_path / "y.npy")])
    assert r.exit_code == 0, r.output
    expected = executor.run(rep.graph, x[None], weights).output
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)
    bad = dict(weights)
    bad["c1/kernel"] = bad["c1/kernel"][:4]
    del bad["f6/bias"]
    bad["nope/kernel"] = np.zeros(3)
    np.savez(path, **bad)
    r = runner.invoke(cli, ["verify", "lenet5", "--weights", str(path)])
    assert r.exit_code == 2
    assert "'c1/kernel' has shape 4x5x1x6, layer 'c1' expects 5x5x1x6" in r.output
    assert "missing 'f6/bias'" in r.output and "unexpected array 'nope/kernel'" in r.output
