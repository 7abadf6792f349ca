"""What a user writes on the command line or in an API call to vary a spec: `--set NAME=VALUE`
overrides and `--rewrite separable|bottleneck=R`, parsed once here for the builder and for
the analyses that vary a spec (sweep, compare's columns, check)."""
from __future__ import annotations

import functools

from cnncost.errors import SpecError


@functools.lru_cache(maxsize=4096)
def parse_override(text: str):
    """--set values: int, float, true/false, else the string itself."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def parse_overrides(pairs) -> dict:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip().isidentifier():
            raise SpecError(f"bad --set '{pair}': expected NAME=VALUE")
        out[name.strip()] = parse_override(value.strip())
    return out


def parse_rewrite(text: str | None):
    """'separable' -> ("separable",); 'bottleneck=4' -> ("bottleneck", 4)."""
    if not text:
        return None
    if text == "separable":
        return ("separable",)
    name, _, value = text.partition("=")
    if name == "bottleneck" and value.isdigit() and int(value) >= 1:
        return ("bottleneck", int(value))
    raise SpecError(f"unknown rewrite '{text}': use separable or bottleneck=R (R a positive integer)")
