"""ONNX export and onnxruntime as an independent engine: every bundled network exports,
passes onnx.checker and gives run's output; verify / latency / calibrate --engine; every
bad input is exit 2 with one line."""
import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import cnncost
from cnncost.runtime import executor
from cnncost.analyses import roofline
from cnncost.api import analyze
from cnncost.cli import cli
from cnncost.layers import KINDS, Kind

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from cnncost.interop.onnx import export as onnx_export  # noqa: E402
from cnncost.runtime import onnxruntime_engine  # noqa: E402

from conftest import spec_text  # noqa: E402


def run(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("name", cnncost.bundled_names())
def test_every_bundled_network_exports_checks_and_matches_run(name):
    graph = analyze(name).graph
    weights = executor.init_weights(graph, 0)
    model = onnx_export.build_model(graph, weights)
    onnx_export.check(model)                                       # full check, or ExportError
    assert {n.name for n in model.graph.node} >= {n.name for n in graph.layers}
    x = np.random.default_rng(1).standard_normal((1,) + tuple(graph.nodes[0].out_shape), dtype=np.float32)
    ours = executor.run(graph, x, weights).output
    sess = onnxruntime_engine.session(model.SerializeToString())
    theirs = onnx_export.to_nhwc(sess.run(None, {"input": onnx_export.to_nchw(x)})[0])
    assert theirs.shape == ours.shape
    assert np.max(np.abs(theirs - ours)) <= onnxruntime_engine.TOLERANCE * max(1.0, np.max(np.abs(theirs)))


def test_export_cli_writes_a_checked_model_with_layer_paths(tmp_path):
    out = tmp_path / "r18.onnx"
    r = run("export", "resnet18", "-o", str(out), "--batch", "2")
    assert r.exit_code == 0, r.output
    assert "onnx.checker passed" in r.output and "input 2x3x224x224 (NCHW)" in r.output
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version >= 17
    names = {n.name for n in model.graph.node}
    assert {"conv1", "layer1.block1.conv1", "layer4.block2.add", "fc"} <= names
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 2


def test_exported_weights_are_the_weights_of_run(tmp_path):
    """The default export holds run's seeded weights; --weights exports a file's."""
    spec = tmp_path / "tiny.yaml"
    spec.write_text(spec_text("""
        name: tiny
        input: [5, 5, 2]
        layers:
          - {name: c, kind: conv, filters: 3, kernel: 3, padding: same}
          - {name: f, kind: flatten}
          - {name: d, kind: dense, units: 4}
    """))
    graph = analyze(str(spec)).graph
    x = np.random.default_rng(0).standard_normal((1, 5, 5, 2), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    for extra, weights in (([], executor.init_weights(graph, 0)), (["--seed", "7"], executor.init_weights(graph, 7))):
        assert run("export", str(spec), "-o", str(tmp_path / "t.onnx"), *extra).exit_code == 0
        sess = onnxruntime_engine.session((tmp_path / "t.onnx").read_bytes())
        got = sess.run(None, {"input": onnx_export.to_nchw(x)})[0]
        np.testing.assert_allclose(got, executor.run(graph, x, weights).output, rtol=1e-5, atol=1e-6)
    ones = {k: np.ones_like(v) for k, v in executor.init_weights(graph, 0).items()}
    np.savez(tmp_path / "w.npz", **ones)
    assert run("export", str(spec), "-o", str(tmp_path / "t.onnx"), "--weights", str(tmp_path / "w.npz")).exit_code == 0
    init = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(tmp_path / "t.onnx")).graph.initializer}
    assert init["c/kernel"].shape == (3, 2, 3, 3) and np.all(init["c/kernel"] == 1)
    assert init["d/kernel"].shape == (75, 4)


def test_flatten_keeps_h_w_c_order():
    """A dense layer after flatten sees the executor's H, W, C order in the export too."""
    graph = analyze(cnncost.parse_spec(spec_text("""
        input: [2, 3, 4]
        layers:
          - {name: f, kind: flatten}
    """), "f.yaml")).graph
    x = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    sess = onnxruntime_engine.session(onnx_export.build_model(graph, {}).SerializeToString())
    np.testing.assert_array_equal(sess.run(None, {"input": onnx_export.to_nchw(x)})[0], x.reshape(1, -1))


