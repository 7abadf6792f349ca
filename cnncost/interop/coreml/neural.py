"""A NeuralNetwork model (NeuralNetwork.proto) written as ONNX nodes: its inputs, then each
layer through its handler in `LAYERS` (interop/coreml/neural_layers.py), the helpers those
read with, and one refusal listing every layer type not read. Weights are WeightParams,
float32 or float16, kept as views of the file."""
from __future__ import annotations

import math

from cnncost.errors import ModelFileError
from cnncost.interop.coreml.graph import OnnxGraph
from cnncost.interop.coreml.neural_layers import LAYERS
from cnncost.interop.onnx.proto import _fields, _floats, _ints, _text
from cnncost.interop.refusals import Refused, Tally

# NeuralNetworkLayer's oneof: field number -> layer type (those read here, and others named)
TYPES = {100: "convolution", 120: "pooling", 130: "activation", 140: "innerProduct", 160: "batchnorm",
         175: "softmax", 180: "lrn", 200: "padding", 210: "upsample", 230: "add", 231: "multiply", 245: "scale",
         250: "bias", 301: "flatten", 320: "concat", 660: "clip", 880: "addBroadcastable",
         890: "divideBroadcastable", 900: "multiplyBroadcastable", 905: "subtractBroadcastable",
         870: "minBroadcastable", 875: "maxBroadcastable", 950: "softmaxND", 980: "concatND", 985: "transpose",
         1045: "batchedMatmul", 1070: "loadConstantND", 1120: "squeeze", 1125: "expandDims", 1130: "flattenTo2D",
         1140: "reshapeStatic", 1280: "reduceMean", 1350: "layerNormalization", 600: "copy",
         500: "custom", 605: "branch", 615: "loop", 400: "simpleRecurrent", 410: "gru", 420: "uniDirectionalLSTM",
         430: "biDirectionalLSTM", 150: "embedding", 300: "reshape", 220: "unary", 240: "average",
         260: "max", 261: "min", 310: "permute", 330: "split", 350: "slice", 790: "erf", 795: "gelu"}
WHY = {"custom": "a custom layer, whose code is not in the file", "branch": "control flow", "loop": "control flow",
       "uniDirectionalLSTM": "Core ML's LSTM (its gate layout is not read)", "biDirectionalLSTM":
       "Core ML's LSTM (its gate layout is not read)", "gru": "Core ML's GRU", "simpleRecurrent": "Core ML's RNN"}

class Fields:
    """One message's fields: field number -> [(wire type, value)]."""

    def __init__(self, buf, span):
        self.buf, self.f = buf, {}
        for num, wire, v in _fields(buf, *span):
            self.f.setdefault(num, []).append((wire, v))

    def has(self, num) -> bool:
        return num in self.f

    def int(self, num, default=0) -> int:
        vals = self.ints(num)
        return vals[-1] if vals else default

    def ints(self, num) -> list:
        out = []
        for wire, v in self.f.get(num, []):
            out += _ints(self.buf, wire, v)
            if len(out) > 4096:
                raise Refused(f"field {num} holds more than 4,096 integers")
        return out

    def float(self, num, default=0.0) -> float:
        vals = [x for wire, v in self.f.get(num, []) for x in _floats(self.buf, wire, v)]
        return vals[-1] if vals else default

    def sub(self, num):
        spans = [v for wire, v in self.f.get(num, []) if wire == 2]
        return Fields(self.buf, spans[-1]) if spans else None

    def subs(self, num) -> list:
        return [Fields(self.buf, v) for wire, v in self.f.get(num, []) if wire == 2][:64]

    def span(self, num):
        spans = [v for wire, v in self.f.get(num, []) if wire == 2]
        return spans[-1] if spans else None


