"""NCNN's plain-text .param file (docs/developer-guide/param-and-model-file-structure.md):
the magic 7767517, the layer and blob counts, then one line a layer: its type, name, input
and output counts, the blob names, and `key=value` pairs under the layer's numbered keys.

A value is an integer (`0=64`), a float (`1=1.0`, `1=1e-5`), an array (`-23301=2,1.0,0.5`:
key -23300 - k holds array k, its length first; or `3=2.0,3.0`, modern ncnn's array under
the plain key) or a string (`6=...`, at most 255 characters). The file is held to its own
counts and to bounds before anything is built: its size, the layers, a line's blobs, a
layer's keys, an array's length; a damaged line is refused naming its line number."""
from __future__ import annotations

import math
import re

from cnncost.errors import ModelFileError
from cnncost.files import read_bounded
from cnncost.spec.limits import DEFAULTS

MAGIC = "7767517"
MAX_PARAM_BYTES = 64 * 2 ** 20        # the text of a large network is a few hundred kB
MAX_LAYERS = DEFAULTS["max_layers"]
MAX_BLOBS_A_LAYER = 10_000            # a concatenation of thousands
MAX_KEYS = 256                        # ncnn's ParamDict holds 32 keys; newer layers use a few more
MAX_ARRAY = 1 << 16                   # an array of values (ncnn's are a few hundred at most)
MAX_STRING = 255                      # ncnn's own bound on a string value
ARRAY_KEY = -23300                    # key -23300 - k: array k
MAX_KEY = 1000                        # ncnn's layers number their keys below 40
NAME = re.compile(r"[^\s]{1,256}")


class Params:
    """A layer's `key=value` pairs, read as ncnn's ParamDict reads them: a key the line
    leaves out takes the layer's default; an integer where a float is read is that float
    (`1=6` is 6.0, as ncnn reads it), and a float where an integer is read is refused,
    naming the key (ncnn fails to load such a layer)."""

    def __init__(self, values: dict[int, object], where: str):
        self.values = values
        self.where = where

    def __contains__(self, key: int) -> bool:
        return key in self.values

    def int(self, key: int, default: int = 0) -> int:
        v = self.values.get(key, default)
        if not isinstance(v, int):
            raise ModelFileError(f"{self.where}: key {key} is {_shown(v)}, where ncnn reads an integer")
        return v

    def float(self, key: int, default: float = 0.0) -> float:
        v = self.values.get(key, default)
        if not isinstance(v, (int, float)):
            raise ModelFileError(f"{self.where}: key {key} is {_shown(v)}, where ncnn reads a float")
        return float(v)

    def array(self, key: int, default: list | None = None) -> list:
        v = self.values.get(key, [] if default is None else default)
        if not isinstance(v, list):
            raise ModelFileError(f"{self.where}: key {key} is {_shown(v)}, where ncnn reads an array")
        return v

    def ints(self, key: int, default: list | None = None) -> list[int]:
        v = self.array(key, default)
        if not all(isinstance(x, int) for x in v):
            raise ModelFileError(f"{self.where}: array key {key} holds {_shown(v)}, where ncnn reads integers")
        return v

    def floats(self, key: int, default: list | None = None) -> list[float]:
        v = self.array(key, default)
        if not all(isinstance(x, (int, float)) for x in v):
            raise ModelFileError(f"{self.where}: array key {key} holds {_shown(v)}, where ncnn reads floats")
        return [float(x) for x in v]

    def text(self, key: int) -> str:
        v = self.values.get(key, "")
        return v if isinstance(v, str) else str(v)


class Layer:
    __slots__ = ("type", "name", "bottoms", "tops", "params", "line")

    def __init__(self, type_: str, name: str, bottoms: list[str], tops: list[str], params: Params, line: int):
        self.type, self.name, self.bottoms, self.tops, self.params, self.line = \
            type_, name, bottoms, tops, params, line


def _shown(v) -> str:
    text = f"[{', '.join(map(str, v[:4]))}{', ...' if len(v) > 4 else ''}]" if isinstance(v, list) else repr(v)
    return text[:60]


def _number(text: str, where: str):
    """One value as ncnn's vstr parser: a float when it has a point or an exponent (or is
    inf/nan), an integer otherwise."""
    if re.fullmatch(r"[+-]?\d{1,12}", text):
        return int(text)
    if re.fullmatch(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|nan)", text, re.IGNORECASE):
        v = float(text)
        if not math.isfinite(v):
            raise ModelFileError(f"{where}: value {text!r} is not a finite number")
        return v
    return None


