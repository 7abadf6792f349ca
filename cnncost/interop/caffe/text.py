"""Protobuf's text format, as Caffe writes its nets (`layer { name: "conv1" ... }`), read
by a small bounded parser: no protobuf package, no schema. The file is a tree of messages;
each field keeps its line and column, so a message names where in the file a value is
wrong. A value is kept as its token and converted when a reader asks for it as an integer,
a float, a bool, an enum name or a string (`Message.int("num_output")` ...).

The text is hostile until read: its size, its number of tokens and the depth of its nesting
are bounded before anything is built (a 10,000-deep nesting is refused at depth 33, without
recursion), and every integer is held to what a network could need."""
from __future__ import annotations

import bisect
import gc
import re
from dataclasses import dataclass, field

MAX_TEXT_BYTES = 8 * 2 ** 20      # the largest public deploy nets are a few hundred kB
MAX_TOKENS = 500_000              # comments too; about a second; ResNet-50's deploy net has 5,000
MAX_DEPTH = 32                    # Caffe's own nets nest 4 deep (layer, a param, a filler)
MAX_INT = 2 ** 63 - 1             # protobuf's int64; sizes are held to max_dim where they are used

# one token a match, the blanks before it (commas and semicolons separate fields) taken along:
# 1 a comment, 2 a string, 3 a number, 4 a name, 5 punctuation, 6 anything else
_TOKEN = re.compile(r"""[\s,;]*(?:
    (\#[^\n]*)
  | ("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | ([-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[fF]?|(?i:inf(?:inity)?|nan)\b))
  | ([A-Za-z_][A-Za-z0-9_.]*)
  | ([{}<>:\[\]])
  | (\S))""", re.X)
_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|\d+)")
_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|(.))", re.S)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "\\": "\\",
            "'": "'", '"': '"', "?": "?"}
TRUE, FALSE = {"true", "True", "t", "1"}, {"false", "False", "f", "0"}
LEXEMES = {2: "string", 3: "number", 4: "ident"}


class TextError(Exception):
    """What is wrong, and where (1-based line and column)."""

    def __init__(self, message: str, line: int, col: int):
        super().__init__(message)
        self.line, self.col = line, col


class Lines:
    """Offsets in the text as lines and columns, worked out only for a message that needs one."""

    def __init__(self, text: str):
        self.text = text
        self.starts: list[int] | None = None

    def at(self, pos: int) -> tuple[int, int]:
        if self.starts is None:
            self.starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        line = bisect.bisect_right(self.starts, pos)
        return line, pos - self.starts[line - 1] + 1


class _Placed:
    __slots__ = ()

    @property
    def line(self) -> int:
        return self.lines.at(self.pos)[0] if self.lines is not None else 1

    @property
    def col(self) -> int:
        return self.lines.at(self.pos)[1] if self.lines is not None else 1


@dataclass(slots=True)
class Field(_Placed):
    name: str
    lexeme: str            # the token's class: "ident", "number", "string" or "message"
    text: str              # the token (a string's unescaped value); "" for a message
    pos: int = 0
    lines: Lines | None = None
    message: "Message | None" = None

    def fail(self, why: str):
        raise TextError(f"{self.name}: {why}", self.line, self.col)


@dataclass(slots=True)
class Message(_Placed):
    pos: int = 0
    lines: Lines | None = None
    fields: list = field(default_factory=list)
    _by_name: dict | None = None

    def all(self, name: str) -> list[Field]:
        if self._by_name is None:
            self._by_name = {}
            for f in self.fields:
                self._by_name.setdefault(f.name, []).append(f)
        return self._by_name.get(name, [])

    def one(self, name: str) -> Field | None:
        """The field given once, or None; a singular field given twice is refused, as
        protobuf's own text parser does."""
        found = self.all(name)
        if len(found) > 1:
            found[1].fail(f"given {len(found)} times; it takes one value")
        return found[0] if found else None

    def has(self, name: str) -> bool:
        return bool(self.all(name))

    def message(self, name: str) -> "Message":
        """The sub-message `name`, or an empty one (every field at its default)."""
        f = self.one(name)
        if f is None:
            return Message(self.pos, self.lines)
        if f.message is None:
            f.fail("expected a message { ... }")
        return f.message

    def messages(self, name: str) -> list["Message"]:
        out = []
        for f in self.all(name):
            if f.message is None:
                f.fail("expected a message { ... }")
            out.append(f.message)
        return out

    # ---- scalars ------------------------------------------------------------------------
    def int(self, name: str, default: int | None = None, least: int | None = 0) -> int | None:
        f = self.one(name)
        return default if f is None else as_int(f, least)

    def ints(self, name: str, least: int | None = 0) -> list[int]:
        return [as_int(f, least) for f in self.all(name)]

    def float(self, name: str, default: float) -> float:
        f = self.one(name)
        return default if f is None else as_float(f)

    def floats(self, name: str) -> list[float]:
        return [as_float(f) for f in self.all(name)]

    def bool(self, name: str, default: bool) -> bool:
        f = self.one(name)
        if f is None:
            return default
        if f.lexeme in ("ident", "number") and f.text in TRUE | FALSE:
            return f.text in TRUE
        f.fail(f"{f.text!r} is not true or false")

    def enum(self, name: str, values: dict[str, int], default: str) -> str:
        """An enum field by its name (or its number), one of `values` (name -> number)."""
        f = self.one(name)
        if f is None:
            return default
        if f.lexeme == "ident" and f.text in values:
            return f.text
        if f.lexeme == "number" and _INT.fullmatch(f.text):
            by_number = {v: k for k, v in values.items()}
            if int(f.text, 0) in by_number:
                return by_number[int(f.text, 0)]
        f.fail(f"{f.text!r} is not one of {', '.join(values)}")

    def str(self, name: str, default: str = "") -> str:
        f = self.one(name)
        return default if f is None else as_str(f)

    def strs(self, name: str) -> list[str]:
        return [as_str(f) for f in self.all(name)]


