"""Results -> table / JSON / CSV / Markdown / DOT / Mermaid text: `render(result, fmt)`
is the one formatter, dispatching on the result's type. Formatting only: every number
comes from the result (cnncost.api)."""
from __future__ import annotations

import json
from typing import Any, Callable

from cnncost.errors import CnnCostError


def _json(result: Any) -> str:
    # compact: json's C encoder only serves unindented output (indenting a ResNet-152
    # report costs more than analysing it); pipe through `python -m json.tool` to read
    return json.dumps(result.to_dict(), default=str, check_circular=False) + "\n"   # a tree: no cycle to look for


def _table(draw: Callable[[], None], terminal: bool, width: int | None) -> str:
    from cnncost.render.report import capture
    return capture(draw, terminal=terminal, width=width)


# ---- report: every format carries the savings and the roofline that were asked for ----
def _report_table(r, terminal, width):
    from cnncost.render import report

    text = report.table_text(r.report, r.depth, r.by_kind, terminal=terminal, width=width)
    if r.savings is None and r.roofline is None:
        return text          # no rich on the plain report path: its import and layout cost more than the report

    from cnncost.render import compare, roofline

    def draw():
        if r.savings is not None:
            compare.print_savings(list(r.savings.rows), r.savings.original, r.report, r.savings.rewrite)
        if r.roofline is not None:
            roofline.print_estimates(r.report, r.roofline.profile, r.roofline.grouped(r.depth))
    return text + _table(draw, terminal, width)


def _savings_lines(r) -> list[str]:
    lines = []
    if r.savings is not None:
        a, b = r.savings.original.totals, r.report.totals
        lines.append(f"what-if --rewrite {r.savings.rewrite}: mults {a['mults']:,} -> {b['mults']:,}, "
                     f"params {a['params']:,} -> {b['params']:,}")
        lines += [f"  {s.name}: {s.original_mults:,} -> {s.rewritten_mults:,} mults (ratio {s.ratio:.4f}, "
                  f"analytic {s.analytic:.4f} = {s.formula})" for s in r.savings.rows]
    return lines


def _roofline_lines(r) -> list[str]:
    from cnncost.render.report import si

    if r.roofline is None:
        return []
    p = r.roofline.profile
    return [f"roofline on {p.name} ({si(p.peak_flops)}FLOP/s, {si(p.bandwidth)}B/s): estimated "
            f"{r.roofline.total_seconds * 1000:.3f} ms, {r.roofline.memory_share:.0%} in memory-bound layers"]


def _extra_lines(r) -> list[str]:
    """Savings and roofline as plain lines, for the formats that carry them as comments."""
    return _savings_lines(r) + _roofline_lines(r)


def _report_csv(r, terminal, width):
    from cnncost.render.report import to_csv

    # the roofline and the savings are more columns of the same rows
    return to_csv(r.report, r.depth, estimates=r.roofline.grouped(r.depth) if r.roofline else None,
                  savings=r.savings.rows if r.savings else None, totals=r.totals_row, by_kind=r.by_kind)


def _report_markdown(r, terminal, width):
    from cnncost.render.report import md_cell, to_markdown

    text = to_markdown(r.report, r.depth, r.by_kind)
    if r.savings is not None:
        text += f"\n## What-if `--rewrite {r.savings.rewrite}`\n\n| layer | original mults | rewritten mults | ratio | analytic | formula |\n|---|---:|---:|---:|---:|---|\n"
        text += "".join(f"| {md_cell(s.name)} | {s.original_mults:,} | {s.rewritten_mults:,} | {s.ratio:.4f} | "
                        f"{s.analytic:.4f} | {s.formula} |\n" for s in r.savings.rows)
    if r.roofline is not None:
        p = r.roofline.profile
        text += (f"\n## Roofline on {p.name}\n\n{_roofline_lines(r)[0]}\n\n| layer | kind | FLOP/B | est. ms | bound |\n"
                 "|---|---|---:|---:|---|\n")
        text += "".join(f"| {md_cell(e.name)} | {md_cell(e.kind)} | {e.intensity:.2f} | {e.seconds * 1000:.3f} | {e.bound} |\n"
                        for e in r.roofline.grouped(r.depth))
    return text


