"""Tables for compare, sweep and what-if savings (formatting only)."""
from __future__ import annotations

import csv
import io
import json

from cnncost.analyses import compare as cmp
from cnncost.analyses import sweep as swp
from cnncost.render.report import rich_console, csv_cell, md_cell, si
from cnncost.analyses.whatif import network_ratios
from cnncost.layers import MULT_CLASSES

LABELS = {
    "params": "params", "trainable_params": "trainable params", "mults": "mults (MACs)",
    "flops": "flops", "activations": "activations", "peak_activation_bytes": "peak activation memory",
    "param_bytes": "weight memory", "weighted_depth": "weighted depth",
    **{f"share_{c}": f"share: {label}" for c, label in MULT_CLASSES.items()},
    "training_mults": "training mults (fwd+bwd)", "frozen_forward_mults": "frozen base mults",
    "cached_feature_bytes_per_example": "cached features / example",
    "bytes_read": "bytes read", "bytes_written": "bytes written", "intensity": "intensity (FLOP/B)",
    "estimated_seconds": "roofline time", "measured_seconds": "executor time (median)",
}


def _value(metric: str, v) -> str:
    if v is None:
        return "-"
    if metric.startswith("share_"):
        return f"{v:.1%}"
    if "bytes" in metric:
        return f"{si(v)}B"
    if metric == "weighted_depth":
        return str(v)
    if metric == "intensity":
        return f"{v:.1f}"
    if metric.endswith("seconds"):
        return f"{v * 1000:.1f} ms"
    return f"{v:,}"


def compare_text(columns, fmt: str) -> str:
    rows = cmp.rows(columns)
    if fmt == "json":
        return json.dumps(cmp.to_dict(columns), indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["metric"] + [csv_cell(c.label) for c in columns] + [f"ratio {c.label}" for c in columns[1:]])
        for metric, values in rows:
            ratios = [cmp.ratio(v, values[0]) for v in values[1:]]
            w.writerow([metric] + values + ["" if r is None else f"{r:.6g}" for r in ratios])
        return buf.getvalue()
    lines = ["| metric | " + " | ".join(md_cell(c.label) for c in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for metric, values in rows:
        cells = [compare_cell(metric, v, values[0], i) for i, v in enumerate(values)]
        lines.append(f"| {LABELS.get(metric, metric)} | " + " | ".join(cells) + " |")
    notes = cmp.notes(columns)
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def compare_cell(metric, v, first, i):
    """A metric's value, with its ratio to the first column's after the first column."""
    text = _value(metric, v)
    r = cmp.ratio(v, first)
    if i and r is not None and not metric.startswith("share_"):
        text += f" ({r:.3g}x)"
    return text


def print_compare(columns) -> None:
    from rich.table import Table

    table = Table(header_style="bold", title="ratios are to the first column", title_justify="left")
    table.add_column("metric")
    for c in columns:
        table.add_column(c.label, justify="right")
    for metric, values in cmp.rows(columns):
        table.add_row(LABELS.get(metric, metric), *[compare_cell(metric, v, values[0], i) for i, v in enumerate(values)])
    console = rich_console()
    console.print(table)
    for line in cmp.notes(columns):
        console.print(line, highlight=False, markup=False)


def sweep_text(grid, metric: str, fmt: str) -> str:
    if fmt == "csv" and hasattr(grid, "csv_text"):      # a grid from a formula: its rows as they are
        return grid.csv_text()
    if fmt == "json":
        return json.dumps(swp.to_dict(grid), indent=2) + "\n"
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(grid.names + ["params", "mults", "flops", "activations", "peak_activation_bytes"])
    for combo, vals in grid.cells.items():
        w.writerow(list(combo) + [vals[k] for k in ("params", "mults", "flops", "activations",
                                                   "peak_activation_bytes")])
    return buf.getvalue()


def print_sweep(grid, metric: str) -> None:
    from rich.table import Table

    table = Table(header_style="bold", title=f"{grid.spec}: {metric}", title_justify="left")
    if len(grid.names) == 2:
        a, b = grid.names
        table.add_column(f"{a} \\ {b}")
        for vb in grid.values[1]:
            table.add_column(str(vb), justify="right")
        for va in grid.values[0]:
            table.add_row(str(va), *[f"{grid.cells[(va, vb)][metric]:,}" for vb in grid.values[1]])
    else:
        for name in grid.names:
            table.add_column(name)
        table.add_column(metric, justify="right")
        for combo, vals in grid.cells.items():
            table.add_row(*map(str, combo), f"{vals[metric]:,}")
    rich_console().print(table)


def print_savings(savings, original, rewritten, rewrite: str) -> None:
    from rich.table import Table

    table = Table(header_style="bold", title=f"what-if --rewrite {rewrite}", title_justify="left")
    for col, just in (("layer", "left"), ("original mults", "right"), ("rewritten mults", "right"),
                      ("ratio", "right"), ("analytic", "right"), ("formula", "left")):
        table.add_column(col, justify=just)
    for s in savings:
        table.add_row(s.name, f"{s.original_mults:,}", f"{s.rewritten_mults:,}", f"{s.ratio:.4f}",
                      f"{s.analytic:.4f}", s.formula)
    console = rich_console()
    console.print(table)
    notes: dict[str, list[str]] = {}
    for s in savings:
        if s.note:
            notes.setdefault(s.note, []).append(s.name)
    for note, names in notes.items():      # one line per distinct rounding, not per layer
        more = f" and {len(names) - 1} more" if len(names) > 1 else ""
        console.print(f"{names[0]}{more}: {note}", highlight=False, markup=False)
    a, b = original.totals, rewritten.totals
    r = network_ratios(original, rewritten)
    console.print(f"network: mults {a['mults']:,} -> {b['mults']:,} ({r.get('mults', 0):.3f}x), "
                  f"params {a['params']:,} -> {b['params']:,} ({r.get('params', 0):.3f}x)",
                  highlight=False)


def savings_dict(savings, original, rewritten, rewrite: str) -> dict:
    from dataclasses import asdict
    return {"rewrite": rewrite, "original_totals": original.totals, "rewritten_totals": rewritten.totals,
            "network_ratios": network_ratios(original, rewritten), "layers": [asdict(s) for s in savings]}
