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


def _qdq(tmp_path, spec, overrides=None, per_channel=True, fmt="QDQ", exclude=()):
    import onnx

    src, out = tmp_path / f"{spec}.onnx", tmp_path / f"{spec}_{fmt}.onnx"
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

    excluded = [n.name for n in model.graph.node if n.op_type in exclude]
    quantization.quantize_static(str(src), str(out), Reader(), quant_format=getattr(quantization.QuantFormat, fmt),
                                 per_channel=per_channel, activation_type=quantization.QuantType.QInt8,
                                 weight_type=quantization.QuantType.QInt8, nodes_to_exclude=excluded)
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


def test_qoperator_convs_are_read_and_contrib_operators_refused(tmp_path):
    """QOperator form: QLinearConv reads as a conv of the real weights, quantized output;
    onnxruntime's own contrib operators (com.microsoft QGemm, QLinearSoftmax) are refused."""
    from click.testing import CliRunner

    from cnncost.cli import cli

    float_file, qop = _qdq(tmp_path, "mobilenet_v1", ["alpha=0.25", "resolution=96"], fmt="QOperator",
                           exclude=("Softmax",))
    assert api.analyze(qop).totals["mults"] == api.analyze(float_file).totals["mults"]
    result = api.verify(qop, engine="onnxruntime")
    assert result.ok, [r for r in result.verification.engine.layers if not r.ok][:2]
    _, lenet = _qdq(tmp_path, "lenet5", fmt="QOperator")
    res = CliRunner().invoke(cli, ["report", lenet])
    assert res.exit_code == 2 and "QGemm" in res.output