def as_int(f: Field, least: int | None = 0) -> int:
    if f.lexeme != "number" or not _INT.fullmatch(f.text):
        f.fail(f"{f.text or 'a message'!r} is not an integer")
    body = f.text.lstrip("+-")
    value = int(body, 16) if body[:2].lower() == "0x" else int(body, 10)
    value = -value if f.text.startswith("-") else value
    if abs(value) > MAX_INT:
        f.fail(f"{f.text} is larger than a 64-bit integer")
    if least is not None and value < least:
        f.fail(f"{value} is less than {least}")
    return value


def as_float(f: Field) -> float:
    if f.lexeme != "number":
        f.fail(f"{f.text or 'a message'!r} is not a number")
    if _INT.fullmatch(f.text):
        return float(as_int(f, None))
    return float(f.text[:-1] if re.fullmatch(r".*\d[fF]", f.text) else f.text)


def as_str(f: Field) -> str:
    if f.lexeme != "string":
        f.fail(f"{f.text or 'a message'!r} is not a quoted string")
    return f.text


def _unescape(token: str) -> str:
    def one(m):
        octal, hexa, char = m.groups()
        if octal is not None:
            return chr(int(octal, 8))
        if hexa is not None:
            return chr(int(hexa, 16))
        return _ESCAPES.get(char, char)
    return _ESCAPE.sub(one, token[1:-1])


def parse(text: str) -> Message:
    """The text's top-level message; a TextError names the line and column of the first
    thing that is not protobuf text (or is past a bound). The collector is paused while the
    tree is built: it would scan every node made so far, again and again (a fifth of the time)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return _parse(text)
    finally:
        if paused:
            gc.enable()


def _parse(text: str) -> Message:
    lines = Lines(text)
    if len(text) > MAX_TEXT_BYTES:
        raise TextError(f"{len(text):,} characters, more than the {MAX_TEXT_BYTES:,} a net's text is read up to", 1, 1)
    root = Message(0, lines)
    stack: list[tuple[Message, str]] = [(root, "")]      # (message, its closing bracket)
    current = root
    name = ""                            # a field name read, its value not yet
    name_pos = 0
    colon = in_list = False
    joined: Field | None = None          # the string value just read: an adjacent string joins it
    tokens = 0

    def fail(why: str, pos: int):
        raise TextError(why, *lines.at(pos))
    for m in _TOKEN.finditer(text):
        tokens += 1
        kind = m.lastindex
        if tokens > MAX_TOKENS:
            fail(f"more than {MAX_TOKENS:,} tokens and comments, more than a net's text holds", m.end())
        if kind is None or kind == 1:                    # trailing blanks, a comment
            continue
        token, pos = m.group(kind), m.start(kind)
        if kind == 6:
            fail(f"unexpected character {token!r}", pos)
        if kind == 2 and joined is not None:
            joined.text += _unescape(token)
            continue
        joined = None
        if not name:                                       # a field name, or a closing bracket
            if token == "}" or token == ">":
                if token != stack[-1][1]:
                    fail(f"unexpected {token!r}" if len(stack) > 1 else f"{token!r} closes nothing", pos)
                stack.pop()
                current = stack[-1][0]
                continue
            if kind != 4:
                fail(f"expected a field name, found {token!r}", pos)
            name, name_pos, colon = token, pos, False
            continue
        if kind == 5:
            if token == ":" and not colon and not in_list:
                colon = True
                continue
            if (token == "{" or token == "<") and not in_list:
                if len(stack) > MAX_DEPTH:
                    fail(f"messages nested more than {MAX_DEPTH} deep", pos)
                sub = Message(pos, lines)
                current.fields.append(Field(name, "message", "", name_pos, lines, sub))
                stack.append((sub, "}" if token == "{" else ">"))
                current, name = sub, ""
                continue
            if token == "[" and colon and not in_list:
                in_list = True
                continue
            if token == "]" and in_list:
                in_list, name = False, ""
                continue
        if kind == 5 or not (colon or in_list):
            fail(f"expected ':' or '{{' after {name!r}, found {token!r}", pos)
        value = Field(name, LEXEMES[kind], _unescape(token) if kind == 2 else token, pos, lines)
        current.fields.append(value)
        if not in_list:
            joined = value if kind == 2 else None
            name = ""
    if in_list or name:
        fail("the text ends inside a field", len(text))
    if len(stack) > 1:
        sub = stack[-1][0]
        raise TextError(f"the message opened at line {sub.line}, column {sub.col} is never closed",
                        *lines.at(len(text)))
    return root
