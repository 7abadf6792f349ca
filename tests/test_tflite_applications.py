"""Optional (skipped without TensorFlow): keras.applications models converted by the TFLite
converter here, float32 and full-integer int8, read by cnncost: the Keras model's MACs, a
quarter of its weight bytes for int8, and run against the TFLite interpreter (float within
1e-4; int8 within one quantization step on at least 99.9% of the logits)."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from cnncost import api  # noqa: E402
from cnncost.runtime import executor  # noqa: E402
from cnncost.sources import open_source

MODELS = {"MobileNetV2": {"alpha": 0.35, "input_shape": (96, 96, 3)},
          "MobileNetV3Small": {"input_shape": (96, 96, 3)}}


def _convert(model, int8, samples):
    """The same conversion as the committed fixtures' (tests/tflite_files/make_tflite_files.py)."""
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "tflite_files"))
    from make_tflite_files import convert

    return convert(model, "int8" if int8 else "float32", samples)


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("int8", [False, True])
def test_converted_application(tmp_path, name, int8):
    model = getattr(keras.applications, name)(weights=None, classifier_activation=None, **MODELS[name])
    kpath = str(tmp_path / f"{name}.keras")
    model.save(kpath)
    rng = np.random.default_rng(0)
    shape = tuple(model.inputs[0].shape[1:])
    samples = rng.uniform(-1, 1, (8,) + shape).astype("float32")
    path = tmp_path / f"{name}_{'int8' if int8 else 'float32'}.tflite"
    path.write_bytes(_convert(model, int8, samples))
    ours, theirs = api.analyze(str(path)), api.analyze(kpath)
    assert ours.totals["mults"] == theirs.totals["mults"]
    if int8:
        assert 0.24 < ours.totals["param_bytes"] / theirs.totals["param_bytes"] < 0.27
    it = tf.lite.Interpreter(model_path=str(path))
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    x = samples[:1]
    feed, real = x, x
    if int8:
        s, z = i["quantization"]
        feed = np.clip(np.round(x / s) + z, -128, 127).astype(np.int8)
        real = ((feed.astype(np.float32) - z) * s).astype(np.float32)
    it.set_tensor(i["index"], feed)
    it.invoke()
    ref = it.get_tensor(o["index"])
    y = executor.run(ours.graph, real, executor.weights_for(ours.graph, open_source(str(path), with_weights=True))).output
    if int8:
        s, z = o["quantization"]
        q = np.clip(np.floor(np.abs(y / s) + 0.5) * np.sign(y) + z, -128, 127)
        assert np.mean(np.abs(q - ref.astype(np.int64)) <= 1) >= 0.999
    else:
        assert np.max(np.abs(y - ref)) <= 1e-4 * max(1.0, float(np.max(np.abs(ref))))
