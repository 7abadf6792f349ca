"""Optional (skipped without Keras): keras.applications models built by Keras itself, saved
as Keras 3 .keras files, read by cnncost. Keras' parameter split exactly, MACs equal to the
bundled spec of the same network, and run on the file's weights equal to Keras' predict."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")
pytest.importorskip("h5py")

from cnncost import api  # noqa: E402
from cnncost.runtime import executor  # noqa: E402

# keras.applications name -> (constructor arguments, the bundled spec with the same MACs)
MODELS = {
    "MobileNet": ({}, "mobilenet_v1"),
    "MobileNetV2": ({}, "mobilenet_v2"),
    "VGG16": ({}, "vgg16"),
    "Xception": ({}, "xception"),
    "MobileNetV3Small": ({"input_shape": (224, 224, 3)}, None),
    "DenseNet121": ({}, None),
}


def _split(model):
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return model.count_params(), trainable, model.count_params() - trainable


@pytest.mark.parametrize("name", list(MODELS))
def test_application(name, tmp_path):
    kwargs, bundled = MODELS[name]
    model = getattr(keras.applications, name)(weights=None, classifier_activation=None, **kwargs)
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    rep = api.analyze(path)
    k = rep.totals["framework_params"]
    assert (k["total"], k["trainable"], k["non_trainable"]) == _split(model)
    if bundled:
        assert rep.totals["mults"] == api.analyze(bundled).totals["mults"]
    x = np.random.default_rng(0).standard_normal((1,) + tuple(model.inputs[0].shape[1:])).astype("float32")
    ours = executor.run(rep.graph, x, executor.weights_for(rep.graph, path)).output
    ref = model.predict(x, verbose=0)
    assert np.max(np.abs(ours - ref)) <= 1e-4 * max(1.0, float(np.max(np.abs(ref))))


def test_frozen_base_transfer_model(tmp_path):
    base = keras.applications.MobileNetV2(input_shape=(96, 96, 3), include_top=False, weights=None, alpha=0.35)
    base.trainable = False
    inputs = keras.Input((96, 96, 3))
    x = keras.layers.RandomFlip("horizontal")(inputs)
    x = keras.applications.mobilenet_v2.preprocess_input(x)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dropout(0.2)(x)))
    path = str(tmp_path / "transfer.keras")
    model.save(path)
    k = api.analyze(path).totals["framework_params"]
    assert (k["total"], k["trainable"], k["non_trainable"]) == _split(model)
