"""cnncost: exact parameter, multiplication (MAC), FLOP and activation counts for CNNs.

    >>> import cnncost
    >>> cnncost.report("resnet18").totals["mults"]
    1814073344

Every command is a function of `cnncost.api`, re-exported here.
"""
from cnncost.api import *  # noqa: F401,F403  (the public API)
from cnncost.api import __all__ as _api_all
from cnncost.core.analysis import CONVENTIONS, LayerCost
from cnncost.errors import CheckFailed, Loc, ShapeError, SpecError
from cnncost.render import to_text
from cnncost.spec import bundled_names, load_spec, parse_spec

__version__ = "0.1.0"
__all__ = [*_api_all, "to_text", "CONVENTIONS", "CheckFailed", "LayerCost", "Loc", "ShapeError", "SpecError",
           "bundled_names", "load_spec", "parse_spec"]
