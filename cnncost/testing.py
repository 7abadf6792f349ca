"""A pytest helper for the most common CI check: a model's MACs under a budget.

    from cnncost.testing import assert_macs

    def test_model_fits_the_phone():
        assert_macs(MyNet(), (1, 3, 224, 224), at_most="600M")

The model is anything `cnncost.report` takes (a torch.nn.Module, a factory name, a spec
or a model file). Over budget, the failure names the total, the limit and the layers that
multiply most.
"""
from __future__ import annotations

from typing import Any


def assert_macs(model: Any, input_shape: Any = None, *, at_most: int | str, top: int = 5) -> int:
    """The model's MACs (multiply-accumulates, cnncost's `mults`); AssertionError when they
    exceed `at_most` (a number, or 600M / 4.1G)."""
    from cnncost import api
    from cnncost.analyses.check import parse_budget

    limit = parse_budget("mults", at_most)
    report = api.report(model, input_shape=input_shape).report
    mults = report.totals["mults"]
    if mults > limit:
        heavy = sorted((r for r in report.layers if r.mults), key=lambda r: -r.mults)[:top]
        rows = "; ".join(f"{r.name} ({r.kind}) {r.mults:,}" for r in heavy)
        raise AssertionError(f"{report.name}: {mults:,} MACs exceed the limit {limit:,} by {mults - limit:,} "
                             f"(+{(mults - limit) / limit:.1%}); the layers that multiply most: {rows}")
    return mults
