"""Talking to other tools: ONNX export and the onnxruntime engine (optional extra `onnx`)."""
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
