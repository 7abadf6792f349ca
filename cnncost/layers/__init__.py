"""Layer kinds. Importing this package registers every kind exactly once."""
from cnncost.layers import activation, conv, dense, merge, norm, pool, shape_ops  # noqa: F401  (registration)
from cnncost.layers.base import ALIASES, KINDS, MULT_CLASSES, Args, Kind, fmt_shape, numel

__all__ = ["ALIASES", "KINDS", "MULT_CLASSES", "Args", "Kind", "fmt_shape", "numel", "lookup"]


def lookup(name: str):
    """Return (kind, fixed_args) for a kind name or alias, or None."""
    if name in KINDS:
        return KINDS[name], {}
    if name in ALIASES:
        kind_name, fixed = ALIASES[name]
        return KINDS[kind_name], fixed
    return None
