"""The Core ML protobuf (Model.proto, MIL.proto, NeuralNetwork.proto of coremltools'
mlmodel/format), read with our own wire-format reader (interop/onnx/proto.py): the model's
inputs and outputs, and its body, an ML Program (functions, blocks, operations with typed
inputs and outputs, constants inline or in a blob file) or a NeuralNetwork (layers, each
one parameter message, handed on as a span: interop/coreml/neural.py decodes it).

Field numbers are the .proto files'. Counts are bounded before anything is kept (operations
to the layer limit, values decoded as numbers to MAX_SMALL); a weight's bytes stay a view of
the mapped file, decoded only when `run` asks for them."""
from __future__ import annotations

from dataclasses import dataclass, field

from cnncost.interop.onnx.proto import ProtoError, _fields, _floats, _ints, _text
from cnncost.spec.limits import DEFAULTS

MAX_OPERATIONS = DEFAULTS["max_layers"]
MAX_SMALL = 4096             # values of a constant decoded as Python numbers (axes, pads, a shape)
MAX_RANK = 16
# MILSpec.DataType -> (our name, bytes per value); ArrayFeatureType.ArrayDataType -> our name
MIL_TYPES = {1: ("bool", 1), 2: ("string", 0), 10: ("float16", 2), 11: ("float32", 4), 12: ("float64", 8),
             13: ("bfloat16", 2), 21: ("int8", 1), 22: ("int16", 2), 23: ("int32", 4), 24: ("int64", 8),
             31: ("uint8", 1), 32: ("uint16", 2), 33: ("uint32", 4), 34: ("uint64", 8)}
ARRAY_TYPES = {65568: "float32", 65600: "float64", 131104: "int32", 131080: "int8", 65552: "float16"}
# Model.Type's oneof: the bodies read here, and the others named in a refusal
BODIES = {500: "neuralNetwork", 403: "neuralNetworkClassifier", 303: "neuralNetworkRegressor", 502: "mlProgram"}
OTHERS = {200: "pipelineClassifier", 201: "pipelineRegressor", 202: "pipeline", 300: "glmRegressor",
          301: "supportVectorRegressor", 302: "treeEnsembleRegressor", 304: "bayesianProbitRegressor",
          400: "glmClassifier", 401: "supportVectorClassifier", 402: "treeEnsembleClassifier",
          404: "kNearestNeighborsClassifier", 501: "itemSimilarityRecommender", 555: "customModel",
          556: "linkedModel", 600: "oneHotEncoder", 601: "imputer", 602: "featureVectorizer", 603: "dictVectorizer",
          604: "scaler", 606: "categoricalMapping", 607: "normalizer", 609: "arrayFeatureExtractor",
          610: "nonMaximumSuppression", 900: "identity", 2000: "textClassifier", 2001: "wordTagger",
          2002: "visionFeaturePrint", 2004: "gazetteer", 2005: "wordEmbedding", 3000: "serializedModel"}
COLOR_CHANNELS = {10: 1, 20: 3, 30: 3}      # ImageFeatureType.ColorSpace: GRAYSCALE, RGB, BGR


@dataclass
class Feature:
    name: str
    dims: list
    dtype: str


@dataclass
class Value:
    """A MIL value: a tensor inline (`numbers`: small ones decoded; `raw`: the bytes of a
    float or bytes tensor, undecoded) or in a blob file (`blob`: (file name, offset))."""
    dtype: str = ""
    dims: tuple = ()
    numbers: list | None = None
    raw: memoryview | None = None
    raw_code: str = ""             # struct code of `raw` as stored: "f" floats, "d" doubles, "" bytes
    strings: list | None = None
    blob: tuple | None = None


@dataclass
class Operation:
    type: str
    inputs: dict                   # argument -> [str (a name) | Value]
    outputs: list                  # [Feature]
    attributes: dict               # name -> Value
    blocks: int = 0


@dataclass
class Program:
    inputs: list                   # [Feature]
    opset: str
    outputs: list                  # names
    operations: list


@dataclass
class CoreMLSpec:
    version: int
    body: str                      # BODIES' name
    inputs: list
    outputs: list
    program: Program | None = None
    layers: list = field(default_factory=list)     # NeuralNetwork: [(field, span of the layer)]
    buf: object = None


