"""The result of `cnncost.api.report`: a Report with every extra the caller asked for. A
module of its own, without dataclasses: what start-up is measured on imports nothing else
(the other commands' results are in results/commands.py, built on first use)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cnncost.core.analysis import Report
from cnncost.records import FrozenStruct

if TYPE_CHECKING:
    from cnncost.results.commands import Roofline, Savings


class ReportResult(FrozenStruct):
    """A report with every extra the caller asked for attached, so every format shows it.
    totals_row: CSV appends a TOTAL row after the layers; by_kind: rows summed by kind of
    layer and of multiplication."""

    __slots__ = ("report", "depth", "savings", "roofline", "totals_row", "by_kind")
    rendered_as = "report"          # its formats in cnncost.render
    report: Report
    depth: int | None
    savings: Savings | None
    roofline: Roofline | None
    totals_row: bool
    by_kind: bool

    def __init__(self, report: Report, depth: int | None = None, savings: Savings | None = None,
                 roofline: Roofline | None = None, totals_row: bool = False, by_kind: bool = False):
        self._init(report=report, depth=depth, savings=savings, roofline=roofline, totals_row=totals_row,
                   by_kind=by_kind)

    @property
    def totals(self) -> dict[str, Any]:
        return self.report.totals

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self.report.to_dict(self.depth, self.by_kind)
        if self.savings is not None:
            data["savings"] = self.savings.to_dict(self.report)
        if self.roofline is not None:
            data["roofline"] = self.roofline.to_dict(None if self.by_kind else self.depth)
        return data
