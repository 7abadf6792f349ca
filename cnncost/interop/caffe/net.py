"""A Caffe NetParameter in text (a deploy .prototxt) as its inputs and its layers, in file
order: the new `layer { type: "Convolution" }` and the old (V1) `layers { type: CONVOLUTION }`,
whose enum names are turned into the new type names here; the inputs given as `input:` with
`input_dim:` (four per input) or `input_shape { dim: ... }`, or by an `Input` layer. Layers
that Caffe's include/exclude rules leave out of a TEST net (a train_val file's TRAIN data
layer) are left out here too."""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from cnncost.errors import ModelFileError
from cnncost.files import read_bounded
from cnncost.interop.caffe.text import MAX_TEXT_BYTES, Message, TextError, as_int, as_str, parse
from cnncost.spec.limits import DEFAULTS

MAX_LAYERS = 20_000           # the deepest public Caffe nets (ResNet-1001) have some 5,000
MAX_BLOBS = 1_000             # bottoms or tops of one layer
MAX_RANK = 8                  # axes of an input blob

# V1LayerParameter.LayerType -> the type name Caffe gives the layer since 2015
V1_TYPES = {"ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL", "CONCAT": "Concat",
            "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution", "DATA": "Data",
            "DECONVOLUTION": "Deconvolution", "DROPOUT": "Dropout", "DUMMY_DATA": "DummyData",
            "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise", "EXP": "Exp", "FLATTEN": "Flatten",
            "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output", "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col",
            "IMAGE_DATA": "ImageData", "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct",
            "LRN": "LRN", "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
            "MVN": "MVN", "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid",
            "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "SILENCE": "Silence", "SOFTMAX": "Softmax",
            "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice", "TANH": "TanH",
            "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold"}
V1_NUMBERS = {"NONE": 0, "ABSVAL": 35, "ACCURACY": 1, "ARGMAX": 30, "BNLL": 2, "CONCAT": 3, "CONTRASTIVE_LOSS": 37,
              "CONVOLUTION": 4, "DATA": 5, "DECONVOLUTION": 39, "DROPOUT": 6, "DUMMY_DATA": 32, "EUCLIDEAN_LOSS": 7,
              "ELTWISE": 25, "EXP": 38, "FLATTEN": 8, "HDF5_DATA": 9, "HDF5_OUTPUT": 10, "HINGE_LOSS": 28,
              "IM2COL": 11, "IMAGE_DATA": 12, "INFOGAIN_LOSS": 13, "INNER_PRODUCT": 14, "LRN": 15,
              "MEMORY_DATA": 29, "MULTINOMIAL_LOGISTIC_LOSS": 16, "MVN": 34, "POOLING": 17, "POWER": 26,
              "RELU": 18, "SIGMOID": 19, "SIGMOID_CROSS_ENTROPY_LOSS": 27, "SILENCE": 36, "SOFTMAX": 20,
              "SOFTMAX_LOSS": 21, "SPLIT": 22, "SLICE": 33, "TANH": 23, "WINDOW_DATA": 24, "THRESHOLD": 31}


@dataclass
class LayerDef:
    name: str
    type: str
    bottoms: list
    tops: list
    params: Message           # the layer's own message: convolution_param and the rest
    line: int
    col: int


@dataclass
class InputDef:
    name: str
    shape: tuple              # Caffe's, the batch first
    line: int
    col: int


@dataclass
class Net:
    path: str
    name: str
    inputs: list
    layers: list
    v1: bool                  # written with the old `layers { }`


def read_net(path: str) -> Net:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = 0                                     # the read that follows says what is wrong
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        raise ModelFileError(f"{path}: a FIFO or socket, not a file (opening one nobody writes to waits for ever)")
    raw = read_bounded(path, MAX_TEXT_BYTES, "Caffe net")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{path}: not protobuf text (a byte that is not UTF-8 at offset {exc.start:,}); "
                             "a binary .caffemodel holds weights: give the deploy .prototxt, with the "
                             ".caffemodel beside it under the same name") from None
    root = parse(text)
    return _net(path, root)


