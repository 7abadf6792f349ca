"""The ONNX reader's two tables of operator handlers (cnncost/interop/handlers), each
handler called as handler(reader, node, args). LAYERS: an operator read as the map world's
pattern (layers, moves), tried first for a cleaner spec; PLAIN: the operator as it is on
tensors in the model's own order (tensors), where the pattern refuses or has no entry.
The tables live here, apart from their handlers, so that every operator module can fill
them and tensors can call LAYERS without an import circle; reader imports the three."""
from __future__ import annotations

from cnncost.interop.handlers import Handlers

LAYERS = Handlers("ONNX")
PLAIN = Handlers("ONNX")
