"""Report and compare results -> one self-contained HTML page (`--format html`): the
layer graph, the per-layer table and the charts, with the script, styles and data inlined
so the file opens offline by double-click.

Every number on the page comes from the result here: per-layer rows, block sums, the
cumulative MACs, live activation memory over the execution order, the peak, each layer's
formula. The script only lays out, formats, sorts, filters and folds (and draws the table's rows
from the same data: building them here cost more than the rest of the page).
"""
from __future__ import annotations

import functools
import html
import json
import os

from cnncost.render.report import SHAPE_FIELDS, ROW_FIELDS, shape_str

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
# the table's columns are the CSV's, headed as the CSV's documentation names them
LABELS = {"name": "layer", "output_shape": "output", "receptive_field": "receptive field"}
TEXT = {"name", "kind", "mult_class", *SHAPE_FIELDS}


def _asset(name: str) -> str:
    with open(os.path.join(ASSETS, name), encoding="utf-8") as fh:
        return fh.read()


def network_data(report, roofline=None) -> dict:
    """What the page shows of one network, every number from the report and its roofline
    estimates (the script and this module do no arithmetic on counts)."""
    estimates = list(roofline.estimates) if roofline is not None else None
    seconds = {r.name: e.seconds for r, e in zip(report.layers, estimates)} if estimates is not None else {}
    sums = report.block_sums(seconds or None, "seconds")
    fields, values = report.row_table()
    return {"name": report.name, "source": report.source, "input": shape_str(report.input_shape),
            "inputs": {k: shape_str(v) for k, v in report.inputs.items()} or {"input": shape_str(report.input_shape)},
            "batch": report.batch, "dtype": report.dtype, "conventions": report.conventions_line(),
            "totals": {k: v for k, v in report.totals.items() if isinstance(v, int)},
            "mults_by_class": report.totals["mults_by_class"], "row_fields": fields, "row_values": values,
            "blocks": report.stages(sums),
            "block_sums": sums, "cumulative_mults": report.cumulative_mults(), "live_bytes": report.live_bytes(),
            "peak_bytes": report.totals["peak_activation_bytes"],
            **report.formulas(), "seconds": seconds, "windows": report.windows(),
            "roofline": _roofline_totals(roofline),
            "has_seconds": estimates is not None, "columns": list(ROW_FIELDS),
            "text_columns": sorted(TEXT), "column_labels": {k: LABELS.get(k, k.replace("_", " ")) for k in ROW_FIELDS}}


def _roofline_totals(roofline) -> dict | None:
    """The estimate's totals as `report --profile` prints them under its table."""
    if roofline is None:
        return None
    p = roofline.profile
    return {"profile": p.name, "peak_flops": p.peak_flops, "bandwidth": p.bandwidth,
            "total_seconds": roofline.total_seconds, "memory_share": roofline.memory_share}


@functools.cache
def _template() -> tuple[str, ...]:
    """The page split at its slots, with the styles and script in place (read once)."""
    script = _asset("layout.js") + _asset("charts.js") + _asset("page.js")    # geometry, charts, the page
    text = _asset("page.html").replace("{{CSS}}", _asset("page.css")).replace("{{JS}}", script)
    head, rest = text.split("{{TITLE}}")
    middle, rest = rest.split("{{BODY}}")
    before, after = rest.split("{{DATA}}")
    return head, middle, before, after


def _page(title: str, data: dict, body: str) -> str:
    payload = json.dumps(data, separators=(",", ":"), default=str).replace("<", "\\u003c")
    head, middle, before, after = _template()
    return "".join((head, html.escape(title), middle, body, before, payload, after))


def _allocating(build):
    """A page is built of allocations only: the collector's passes over the whole report
    (a 2,000-layer one holds a million objects) are wasted there."""
    @functools.wraps(build)
    def run(result):
        import gc

        enabled = gc.isenabled()
        gc.disable()
        try:
            return build(result)
        finally:
            if enabled:
                gc.enable()
    return run


@_allocating
def report_page(result) -> str:
    report = result.report
    data = {"page": "report", "networks": [network_data(report, result.roofline)]}
    body = (f'<section class="view" id="view-table" hidden>{_filters()}<table class="layers"><thead></thead>'
            '<tbody></tbody></table></section>')
    return _page(f"{report.name} — cnncost", data, body)


def _filters() -> str:
    return ('<div class="filters"><input type="search" id="filter" placeholder="filter by name or kind" '
            'aria-label="filter layers by name or kind"></div>')


@_allocating
def compare_page(result) -> str:
    from cnncost.analyses import compare as cmp
    from cnncost.render.compare import LABELS, compare_cell

    columns = list(result.columns)
    rows = []
    for metric, values in cmp.rows(columns):
        cells = "".join(f'<td class="num">{html.escape(compare_cell(metric, v, values[0], i))}</td>'
                        for i, v in enumerate(values))
        rows.append(f'<tr data-metric="{html.escape(metric)}"><th>{html.escape(LABELS.get(metric, metric))}</th>{cells}</tr>')
    head = "".join(f"<th>{html.escape(c.label)}</th>" for c in columns)
    notes = "".join(f"<p class=note>{html.escape(n)}</p>" for n in cmp.notes(columns))
    body = (f'<section class="view" id="view-totals"><table class="totals"><thead><tr><th>metric</th>{head}</tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table><p class=note>ratios are to the first column</p>'
            f"{notes}</section>")
    data = {"page": "compare", "labels": [c.label for c in columns],
            "networks": [network_data(c.report) for c in columns]}
    return _page("compare — cnncost", data, body)