def _net(path: str, root: Message) -> Net:
    new, old = root.all("layer"), root.all("layers")
    if not new and not old:
        if root.has("net") or root.has("base_lr") or root.has("train_net"):
            raise TextError("a solver definition, not a net: give the net's deploy prototxt", 1, 1)
        raise TextError("no `layer { }` (nor V1 `layers { }`): not a Caffe net", 1, 1)
    if new and old:
        raise TextError("both `layer` and the old `layers`: Caffe reads a net written one way "
                        "(upgrade it with Caffe's upgrade_net_proto_text)", old[0].line, old[0].col)
    found = new or old
    if len(found) > MAX_LAYERS:
        raise TextError(f"{len(found):,} layers, more than the {MAX_LAYERS:,} cnncost reads", found[-1].line, 1)
    state = root.message("state")
    phase = state.enum("phase", {"TRAIN": 0, "TEST": 1}, "TEST")
    level, stages = state.int("level", 0, None), set(state.strs("stage"))
    layers = []
    for f in found:
        if f.message is None:
            f.fail("expected a message { ... }")
        layer = _layer(f.message, bool(old))
        if _included(layer.params, phase, level, stages):
            layers.append(layer)
    name = root.str("name")
    return Net(path, name, _inputs(root), layers, bool(old))


def _layer(m: Message, v1: bool) -> LayerDef:
    if v1 and m.has("layer"):
        m.one("layer").fail("a V0 layer (Caffe before 2014): upgrade the net with Caffe's upgrade_net_proto_text")
    name = m.str("name")
    if v1:
        kind = m.enum("type", V1_NUMBERS, "NONE")
        if kind == "NONE":
            raise TextError(f"layer '{name}' has no type", m.line, m.col)
        kind = V1_TYPES.get(kind, kind)
    else:
        kind = m.str("type")
        if not kind:
            raise TextError(f"layer '{name}' has no type", m.line, m.col)
    bottoms, tops = m.strs("bottom"), m.strs("top")
    if len(bottoms) > MAX_BLOBS or len(tops) > MAX_BLOBS:
        raise TextError(f"layer '{name}' has {max(len(bottoms), len(tops)):,} bottoms or tops, more than "
                        f"{MAX_BLOBS:,}", m.line, m.col)
    return LayerDef(name or f"layer@{m.line}", kind, bottoms, tops, m, m.line, m.col)


def _included(m: Message, phase: str, level: int, stages: set) -> bool:
    """Caffe's NetStateRule: with include rules a layer is in when one of them holds; with
    exclude rules it is in unless one of them holds; a V1 layer's `phase` field too."""
    include, exclude = m.messages("include"), m.messages("exclude")
    if include and exclude:
        raise TextError("both include and exclude rules (Caffe takes one kind)", m.line, m.col)

    def holds(rule: Message) -> bool:
        if rule.has("phase") and rule.enum("phase", {"TRAIN": 0, "TEST": 1}, phase) != phase:
            return False
        if level < rule.int("min_level", level, None) or level > rule.int("max_level", level, None):
            return False
        return set(rule.strs("stage")) <= stages and not set(rule.strs("not_stage")) & stages

    if include:
        return any(holds(r) for r in include)
    if exclude:
        return not any(holds(r) for r in exclude)
    return True


def _inputs(root: Message) -> list[InputDef]:
    """The net's own inputs (`input:` with `input_dim:` or `input_shape`)."""
    names = root.all("input")
    dims = root.all("input_dim")
    shapes = root.messages("input_shape")
    if not names:
        if dims or shapes:
            (dims or root.all("input_shape"))[0].fail("given with no `input:` name")
        return []
    out = []
    if dims and shapes:
        dims[0].fail("given with input_shape: a net gives one of them")
    if shapes:
        if len(shapes) != len(names):
            raise TextError(f"{len(names)} input(s) and {len(shapes)} input_shape(s)", names[0].line, names[0].col)
        for f, shape in zip(names, shapes):
            out.append(InputDef(as_str(f), blob_shape(shape), f.line, f.col))
    elif dims:
        if len(dims) != 4 * len(names):
            raise TextError(f"{len(dims)} input_dim values for {len(names)} input(s): four each (N, C, H, W)",
                            dims[0].line, dims[0].col)
        for i, f in enumerate(names):
            shape = tuple(_dim(d) for d in dims[4 * i: 4 * i + 4])
            out.append(InputDef(as_str(f), shape, f.line, f.col))
    else:
        raise TextError("an `input:` with no input_dim or input_shape: its shape is not given "
                        "(give --input-shape, or input_shape in the file)", names[0].line, names[0].col)
    return out


def _dim(f) -> int:
    value = as_int(f, 1)
    if value > DEFAULTS["max_dim"]:
        f.fail(f"{value:,} is over the limit of {DEFAULTS['max_dim']:,} for a size")
    return value


def blob_shape(m: Message) -> tuple:
    """A BlobShape's dims (each positive, at most max_dim)."""
    dims = tuple(_dim(f) for f in m.all("dim"))
    if not 1 <= len(dims) <= MAX_RANK:
        raise TextError(f"a shape of {len(dims)} dims (1 to {MAX_RANK} are read)", m.line, m.col)
    return dims


def stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]
