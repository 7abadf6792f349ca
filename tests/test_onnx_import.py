"""ONNX import, first operators: a model goes in, the same counts come out, and `run` on
the imported spec and weights reproduces onnxruntime on the same input."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import cnncost  # noqa: E402
from cnncost.cli import cli  # noqa: E402
from cnncost.interop.onnx import export as onnx_export  # noqa: E402
from cnncost.runtime import onnxruntime_engine  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def torch_style_model(path, batch=1):
    """Conv -> BN -> Relu -> MaxPool -> Flatten of an NCHW map (C, H, W order) -> Gemm
    (transB), as torch.onnx.export writes a small classifier."""
    rng = np.random.default_rng(0)
    init = lambda name, a: numpy_helper.from_array(np.asarray(a, np.float32), name)   # noqa: E731
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="/features/conv", pads=[1, 1, 1, 1],
                              kernel_shape=[3, 3], strides=[1, 1]),
             helper.make_node("BatchNormalization", ["c", "g", "be", "m", "v"], ["n"], name="/features/bn"),
             helper.make_node("Relu", ["n"], ["r"], name="/features/relu"),
             helper.make_node("MaxPool", ["r"], ["p"], name="/features/pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"], name="/flatten", axis=1),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="/fc", transB=1)]
    inits = [init("w", rng.standard_normal((4, 3, 3, 3)) * 0.3), init("b", rng.standard_normal(4)),
             init("g", 1 + 0.1 * rng.standard_normal(4)), init("be", 0.1 * rng.standard_normal(4)),
             init("m", 0.1 * rng.standard_normal(4)), init("v", rng.uniform(0.5, 1.5, 4)),
             init("fw", rng.standard_normal((5, 4 * 3 * 2)) * 0.2), init("fb", rng.standard_normal(5))]
    g = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 6, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 5])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


def test_a_torch_style_model_counts_and_runs_like_onnxruntime(tmp_path):
    model = torch_style_model(tmp_path / "tiny.onnx")
    rep = cnncost.analyze(str(model))
    # conv 6x4x4 outputs x 27 MACs; fc 24 x 5
    assert rep.totals["mults"] == 6 * 4 * 4 * 27 + 24 * 5 and rep.totals["params"] == 112 + 8 + 125
    r = run("import", model, "-o", tmp_path / "tiny.yaml", "--weights-out", tmp_path / "tiny.npz")
    assert r.exit_code == 0 and "wrote" in r.output
    x = np.random.default_rng(1).standard_normal((1, 6, 4, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert run("run", tmp_path / "tiny.yaml", "--input", tmp_path / "x.npy", "--weights", tmp_path / "tiny.npz",
               "--output", tmp_path / "y.npy").exit_code == 0
    sess = onnxruntime_engine.session(model.read_bytes())
    want = sess.run(None, {"x": onnx_export.to_nchw(x)})[0]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", cnncost.bundled_names())
def test_every_bundled_network_round_trips_row_for_row(name, tmp_path):
    """spec -> ONNX (the exporter's spellings) -> import: the same rows, layer by layer."""
    if name in NOT_READ_BACK:
        pytest.skip(NOT_READ_BACK[name])
    from cnncost.runtime import executor

    a = cnncost.analyze(name)
    zeros = {k: np.zeros(s, np.float32) for k, s in executor.weight_specs(a.graph).items()}
    (tmp_path / "m.onnx").write_bytes(onnx_export.build_model(a.graph, zeros).SerializeToString())
    b = cnncost.analyze(str(tmp_path / "m.onnx"))
    rows = lambda rep: [(r.output_shape, r.params, r.mults, r.flops) for r in rep.layers]   # noqa: E731
    if any(r.rf_na for r in a.layers):
        # tensor kinds: a view the import holds (a reshape of a map) becomes its layers where
        # it is read, so the same rows may come in another order
        assert sorted(rows(a)) == sorted(rows(b))
    else:
        assert rows(a) == rows(b)
    # totals too; peak memory may differ where a layer reads a second input only for its size
    # (upsample or crop to the image's size): ONNX folds that size to a constant
    counted = ("params", "non_trainable_params", "mults", "flops", "activations", "layers")
    assert [a.totals[k] for k in counted] == [b.totals[k] for k in counted]


# A known gap, said where it is skipped: the import folds a Gather of a learned table by a
# constant index (Swin's relative-position bias) to a constant read-out, a buffer, instead
# of reading it back as the table's `relative_position_bias` layer.
NOT_READ_BACK = {"swin_t": "the import reads Swin's relative-position bias as a folded buffer, not its table"}

# By outputs too: every bundled network but the six that take 8-15 s each here (they agree
# too, run locally: fcn_resnet50, unet, vgg16, vgg19, resnet101, resnet152).
HEAVY = {"fcn_resnet50", "unet", "vgg16", "vgg19", "resnet101", "resnet152"}


@pytest.mark.parametrize("name", [n for n in cnncost.bundled_names() if n not in HEAVY])
def test_round_trip_spec_export_import(name, tmp_path):
    """spec -> export -> import: identical totals, and run on the imported weights gives
    what onnxruntime gives on the exported model."""
    if name in NOT_READ_BACK:
        pytest.skip(NOT_READ_BACK[name])
    path = tmp_path / f"{name}.onnx"
    assert run("export", name, "-o", path).exit_code == 0
    a, b = cnncost.analyze(name).totals, cnncost.analyze(str(path)).totals
    for key in ("params", "non_trainable_params", "mults", "flops", "activations"):
        assert a[key] == b[key], key
    assert run("import", path, "-o", tmp_path / "m.yaml", "--weights-out", tmp_path / "m.npz").exit_code == 0
    shape = cnncost.analyze(name).input_shape
    x = np.random.default_rng(2).standard_normal([1] + shape).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert run("run", tmp_path / "m.yaml", "--input", tmp_path / "x.npy", "--weights", tmp_path / "m.npz",
               "--output", tmp_path / "y.npy").exit_code == 0
    want = onnx_export.to_nhwc(onnxruntime_engine.session(path.read_bytes()).run(
        None, {"input": np.ascontiguousarray(onnx_export.to_nchw(x))})[0])
    got = np.load(tmp_path / "y.npy")
    assert np.max(np.abs(got - want)) <= 1e-4 * max(1.0, float(np.max(np.abs(want))))


def test_unsupported_operators_are_listed_in_one_message(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r"),
             helper.make_node("TopK", ["a", "s"], ["b", "bi"], name="first_topk"),
             helper.make_node("TopK", ["b", "s"], ["c", "ci"], name="second"),
             helper.make_node("Unique", ["c"], ["y"], name="e")]
    g = helper.make_graph(nodes, "bad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                          [numpy_helper.from_array(np.array([4], np.int64), "s")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(m, str(tmp_path / "bad.onnx"))
    r = run("report", tmp_path / "bad.onnx")
    assert r.exit_code == 2 and "TopK x2 (first: 'first_topk')" in r.output and "Unique x1" in r.output
    assert len([l for l in r.output.splitlines() if l.strip()]) == 1


def test_bad_files_and_dynamic_inputs_are_one_line(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07 not a model at all \xff" * 10)
    r = run("report", tmp_path / "junk.onnx")
    assert r.exit_code == 2 and "not a readable ONNX model" in r.output and "Traceback" not in r.output
    full = (tmp_path / "t.onnx")
    torch_style_model(full)
    (tmp_path / "cut.onnx").write_bytes(full.read_bytes()[:200])
    assert run("report", tmp_path / "cut.onnx").exit_code == 2
    m = onnx.load(str(full))
    m.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "height"
    onnx.save(m, str(tmp_path / "dyn.onnx"))
    r = run("report", tmp_path / "dyn.onnx")
    assert r.exit_code == 2 and "input 'x' has dynamic dimensions" in r.output and "--input-shape" in r.output
    r = run("import", tmp_path / "dyn.onnx", "-o", tmp_path / "dyn.yaml", "--input-shape", "1x3x6x4")
    assert r.exit_code == 0 and cnncost.analyze(str(tmp_path / "dyn.yaml")).totals["mults"] == 6 * 4 * 4 * 27 + 120


def test_every_command_takes_an_onnx_file(tmp_path):
    """report, check (budgets, baseline), compare (mixed), explain, verify (which also runs
    the file itself through onnxruntime), latency, export (identity), run (the file's weights)."""
    model = torch_style_model(tmp_path / "tiny.onnx")
    mults = 6 * 4 * 4 * 27 + 24 * 5
    r = run("report", model, "--format", "json", "-o", tmp_path / "base.json")
    assert r.exit_code == 0 and json.loads((tmp_path / "base.json").read_text())["totals"]["mults"] == mults
    text = run("report", model).output
    assert "ONNX model" in text and "BatchNorm folded into a conv" in text
    assert run("check", model, "--max-mults", str(mults)).exit_code == 0
    r = run("check", model, "--max-mults", str(mults - 1))
    assert r.exit_code == 1 and "mults" in r.output
    assert run("check", model, "--baseline", tmp_path / "base.json").exit_code == 0
    r = run("compare", "lenet5", model, "--format", "json")
    assert r.exit_code == 0 and json.loads(r.output)["metrics"]["mults"]["values"][1] == mults
    r = run("explain", model, "features_conv")
    assert r.exit_code == 0 and "2,592" in r.output
    r = run("verify", model, "--engine", "onnxruntime", "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)["engine"]["layers"]
    assert rows[-1]["kind"] == "model" and "the file, end to end" in rows[-1]["name"] and rows[-1]["ok"]
    assert run("export", model, "-o", tmp_path / "again.onnx").exit_code == 0
    assert cnncost.analyze(str(tmp_path / "again.onnx")).totals["mults"] == mults
    x = np.random.default_rng(3).standard_normal((6, 4, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = run("run", model, "--input", tmp_path / "x.npy", "--format", "json")
    assert r.exit_code == 0 and json.loads(r.output)["weights"] == "file"
    profile = tmp_path / "p.yaml"
    profile.write_text("name: p\npeak_flops: 1e10\nbandwidth: 5e9\n")
    assert run("latency", model, "--profile", profile, "--repeat", "1").exit_code == 0


def test_input_shape_holds_for_one_invocation_and_the_api(tmp_path):
    model = torch_style_model(tmp_path / "tiny.onnx")
    m = onnx.load(str(model))
    for d, p in zip(m.graph.input[0].type.tensor_type.shape.dim, ("n", "c", "h", "w")):
        d.dim_param = p
    onnx.save(m, str(tmp_path / "dyn.onnx"))
    dyn = str(tmp_path / "dyn.onnx")
    assert run("report", dyn, "--input-shape", "2x3x6x4").exit_code == 0
    assert run("report", dyn).exit_code == 2              # not left over from the last invocation
    assert cnncost.analyze(dyn, input_shape="1x3x6x4").totals["mults"] == 6 * 4 * 4 * 27 + 120
    with pytest.raises(cnncost.SpecError, match="dynamic dimensions"):
        cnncost.analyze(dyn)
