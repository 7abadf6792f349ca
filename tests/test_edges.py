"""Numbers at the edges: receptive fields through global pools and SE blocks, the batch of
an ONNX model, upsampling in PyTorch's own arithmetic, enumerated words in any case, and
scalars of the wrong type."""
import json
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

import cnncost
from cnncost.cli import cli
from cnncost.layers.upsample import nearest_source
from cnncost.runtime import executor
from cnncost.spec.loader import bundled_names
from conftest import analyze_text


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


# ---- receptive fields ---------------------------------------------------------------
def test_se_blocks_do_not_compound_fields_and_are_marked_global():
    rep = cnncost.analyze("se_resnet50")
    fc = rep.layers[-1]
    assert fc.rf_global and fc.receptive_field == [224, 224] and fc.rf_stride == []
    # before the first SE multiply the fields are finite and ordinary
    first = next(r for r in rep.layers if r.kind == "multiply")
    before = rep.layers[:rep.layers.index(first)]
    assert not any(r.rf_global for r in before[:-4]) and before[0].receptive_field == [7, 7]
    assert first.rf_global
    rows = json.loads(run("report", "se_resnet50", "--format", "json").output)["layers"]
    assert rows[-1]["rf_global"] is True
    csv_last = run("report", "se_resnet50", "--format", "csv").output.splitlines()[-1]
    assert csv_last.endswith(",dense,global,,")


def test_a_field_larger_than_the_input_stays_and_the_readers_of_a_pool_are_global():
    rows = {r.name: r for r in cnncost.analyze("resnet152").layers}
    assert rows["avgpool"].receptive_field == [1643, 1643] and not rows["avgpool"].rf_global
    assert rows["layer4.block3.relu"].receptive_field == [1451, 1451]
    assert rows["fc"].rf_global
    table = run("report", "resnet152", "--depth", "1").output
    assert "global" in table


@pytest.mark.parametrize("name", bundled_names())
def test_every_bundled_field_is_bounded_or_global(name):
    rep = cnncost.analyze(name)
    size = max(rep.input_shape[:-1]) if len(rep.input_shape) in (2, 3, 4) else 1
    for r in rep.layers:
        if not r.rf_global and not r.rf_na:
            assert max(Fraction(v) for v in r.receptive_field) <= 10 * size, (r.name, r.receptive_field)


def test_explain_says_a_global_field_in_words():
    r = run("explain", "se_resnet50", "fc")
    assert r.exit_code == 0 and "receptive field global" in r.output


# ---- the batch of an ONNX model -------------------------------------------------------
onnx = None


@pytest.fixture
def tiny(tmp_path):
    global onnx
    onnx = pytest.importorskip("onnx")
    from test_onnx_import import torch_style_model
    static = torch_style_model(tmp_path / "tiny.onnx")
    four = torch_style_model(tmp_path / "tiny4.onnx", batch=4)
    m = onnx.load(str(static))
    for v in (m.graph.input[0], m.graph.output[0]):
        v.type.tensor_type.shape.dim[0].dim_param = "N"
    dynamic = tmp_path / "tinyN.onnx"
    onnx.save(m, str(dynamic))
    return static, four, dynamic


PER_EXAMPLE = 6 * 4 * 4 * 27 + 24 * 5


