"""Report -> rich table / JSON / CSV / Markdown. Formatting only: every number comes from
the Report. rich is imported lazily so machine formats start fast."""
from __future__ import annotations

import csv
import io
import json

from cnncost.core.analysis import CONVENTIONS_SHORT, Report

FORMATS = ("table", "json", "csv", "markdown")
# The CSV columns, documented in the README: one header row, then one row per layer.
ROW_FIELDS = ("name", "kind", "output_shape", "params", "trainable_params", "frozen_params",
              "non_trainable_params", "mults", "flops", "activations", "bytes_read",
              "bytes_written", "intensity", "mult_class", "receptive_field", "rf_stride", "rf_start")
_SHAPES = ("output_shape", "receptive_field", "rf_stride", "rf_start")


def si(n: int | float) -> str:
    """SI units (k = 1e3): 4089184256 -> '4.09G'."""
    for factor, unit in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.3g}{unit}"
    return str(n)


def shape_str(shape) -> str:
    return "x".join(str(d) for d in shape)


def to_json(report: Report, depth: int | None = None) -> str:
    return json.dumps(report.to_dict(depth), indent=2) + "\n"


def to_csv(report: Report, depth: int | None = None, estimates=None, savings=None,
           totals: bool = False) -> str:
    """One header row, then one row per layer (or group of `depth`), nothing else: no
    comments, no totals mixed into the data (`totals=True` appends a TOTAL row). With
    roofline `estimates`: est_seconds and bound columns; with what-if `savings`: the
    rewritten layer's original mults on the first row of its parts."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    rows = report.grouped(depth)
    extra_cols, extra = [], [[] for _ in rows]
    if estimates is not None:
        seconds: dict[str, float] = {}
        bound: dict[str, str] = {}
        for e, layer in zip(estimates, report.layers):
            key = ".".join(layer.name.split(".")[:depth]) if depth else layer.name
            seconds[key] = seconds.get(key, 0.0) + e.seconds
            bound[key] = e.bound if key not in bound or bound[key] == e.bound else "mixed"
        extra_cols += ["est_seconds", "bound"]
        for cells, r in zip(extra, rows):
            cells += [f"{seconds[r.name]:.9g}", bound[r.name]]
    if savings is not None:
        firsts = {}
        for s in savings:
            first = next((r.name for r in rows if r.name == s.name or r.name.startswith(s.name + ".")), None)
            if first is not None:
                firsts[first] = s
        extra_cols += ["rewrite_of", "original_mults"]
        for cells, r in zip(extra, rows):
            s = firsts.get(r.name)
            cells += [s.name, s.original_mults] if s else ["", ""]
    writer.writerow(ROW_FIELDS + tuple(extra_cols))
    for cells, row in zip(extra, rows):
        writer.writerow([shape_str(getattr(row, f)) if f in _SHAPES else getattr(row, f) for f in ROW_FIELDS]
                        + cells)
    if totals:
        t = report.totals
        total = {"name": "TOTAL", "output_shape": shape_str(report.layers[-1].output_shape)}
        writer.writerow([total.get(f, "" if f in _SHAPES or f in ("kind", "mult_class") else t.get(f, ""))
                         for f in ROW_FIELDS] + [""] * len(extra_cols))
    return buf.getvalue()


def to_markdown(report: Report, depth: int | None = None) -> str:
    t = report.totals
    lines = [f"# {report.name}", "",
             f"Input {shape_str(report.input_shape)}, batch {report.batch}."
             + (f" Source: {report.source}." if report.source else ""), "",
             "| layer | kind | output | params | mults | flops | receptive field |",
             "|---|---|---|---:|---:|---:|---|"]
    for r in report.grouped(depth):
        lines.append(f"| {r.name} | {r.kind} | {shape_str(r.output_shape)} | {r.params:,} | "
                     f"{r.mults:,} | {r.flops:,} | {shape_str(r.receptive_field)} |")
    lines.append(f"| **total** | | | **{t['params']:,}** | **{t['mults']:,}** | **{t['flops']:,}** | |")
    lines += ["", *_summary_lines(report), "", "Conventions:", ""]
    lines += [f"- **{k}**: {v}" for k, v in report.conventions.items()]
    return "\n".join(lines) + "\n"


def _summary_lines(report: Report) -> list[str]:
    t = report.totals
    extra = []
    if "transfer" in t:
        x = t["transfer"]
        extra.append(f"transfer: frozen base {x['frozen_layers']} layers, {x['frozen_forward_mults']:,} "
                     f"mults; trained head {x['trainable_forward_mults']:,} mults; caching the features at "
                     f"the cut ({', '.join(x['cut_features'])}) takes {x['cached_feature_bytes_per_example']:,} "
                     f"bytes per example ({report.dtype})")
    if "training" in t:
        x = t["training"]
        extra.append(f"training step: forward {t['mults']:,} + input gradients {x['input_grad_mults']:,} + "
                     f"weight gradients {x['weight_grad_mults']:,} = {x['training_mults']:,} mults; "
                     f"{x['training_flops']:,} flops")
    return extra + [
        f"params {t['params']:,} ({si(t['params'])}): trainable {t['trainable_params']:,}, "
        f"frozen {t['frozen_params']:,}; non-trainable BN statistics {t['non_trainable_params']:,}",
        f"mults (MACs) {t['mults']:,} ({si(t['mults'])}); flops {t['flops']:,} ({si(t['flops'])})",
        f"activations {t['activations']:,} elements; peak live {t['peak_activations']:,} "
        f"elements = {si(t['peak_activation_bytes'])}B {report.dtype}; weights {si(t['param_bytes'])}B; "
        f"weighted depth {t['weighted_depth']}",
    ]


def print_table(report: Report, depth: int | None = None, file=None) -> None:
    from rich.table import Table

    console = _console(file)
    rows = report.grouped(depth)
    total_mults = report.totals["mults"] or 1
    table = Table(title=f"{report.name}  (input {shape_str(report.input_shape)}, batch {report.batch})",
                  title_justify="left", show_footer=True, header_style="bold")
    table.add_column("layer", footer="total")
    table.add_column("kind")
    table.add_column("output", footer=shape_str(report.layers[-1].output_shape))
    table.add_column("params", justify="right", footer=f"{report.totals['params']:,}")
    table.add_column("mults", justify="right", footer=f"{report.totals['mults']:,}")
    table.add_column("share of mults", footer="100%")
    table.add_column("RF", justify="right")
    for r in rows:
        share = r.mults / total_mults
        bar = "█" * round(share * 20) if r.mults else ""
        table.add_row(r.name, r.kind, shape_str(r.output_shape), f"{r.params:,}", f"{r.mults:,}",
                      f"{bar} {share:.1%}" if r.mults else "", shape_str(r.receptive_field))
    console.print(table)
    for line in _summary_lines(report):
        console.print(line, highlight=False)
    console.print(f"conventions: {CONVENTIONS_SHORT}", style="dim", highlight=False)


_CAPTURE: list = []       # the console `capture` is drawing into, innermost last


def _console(file=None):
    """A rich console; wide when not writing to a terminal, so pipes and files keep
    whole numbers instead of squeezed columns. Inside `capture`, its console."""
    import sys

    from rich.console import Console

    if file is None and _CAPTURE:
        return _CAPTURE[-1]
    tty = file is None and sys.stdout.isatty()
    return Console(file=file, width=None if tty else 160)


def capture(draw, *, terminal: bool = False, width: int | None = None) -> str:
    """What `draw()` prints through `_console()`, as text; with ANSI styles when the text
    is going to a terminal of `width` columns."""
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=width if terminal and width else 160, force_terminal=terminal,
                      color_system="auto" if terminal else None)
    _CAPTURE.append(console)
    try:
        draw()
    finally:
        _CAPTURE.pop()
    return buf.getvalue()


def print_checks(results, file=None) -> None:
    """Table of `cnncost check` results: expected, actual, delta, source."""
    from rich.table import Table

    console = _console(file)
    table = Table(header_style="bold")
    for col, just, width in (("arch", "left", 12), ("check", "left", 12), ("", "left", 4),
                             ("expected", "right", 14), ("actual", "right", 14),
                             ("delta", "right", 5), ("tol.", "right", 4)):
        table.add_column(col, justify=just, no_wrap=True, min_width=width)
    table.add_column("source", overflow="ellipsis", no_wrap=True, max_width=40)
    for r in results:
        if r.error:
            table.add_row(r.arch, "spec", "[red]ERROR[/red]", "", "", "", "", "see below")
            continue
        if not r.items:
            table.add_row(r.arch, "(nothing to check)", "", "", "", "", "", "")
        for n, i in enumerate(r.items):
            delta = i.delta
            first = n == 0 or i.source != r.items[n - 1].source
            table.add_row(r.arch if n == 0 else "", i.check,
                          "[green]ok[/green]" if i.ok else "[red]FAIL[/red]",
                          _num(i.expected), _num(i.actual),
                          "" if delta in (None, 0) else f"{delta:+,}", i.tolerance,
                          i.source if first else "")
    console.print(table)
    for r in results:
        for i in r.items:
            if not i.ok and i.detail:
                console.print(f"{r.arch}: FAIL {i.check}: {i.detail}", highlight=False, markup=False)
        for note in r.notes:
            console.print(f"{r.arch}: {note}", highlight=False, markup=False)
    for r in results:
        if r.changed_layers:
            console.print(f"{r.arch}: layers that changed against the baseline:", highlight=False)
            for line in r.changed_layers:
                console.print("  " + line, highlight=False)
    for r in results:
        if r.error:
            console.print(f"error: {r.error}", highlight=False, markup=False, soft_wrap=True)
    failed = [r.arch for r in results if not r.ok]
    summary = f"{len(results) - len(failed)} passed, {len(failed)} failed"
    console.print(summary + (": " + ", ".join(failed) if failed else ""), highlight=False)


def _num(v) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.6g}"
    if isinstance(v, list):
        return shape_str(v)
    return str(v)


def print_verification(result, file=None) -> None:
    """Per-layer table of `cnncost verify`: analysed vs executed shape and mults, time."""
    from rich.table import Table

    console = _console(file)
    rep = result.report
    table = Table(title=f"{rep.name}: NumPy executor (NHWC float32, batch {rep.batch}, "
                        f"{len(result.runs)} run(s), seed {result.seed})",
                  title_justify="left", header_style="bold")
    for col, just in (("layer", "left"), ("kind", "left"), ("shape", "left"), ("mults", "right"),
                      ("executed", "right"), ("ms", "right"), ("", "left")):
        table.add_column(col, justify=just, no_wrap=True)
    for row, sec in zip(result.runs[0].layers, result.layer_seconds()):
        shape = shape_str(row.output_shape)
        if row.executed_shape != row.output_shape:
            shape += f" != {shape_str(row.executed_shape)}"
        table.add_row(row.name, row.kind, shape, f"{row.mults:,}", f"{row.executed_mults:,}",
                      f"{sec * 1000:.2f}", "[green]ok[/green]" if row.ok else "[red]FAIL[/red]")
    console.print(table)
    executed = sum(r.executed_mults for r in result.runs[0].layers)
    est = result.memory_estimate
    console.print(f"mults analysed {rep.totals['mults']:,}, executed {executed:,}; "
                  f"forward median {result.forward_seconds_median * 1000:.1f} ms; "
                  f"memory estimate {si(est['total'])}B (weights {si(est['weights'])}B, "
                  f"activations {si(est['activations'])}B, temporary {si(est['temporary'])}B)",
                  highlight=False)
    if result.engine is not None:
        e = result.engine
        agree = ("agrees on every layer" if e.ok else
                 f"DISAGREES from layer '{e.first_mismatch.name}' on")
        console.print(f"{e.engine} {agree}: largest relative error {e.max_rel_error:.2e} "
                      f"(tolerance {e.tolerance:g} x max(1, max|output|) per layer); forward "
                      f"{e.engine} {e.engine_seconds * 1000:.1f} ms, NumPy executor {e.ours_seconds * 1000:.1f} ms",
                      highlight=False)
    console.print("verification " + ("passed" if result.ok else "FAILED"), highlight=False)