class NeuralReader:
    def __init__(self, spec, path: str):
        self.spec, self.path, self.buf = spec, path, spec.buf
        self.g = OnnxGraph(f"Core ML NeuralNetwork (specification version {spec.version})")
        self.refused = Tally()
        self.known: set[str] = set()
        self._readers: dict | None = None

    def run(self):
        inputs = []
        for x in self.spec.inputs:
            if x.dtype not in ("float32", "float16", "float64", "image"):
                raise ModelFileError(f"{self.path}: input {x.name!r} is of type {x.dtype or '?'}; cnncost reads "
                                     "arrays and images")
            dims = list(x.dims)
            if len(dims) in (1, 3):            # Core ML's C or C x H x W: a batch of one in front
                dims = [1] + dims
            inputs.append((x.name, dims))
            self.known.add(x.name)
        for k, span in enumerate(self.spec.layers):
            self._layer(k, Fields(self.buf, span))
        if self.refused:
            raise ModelFileError(f"{self.path}: {self.refused.total()} layer(s) not read: " + ", ".join(
                f"{t} x{n} (first: {first[0]!r}: {first[1]})" for t, n, first in self.refused.listed()))
        for o in self.spec.outputs:
            if o.name not in self.known:
                raise ModelFileError(f"{self.path}: the model's output {o.name!r} is made by no layer")
        return self.g.model(inputs, [(o.name, o.dims) for o in self.spec.outputs])

    def _layer(self, k: int, f: Fields) -> None:
        name = _text(self.buf, f.span(1)) if f.has(1) else f"layer {k}"
        self.inputs = [_text(self.buf, v) for w, v in f.f.get(2, []) if w == 2]
        self.outputs = [_text(self.buf, v) for w, v in f.f.get(3, []) if w == 2]
        self.layer_name = name
        kinds = [n for n in f.f if n >= 100]
        if len(kinds) != 1 or not self.outputs:
            raise ModelFileError(f"{self.path}: layer {name!r} has {len(kinds)} layer types and "
                                 f"{len(self.outputs)} outputs")
        kind = TYPES.get(kinds[0], f"layer type {kinds[0]}")
        self.kind = kind
        for i in self.inputs:
            if i not in self.known:
                raise ModelFileError(f"{self.path}: layer {name!r} ({kind}) reads {i!r}, which no earlier layer makes")
        try:
            handler = LAYERS.get(kind)
            if handler is None:
                raise Refused(WHY.get(kind, "no mapping onto cnncost's kinds"))
            handler(self, f.sub(kinds[0]) or Fields(self.buf, (0, 0)))
        except Refused as exc:
            self.refused.add(kind, name, str(exc))
        except (IndexError, KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            raise ModelFileError(f"{self.path}: layer {name!r} ({kind}): damaged parameters "
                                 f"({type(exc).__name__}: {str(exc)[:80]})") from None
        self.known.update(self.outputs)

    # ---- what handlers use -------------------------------------------------------------------
    def readers(self, name: str) -> list:
        """(type's field number, inputs, outputs, parameters) of each layer that reads blob `name`."""
        if self._readers is None:
            self._readers = {}
            for span in self.spec.layers:
                f = Fields(self.buf, span)
                kinds = [n for n in f.f if n >= 100]
                if len(kinds) != 1:
                    continue
                ins = [_text(self.buf, v) for w, v in f.f.get(2, []) if w == 2]
                outs = [_text(self.buf, v) for w, v in f.f.get(3, []) if w == 2]
                for i in set(ins):
                    self._readers.setdefault(i, []).append((kinds[0], ins, outs, f.sub(kinds[0])))
        return self._readers.get(name, [])

    def node(self, op: str, inputs: list, **attrs) -> str:
        return self.g.node(op, inputs, self.outputs[:1], self.layer_name, **attrs)

    def x(self, i: int = 0) -> str:
        if len(self.inputs) <= i:
            raise Refused(f"needs {i + 1} input(s), has {len(self.inputs)}")
        return self.inputs[i]

    def weights(self, f: Fields | None, num: int, dims, what: str) -> str:
        """WeightParams field `num` as an initializer of `dims`: floatValue, float16Value or
        rawValue (float32 bytes); quantized weights are refused."""
        w = f.sub(num) if f is not None else None
        if w is None:
            raise Refused(f"no {what}")
        count = math.prod(dims)
        if w.has(40) or w.has(31):
            raise Refused(f"quantized {what}")
        for field, dtype, size in ((1, "float32", 4), (2, "float16", 2), (30, "float32", 4)):
            span = w.span(field)
            if span is None:
                continue
            if span[1] - span[0] != count * size:
                raise ModelFileError(f"{self.path}: layer {self.layer_name!r}: its {what} holds "
                                     f"{span[1] - span[0]:,} bytes, shape {list(dims)} of {dtype} needs "
                                     f"{count * size:,}")
            return self.g.tensor(self.g.temp(f"{self.layer_name}.{what}"), dtype, dims, self.buf[span[0]:span[1]])
        raise Refused(f"its {what} holds no values")
