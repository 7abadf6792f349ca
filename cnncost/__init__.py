"""cnncost: exact parameter, multiplication (MAC), FLOP and activation counts for CNNs.

    >>> import cnncost
    >>> report = cnncost.analyze("resnet18")
    >>> report.totals["mults"]
    1814073344
"""
from cnncost.core.analysis import CONVENTIONS, LayerCost, Report, analyze
from cnncost.spec.limits import Limits
from cnncost.errors import CheckFailed, CnnCostError, Loc, ShapeError, SpecError
from cnncost.spec import bundled_names, load_spec, parse_spec

__version__ = "0.1.0"
__all__ = ["CONVENTIONS", "CheckFailed", "CnnCostError", "LayerCost", "Limits", "Loc", "Report",
           "ShapeError", "SpecError", "analyze", "bundled_names", "load_spec", "parse_spec"]
