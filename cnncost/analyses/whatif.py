"""What-if rewrites: how much a network would save if each standard k x k convolution were
depthwise separable, or preceded by a 1 x 1 bottleneck -- per layer, next to the analytic
ratio (1/N + 1/f^2 for separable)."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from cnncost.core.analysis import Report, analyze


@dataclass
class Saving:
    name: str
    original_mults: int
    rewritten_mults: int
    ratio: float               # rewritten / original, exact counts
    analytic: float            # the textbook formula
    formula: str


def savings(spec, rewrite: str, **analyze_kw) -> tuple[Report, Report, list[Saving]]:
    original = analyze(spec, **analyze_kw)
    rewritten = analyze(spec, rewrite=rewrite, **analyze_kw)
    rows = {r.name: r for r in rewritten.layers}
    nodes = {n.name: n for n in original.graph.layers}
    out = []
    for row in original.layers:
        parts = [r for n, r in rows.items() if n.startswith(row.name + ".")] if row.name not in rows else []
        if not parts or row.kind != "conv":
            continue
        node = nodes[row.name]
        (kh, kw), filters = node.args.kernel, node.args.filters
        new = sum(p.mults for p in parts)
        if rewrite == "separable":
            analytic = Fraction(1, filters) + Fraction(1, kh * kw)
            formula = f"1/N + 1/f^2 = 1/{filters} + 1/{kh * kw}"
        else:
            r = int(rewrite.split("=")[1])
            (h, w, c), (oh, ow, _) = node.in_shapes[0], node.out_shape
            analytic = Fraction(1, r) + Fraction(c * h * w, r * kh * kw * filters * oh * ow)
            formula = f"1/R + C_in*H_in*W_in/(R*f^2*N*H_out*W_out), R = {r}"
        out.append(Saving(row.name, row.mults, new, new / row.mults, float(analytic), formula))
    return original, rewritten, out


def network_ratios(original: Report, rewritten: Report) -> dict:
    """Rewritten / original totals for mults and params."""
    return {k: rewritten.totals[k] / original.totals[k] for k in ("mults", "params") if original.totals[k]}