def _value(key: int, text: str, where: str):
    if key <= ARRAY_KEY:
        count, _, rest = text.partition(",")
        n = _number(count, where)
        items = rest.split(",") if rest else []
        if not isinstance(n, int) or n != len(items) or n > MAX_ARRAY:
            raise ModelFileError(f"{where}: array key {key} says {count!r} values and holds {len(items)}")
        values = [_number(t, where) for t in items]
        if any(v is None for v in values):
            raise ModelFileError(f"{where}: array key {key} holds a value that is not a number")
        return values
    if "," in text:                       # modern ncnn: an array under the plain key (or a string)
        items = text.split(",")
        if len(items) > MAX_ARRAY:
            raise ModelFileError(f"{where}: key {key} holds {len(items):,} values (at most {MAX_ARRAY:,})")
        values = [_number(t, where) for t in items]
        if all(v is not None for v in values):
            return values
    v = _number(text, where)
    if v is not None:
        return v
    if len(text) > MAX_STRING:
        raise ModelFileError(f"{where}: key {key} holds a string of {len(text)} characters (ncnn's limit: "
                             f"{MAX_STRING})")
    return text


def _layer(fields: list[str], line: int, path: str) -> Layer:
    where = f"{path}:{line}"
    if len(fields) < 4:
        raise ModelFileError(f"{where}: a layer line needs a type, a name and its input and output counts")
    type_, name, n_in, n_out = fields[:4]
    if not all(NAME.fullmatch(t) for t in (type_, name)):
        raise ModelFileError(f"{where}: a layer type or name over 256 characters")
    where = f"{path}:{line}: layer '{name}' ({type_})"
    counts = [_number(n_in, where), _number(n_out, where)]
    if not all(isinstance(c, int) and 0 <= c <= MAX_BLOBS_A_LAYER for c in counts):
        raise ModelFileError(f"{where}: input and output counts {n_in!r} {n_out!r} (at most "
                             f"{MAX_BLOBS_A_LAYER:,} each)")
    n_blobs = counts[0] + counts[1]
    if len(fields) < 4 + n_blobs:
        raise ModelFileError(f"{where}: {n_blobs} blob names announced, {len(fields) - 4} given")
    blobs = fields[4:4 + n_blobs]
    pairs = fields[4 + n_blobs:]
    if len(pairs) > MAX_KEYS:
        raise ModelFileError(f"{where}: {len(pairs)} parameters (at most {MAX_KEYS})")
    values: dict[int, object] = {}
    for pair in pairs:
        k, sep, v = pair.partition("=")
        key = _number(k, where)
        if not sep or not isinstance(key, int) or not v:
            raise ModelFileError(f"{where}: {pair[:40]!r} is not a key=value parameter")
        if not (0 <= key < MAX_KEY or ARRAY_KEY - MAX_KEY < key <= ARRAY_KEY):
            raise ModelFileError(f"{where}: key {key} is outside ncnn's keys (0 to {MAX_KEY - 1}, and "
                                 f"{ARRAY_KEY} down to {ARRAY_KEY - MAX_KEY + 1} for arrays)")
        if key in values:
            raise ModelFileError(f"{where}: key {key} is given twice")
        if key <= ARRAY_KEY:
            values[ARRAY_KEY - key] = _value(key, v, where)       # array k is read under key k
        else:
            values[key] = _value(key, v, where)
    return Layer(type_, name, blobs[:counts[0]], blobs[counts[0]:], Params(values, where), line)


def read_param(path: str) -> tuple[list[Layer], int]:
    """The layers of a .param file and the blob count it announces; one line per error."""
    raw = read_bounded(path, MAX_PARAM_BYTES, "ncnn param file")
    if raw.startswith(b"\xdd\x85\x76\x00"):
        raise ModelFileError(f"{path}: a binary .param.bin, which cnncost does not read (its layer types are "
                             "indices into one ncnn build's registry): give the text .param")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFileError(f"{path}: not a text file (a binary .param.bin is not read: convert it with "
                             "ncnn's tools, or give the text .param)") from None
    lines = text.splitlines()
    if not lines or lines[0].strip() != MAGIC:
        raise ModelFileError(f"{path}: not an ncnn param file (its first line is not the magic {MAGIC})")
    counts = lines[1].split() if len(lines) > 1 else []
    nums = [_number(c, path) for c in counts]
    if len(nums) != 2 or not all(isinstance(n, int) and n >= 0 for n in nums):
        raise ModelFileError(f"{path}:2: expected the layer count and the blob count")
    n_layers, n_blobs = nums
    if n_layers > MAX_LAYERS:
        raise ModelFileError(f"{path}:2: {n_layers:,} layers, over the limit of {MAX_LAYERS:,}")
    layers = []
    for i, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        if len(layers) == n_layers:
            raise ModelFileError(f"{path}:{i}: more layer lines than the {n_layers} announced")
        layers.append(_layer(fields, i, path))
    if len(layers) != n_layers:
        raise ModelFileError(f"{path}: {n_layers} layers announced, {len(layers)} given")
    return layers, n_blobs