def _json(*args):
    r = run(*args, "--format", "json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_the_n_of_input_shape_is_the_batch(tiny):
    static, four, dynamic = tiny
    d = _json("report", static, "--input-shape", "8x3x6x4")
    assert d["batch"] == 8 and d["provenance"]["batch"] == 8 and d["totals"]["mults"] == 8 * PER_EXAMPLE
    table = run("report", static, "--input-shape", "8x3x6x4").output
    assert "batch 8" in table
    assert _json("report", four)["batch"] == 4                       # a static batch is the file's
    assert _json("report", dynamic)["batch"] == 1                    # a dynamic one defaults to 1
    d = _json("report", dynamic, "--batch", "8")                     # --batch fills it
    assert d["batch"] == 8 and d["totals"]["mults"] == 8 * PER_EXAMPLE


def test_a_batch_in_both_that_disagrees_is_exit_2(tiny):
    static, _, _ = tiny
    r = run("report", static, "--input-shape", "8x3x6x4", "--batch", "2")
    assert r.exit_code == 2 and "--batch 2 contradicts --input-shape's batch 8" in r.output
    assert run("report", static, "--input-shape", "8x3x6x4", "--batch", "8").exit_code == 0


def test_overriding_a_static_spatial_size_says_so_on_stderr(tiny):
    static, _, _ = tiny
    # the classifier after the flatten takes 24 features: at 8x4 the map gives 32, and the file's
    # weight cannot serve; said, not counted as if it could
    r = run("report", static, "--input-shape", "1x3x8x4", "--format", "json")
    assert r.exit_code == 2 and "warning:" in r.stderr and "H 6 -> 8" in r.stderr
    assert "has dims [5, 24]" in r.stderr and "takes 32x5" in r.stderr and "warning" not in r.stdout
    r = run("report", static, "--input-shape", "5x3x6x4", "--format", "json")
    assert r.exit_code == 0 and "warning" not in r.stderr        # the batch is no size
    json.loads(r.stdout)


# ---- upsample: PyTorch's arithmetic -----------------------------------------------------
def _upsample(shape, layer, x):
    rep = analyze_text(f"input: {list(shape)}\nlayers:\n  - {{name: up, kind: upsample, {layer}}}\n")
    res = executor.run(rep.graph, x[None], executor.init_weights(rep.graph, 0))
    assert res.ok
    return res.output[0]


def test_bilinear_to_one_row_samples_the_middle_as_pytorch_and_the_first_as_onnx():
    x = np.arange(10, dtype=np.float32).reshape(5, 2, 1)
    # F.interpolate(size=(1, 2), mode="bilinear"): source row (0 + 0.5) * 5 / 1 - 0.5 = 2
    assert _upsample((5, 2, 1), "mode: bilinear, size: [1, 2]", x).ravel().tolist() == [4, 5]
    # ONNX Resize, pytorch_half_pixel: a length-1 output samples source 0
    assert _upsample((5, 2, 1), "mode: bilinear, size: [1, 2], coordinates: onnx", x).ravel().tolist() == [0, 1]


def test_nearest_follows_pytorchs_float32_scale():
    # PyTorch: src = floor(float32(d) * float32(14 / 46)); float32(14/46) * 23 = 6.9999995
    x = np.arange(14, dtype=np.float32).reshape(14, 1, 1)
    rows = _upsample((14, 1, 1), "mode: nearest, size: [46, 1]", x).ravel().astype(int).tolist()
    scale = np.float32(14) / np.float32(46)
    want = [min(int(np.floor(np.float32(d) * scale)), 13) for d in range(46)]
    assert rows == want and rows[23] == 6 and 23 * 14 // 46 == 7
    # onnxruntime's Resize (asymmetric, floor): floor(d / float32(46 / 14))
    onnx_rows = _upsample((14, 1, 1), "mode: nearest, size: [46, 1], coordinates: onnx", x).ravel().astype(int)
    inv = np.float32(46) / np.float32(14)
    assert onnx_rows.tolist() == [min(int(np.floor(np.float32(d) / inv)), 13) for d in range(46)]


def test_pytorchs_shortcuts_and_scale_factor_rule():
    assert [nearest_source(d, 7, 14, "pytorch") for d in range(14)] == [d >> 1 for d in range(14)]
    assert [nearest_source(d, 9, 9, "pytorch") for d in range(9)] == list(range(9))
    # nn.Upsample(scale_factor=3): PyTorch multiplies by float32(1 / 3), not by in / out
    third = np.float32(1) / np.float32(3)
    assert [nearest_source(d, 5, 15, "pytorch", 3) for d in range(15)] == \
        [min(int(np.floor(np.float32(d) * third)), 4) for d in range(15)]


@pytest.mark.parametrize("size,out", [(14, 46), (5, 1), (3, 7), (30, 4), (7, 14), (5, 125)])
@pytest.mark.parametrize("coordinates", ["pytorch", "onnx"])
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_upsample_rules_agree_with_onnxruntime_through_export(size, out, coordinates, mode):
    pytest.importorskip("onnxruntime")
    from cnncost.runtime import onnxruntime_engine
    rep = analyze_text(f"input: [{size}, 3, 2]\nlayers:\n  - {{name: up, kind: upsample, mode: {mode}, "
                       f"size: [{out}, 5], coordinates: {coordinates}}}\n")
    w = executor.init_weights(rep.graph, 0)
    x = np.random.default_rng(0).standard_normal((1, size, 3, 2)).astype(np.float32)
    cmp = onnxruntime_engine.compare(rep.graph, w, x, run_ours=lambda on_value: executor.run(
        rep.graph, x, w, on_value=on_value))
    assert cmp.ok, cmp.to_dict()


# ---- words and scalars ------------------------------------------------------------------
def test_an_enumerated_word_is_read_as_a_word_first(tmp_path):
    for word in ("None", "NONE", "none", "Tanh"):
        rep = analyze_text(f"input: [4, 4, 3]\nlayers:\n  - {{kind: activation, fn: gelu, approximate: {word}}}\n")
        assert rep.layers[0].flops == (5 if word.lower() == "none" else 9) * 48


@pytest.mark.parametrize("body,expected", [
    ("filters: thirty-two, kernel: 3", "Expected an integer"),
    ("filters: 4, kernel: 3, bias: maybe", "Expected true or false"),
    ("filters: 4, kernel: 3, stride: [two, 1]", "Expected an integer or one per spatial axis"),
])
def test_a_wrong_typed_scalar_says_what_was_expected(tmp_path, body, expected):
    spec = tmp_path / "t.yaml"
    spec.write_text(f"name: t\ninput: [8, 8, 3]\nlayers:\n  - {{kind: conv, {body}}}\n")
    r = run("report", spec)
    assert r.exit_code == 2 and expected in r.output and "t.yaml:4:" in r.output


def test_a_network_whose_every_layer_is_switched_off_is_an_error():
    """Found by the fuzzer: `--set way=` anything else leaves the worked example empty."""
    r = run("report", "separable_example", "--set", "way=nothing")
    assert r.exit_code == 2 and "every layer is switched off by its `when:`" in r.output and "way='nothing'" in r.output
    assert run("check", "separable_example", "--set", "way=nothing", "--max-params", "1M").exit_code == 2
