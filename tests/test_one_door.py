"""One door: every command reads a model file once (parsed once, its graph built once by
its reader at most), whatever the command does with it afterwards."""
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cnncost.cli import cli

HERE = Path(__file__).resolve().parent
onnx = pytest.importorskip("onnx")


def counted(monkeypatch, target: str) -> list:
    """Calls of `module:function` recorded (the module's own name replaced)."""
    import importlib

    module, _, name = target.partition(":")
    mod = importlib.import_module(module)
    original, calls = getattr(mod, name), []

    def wrapper(*a, **k):
        calls.append(1)
        return original(*a, **k)

    monkeypatch.setattr(mod, name, wrapper)
    return calls


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code in (0, 1), result.output      # 1: verify's own verdict, never a refusal
    return result


@pytest.fixture
def onnx_file(tmp_path):
    from test_onnx_import import torch_style_model

    return torch_style_model(tmp_path / "tiny.onnx")


@pytest.mark.parametrize("command", ["report", "verify", "verify-ort", "run", "export"])
def test_an_onnx_file_is_parsed_once_per_command(monkeypatch, tmp_path, onnx_file, command):
    pytest.importorskip("onnxruntime")
    calls = counted(monkeypatch, "cnncost.interop.onnx.proto:_Reader")
    builds = counted(monkeypatch, "cnncost.core.analysis:build")
    args = {"report": ["report", onnx_file], "verify": ["verify", onnx_file],
            "verify-ort": ["verify", onnx_file, "--engine", "onnxruntime"],
            "run": ["run", onnx_file, "--input", _input(tmp_path, (1, 3, 6, 4))],
            "export": ["export", onnx_file, "-o", tmp_path / "again.onnx"]}[command]
    invoke(*args)
    assert len(calls) == 1 and len(builds) == 1


@pytest.mark.parametrize("name", ["course_k3.keras", "course_k2.h5"])
@pytest.mark.parametrize("command", ["report", "verify", "run"])
def test_a_keras_file_is_read_once_and_built_once_by_its_reader(monkeypatch, tmp_path, name, command):
    """Its reader builds the graph once for its own checks (weight shapes), the analysis
    once; before the door a `run` read the file twice and built it four times."""
    pytest.importorskip("h5py")
    path = HERE / "keras_files" / name
    reads = counted(monkeypatch, "cnncost.interop.keras.reader:read_keras_file")
    by_reader = counted(monkeypatch, "cnncost.core.build:build")
    by_analysis = counted(monkeypatch, "cnncost.core.analysis:build")
    args = {"report": ["report", path], "verify": ["verify", path],
            "run": ["run", path, "--input", _input(tmp_path, (1, 24, 24, 3))]}[command]
    invoke(*args)
    assert len(reads) == 1
    assert len(by_analysis) == 1 and len(by_reader) <= 1


def test_a_tflite_file_is_read_once_when_run(monkeypatch, tmp_path):
    path = HERE / "tflite_files" / "mobilenet_v2_float16.tflite"
    reads = counted(monkeypatch, "cnncost.interop.tflite.reader:read_tflite")
    invoke("run", path, "--input", _input(tmp_path, (1, 96, 96, 3)))
    assert len(reads) == 1


def _input(tmp_path, shape):
    p = tmp_path / "x.npy"
    np.save(p, np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    return p


def test_input_shape_on_a_tflite_file_sets_its_batch_or_is_refused():
    """It was ignored without a word: a budget checked at batch 1 passed at batch 8."""
    path = HERE / "tflite_files" / "mobilenet_v2_float16.tflite"
    one = CliRunner().invoke(cli, ["report", str(path), "--format", "json"])
    eight = CliRunner().invoke(cli, ["--input-shape", "8x96x96x3", "report", str(path), "--format", "json"])
    import json

    assert json.loads(eight.output)["totals"]["mults"] == 8 * json.loads(one.output)["totals"]["mults"]
    wrong = CliRunner().invoke(cli, ["--input-shape", "1x128x128x3", "report", str(path)])
    assert wrong.exit_code == 2 and "only its batch N may change" in wrong.output


def test_a_misnamed_or_nhwc_input_shape_on_an_onnx_file_is_refused(onnx_file):
    named = CliRunner().invoke(cli, ["--input-shape", "img=1x3x6x4", "report", str(onnx_file)])
    assert named.exit_code == 2 and "names img" in named.output and "inputs are x" in named.output
    nhwc = CliRunner().invoke(cli, ["--input-shape", "1x6x4x3", "report", str(onnx_file)])
    assert nhwc.exit_code == 2 and "did you mean 1x3x6x4" in nhwc.output and "damaged" not in nhwc.output


@pytest.mark.parametrize("source, renamed", [("tflite_files/mobilenet_v2_float16.tflite", "model.onnx"),
                                             ("tflite_files/mobilenet_v2_float16.tflite", "model.bin"),
                                             ("keras_files/course_k3.keras", "model.h5")])
def test_a_model_file_under_another_suffix_is_read_by_its_first_bytes(tmp_path, source, renamed):
    pytest.importorskip("h5py")
    import shutil

    original = CliRunner().invoke(cli, ["report", str(HERE / source), "--format", "json"])
    copy = tmp_path / renamed
    shutil.copy(HERE / source, copy)
    again = CliRunner().invoke(cli, ["report", str(copy), "--format", "json"])
    assert again.exit_code == 0, again.output
    import json

    assert json.loads(again.output)["totals"]["mults"] == json.loads(original.output)["totals"]["mults"]
