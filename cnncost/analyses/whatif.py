"""What-if rewrites: how much a network would save if each standard k x k convolution were
depthwise separable, or preceded by a 1 x 1 bottleneck -- per layer, next to the analytic
ratio (1/N + 1/f^2 for separable)."""
from __future__ import annotations

from dataclasses import dataclass

from cnncost.core.analysis import Report, analyze
from cnncost.core.options import parse_rewrite


@dataclass
class Saving:
    name: str
    original_mults: int
    rewritten_mults: int
    ratio: float               # rewritten / original, exact counts
    analytic: float            # the textbook formula
    formula: str
    note: str = ""             # why ratio and analytic differ (channels rounded), if they do


def savings(spec, rewrite: str, **analyze_kw) -> tuple[Report, Report, list[Saving]]:
    """Analyse `spec` as it is and rewritten; each rewritten layer's exact saving beside the
    analytic ratio its kind states."""
    original = analyze(spec, **analyze_kw)
    rewritten = analyze(spec, rewrite=rewrite, **analyze_kw)
    how = parse_rewrite(rewrite)
    rows = {r.name: r for r in rewritten.layers}
    out = []
    for node, row in zip(original.graph.layers, original.layers):
        parts = [r for n, r in rows.items() if n.startswith(row.name + ".")] if row.name not in rows else []
        if not parts or not node.kind.rewrite(node.args, node.in_shapes[0], how):
            continue
        analytic, formula = node.kind.rewrite_analytic(node.args, node.in_shapes, node.out_shape, how)
        new = sum(p.mults for p in parts)
        out.append(Saving(row.name, row.mults, new, new / row.mults, float(analytic), formula,
                          node.kind.rewrite_note(node.args, node.in_shapes, how)))
    return original, rewritten, out


def network_ratios(original: Report, rewritten: Report) -> dict:
    """Rewritten / original totals for mults and params."""
    return {k: rewritten.totals[k] / original.totals[k] for k in ("mults", "params") if original.totals[k]}
