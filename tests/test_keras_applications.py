"""Optional (skipped without Keras): keras.applications models built by Keras itself, saved
as Keras 3 .keras files, read by cnncost. Keras' parameter split exactly, MACs equal to the
bundled spec of the same network, and run on the file's weights equal to Keras' predict.

The saved-late tests save as a notebook does, after other models were built in the same
process, each both ways (.keras and legacy .h5) by Keras 3 and by tf.keras 2 (tf-keras,
skipped where it is not installed), with random weights (BatchNorm statistics included) so
that a weight given to the wrong layer, or the wrong weight of a layer, cannot still match."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")
pytest.importorskip("h5py")

from cnncost import api  # noqa: E402
from cnncost.runtime import executor  # noqa: E402
from cnncost.sources import open_source

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
    ours = executor.run(rep.graph, x, executor.weights_for(rep.graph, open_source(path, with_weights=True))).output
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


# ---- saved late, both ways, by both savers ------------------------------------------------
SAVED_LATE = {
    "MobileNetV3Small": {"input_shape": (224, 224, 3)},     # Keras 3 .h5: `x + 3.0` without its module
    "MobileNetV3Large": {"input_shape": (224, 224, 3)},
    "InceptionV3": {},                                       # tf.keras 2 .keras: keys, not names
    "ConvNeXtTiny": {},                                      # Keras 3 .h5: LayerScale's unnamed 'variable_N'
}


def _other_models(lib):
    for _ in range(2):
        inp = lib.Input((8, 8, 3))
        x = lib.layers.BatchNormalization()(lib.layers.Conv2D(4, 3)(inp))
        x = lib.layers.DepthwiseConv2D(3)(lib.layers.ReLU()(x))
        lib.Model(inp, lib.layers.Dense(2)(lib.layers.Flatten()(lib.layers.Add()([x, x]))))


def _randomize(model):
    """make_keras_files' randomize: weights away from the initializers, BN statistics too."""
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "keras_files"))
    from make_keras_files import randomize

    randomize(model)


@pytest.mark.parametrize("saver", ["keras3", "tf_keras2"])
@pytest.mark.parametrize("name", list(SAVED_LATE))
def test_application_saved_late_both_ways(name, saver, tmp_path):
    lib = keras if saver == "keras3" else pytest.importorskip("tf_keras")
    _other_models(lib)
    model = getattr(lib.applications, name)(weights=None, classifier_activation=None, **SAVED_LATE[name])
    _randomize(model)
    x = np.random.default_rng(0).standard_normal((1,) + tuple(model.inputs[0].shape[1:])).astype("float32")
    ref = model.predict(x, verbose=0)
    for ext in ("keras", "h5"):
        path = str(tmp_path / f"{name}.{ext}")
        model.save(path)
        rep = api.analyze(path)
        k = rep.totals["framework_params"]
        assert (k["total"], k["trainable"], k["non_trainable"]) == _split(model), ext
        ours = executor.run(rep.graph, x, executor.weights_for(rep.graph, open_source(path, with_weights=True))).output
        assert np.max(np.abs(ours - ref)) <= 1e-4 * max(1.0, float(np.max(np.abs(ref)))), ext
        os.remove(path)
