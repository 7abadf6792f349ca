"""Report -> rich table / JSON / CSV / Markdown. Formatting only: every number comes from
the Report. rich is imported lazily so machine formats start fast."""
from __future__ import annotations

import io
import json

from cnncost.core.analysis import Report
from cnncost.errors import escape_controls

FORMATS = ("table", "json", "csv", "markdown")
CHANGED_LAYERS_SHOWN = 12      # a check's table lists this many changed layers, then a count
# The CSV columns, documented in the README: one header row, then one row per layer.
ROW_FIELDS = ("name", "kind", "output_shape", "params", "trainable_params", "frozen_params",
              "non_trainable_params", "mults", "flops", "activations", "bytes_read",
              "bytes_written", "intensity", "mult_class", "receptive_field", "rf_stride", "rf_start")
SHAPE_FIELDS = ("output_shape", "receptive_field", "rf_stride", "rf_start")


SI_PREFIXES = ((10**24, "Y"), (10**21, "Z"), (10**18, "E"), (10**15, "P"), (10**12, "T"), (10**9, "G"),
               (10**6, "M"), (10**3, "k"))


def si(n: int | float) -> str:
    """SI units (k = 1e3), three significant digits: 4089184256 -> '4.09G',
    1.1e15 -> '1.1P', 999,999,999 -> '1G' (the prefix the rounded figure needs)."""
    bigger = None
    for factor, unit in SI_PREFIXES:
        if abs(n) >= factor:
            text = f"{n / factor:.3g}"
            if "e" in text:            # 1000 or more of the largest prefix, or rounded up to 1000
                return f"{n / bigger[0]:.3g}{bigger[1]}" if bigger else f"{n:.3g}"
            return text + unit
        bigger = (factor, unit)
    return str(n)


