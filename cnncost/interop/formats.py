"""The table of readers: each model-file format cnncost reads, how a file is recognised as
it (its suffix, else its first bytes: the TFL3 identifier, the HDF5 signature, a zip's
members), and its one entry point. The door (cnncost/sources.py) asks `recognise` once per
SPEC and calls `read`; nothing else decides what a file is.

A reader module is imported only when a file of its format is read: `cnncost report
resnet18` loads none of them."""
from __future__ import annotations

import importlib
import os
from typing import Callable

from cnncost.records import Struct

HEAD_BYTES = 16          # what a signature may look at


class Format(Struct):
    __slots__ = ("name", "title", "suffixes", "entry", "signature", "content")

    def __init__(self,
                 name: str,              # "onnx": what results and messages call it
                 title: str,             # "ONNX"
                 suffixes: tuple[str, ...],
                 entry: str,             # "module:function" (path, *, with_weights, input_shape) -> Imported
                 signature: Callable[[bytes], bool] | None = None,   # first HEAD_BYTES bytes -> this format?
                 content: Callable[[str], bool] | None = None):      # a shared suffix (.json) told apart by content
        self.name = name
        self.title = title
        self.suffixes = suffixes
        self.entry = entry
        self.signature = signature
        self.content = content

    def read(self, path: str, *, with_weights: bool, input_shape=None):
        """The file at `path` as an Imported (interop/imported.py), read once."""
        module, _, function = self.entry.partition(":")
        return getattr(importlib.import_module(module), function)(path, with_weights=with_weights,
                                                                  input_shape=input_shape)


def _keras_json(path: str) -> bool:
    from cnncost.interop.keras.archive import is_keras_json

    return is_keras_json(path)


def _keras_zip(path: str) -> bool:
    """A .keras archive under another name: a zip whose members are Keras' own."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return "config.json" in z.namelist()[:64]
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


FORMATS = (
    Format("onnx", "ONNX", (".onnx",), "cnncost.interop.onnx.reader:import_onnx"),   # protobuf: no signature
    Format("keras", "Keras", (".keras", ".h5", ".hdf5", ".json"), "cnncost.interop.keras.reader:import_keras",
           signature=lambda head: head.startswith(b"\x89HDF\r\n\x1a\n"), content=_keras_json),
    Format("tflite", "TensorFlow Lite", (".tflite",), "cnncost.interop.tflite.reader:import_tflite",
           signature=lambda head: head[4:8] == b"TFL3"),
    Format("ncnn", "NCNN", (".param",), "cnncost.interop.ncnn.reader:import_ncnn",
           signature=lambda head: head.startswith((b"7767517", b"\xdd\x85\x76\x00"))),   # text, or .param.bin
    Format("openvino", "OpenVINO IR", (".xml",), "cnncost.interop.openvino.reader:import_openvino"),   # + NAME.bin
    Format("coreml", "Core ML", (".mlpackage", ".mlmodel"), "cnncost.interop.coreml.reader:import_coreml"),
    Format("pt2", "torch.export", (".pt2",), "cnncost.interop.pt2.reader:import_pt2"),
    Format("caffe", "Caffe", (".prototxt",), "cnncost.interop.caffe.reader:import_caffe"),   # text: no signature
)
BY_SUFFIX = {s: f for f in FORMATS for s in f.suffixes}
SPEC_SUFFIXES = (".yaml", ".yml")


def recognise(spec: object) -> Format | None:
    """The format of the model file a SPEC names, or None (a YAML spec, a bundled name).
    By suffix; a suffix two formats share (.json: a spec or a Keras model) by content; a
    file of another suffix by its first bytes."""
    if not isinstance(spec, str):
        return None
    ext = os.path.splitext(spec)[1].lower()
    if ext in BY_SUFFIX:
        found = BY_SUFFIX[ext]
        return found if found.content is None or ext != ".json" or found.content(spec) else None
    if ext in SPEC_SUFFIXES:
        return None
    return by_content(spec)


def by_content(path: str) -> Format | None:
    """The format a file's first bytes say it is, or None (ONNX, protobuf, has no signature;
    a YAML spec none either)."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:
        return None
    for fmt in FORMATS:
        if fmt.signature is not None and fmt.signature(head):
            return fmt
    if head.startswith(b"PK\x03\x04") and _keras_zip(path):
        return BY_SUFFIX[".keras"]
    return None
