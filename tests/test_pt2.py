"""The torch.export reader on archives torch.export.save made (tests/pt2_files, regenerated
by make_pt2_files.py): a CNN, a 1-D convolutional net and an LSTM, counted equal to the same
module's ONNX export (unfolded) and run on the archive's own weights against PyTorch's
output; then refusals and hostile archives, each refused in one line within 5 s. Nothing
is ever unpickled."""
from __future__ import annotations

import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from cnncost import api
from cnncost.cli import cli
from one_line import refused

HERE = os.path.join(os.path.dirname(__file__), "pt2_files")
# name -> (params, mults): torch's sum of numel() and the ONNX export's MACs
COUNTS = {"tiny_cnn": (601, 92_712), "conv1d": (411, 6_488), "lstm": (530, 4_496)}


def path(name, suffix=".pt2"):
    return os.path.join(HERE, name + suffix)


def rewrite(tmp_path, edit, name="tiny_cnn", out="edited.pt2") -> str:
    """A copy of fixture `name` whose members `edit(filename, bytes)` returns (None drops one;
    a list of (filename, bytes) adds several)."""
    target = tmp_path / out
    with zipfile.ZipFile(path(name)) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            got = edit(info.filename, src.read(info))
            for fname, data in (got if isinstance(got, list) else [(info.filename, got)] if got is not None else []):
                dst.writestr(fname, data)
    return str(target)


def _graph(data: bytes, change) -> bytes:
    doc = json.loads(data)
    change(doc["graph_module"]["graph"])
    return json.dumps(doc).encode()


# ---- counts and outputs ------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(COUNTS))
def test_counts_equal_the_onnx_export(name):
    t, onnx = api.analyze(path(name)).totals, api.analyze(path(name, ".onnx")).totals
    assert t["mults"] == onnx["mults"] == COUNTS[name][1]
    assert t["params"] == onnx["params"] == COUNTS[name][0]


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_run_reproduces_pytorch_on_the_archives_own_weights(name, tmp_path):
    expect = np.load(path(name, ".expect.npz"))
    x = tmp_path / "x.npy"
    np.save(x, expect["input"])
    out = api.run(path(name), str(x)).output
    assert out.shape == expect["output"].shape
    assert np.abs(out - expect["output"]).max() < 1e-5


def test_a_program_decomposed_to_core_aten_counts_and_runs_the_same(tmp_path):
    """run_decompositions(): convolution, addmm, clamp ... where the saved graph had conv2d,
    linear, hardswish; the tracer's handlers read those as they read a live module."""
    t = api.analyze(path("tiny_cnn_core")).totals
    assert (t["params"], t["mults"]) == COUNTS["tiny_cnn"]
    expect = np.load(path("tiny_cnn", ".expect.npz"))
    x = tmp_path / "x.npy"
    np.save(x, expect["input"])
    assert np.abs(api.run(path("tiny_cnn_core"), str(x)).output - expect["output"]).max() < 1e-5


def test_layers_are_named_by_their_modules_and_weights_read_only_when_asked():
    from cnncost.interop.pt2.reader import import_pt2

    counted = import_pt2(path("tiny_cnn"), with_weights=False)
    assert counted.weights == {} and not counted.weights_read
    names = [layer["name"] for layer in counted.document["layers"]]
    assert {"c1", "bn1", "dw", "up", "c3"} <= set(names)
    assert import_pt2(path("tiny_cnn"), with_weights=True).weights_read


