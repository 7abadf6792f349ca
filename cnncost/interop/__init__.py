"""The model files cnncost reads, one folder per format (onnx/, keras/, tflite/, torch/ for
live modules), each registered in the table of readers (formats.py) and each giving one
`Imported` (imported.py); ONNX export lives with its format. `require` names the extra a
missing framework comes with."""
from __future__ import annotations

from cnncost.errors import CnnCostError

INSTALL_HINT = "pip install '.[onnx]' in a clone of cnncost (or: pip install onnx onnxruntime)"


def require(module: str):
    """Import onnx or onnxruntime, or say in one line how to get them (exit 2)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise CnnCostError(f"this needs the optional `onnx` extra ({module} is not installed): "
                           f"{INSTALL_HINT}") from None