def read_spec(buf) -> CoreMLSpec:
    version, inputs, outputs, body, span = 0, [], [], None, None
    for num, wire, v in _fields(buf, 0, len(buf)):
        if num == 1 and wire == 0:
            version = v
        elif num == 2 and wire == 2:
            inputs, outputs = _description(buf, v)
        elif num in BODIES and wire == 2:
            body, span = BODIES[num], v
        elif num in OTHERS:
            raise ProtoError(f"a {OTHERS[num]} model: cnncost reads neural networks and ML Programs")
    if body is None or version == 0:
        raise ProtoError("no specificationVersion or no neural network / ML Program (not a Core ML model?)")
    spec = CoreMLSpec(version, body, inputs, outputs, buf=buf)
    if body == "mlProgram":
        spec.program = _program(buf, *span)
    else:
        spec.layers = [v for num, wire, v in _fields(buf, *span) if num == 1 and wire == 2]
        if len(spec.layers) > MAX_OPERATIONS:
            raise ProtoError(f"{len(spec.layers):,} layers, more than the {MAX_OPERATIONS:,} cnncost reads")
    return spec


def _description(buf, span) -> tuple[list, list]:
    inputs, outputs = [], []
    for num, wire, v in _fields(buf, *span):
        if num in (1, 10) and wire == 2:
            (inputs if num == 1 else outputs).append(_feature(buf, v))
    return inputs, outputs


def _feature(buf, span) -> Feature:
    name, dims, dtype = "", [], ""
    for num, wire, v in _fields(buf, *span):
        if num == 1 and wire == 2:
            name = _text(buf, v)
        elif num == 3 and wire == 2:
            for n2, w2, v2 in _fields(buf, *v):
                if n2 == 5 and w2 == 2:                 # multiArrayType
                    for n3, w3, v3 in _fields(buf, *v2):
                        if n3 == 1:
                            dims += _ints(buf, w3, v3)
                        elif n3 == 2 and w3 == 0:
                            dtype = ARRAY_TYPES.get(v3, f"array type {v3}")
                elif n2 == 4 and w2 == 2:               # imageType: N x C x H x W
                    size = {1: 0, 2: 0, 3: 0}
                    for n3, w3, v3 in _fields(buf, *v2):
                        if n3 in size and w3 == 0:
                            size[n3] = v3
                    dims, dtype = [1, COLOR_CHANNELS.get(size[3], 3), size[2], size[1]], "image"
                elif w2 == 2 and n2 in (1, 2, 3, 6, 7, 8):
                    dtype = {1: "int64", 2: "double", 3: "string", 6: "dictionary", 7: "sequence", 8: "state"}[n2]
    if len(dims) > MAX_RANK:
        raise ProtoError(f"feature '{name}' has {len(dims)} dimensions")
    return Feature(name, dims, dtype)


# ---- ML Program ---------------------------------------------------------------------------
def _entry(buf, span) -> tuple[str, tuple | None]:
    """A map<string, message> entry: (key, span of its value)."""
    key, value = "", None
    for num, wire, v in _fields(buf, *span):
        if num == 1 and wire == 2:
            key = _text(buf, v)
        elif num == 2 and wire == 2:
            value = v
    return key, value


def _program(buf, start, end) -> Program:
    functions = {}
    for num, wire, v in _fields(buf, start, end):
        if num == 2 and wire == 2:
            key, span = _entry(buf, v)
            functions[key] = span
    if "main" not in functions and len(functions) != 1:
        raise ProtoError(f"the ML Program has functions {sorted(functions)[:8]}; cnncost reads `main` (or one)")
    span = functions.get("main") or next(iter(functions.values()))
    inputs, opset, blocks = [], "", {}
    for num, wire, v in _fields(buf, *span):
        if num == 1 and wire == 2:
            inputs.append(_named_type(buf, v))
        elif num == 2 and wire == 2:
            opset = _text(buf, v)
        elif num == 3 and wire == 2:
            key, block = _entry(buf, v)
            blocks[key] = block
    block = blocks.get(opset) or (next(iter(blocks.values())) if len(blocks) == 1 else None)
    if block is None:
        raise ProtoError(f"the main function has no block for its opset {opset!r}")
    outputs, operations = [], []
    for num, wire, v in _fields(buf, *block):
        if num == 2 and wire == 2:
            outputs.append(_text(buf, v))
        elif num == 3 and wire == 2:
            if len(operations) == MAX_OPERATIONS:
                raise ProtoError(f"more than {MAX_OPERATIONS:,} operations, the most cnncost reads")
            operations.append(_operation(buf, v))
    return Program(inputs, opset, outputs, operations)