def _report_graph(comment: str, make):
    def draw(r, terminal, width):
        return make(r.report) + "".join(f"{comment} {line}\n" for line in _extra_lines(r))
    return draw


def _dot(report):
    from cnncost.render.graph import to_dot
    return to_dot(report)


def _mermaid(report):
    from cnncost.render.graph import to_mermaid
    return to_mermaid(report)


# ---- the other commands ------------------------------------------------------------------
def _compare_text(fmt):
    def draw(r, terminal, width):
        from cnncost.render.compare import compare_text, print_compare
        if fmt == "table":
            return _table(lambda: print_compare(list(r.columns)), terminal, width)
        return compare_text(list(r.columns), fmt)
    return draw


def _html(page: str):
    def draw(r, terminal, width):
        from cnncost.render import html
        return getattr(html, page)(r)
    return draw


def _sweep_text(fmt):
    def draw(r, terminal, width):
        from cnncost.render.compare import print_sweep, sweep_text
        if fmt == "table":
            return _table(lambda: print_sweep(r.grid, r.metric), terminal, width)
        return sweep_text(r.grid, r.metric, fmt)
    return draw


def _verify_table(r, terminal, width):
    from cnncost.render.report import print_verification
    return _table(lambda: print_verification(r.verification), terminal, width)


def _check_table(r, terminal, width):
    from cnncost.render.report import print_checks
    return _table(lambda: print_checks(list(r.results)), terminal, width)


def _latency_table(r, terminal, width):
    from cnncost.render.roofline import print_latency
    return _table(lambda: print_latency(r), terminal, width)


def _run_table(r, terminal, width):
    shape = "x".join(map(str, r.output.shape))
    several = len(r.outputs) > 1
    first = f"output '{next(iter(r.outputs))}'" if several else "output"
    lines = [f"{first} {shape} in {r.seconds * 1000:.1f} ms; min {r.minimum:.6g}, max {r.maximum:.6g}, "
             f"mean {r.mean:.6g}"]
    if several:
        lines.append("outputs: " + ", ".join(f"{k} {'x'.join(map(str, v.shape))}" for k, v in r.outputs.items())
                     + " (every output: --output FILE.npz)")
    if r.top5:
        lines.append("top-5 of example 0: " + ", ".join(f"{i} ({v:.4g})" for i, v in r.top5))
    return "\n".join(lines) + "\n"


def _export_table(r, terminal, width):
    return (f"wrote {r.path}: {r.nodes} nodes, {r.initializers} weight tensors, {r.bytes / 1e6:.1f} MB, "
            f"opset {r.opset}, input {r.input_shape} (NCHW), output {r.output_shape}; onnx.checker "
            f"passed (full check) in {r.seconds:.2f} s\n")


def _kinds_table(r, terminal, width):
    """Each kind as a paragraph, wrapped to the terminal (100 columns in a pipe)."""
    import textwrap

    cols = max(40, width or 100)
    indent = " " * 19

    def para(head, text):
        return textwrap.fill(text, cols, initial_indent=head, subsequent_indent=indent,
                             break_on_hyphens=False)

    out = []
    for k in r.kinds:
        args = "; ".join(f"{n} ({t}, default {d})" + (f": {doc}" if doc else "") for n, t, d, doc in k.args) or "-"
        out.append("\n".join([para(f"{k.name:18s} ", k.doc), para(indent + "args: ", args),
                              para(indent + "mults: ", k.mults), para(indent + "flops: ", k.flops),
                              para(indent + "backward keeps: ", k.saves)]))
    if r.aliases:
        out.append(textwrap.fill("aliases: " + ", ".join(f"{a} = {k}({f})" for a, k, f in r.aliases), cols,
                                 subsequent_indent="  ", break_on_hyphens=False))
    return "\n".join(out) + "\n"


def _kinds_markdown(r, terminal, width):
    def cell(text):
        return text.replace("|", "\\|")     # a pipe inside a cell would split it

    lines = ["| kind | what | mults | flops |", "|---|---|---|---|"]
    lines += [f"| `{k.name}` | {cell(k.doc)} | {cell(k.mults)} | {cell(k.flops)} |" for k in r.kinds]
    return "\n".join(lines) + "\n"


def _bundled_table(r, terminal, width):
    return "".join(f"{n:32s} {s}\n" for n, s in r.rows)


