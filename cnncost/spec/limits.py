"""Safety limits: a spec that is large, deep or absurd gets a clear error before any
memory or time is spent. Every limit can be raised (`--limit NAME=VALUE`, or `Limits(...)`
in the API)."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

from cnncost.errors import SpecError


@dataclass(frozen=True)
class Limits:
    max_spec_bytes: int = 5 * 1024 * 1024   # size of a spec file
    max_layers: int = 200_000               # layers after expansion of blocks and repeats
    max_repeat: int = 10_000                # one `repeat:` count
    max_depth: int = 32                     # blocks used inside blocks
    max_expr_chars: int = 500               # one expression's length
    max_int_bits: int = 128                 # integer magnitude inside expressions
    max_dim: int = 2**31 - 1                # any tensor dimension
    max_sweep_cells: int = 10_000           # cells of one `sweep` grid
    max_baseline_bytes: int = 256 * 1024 * 1024   # a baseline JSON report

    @property
    def max_steps(self) -> int:
        """Expansion steps (entries visited, including ones `when:` switches off)."""
        return 8 * self.max_layers


DEFAULT = Limits()


def parse_limits(pairs) -> Limits:
    """`max_layers=1000000` strings -> Limits."""
    names = {f.name for f in fields(Limits)}
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
    return replace(DEFAULT, **changes)