def md_cell(text) -> str:
    """A Markdown table cell: a `|` or a line break of a name would add columns or rows."""
    return escape_controls(str(text).replace("\r", " ").replace("\n", " ")).replace("|", "\\|")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A CSV cell as spreadsheet tools read it safely: a text that would start a formula
    (=, +, -, @) is written with a leading apostrophe (OWASP's advice); numbers as they are."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def shape_str(shape) -> str:
    return "x".join(str(d) for d in shape)


def rf_str(row) -> str:
    """A receptive field as tables print it: `global` once it covers the whole input."""
    return "n/a" if row.rf_na else "global" if row.rf_global else shape_str(row.receptive_field)


def cell_text(row, f):
    """A shape-like field of a row as CSV and the HTML table print it."""
    if f == "receptive_field":
        return rf_str(row)
    return "" if (row.rf_global or row.rf_na) and f in ("rf_stride", "rf_start") else shape_str(getattr(row, f))


def to_json(report: Report, depth: int | None = None) -> str:
    return json.dumps(report.to_dict(depth)) + "\n"


def to_csv(report: Report, depth: int | None = None, estimates=None, savings=None,
           totals: bool = False, by_kind: bool = False) -> str:
    """One header row, then one row per layer (or group of `depth`), nothing else: no
    comments, no totals mixed into the data (`totals=True` appends a TOTAL row). With
    roofline `estimates` (folded at the same depth): est_seconds and bound columns; with what-if `savings`: the
    rewritten layer's original mults on the first row of its parts."""
    buf = io.StringIO()
    import csv          # only the CSV format needs it

    writer = csv.writer(buf, lineterminator="\n")
    rows = report.by_kind() if by_kind else report.grouped(depth)
    if by_kind:      # per-layer extras do not sum meaningfully by kind
        estimates = savings = None
    extra_cols, extra = [], [[] for _ in rows]
    if estimates is not None:       # folded as the rows are (roofline.grouped)
        by_name = {e.name: e for e in estimates}
        extra_cols += ["est_seconds", "bound"]
        for cells, r in zip(extra, rows):
            cells += [f"{by_name[r.name].seconds:.9g}", by_name[r.name].bound]
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
        writer.writerow([cell_text(row, f) if f in SHAPE_FIELDS else csv_cell(getattr(row, f)) for f in ROW_FIELDS]
                        + cells)
    if totals:
        t = report.totals
        total = {"name": "TOTAL", "output_shape": shape_str(report.layers[-1].output_shape)}
        writer.writerow([total.get(f, "" if f in SHAPE_FIELDS or f in ("kind", "mult_class") else t.get(f, ""))
                         for f in ROW_FIELDS] + [""] * len(extra_cols))
    return buf.getvalue()


def to_markdown(report: Report, depth: int | None = None, by_kind: bool = False) -> str:
    t = report.totals
    lines = [f"# {md_cell(report.name)}", "",
             f"{report.io_text()[0].upper()}{report.io_text()[1:]}, batch {report.batch}."
             + (f" Source: {report.source}." if report.source else ""), "",
             "| layer | kind | output | params | mults | flops | receptive field |",
             "|---|---|---|---:|---:|---:|---|"]
    for r in (report.by_kind() if by_kind else report.grouped(depth)):
        lines.append(f"| {md_cell(r.name)} | {md_cell(r.kind)} | {shape_str(r.output_shape)} | {r.params:,} | "
                     f"{r.mults:,} | {r.flops:,} | {rf_str(r)} |")
    lines.append(f"| **total** | | | **{t['params']:,}** | **{t['mults']:,}** | **{t['flops']:,}** | |")
    lines += ["", *_summary_lines(report), "", "Conventions:", ""]
    lines += [f"- **{k}**: {v}" for k, v in report.conventions.items()]
    return "\n".join(lines) + "\n"


def dtypes_text(report: Report) -> str:
    """The report's dtype, or the file's own when it keeps them (an int8 TFLite model)."""
    p = report.totals.get("precisions")
    if not p:
        return report.dtype
    layers = ", ".join(f"{n} {dt}" for dt, n in sorted(p["layers"].items(), key=lambda kv: -kv[1]))
    weights = ", ".join(f"{dt} {n:,}" for dt, n in sorted(p["weight_elements"].items(), key=lambda kv: -kv[1]))
    return f"as the file stores them (layers: {layers}; weight elements: {weights})"


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
        extra.append(f"training step memory: {si(x['training_memory_bytes'])}B = weights {si(t['param_bytes'])}B"
                     f" + weight gradients {si(x['gradient_bytes'])}B + tensors saved for the backward pass "
                     f"{si(x['stored_activation_bytes'])}B (what autograd keeps per kind, `cnncost kinds`; "
                     f"{report.dtype}; optimizer state not included)")
    if "framework_params" in t:
        k = t["framework_params"]
        extra.append(f"{k['framework']}' model.summary(): Total params: {k['total']:,}; Trainable params: "
                     f"{k['trainable']:,}; Non-trainable params: {k['non_trainable']:,}"
                     + (f" ({k['bookkeeping']:+,} against our non-trainable: {k['why']})" if k["bookkeeping"] else ""))
    return extra + [
        f"params {t['params']:,} ({si(t['params'])}): trainable {t['trainable_params']:,}, "
        f"frozen {t['frozen_params']:,}; non-trainable (BN statistics, constant buffers) {t['non_trainable_params']:,}"
        + (f"; shared: {t['shared_params']:,} more elements read by later uses of tensors counted once"
           if t.get("shared_params") else ""),
        f"mults (MACs) {t['mults']:,} ({si(t['mults'])}); flops {t['flops']:,} ({si(t['flops'])})"
        + (f"; attention (activation x activation) {attention:,} = {attention / t['mults']:.1%} of mults"
           if (attention := t.get("mults_by_class", {}).get("attention", 0)) else ""),
        f"activations {t['activations']:,} elements (layer outputs; the input not counted); peak live "
        f"{t['peak_activations']:,} elements (the input counted while read) = "
        f"{si(t['peak_activation_bytes'])}B {dtypes_text(report)}; weights {si(t['param_bytes'])}B; "
        f"weighted depth {t['weighted_depth']}",
    ] + ([f"variants: {', '.join(report.variants)} ({report.name} is one way of a worked example; "
          f"`cnncost compare {report.name}` sets the ways side by side)"] if report.variants else [])


# Optional columns of the per-layer table, dropped in this order when the terminal is too
# narrow for the full rows (names and numbers are never cut; a name may wrap).
OPTIONAL_COLUMNS = ("RF", "share of mults", "kind", "flops")


def table_columns(report: Report, depth: int | None = None, by_kind: bool = False) -> list[tuple]:
    """(header, justify, footer, cells) of each column of the per-layer table."""
    rows = report.by_kind() if by_kind else report.grouped(depth)
    total_mults = report.totals["mults"] or 1
    t = report.totals
    cols = [("layer" if not by_kind else "kind (multiplication)", "left", "total", [r.name for r in rows]),
            ("kind", "left", "", [_kind_cell(r) for r in rows]),
            ("output", "left", shape_str(report.layers[-1].output_shape), [shape_str(r.output_shape) for r in rows]),
            ("params", "right", f"{t['params']:,}", [f"{r.params:,}" for r in rows]),
            ("mults", "right", f"{t['mults']:,}", [f"{r.mults:,}" for r in rows]),
            ("flops", "right", f"{t['flops']:,}", [f"{r.flops:,}" for r in rows]),
            ("share of mults", "left", "100%",
             [f"{_bar(r.mults / total_mults)} {r.mults / total_mults:.1%}" if r.mults else "" for r in rows]),
            ("RF", "right", "", [rf_str(r) for r in rows])]
    if by_kind:
        cols = [c for c in cols if c[0] not in ("kind", "output", "RF")]
    return cols


def _kind_cell(row) -> str:
    """A layer that uses an earlier layer's tensors says whose (its params are 0 there)."""
    if not row.shares:
        return row.kind
    from cnncost.core.shared_weights import owners
    return f"{row.kind}, shares {', '.join(owners(row))}"


def table_text(report: Report, depth: int | None = None, by_kind: bool = False, *,
               terminal: bool = False, width: int | None = None) -> str:
    """The per-layer table with its header and summary lines. A pipe gets every column
    whole; a terminal of `width` columns loses the optional ones first (said in one line),
    then folds layer names."""
    from cnncost.render import boxes

    cols = table_columns(report, depth, by_kind)
    fit = width if terminal and width else None
    dropped = []
    for drop in OPTIONAL_COLUMNS:
        fixed = sum(max(len(c[0]), len(c[2]), *(len(v) for v in c[3] or [""])) + 3 for c in cols if c[0] != "layer")
        if fit is None or fixed + 24 <= fit:
            break
        if any(c[0] == drop for c in cols):
            dropped.append(drop)
        cols = [c for c in cols if c[0] != drop]
    title = f"{report.name}  ({report.io_text()}, batch {report.batch})"
    columns = [boxes.Column(name, justify, footer, cells, wraps=name in ("layer", "kind (multiplication)"))
               for name, justify, footer, cells in cols]
    styles = terminal
    lines = []
    if report.source:       # where the numbers come from (an imported model says what its params are)
        lines += boxes.text_lines(f"source: {report.source}", width=fit, dim=styles)
    lines += boxes.table(columns, title=title + ("  by kind" if by_kind else ""), width=fit, styles=styles)
    if dropped:
        lines += boxes.text_lines(dropped_note(dropped, fit), width=fit, dim=styles)
    for line in _summary_lines(report):
        lines += boxes.text_lines(line, width=fit)
    lines += boxes.text_lines(f"conventions: {report.conventions_line()}", width=fit, dim=styles)
    return "\n".join(lines) + "\n"


def print_table(report: Report, depth: int | None = None, file=None, by_kind: bool = False) -> None:
    """The table through the console being captured (or stdout), as `table_text` draws it."""
    console = rich_console(file)
    terminal = bool(console.is_terminal) and console.width < 100_000
    console.file.write(table_text(report, depth, by_kind, terminal=terminal, width=console.width))


def dropped_note(dropped: list[str], width: int) -> str:
    return f"left out to fit {width} columns: {', '.join(dropped)} (--format csv has all)"


def _bar(share: float) -> str:
    return "█" * round(share * 20)


_CAPTURE: list = []       # the console `capture` is drawing into, innermost last


def rich_console(file=None):
    """A rich console; wide when not writing to a terminal, so pipes and files keep
    whole numbers instead of squeezed columns. Inside `capture`, its console."""
    import sys

    from rich.console import Console

    if file is None and _CAPTURE:
        return _CAPTURE[-1]
    tty = file is None and sys.stdout.isatty()
    return Console(file=file, width=None if tty else 100_000)


def capture(draw, *, terminal: bool = False, width: int | None = None) -> str:
    """What `draw()` prints through `rich_console()`, as text; with ANSI styles when the text
    is going to a terminal of `width` columns."""
    from rich.console import Console

    buf = io.StringIO()
    # not a terminal: wide enough that no row is ever cut; a terminal: its own width
    console = Console(file=buf, width=width if terminal and width else 100_000, force_terminal=terminal,
                      color_system="auto" if terminal else None)
    _CAPTURE.append(console)
    try:
        draw()
    finally:
        _CAPTURE.pop()
    return buf.getvalue()


CHECK_OPTIONAL_COLUMNS = ("source", "tol.", "delta")     # dropped in this order when narrow


def print_checks(results, file=None) -> None:
    """Table of `cnncost check` results: status, expected, actual, delta, source. Below
    the terminal's width the optional columns go first; status and numbers are never cut."""
    from rich.table import Table

    console = rich_console(file)
    rows = []
    for r in results:
        if r.error:
            rows.append((r.arch, "spec", "ERROR", "", "", "", "", "see below"))
            continue
        for n, i in enumerate(r.items):
            delta = i.delta
            first = n == 0 or i.source != r.items[n - 1].source
            rows.append((r.arch if n == 0 else "", i.check, "ok" if i.ok else "FAIL", _num(i.expected),
                         _num(i.actual), "" if delta in (None, 0) else f"{delta:+,}", i.tolerance,
                         i.source if first else ""))
    names = ("arch", "check", "status", "expected", "actual", "delta", "tol.", "source")
    keep = list(range(len(names)))
    for drop in CHECK_OPTIONAL_COLUMNS:
        need = sum(max(len(names[c]), *(len(row[c]) for row in rows or [names])) + 3 for c in keep)
        if need <= console.width:
            break
        keep.remove(names.index(drop))
    dropped = [n for n in CHECK_OPTIONAL_COLUMNS if names.index(n) not in keep]
    table = Table(header_style="bold")
    for c in keep:
        wraps = names[c] in ("arch", "check", "source")
        table.add_column(names[c], justify="right" if names[c] in ("expected", "actual", "delta") else "left",
                         no_wrap=not wraps, overflow="fold")
    colour = {"ok": "[green]ok[/green]", "FAIL": "[red]FAIL[/red]", "ERROR": "[red]ERROR[/red]"}
    for row in rows:
        table.add_row(*[colour.get(row[c], row[c]) if names[c] == "status" else row[c] for c in keep])
    console.print(table)
    if dropped:
        console.print(dropped_note(dropped, console.width), style="dim", highlight=False)
    for r in results:
        for i in r.items:
            if not i.ok and i.detail:
                console.print(f"{r.arch}: FAIL {i.check}: {i.detail}", highlight=False, markup=False)
        for note in r.notes:
            console.print(f"{r.arch}: {note}", highlight=False, markup=False)
    for r in results:
        if r.changed_layers:
            console.print(f"{r.arch}: layers whose params or mults changed against the baseline:",
                          highlight=False)
            for c in r.changed_layers[:CHANGED_LAYERS_SHOWN]:
                console.print("  " + c.text(), highlight=False, markup=False)
            if len(r.changed_layers) > CHANGED_LAYERS_SHOWN:
                console.print(f"  ... and {len(r.changed_layers) - CHANGED_LAYERS_SHOWN} more "
                              "(all of them in --format json)", highlight=False)
    for r in results:
        if r.error:
            console.print(f"error: {r.error}", highlight=False, markup=False, soft_wrap=True)
    failed = [r.spec or r.arch for r in results if r.error is None and not r.ok]
    errors = [r.spec or r.arch for r in results if r.error is not None]
    summary = f"{len(results) - len(failed) - len(errors)} passed, {len(failed)} failed"
    if errors:
        summary += f", {len(errors)} error{'s' if len(errors) > 1 else ''}"
    named = [*(f"{n} (failed)" for n in failed), *(f"{n} (error)" for n in errors)]
    console.print(summary + (": " + ", ".join(named) if named else ""), highlight=False, markup=False)


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

    console = rich_console(file)
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
                      f"(tolerance {e.tolerance:g} x max(1, max|output|) per layer"
                      f"{'; quantized: within one step on 99.9% of values' if e.quantized else ''}; each layer on onnxruntime's inputs); forward "
                      f"{e.engine} {e.engine_seconds * 1000:.1f} ms, NumPy executor {e.ours_seconds * 1000:.1f} ms",
                      highlight=False)
    console.print("verification " + ("passed" if result.ok else "FAILED"), highlight=False)