def _bundled_markdown(r, terminal, width):
    lines = ["| name | variables (`--set`) | source |", "|---|---|---|"]
    for (n, s), v in zip(r.rows, r.variables):
        shown = ", ".join(f"`{k}={d}`" for k, d in v) or "-"
        lines.append(f"| `{n}` | {shown} | {s.replace('|', chr(92) + '|')} |")
    return "\n".join(lines) + "\n"


def _import_table(r, terminal, width):
    return (f"wrote {r.spec_path}: {r.layers} layers" + (f"; {r.weights_path}: {r.weight_arrays} weight arrays"
                                                          if r.weights_path else "") + "\n")


def _lines(r, terminal, width):
    return "\n".join(r.lines) + "\n"


def _calibrate_yaml(r, terminal, width):
    return r.yaml()


def _formula_table(r, terminal, width):
    from cnncost.render.formula import formula_text
    return formula_text(r, terminal, width)


def _renderers() -> dict[str, dict[str, Callable[[Any, bool, int | None], str]]]:
    """Formats by the `rendered_as` name each result class carries (results/, and the
    roofline's Latency): dispatch by the type itself, without importing every result class
    (the results of other commands are built on first use, and a report builds none)."""
    j = lambda r, terminal, width: _json(r)   # noqa: E731
    return {
        "report": {"table": _report_table, "json": j, "csv": _report_csv, "markdown": _report_markdown,
                   "dot": _report_graph("//", _dot), "mermaid": _report_graph("%%", _mermaid),
                   "html": _html("report_page")},
        "compare": {**{f: _compare_text(f) for f in ("table", "json", "csv", "markdown")},
                    "html": _html("compare_page")},
        "sweep": {f: _sweep_text(f) for f in ("table", "json", "csv")},
        "explain": {"table": _lines, "json": j},
        "verify": {"table": _verify_table, "json": j},
        "run": {"table": _run_table, "json": j},
        "check": {"table": _check_table, "json": j},
        "calibrate": {"table": _calibrate_yaml, "yaml": _calibrate_yaml, "json": j},
        "export": {"table": _export_table, "json": j},
        "kinds": {"table": _kinds_table, "markdown": _kinds_markdown, "json": j},
        "bundled": {"table": _bundled_table, "markdown": _bundled_markdown, "json": j},
        "import": {"table": _import_table, "json": j},
        "latency": {"table": _latency_table, "json": j},
        "formula": {"table": _formula_table, "json": j},
    }


def _table_of(result_type: type) -> tuple[str, dict]:
    table = _renderers().get(getattr(result_type, "rendered_as", ""))
    if table is None:
        raise CnnCostError(f"nothing renders a {result_type.__name__}")
    return result_type.__name__, table


def formats(result_type: type) -> tuple[str, ...]:
    return tuple(_table_of(result_type)[1])


def render(result: Any, fmt: str = "table", *, terminal: bool = False, width: int | None = None) -> str:
    """The text of `result` in `fmt`. `terminal` keeps styles and fits tables to `width`
    columns; otherwise tables are drawn 160 columns wide and plain."""
    name, table = _table_of(type(result))
    if fmt not in table:
        raise CnnCostError(f"{name} has no {fmt} format (formats: {', '.join(table)})")
    return table[fmt](result, terminal, width)


to_text = render     # the package face's name for the one formatter


ASCII = str.maketrans({"━": "-", "─": "-", "┃": "|", "│": "|", "┏": "+", "┓": "+", "┗": "+", "┛": "+",
                       "┡": "+", "┩": "+", "╇": "+", "┳": "+", "┻": "+", "╋": "+", "├": "+", "┤": "+",
                       "┼": "+", "└": "+", "┘": "+", "┌": "+", "┐": "+", "┬": "+", "┴": "+", "█": "#",
                       "…": "...", "×": "x", "—": "-", "→": "->"})


def encodable(text: str) -> str:
    """Text the stdout encoding can carry: on a non-UTF-8 stdout (LANG=C,
    PYTHONIOENCODING=ascii) box drawing and bars become ASCII, anything else is escaped."""
    import sys

    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
        return text
    except (UnicodeEncodeError, LookupError):
        return text.translate(ASCII).encode(encoding, "backslashreplace").decode(encoding)

