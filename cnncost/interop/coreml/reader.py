"""Read a Core ML model (an `.mlpackage` folder or an `.mlmodel` file; an ML Program or a
NeuralNetwork, float32 or float16) as a cnncost spec: its operations are written as the ONNX
nodes they are (program.py for MIL, neural.py for NeuralNetwork layers) into an in-memory
ONNX model that the ONNX importer reads, so Core ML's NCHW maps and kernels need no layout
rules of their own. Core ML itself does not run on Linux: `run` uses the file's own weights
in cnncost's executor, and nothing here compares with Core ML's output.

A converter's BatchNorm folded into the conv before it changes params, not mults: params
are as the file holds them."""
from __future__ import annotations

import os

from cnncost.errors import ModelFileError
from cnncost.files import map_bounded
from cnncost.interop.coreml.package import MAX_SPEC_BYTES, locate
from cnncost.interop.coreml.spec import read_spec
from cnncost.interop.onnx.proto import ProtoError

PARAMS_AS = ("params are the tensors as the file holds them (a BatchNorm the converter folded into a conv "
             "changes params, not mults)")


def import_coreml(path: str, *, with_weights: bool = True, input_shape=None):
    from cnncost.interop.onnx.reader import Origin, import_model

    model = read_coreml(path)
    shown = f"Core ML model {path} ({model.producer})"
    imported = import_model(model, Origin(path, shown), with_weights=with_weights, input_shape=input_shape)
    imported.params_as = PARAMS_AS
    imported.document["source"] = f"{shown}: {PARAMS_AS}"
    imported.document["name"] = _name(path)
    imported.native = None               # nothing here runs a Core ML model
    return imported


def _name(path: str) -> str:
    import re

    base = os.path.splitext(os.path.basename(os.path.normpath(path)))[0]
    return re.sub(r"[^A-Za-z0-9_]+", "_", base).strip("_") or "coreml"


def read_coreml(path: str):
    """The model as an ONNX Model (interop/onnx/proto) of the same operators."""
    spec_path, folder = locate(path)
    buf = map_bounded(spec_path, MAX_SPEC_BYTES, 256 * 2 ** 20, "Core ML model")
    try:
        spec = read_spec(buf)
        if spec.body == "mlProgram":
            from cnncost.interop.coreml.program import ProgramReader

            return ProgramReader(spec, path, folder).run()
        from cnncost.interop.coreml.neural import NeuralReader

        return NeuralReader(spec, path).run()
    except ProtoError as exc:
        raise ModelFileError(f"{path}: not a readable Core ML model ({exc})") from None
    except (RecursionError, UnicodeError, ValueError, OverflowError) as exc:
        raise ModelFileError(f"{path}: not a readable Core ML model ({type(exc).__name__})") from None