def test_the_alias_example_agrees_with_onnxruntime(tmp_path):
    spec = tmp_path / "alias.yaml"
    spec.write_text(spec_text("""
        name: alias
        input: [1, 2, 1]
        layers:
          - {name: a, kind: activation, fn: linear}
          - {name: b, kind: activation, fn: relu}
          - {name: c, kind: add, inputs: [input, b]}
    """))
    np.save(tmp_path / "x.npy", np.array([-1.0, 2.0], np.float32).reshape(1, 2, 1))
    r = run("run", str(spec), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"))
    assert r.exit_code == 0 and "min -1, max 4" in r.output
    assert np.load(tmp_path / "y.npy").ravel().tolist() == [-1.0, 4.0]
    r = run("verify", str(spec), "--engine", "onnxruntime", "--format", "json")
    assert r.exit_code == 0 and json.loads(r.output)["engine"]["ok"] is True


def test_verify_engine_names_the_first_disagreeing_layer(monkeypatch):
    """A wrong forward (here: relu6 clipping at 5) is caught by onnxruntime, not by the
    shape and mult comparison; exit 1 names the first layer that differs."""
    act = KINDS["activation"]
    real = type(act).forward

    def wrong(self, a, w, xs, ops):
        y = real(self, a, w, xs, ops)
        return ops.np.minimum(y, 5.0) if a.fn == "relu6" else y

    monkeypatch.setattr(type(act), "forward", wrong)
    r = run("verify", "mobilenet_v2", "--set", "resolution=64", "--engine", "onnxruntime")
    assert r.exit_code == 1
    fail = [l for l in r.output.splitlines() if l.startswith("FAIL")]
    assert len(fail) == 1 and "the first disagreeing layer" in fail[0]
    layer = fail[0].split("'")[1]
    assert analyze("mobilenet_v2", overrides=["resolution=64"]).graph.nodes[
        analyze("mobilenet_v2", overrides=["resolution=64"]).graph.by_name[layer]].args.get("fn") == "relu6"
    data = json.loads(run("verify", "mobilenet_v2", "--set", "resolution=64", "--engine", "onnxruntime",
                          "--format", "json").stdout)
    assert data["ok"] is False and data["engine"]["first_mismatch"] == layer


def test_verify_engine_json_reports_tolerance_and_times():
    r = run("verify", "lenet5", "--engine", "onnxruntime", "--format", "json")
    e = json.loads(r.output)["engine"]
    assert r.exit_code == 0 and e["ok"] and e["tolerance"] == onnxruntime_engine.TOLERANCE
    assert e["max_rel_error"] < 1e-5 and e["engine_seconds"] > 0 and e["ours_seconds"] > 0
    assert [l["name"] for l in e["layers"]] == [n.name for n in analyze("lenet5").graph.layers]
    assert "onnxruntime agrees on every layer" in run("verify", "lenet5", "--engine", "onnxruntime").output


def test_latency_with_onnxruntime_profiler(tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text(roofline.profile_yaml(roofline.Profile("t", 5e10, 1e10, "test")))
    r = run("latency", "fashion_mnist_cnn", "--profile", str(profile), "--engine", "onnxruntime",
            "--repeat", "3", "--format", "json")
    data = json.loads(r.output)
    assert r.exit_code == 0 and data["engine"] == "onnxruntime" and -1 <= data["spearman_rho"] <= 1
    convs = [l for l in data["layers"] if l["kind"] == "conv"]
    assert convs and all(l["measured_seconds"] > 0 for l in convs)
    assert data["measured_seconds"] > 0 and data["optimized_seconds"] > 0
    assert "onnxruntime's profiler" in run("latency", "lenet5", "--profile", str(profile), "--engine",
                                            "onnxruntime", "--repeat", "1").output


def test_calibrate_through_onnxruntime(tmp_path):
    p = roofline.calibrate(matmul_n=128, copy_mb=4, repeat=1, engine="onnxruntime")
    assert p.peak_flops > 1e6 and p.bandwidth > 1e6 and "onnxruntime" in p.source
    out = tmp_path / "ort.yaml"
    assert run("calibrate", "--engine", "onnxruntime", "-o", str(out)).exit_code == 0
    assert roofline.load_profile(str(out)).peak_flops > 0


# ---- bad input: exit 2, one line -------------------------------------------------------
def one_line_error(r, *needles):
    assert r.exit_code == 2, r.output
    lines = [l for l in r.output.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.output
    for n in needles:
        assert n in lines[0], lines[0]


def test_missing_extra_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)         # import onnx -> ImportError
    one_line_error(run("export", "lenet5", "-o", str(tmp_path / "m.onnx")), "pip install '.[onnx]'")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    one_line_error(run("verify", "lenet5", "--engine", "onnxruntime"), "onnx` extra", "clone")
    assert not (tmp_path / "m.onnx").exists()


def test_unwritable_output(tmp_path):
    one_line_error(run("export", "lenet5", "-o", str(tmp_path / "no" / "m.onnx")), "does not exist")
    r = run("export", "lenet5", "-o", str(tmp_path))      # click's own usage error
    assert r.exit_code == 2 and "is a directory" in r.output and "Traceback" not in r.output


def test_a_kind_that_cannot_export(monkeypatch, tmp_path):
    monkeypatch.setattr(type(KINDS["lrn"]), "onnx", Kind.onnx)
    one_line_error(run("export", "alexnet_original", "-o", str(tmp_path / "m.onnx")),
                   "layer 'norm1' (lrn)", "cannot be exported to ONNX", "alexnet_original.yaml:")


def test_weights_that_do_not_fit(tmp_path):
    graph = analyze("lenet5").graph
    weights = executor.init_weights(graph, 0)
    weights["c1/kernel"] = np.zeros((3, 3, 1, 6), np.float32)
    np.savez(tmp_path / "w.npz", **weights)
    one_line_error(run("export", "lenet5", "-o", str(tmp_path / "m.onnx"), "--weights", str(tmp_path / "w.npz")),
                   "'c1/kernel' has shape 3x3x1x6, layer 'c1' expects 5x5x1x6")


def test_every_kind_exports():
    """A kind added without an ONNX mapping fails here (and in the differential suite)."""
    for name, kind in KINDS.items():
        if name != "separable_conv":        # expanded into depthwise + pointwise before export
            assert type(kind).onnx is not Kind.onnx, name