def test_the_sample_inputs_pickle_is_never_opened(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("unpickled")
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    assert api.analyze(path("tiny_cnn")).totals["mults"] == 92_712


# ---- refusals ----------------------------------------------------------------------------------
def test_an_unknown_operator_is_refused_by_name(tmp_path):
    def edit(name, data):
        if name.endswith("models/model.json"):
            return _graph(data, lambda g: g["nodes"][2].__setitem__("target", "torch.ops.mylib.magic.default"))
        return data
    refused(rewrite(tmp_path, edit), "torch.ops.mylib.magic.default x1", "not an ATen operator")


def test_an_aten_operator_without_a_mapping_is_refused_by_name(tmp_path):
    def edit(name, data):
        if name.endswith("models/model.json"):
            return data.replace(b"torch.ops.aten.silu.default", b"torch.ops.aten.celu.default")
        return data
    refused(rewrite(tmp_path, edit), "celu x1")


def _all_pickled(doc):
    for e in doc["config"].values():
        e["use_pickle"] = True


def _strided(doc):
    doc["config"]["c1.weight"]["tensor_meta"]["strides"] = [{"as_int": 1}] * 4


@pytest.mark.parametrize("change, needle", [
    (_all_pickled, "stored as a pickle, which cnncost never loads"),
    (_strided, "'c1.weight' is a strided view of its storage"),
])
def test_weights_run_cannot_have_are_counted_by_shape_and_refused_when_run(tmp_path, change, needle):
    """use_pickle (never unpickled) or a strided view: the shapes count; `run` says in one
    line why it cannot."""
    def edit(name, data):
        if name.endswith("model_weights_config.json"):
            doc = json.loads(data)
            change(doc)
            return json.dumps(doc).encode()
        return data
    target = rewrite(tmp_path, edit)
    assert api.analyze(target).totals["mults"] == 92_712
    x = tmp_path / "x.npy"
    np.save(x, np.load(path("tiny_cnn", ".expect.npz"))["input"])
    r = CliRunner().invoke(cli, ["run", target, "--input", str(x)])
    assert r.exit_code == 2 and needle in r.output, r.output


def test_a_torch_save_file_is_refused_as_a_pickle(tmp_path):
    target = tmp_path / "state.pt2"
    with zipfile.ZipFile(target, "w") as z:
        z.writestr("state/data.pkl", pickle.dumps({"w": 1}))
    refused(str(target), "a torch.save or TorchScript archive (a pickle)")


def test_a_pickle_where_json_is_expected_is_refused_by_name(tmp_path):
    def edit(name, data):
        return pickle.dumps({"graph_module": {}}, protocol=2) if name.endswith("models/model.json") else data
    refused(rewrite(tmp_path, edit), "is a pickle where JSON is expected")


def test_a_symbolic_size_is_refused(tmp_path):
    def edit(name, data):
        if name.endswith("models/model.json"):
            def change(g):
                g["tensor_values"]["x"]["sizes"][0] = {"as_expr": {"expr_str": "s0"}}
            return _graph(data, change)
        return data
    refused(rewrite(tmp_path, edit), "'s0' is symbolic")


# ---- hostile archives --------------------------------------------------------------------------
@pytest.mark.parametrize("member", ["../evil.json", "/etc/evil.json", "tiny_cnn/../../evil"])
def test_members_outside_the_archive_are_refused(tmp_path, member):
    target = rewrite(tmp_path, lambda name, data: [(name, data)] + ([(member, b"{}")] if name.endswith("byteorder")
                                                                    else []))
    refused(target, "outside the archive")


def test_a_graph_nested_thousands_deep_is_refused(tmp_path):
    def edit(name, data):
        return b"[" * 100_000 + b"]" * 100_000 if name.endswith("models/model.json") else data
    refused(rewrite(tmp_path, edit), "models/model.json")


def test_a_compressed_graph_claiming_gigabytes_is_refused_before_inflating(tmp_path):
    target = tmp_path / "bomb.pt2"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("bomb/models/model.json", b" " * (300 * 2 ** 20))
    refused(str(target), "over the")


def test_a_truncated_weight_is_refused_when_run(tmp_path):
    target = rewrite(tmp_path, lambda name, data: data[:10] if name.endswith("weights/weight_0") else data)
    x = tmp_path / "x.npy"
    np.save(x, np.load(path("tiny_cnn", ".expect.npz"))["input"])
    r = CliRunner().invoke(cli, ["run", target, "--input", str(x)])
    assert r.exit_code == 2 and "holds 10 bytes" in r.output, r.output


def test_a_node_reading_a_value_nothing_makes_is_refused(tmp_path):
    def edit(name, data):
        if name.endswith("models/model.json"):
            return _graph(data, lambda g: g["nodes"][1]["inputs"][0]["arg"]["as_tensor"].__setitem__("name", "ghost"))
        return data
    refused(rewrite(tmp_path, edit), "'ghost', which no earlier node makes")


def test_damaged_arguments_are_one_line(tmp_path):
    def edit(name, data):
        if name.endswith("models/model.json"):
            return _graph(data, lambda g: g["nodes"][0].__setitem__("inputs", [{"name": "input", "arg": 7}]))
        return data
    refused(rewrite(tmp_path, edit), "damaged or not as torch.export writes it")


def test_a_foreign_zip_is_not_an_export(tmp_path):
    target = tmp_path / "other.pt2"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    target.write_bytes(buf.getvalue())
    refused(str(target), "not a torch.export archive")
