"""verify --engine onnxruntime judges each layer on onnxruntime's own inputs: a layer's
rounding is not charged to the layers after it, and what it does to the outputs end to end
is reported beside, not judged."""
import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from cnncost.api import analyze  # noqa: E402
from cnncost.runtime import executor, onnxruntime_engine  # noqa: E402
from cnncost.spec import parse_spec  # noqa: E402


def test_a_gelu_after_a_dense_layer_is_judged_on_the_dense_layers_values():
    """A dense layer whose sums cancel (terms of 10^3, results in [-3, 1] beside -1000) is
    1e-6 of its range off, as float32 sums in another order are; a GELU after it, whose
    outputs are below 1, carried that as 2.7e-4 of its own range and failed verify, though
    its erf agrees with onnxruntime's to 1e-7. On the dense layer's values as onnxruntime
    computed them it agrees; the 2.7e-4 is reported at the output, end to end."""
    spec = parse_spec("name: g\ninput: [512]\nlayers:\n  - {name: fc, kind: dense, units: 64}\n"
                      "  - {name: act, kind: gelu}\n", "g.yaml")
    graph = analyze(spec).graph
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 512)).astype(np.float32)
    k = (rng.standard_normal((512, 64)) * 30).astype(np.float32)
    target = np.where(np.arange(64) % 2 == 0, -1000.0, rng.uniform(-3, 1, 64))
    w = {"fc/kernel": k, "fc/bias": (target - (x.astype(np.float64) @ k.astype(np.float64))[0]).astype(np.float32)}
    comp = onnxruntime_engine.compare(graph, w, x, timing=False,
                                      run_ours=lambda on_value: executor.run(graph, x, w, on_value=on_value))
    assert comp.ok, comp.layers
    gelu = comp.layers[1]
    assert gelu.kind == "gelu" and gelu.rel_error < 1e-6
    drift = onnxruntime_engine.end_to_end(comp, executor.run(graph, x, w).outputs)
    assert len(drift) == 1 and drift[0].ok and drift[0].rel_error > 1e-4      # what verify judged before


def test_verify_reports_the_outputs_end_to_end():
    from cnncost import api

    engine = api.verify("lenet5", engine="onnxruntime").verification.engine
    rows = engine.end_to_end
    assert engine.ok and len(rows) == 1 and rows[0].rel_error < 1e-5 and not rows[0].judged
    assert engine.to_dict()["end_to_end"][0]["name"] == rows[0].name


def test_a_file_of_batch_1_runs_each_example_at_a_larger_batch(tmp_path):
    """A model traced on one example (a live module at batch N) is run by onnxruntime on each
    example in turn, its outputs stacked."""
    from cnncost import api

    path = tmp_path / "lenet.onnx"
    api.export("lenet5", str(path))
    result = api.verify(str(path), batch=3, engine="onnxruntime")
    assert result.ok and result.verification.report.batch == 3
    assert any("the file, end to end" in r.name for r in result.verification.engine.layers)