def _operation(buf, span) -> Operation:
    op = Operation("", {}, [], {})
    for num, wire, v in _fields(buf, *span):
        if wire != 2:
            continue
        if num == 1:
            op.type = _text(buf, v)
        elif num == 2:
            key, arg = _entry(buf, v)
            op.inputs[key] = _bindings(buf, arg) if arg else []
        elif num == 3:
            op.outputs.append(_named_type(buf, v))
        elif num == 4:
            op.blocks += 1                  # control flow: refused by the reader, never walked
        elif num == 5:
            key, value = _entry(buf, v)
            if value:
                op.attributes[key] = _value(buf, value)
    return op


def _bindings(buf, span) -> list:
    out = []
    for num, wire, v in _fields(buf, *span):
        if num == 1 and wire == 2:
            for n2, w2, v2 in _fields(buf, *v):
                if n2 == 1 and w2 == 2:
                    out.append(_text(buf, v2))
                elif n2 == 2 and w2 == 2:
                    out.append(_value(buf, v2))
        if len(out) > 100_000:
            raise ProtoError("an argument of more than 100,000 bindings")
    return out


def _named_type(buf, span) -> Feature:
    name, dtype, dims = "", "", []
    for num, wire, v in _fields(buf, *span):
        if num == 1 and wire == 2:
            name = _text(buf, v)
        elif num == 2 and wire == 2:
            dtype, dims = _value_type(buf, v)
    return Feature(name, dims, dtype)


def _value_type(buf, span) -> tuple[str, list]:
    """(dtype, dims) of a ValueType: a tensor's (None for an unknown size); another type by name."""
    for num, wire, v in _fields(buf, *span):
        if num == 1 and wire == 2:
            dtype, dims = "", []
            for n2, w2, v2 in _fields(buf, *v):
                if n2 == 1 and w2 == 0:
                    dtype = MIL_TYPES.get(v2, (f"type {v2}", 0))[0]
                elif n2 == 3 and w2 == 2:
                    size = None
                    for n3, w3, v3 in _fields(buf, *v2):
                        if n3 == 1 and w3 == 2:
                            size = next((d for n4, w4, d in _fields(buf, *v3) if n4 == 1 and w4 == 0), 0)
                    dims.append(size)
                    if len(dims) > MAX_RANK:
                        raise ProtoError(f"a tensor of more than {MAX_RANK} dimensions")
            return dtype, dims
        if wire == 2 and num in (2, 3, 4, 5):
            return {2: "list", 3: "tuple", 4: "dictionary", 5: "state"}[num], []
    return "", []


def _value(buf, span) -> Value:
    value = Value()
    for num, wire, v in _fields(buf, *span):
        if num == 2 and wire == 2:
            value.dtype, dims = _value_type(buf, v)
            value.dims = tuple(d if d is not None else -1 for d in dims)
        elif num == 3 and wire == 2:
            for n2, w2, v2 in _fields(buf, *v):
                if n2 == 1 and w2 == 2:
                    _tensor_value(buf, v2, value)
                elif w2 == 2:
                    value.dtype = {2: "tuple", 3: "list", 4: "dictionary"}.get(n2, value.dtype)
        elif num == 5 and wire == 2:
            name, offset = "", 0
            for n2, w2, v2 in _fields(buf, *v):
                if n2 == 1 and w2 == 2:
                    name = _text(buf, v2)
                elif n2 == 2 and w2 == 0:
                    offset = v2
            value.blob = (name, offset)
    return value


def _tensor_value(buf, span, value: Value) -> None:
    for num, wire, v in _fields(buf, *span):
        if wire != 2:
            continue
        inner = [(w, x) for n, w, x in _fields(buf, *v) if n == 1]
        if num in (1, 6):              # floats, doubles: kept as bytes (a weight can be inline)
            if len(inner) == 1 and inner[0][0] == 2:
                value.raw, value.raw_code = buf[inner[0][1][0]:inner[0][1][1]], "f" if num == 1 else "d"
            else:
                value.numbers = [f for w, x in inner for f in _floats(buf, w, x, "f" if num == 1 else "d")]
        elif num in (2, 3, 5):         # ints, bools, longInts: varints
            numbers = []
            for w, x in inner:
                numbers += _ints(buf, w, x)
                if len(numbers) > MAX_SMALL:
                    raise ProtoError(f"an integer constant of more than {MAX_SMALL:,} values")
            value.numbers = [bool(n) for n in numbers] if num == 3 else numbers
        elif num == 4:
            value.strings = [_text(buf, x) for w, x in inner if w == 2][:MAX_SMALL]
        elif num == 7:
            value.raw = memoryview(b"").cast("B") if not inner else buf[inner[0][1][0]:inner[0][1][1]]
