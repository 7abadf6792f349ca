"""Mutations of Caffe nets for the reader fuzzer (tests/reader_fuzzing.py) that reach past
the text parser: numbers made hostile, layer types, enums and blob names swapped, lines
dropped, doubled or nested, parameters added where they do not fit; a quarter of the time
bytes, as the fuzzer's own mutations do."""
from __future__ import annotations

import random
import re

NUMBERS = ["0", "-1", "1", "2", "3", "7", "65536", "2147483647", "2147483648", "1000000000000",
           "99999999999999999999999", "1e308", "-1e308", "nan", "inf", "0.5", "-0", "0x7fffffff"]
TYPES = ["Convolution", "Deconvolution", "DepthwiseConvolution", "Pooling", "InnerProduct", "ReLU", "PReLU",
         "BatchNorm", "Scale", "Bias", "Eltwise", "Concat", "Slice", "Flatten", "Reshape", "Softmax", "Dropout",
         "Split", "Silence", "LRN", "Input", "Data", "Python", "Permute", "Sigmoid", "TanH", "ELU"]
ENUMS = ["MAX", "AVE", "STOCHASTIC", "SUM", "PROD", "CEIL", "FLOOR", "WITHIN_CHANNEL", "TRAIN", "TEST", "RELU",
         "CONVOLUTION", "POOLING", "NONE", "BOGUS"]
EXTRA = ["group: 3", "axis: 0", "axis: 2", "axis: -7", "pad: 5", "stride: 0", "dilation: 4", "num_output: 0",
         "bias_term: false", "global_pooling: true", "kernel_h: 2", "coeff: 2", "slice_point: 1",
         "shape { dim: 0 dim: -1 }", "include { phase: TRAIN }", "transpose: true", "channel_shared: true",
         "top: \"data\"", "bottom: \"data\"", "bottom: \"nowhere\"", "operation: MAX"]


def _swap(rng, text, pattern, choices):
    spots = list(re.finditer(pattern, text))
    if not spots:
        return text
    m = rng.choice(spots)
    return text[:m.start(1)] + rng.choice(choices) + text[m.end(1):]


def _lines(rng, text):
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    choice = rng.random()
    if choice < 0.4:
        del lines[i]
    elif choice < 0.7:
        lines[i:i] = [lines[i]] * rng.randint(1, 3)
    else:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def _extra(rng, text):
    spots = [m.end() for m in re.finditer(r"_param\s*\{|layers?\s*\{", text)]
    if not spots:
        return text
    at = rng.choice(spots)
    return text[:at] + " " + rng.choice(EXTRA) + " " + text[at:]


def _blob(rng, text):
    names = re.findall(r'(?:bottom|top):\s*"([^"]*)"', text)
    if not names:
        return text
    return _swap(rng, text, r'(?:bottom|top):\s*"([^"]*)"', names + ["nowhere", ""])


def _nest(rng, text):
    at = rng.randrange(len(text) + 1)
    depth = rng.choice((2, 40, 5000))
    return text[:at] + "x {" * depth + text[at:]


TEXT_MUTATIONS = (
    lambda rng, t: _swap(rng, t, r":\s*(-?[0-9][0-9.e+-]*)", NUMBERS),
    lambda rng, t: _swap(rng, t, r'type:\s*"([^"]*)"', TYPES),
    lambda rng, t: _swap(rng, t, r":\s*([A-Z][A-Z_]+)\b", ENUMS),
    _lines, _extra, _blob, _nest,
)


def mutate_prototxt(rng: random.Random, raw: bytes, mutate_bytes) -> bytes:
    if rng.random() < 0.25:
        return mutate_bytes(rng, raw)
    text = raw.decode("utf-8", "replace")
    for _ in range(rng.randint(1, 3)):
        text = rng.choice(TEXT_MUTATIONS)(rng, text)
    return text.encode("utf-8")
