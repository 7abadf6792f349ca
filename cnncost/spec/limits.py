"""Safety limits: a spec that is large, deep or absurd gets a clear error before any
memory or time is spent. Every limit can be raised (`--limit NAME=VALUE`, or `Limits(...)`
in the API)."""
from __future__ import annotations

from cnncost.errors import SpecError
from cnncost.records import FrozenStruct

DEFAULTS = {
    "max_spec_bytes": 5 * 1024 * 1024,   # size of a spec file
    "max_layers": 200_000,               # layers after expansion of blocks and repeats
    "max_repeat": 10_000,                # one `repeat:` count
    "max_depth": 32,                     # blocks used inside blocks
    "max_expr_chars": 500,               # one expression's length
    "max_int_bits": 128,                 # integer magnitude inside expressions
    "max_dim": 2**31 - 1,                # any tensor dimension
    "max_sweep_cells": 10_000,           # cells of one `sweep` grid counted cell by cell
    "max_formula_cells": 10_000_000,     # cells of one `sweep` grid evaluated from its formula
    "max_baseline_bytes": 256 * 1024 * 1024,   # a baseline JSON report
}


class Limits(FrozenStruct):
    """Every limit by name (`Limits(max_layers=10**6)`); the rest keep their defaults."""

    __slots__ = tuple(DEFAULTS)

    def __init__(self, **limits: int):
        unknown = set(limits) - DEFAULTS.keys()
        if unknown:
            raise TypeError(f"Limits() got an unexpected keyword argument {sorted(unknown)[0]!r}")
        self._init(**{**DEFAULTS, **limits})

    @property
    def max_steps(self) -> int:
        """Expansion steps (entries visited, including ones `when:` switches off)."""
        return 8 * self.max_layers


DEFAULT = Limits()


def parse_limits(pairs) -> Limits:
    """`max_layers=1000000` strings -> Limits."""
    names = DEFAULTS.keys()
    changes = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not name.startswith("max_"):
            name = "max_" + name
        if not sep or name not in names:
            raise SpecError(f"bad --limit '{pair}': expected NAME=VALUE with NAME one of "
                            + ", ".join(sorted(names)))
        try:
            number = int(value.strip().replace("_", ""))
        except ValueError:
            raise SpecError(f"bad --limit '{pair}': the value must be a positive integer") from None
        if number < 1:
            raise SpecError(f"bad --limit '{pair}': the value must be a positive integer")
        changes[name] = number
    return DEFAULT.replace(**changes)
