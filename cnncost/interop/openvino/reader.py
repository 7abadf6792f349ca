"""Read an OpenVINO IR (NAME.xml, with its weights in NAME.bin beside it) as a cnncost spec:
the XML's layers and edges (ir.py, entities never expanded), each Const's bytes from the
.bin by offset and size (weights.py, checked against the file), the graph written as its
ONNX equivalent (translate.py, a handler per layer type in ops.py and plumbing.py) and read
by the ONNX reader, which maps it onto our kinds. Weights kept as float16 or int8 are
counted in their stored bytes; FakeQuantize (NNCF's int8) is a quantize layer with its
step (one per tensor; an activation quantized per channel is stored in 8 bits but not
rounded by `run`). Maps are NCHW, as ONNX's: an input array for `run` is N x C x H x W."""
from __future__ import annotations

import os

from cnncost.errors import ModelFileError
from cnncost.interop.imported import Imported
from cnncost.interop.onnx.reader import Origin, import_model
from cnncost.interop.openvino import ops, plumbing  # noqa: F401 - importing them fills OPS
from cnncost.interop.openvino.ir import read_ir
from cnncost.interop.openvino.ops import PER_CHANNEL
from cnncost.interop.openvino.translate import Translator
from cnncost.interop.openvino.weights import BinFile

PARAMS_AS = ("params are the tensors as the file holds them (a BatchNorm folded into a conv by the converter "
             "changes params, not mults; a PReLU of one slope for every channel is counted as a LeakyReLU, "
             "without it)")
# what a per-channel FakeQuantize's layers hold of their placeholder scale (ops.fake_quantize)
PLACEHOLDER = ("scale", "zero_point", "step", "rounding")


def import_openvino(path: str, *, with_weights: bool = True, input_shape=None) -> Imported:
    """The IR at `path` (its .xml) read once."""
    net = read_ir(path)
    model = Translator(net, BinFile(path), path).run()
    try:
        imported = import_model(model, Origin(path), with_weights=with_weights, input_shape=input_shape)
    except ModelFileError as exc:        # the ONNX reader's words for what it refused, said of this file
        raise ModelFileError(str(exc).replace("unsupported ONNX operators as used here",
                                              "layers not read (named by their ONNX equivalents)")) from None
    imported.document["source"] = f"OpenVINO IR {os.path.basename(path)} (IR v{net.version}): {PARAMS_AS}" + \
        _notes(imported.document["source"])
    for layer in imported.document["layers"]:
        if PER_CHANNEL in layer["name"]:
            for key in PLACEHOLDER:        # the placeholder's quantization: not applied
                layer.get("precision", {}).pop(key, None)
    imported.native = None           # nothing runs the in-memory ONNX graph: it is ours, not the file
    return imported


def _notes(source: str) -> str:
    """What the ONNX reader said beyond its params note (tensors shared by several layers)."""
    parts = source.split("; ")[1:]
    return "".join(f"; {p}" for p in parts)
