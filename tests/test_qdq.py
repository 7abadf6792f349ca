"""Quantized ONNX made by onnxruntime's own quantizer (QDQ: QuantizeLinear and
DequantizeLinear around every weight and activation) on bundled networks: the float
model's MACs exactly, weights at a quarter of their float bytes, and verify against
onnxruntime running the QDQ file (each quantized tensor within one step)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
quantization = pytest.importorskip("onnxruntime.quantization")

from cnncost import api  # noqa: E402


def _qdq(tmp_path, spec, overrides=None, per_channel=True):
    import onnx

    src, out = tmp_path / f"{spec}.onnx", tmp_path / f"{spec}_qdq.onnx"
    api.export(spec, str(src), overrides=overrides)
    model = onnx.load(str(src))
    name = model.graph.input[0].name
    dims = [d.dim_value or 1 for d in model.graph.input[0].type.tensor_type.shape.dim]
    rng = np.random.default_rng(0)

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{name: rng.standard_normal(dims).astype("float32")} for _ in range(4)])

        def get_next(self):
            return next(self.batches, None)

    quantization.quantize_static(str(src), str(out), Reader(), quant_format=quantization.QuantFormat.QDQ,
                                 per_channel=per_channel, activation_type=quantization.QuantType.QInt8,
                                 weight_type=quantization.QuantType.QInt8)
    return str(src), str(out)


@pytest.mark.parametrize("spec, overrides", [("lenet5", None), ("mobilenet_v1", ["alpha=0.25", "resolution=96"])])
def test_qdq_counts_as_the_float_model_with_int8_weights(tmp_path, spec, overrides):
    float_file, qdq = _qdq(tmp_path, spec, overrides)
    f, q = api.analyze(float_file).totals, api.analyze(qdq).totals
    assert q["mults"] == f["mults"]
    w = q["precisions"]["weight_elements"]
    assert w.get("int8", 0) > 0.9 * f["params"]                  # every kernel int8, biases int32
    assert 0.24 < q["param_bytes"] / f["param_bytes"] < 0.30
    assert q["precisions"]["layers"].get("int8", 0) > 0          # the quantized activations


def test_qdq_verifies_against_onnxruntime_running_the_file(tmp_path):
    _, qdq = _qdq(tmp_path, "mobilenet_v1", ["alpha=0.25", "resolution=96"])
    result = api.verify(qdq, engine="onnxruntime")
    layers = result.verification.engine.layers
    assert result.ok, [r for r in layers if not r.ok][:2]
    assert any("the file, end to end" in r.name for r in layers)


def test_qoperator_format_is_refused_by_name(tmp_path):
    import onnx

    src, _ = _qdq(tmp_path, "lenet5")
    out = tmp_path / "qop.onnx"
    model = onnx.load(src)
    name = model.graph.input[0].name
    dims = [d.dim_value or 1 for d in model.graph.input[0].type.tensor_type.shape.dim]

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{name: np.zeros(dims, "float32")}])

        def get_next(self):
            return next(self.batches, None)

    quantization.quantize_static(src, str(out), Reader(), quant_format=quantization.QuantFormat.QOperator)
    from click.testing import CliRunner

    from cnncost.cli import cli
    res = CliRunner().invoke(cli, ["report", str(out)])
    assert res.exit_code == 2 and "QLinearConv" in res.output
