"""A sweep over a network's free sizes and its batch evaluated from its formula
(cnncost.formula): every cell exact, a million in seconds; a cell outside the formula's
domain is counted per size."""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cached_property

from cnncost.errors import CnnCostError, LimitError, SpecError

COLUMNS = ("params", "mults", "flops", "activations", "peak_activation_bytes")


@dataclass
class FormulaGrid:
    """A sweep's grid as CSV rows (names' values, then COLUMNS), made from a formula."""
    spec: str
    names: list[str]
    values: list[list]
    rows: list[str]
    counted: int                  # cells outside the formula's domain, counted per size

    def csv_text(self) -> str:
        return ",".join(self.names + list(COLUMNS)) + "\n" + "\n".join(self.rows) + "\n"

    @cached_property
    def cells(self) -> dict:
        """{values: {metric: value}}, as a counted sweep's grid holds them (for tables and JSON)."""
        k = len(self.names)
        out = {}
        for row in self.rows:
            parts = row.split(",")
            out[tuple(int(v) for v in parts[:k])] = dict(zip(COLUMNS, (int(v) for v in parts[k:])))
        return out


def axes_of(names: list[str], formula) -> list[str] | None:
    """The formula's variable for each swept name (`batch` is N), or None when a name is
    not one of its sizes (the sweep is then counted cell by cell)."""
    out = []
    for n in names:
        v = "N" if n == "batch" else n
        if v not in formula.variables:
            return None
        out.append(v)
    return out


def formula_sweep(formula, label: str, names: list[str], values: list[list], count, limits, on_cell=None) -> FormulaGrid:
    from cnncost.formula.compiled import grid_function

    cells = math.prod(len(v) for v in values)
    if cells > limits.max_formula_cells:
        raise LimitError(f"the grid has {cells:,} cells, more than the limit of {limits.max_formula_cells:,} for a "
                         f"sweep evaluated from its formula (raise it with --limit max_formula_cells={cells})")
    for name, vals in zip(names, values):
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in vals):
            raise SpecError(f"--set {name}: sizes are positive integers, received {vals}")
    exprs = [formula.totals[c] for c in COLUMNS]
    missing = [c for c, e in zip(COLUMNS, exprs) if e is None]
    if missing:
        return None
    swept = axes_of(names, formula)
    fixed = [v for v in formula.variables if v not in swept]
    order = swept + fixed
    grid = grid_function(exprs, formula.domain, order, len(swept))
    cache: dict = {}

    def outside(point):           # a size the formula was not shown to hold at: counted
        key = tuple(sorted(point.items()))
        if key not in cache:
            try:
                t = count(point).totals
            except CnnCostError as exc:
                at = ", ".join(f"{'batch' if k == 'N' else k}={v}" for k, v in point.items())
                raise type(exc)(f"the cell {at} (outside the formula's domain, counted): {exc}") from None
            cache[key] = tuple(t.get(c, 0) for c in COLUMNS)
        return cache[key]
    rows = grid([*values, *([formula.variables[v]] for v in fixed)], outside)
    if on_cell:
        on_cell()
    return FormulaGrid(label, names, values, rows, len(cache))


__all__ = ["FormulaGrid", "axes_of", "formula_sweep", "itertools"]
