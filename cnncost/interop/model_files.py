"""The model files read wherever a SPEC is taken, by format: ONNX (`.onnx`) and Keras
(`.keras`, a legacy `.h5`, a `model.to_json()` saved as `.json`) and TensorFlow Lite (`.tflite`). Each reader gives an
`Imported` (interop/imported.py); which one reads a file is decided here, once."""
from __future__ import annotations

import os

FORMATS = {".onnx": "onnx", ".keras": "keras", ".h5": "keras", ".hdf5": "keras", ".tflite": "tflite"}


def model_format(spec) -> str | None:
    """'onnx', 'keras' or None (a YAML spec or a bundled name)."""
    if not isinstance(spec, str):
        return None
    ext = os.path.splitext(spec)[1].lower()
    if ext in FORMATS:
        return FORMATS[ext]
    if ext == ".json":                  # a spec may be JSON too: a Keras model names its class
        from cnncost.interop.keras_file import is_keras_json

        return "keras" if is_keras_json(spec) else None
    return None


def import_file(path: str, *, with_weights: bool = True, input_shape=None):
    """The model file at `path` as an Imported spec (with its weights when asked)."""
    if model_format(path) == "tflite":
        from cnncost.interop.tflite_import import import_tflite

        return import_tflite(path, with_weights=with_weights, input_shape=input_shape)
    if model_format(path) == "keras":
        from cnncost.interop.keras_import import import_keras

        return import_keras(path, with_weights=with_weights, input_shape=input_shape)
    from cnncost.interop.onnx_import import import_onnx

    return import_onnx(path, with_weights=with_weights, input_shape=input_shape)
