"""Layer kinds. Importing this package registers every kind exactly once: every module
of this folder is imported, so a new kind is one new file (or one class in a file here)."""
import importlib
import os

from cnncost.layers.base import ALIASES, KINDS, MULT_CLASSES, Args, Kind, fmt_shape, numel

for _module in sorted(f[:-3] for f in os.listdir(__path__[0]) if f.endswith(".py") and f != "__init__.py"):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["ALIASES", "KINDS", "MULT_CLASSES", "Args", "Kind", "fmt_shape", "numel", "lookup"]


def lookup(name: str):
    """Return (kind, fixed_args) for a kind name or alias (any case: `Conv`, `GELU`), or None."""
    name = name.lower() if isinstance(name, str) else name
    if name in KINDS:
        return KINDS[name], {}
    if name in ALIASES:
        kind_name, fixed = ALIASES[name]
        return KINDS[kind_name], fixed
    return None
