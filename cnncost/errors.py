"""User-facing errors. Every error knows where it happened so the CLI can print one line.

Exit codes follow the design brief: 2 = the input is wrong, 1 = a check failed.
"""
from __future__ import annotations

from operator import itemgetter


class Loc(tuple):
    """A position in a spec file (1-based line and column). A tuple of three (made for every
    key of a spec, so made cheaply), immutable and compared by value."""

    __slots__ = ()

    def __new__(cls, file: str, line: int, col: int):
        return tuple.__new__(cls, (file, line, col))

    def __getnewargs__(self):             # pickled between a sweep's worker processes
        return tuple(self)

    file = property(itemgetter(0))
    line = property(itemgetter(1))
    col = property(itemgetter(2))

    def __repr__(self) -> str:
        return f"Loc(file={self[0]!r}, line={self[1]!r}, col={self[2]!r})"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class CnnCostError(Exception):
    """Base class: a message plus optional location and layer context."""

    exit_code = 2

    def __init__(self, message: str, *, loc: Loc | None = None,
                 layer: str | None = None, kind: str | None = None):
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.layer = layer
        self.kind = kind

    def with_context(self, *, loc: Loc | None = None, layer: str | None = None,
                     kind: str | None = None) -> "CnnCostError":
        """Fill in context the raiser did not know, keeping what it did know."""
        self.loc = self.loc or loc
        self.layer = self.layer or layer
        self.kind = self.kind or kind
        return self

    def __str__(self) -> str:
        parts = []
        if self.loc is not None:
            parts.append(f"{self.loc}: ")
        if self.layer is not None:
            parts.append(f"layer '{self.layer}'")
            parts.append(f" ({self.kind}): " if self.kind else ": ")
        parts.append(self.message)
        return cut(escape_controls("".join(parts)))


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
MAX_MESSAGE = 2000      # a refusal is a line to read: a file's text quoted whole could be 100 kB


def cut(text: str, limit: int = MAX_MESSAGE) -> str:
    """`text` cut to `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters not shown)"


def escape_controls(text: str) -> str:
    """One line, always, and nothing a terminal would act on: newlines, escape sequences,
    bells and every other control character quoted from user input are shown escaped."""
    return "".join(ch if ch.isprintable() or ch == " " else _ESCAPES.get(ch, ascii(ch)[1:-1])
                   for ch in text)


class SpecError(CnnCostError):
    """The spec (YAML, names, arguments, expressions) is wrong."""


class ModelFileError(SpecError):
    """A model file (ONNX, Keras, TFLite) cannot be read as a network: damaged, foreign, too
    large, or holding what cnncost does not read. The one error every reader raises."""


class ShapeError(CnnCostError):
    """Shapes do not fit: mismatched merge inputs, kernel larger than input, ..."""


class LimitError(CnnCostError):
    """A configured safety limit was exceeded (size, layer count, memory)."""


class ExportError(CnnCostError):
    """A network or layer cannot be written as ONNX."""


class CheckFailed(CnnCostError):
    """An expectation, budget or verification did not hold."""

    exit_code = 1


class CnnCostWarning(UserWarning):
    """Something the user should know that does not stop the command (the CLI prints it on
    stderr as `warning: ...`; from Python it is an ordinary warning)."""


def warn(message: str) -> None:
    import warnings

    warnings.warn(escape_controls(message), CnnCostWarning, stacklevel=2)


def closest(word, known) -> str | None:
    """The one of `known` that `word` was most likely meant to be (a name in another case
    first, then the closest spelling), or None: the one did-you-mean of every message that
    refuses a name or an enumerated value."""
    import difflib

    names = [str(k) for k in known]
    text = str(word)
    lowered = {}
    for name in names:
        lowered.setdefault(name.lower(), name)
    if text.lower() in lowered:
        return lowered[text.lower()]
    close = difflib.get_close_matches(text.lower(), list(lowered), n=1)
    return lowered[close[0]] if close else None


def did_you_mean(word, known, quote: str = "'") -> str:
    """' (did you mean 'relu'?)', or '' when nothing is close."""
    name = closest(word, known)
    return f" (did you mean {quote}{name}{quote}?)" if name is not None else ""
