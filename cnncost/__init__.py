"""cnncost: exact parameter, multiplication (MAC), FLOP and activation counts for CNNs.

    >>> import cnncost
    >>> cnncost.report("resnet18").totals["mults"]
    1814073344

Every command is a function of `cnncost.api`, re-exported here. The names are loaded on
first use (PEP 562): `import cnncost` and `cnncost --version` cost nothing beyond Python.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# names this package face adds to cnncost.api's, and where they live
_EXTRA = {"to_text": "cnncost.render", "CONVENTIONS": "cnncost.core.analysis", "LayerCost": "cnncost.core.analysis",
          "CheckFailed": "cnncost.errors", "Loc": "cnncost.errors", "ShapeError": "cnncost.errors",
          "SpecError": "cnncost.errors", "bundled_names": "cnncost.spec", "load_spec": "cnncost.spec",
          "parse_spec": "cnncost.spec"}


def __getattr__(name: str):
    if name == "__all__":
        from cnncost.api import __all__ as api_all
        return [*api_all, *_EXTRA]
    if name in _EXTRA:
        return getattr(importlib.import_module(_EXTRA[name]), name)
    api = importlib.import_module("cnncost.api")
    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError(f"module 'cnncost' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__getattr__("__all__")))
