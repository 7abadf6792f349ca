"""Tables and charts for roofline estimates and latency validation (formatting only)."""
from __future__ import annotations

from dataclasses import asdict

from .render import _console, si


def estimates_dict(profile, estimates) -> dict:
    return {"profile": asdict(profile), "total_seconds": sum(e.seconds for e in estimates),
            "layers": [asdict(e) for e in estimates]}


def print_estimates(report, profile, estimates) -> None:
    from rich.table import Table

    table = Table(header_style="bold", title_justify="left",
                  title=f"roofline on {profile.name}: {si(profile.peak_flops)}FLOP/s, "
                        f"{si(profile.bandwidth)}B/s, ridge {profile.ridge:.1f} FLOP/B")
    for col, just in (("layer", "left"), ("kind", "left"), ("flops", "right"), ("bytes", "right"),
                      ("FLOP/B", "right"), ("est. ms", "right"), ("bound", "left")):
        table.add_column(col, justify=just, no_wrap=True)
    for e in estimates:
        table.add_row(e.name, e.kind, f"{e.flops:,}", f"{e.bytes:,}", f"{e.intensity:.2f}",
                      f"{e.seconds * 1000:.3f}", e.bound)
    console = _console()
    console.print(table)
    total = sum(e.seconds for e in estimates)
    mem = sum(e.seconds for e in estimates if e.bound == "memory")
    console.print(f"estimated {total * 1000:.2f} ms, {mem / total:.0%} of it in memory-bound layers"
                  if total else "nothing to estimate", highlight=False)


def print_latency(result) -> None:
    from rich.table import Table

    table = Table(header_style="bold", title_justify="left",
                  title=f"{result.report.name}: roofline ({result.profile.name}) vs NumPy executor")
    for col, just in (("layer", "left"), ("kind", "left"), ("FLOP/B", "right"), ("bound", "left"),
                      ("predicted ms", "right"), ("measured ms", "right"), ("measured / predicted", "right")):
        table.add_column(col, justify=just, no_wrap=True)
    for r in result.rows:
        ratio = f"{r['measured_seconds'] / r['seconds']:.1f}" if r["seconds"] else "-"
        table.add_row(r["name"], r["kind"], f"{r['intensity']:.2f}", r["bound"],
                      f"{r['seconds'] * 1000:.3f}", f"{r['measured_seconds'] * 1000:.3f}", ratio)
    console = _console()
    console.print(table)
    console.print(f"predicted {result.predicted_seconds * 1000:.1f} ms, measured {result.measured_seconds * 1000:.1f} ms "
                  f"(median forward); Spearman rho over layers = {result.rho:.3f}", highlight=False)


def plot(path, report, profile) -> None:
    from . import plot as plotting

    points = [(r.name, r.intensity, r.flops / 1e9) for r in report.layers if r.flops and r.intensity]
    if not points:
        from .errors import CnnCostError
        raise CnnCostError("nothing to plot: no layer does arithmetic")
    lo = min(p[1] for p in points) / 2
    hi = max(p[1] for p in points) * 2
    xs = [lo * (hi / lo) ** (i / 50) for i in range(51)]
    roof = [min(profile.peak_flops, x * profile.bandwidth) / 1e9 for x in xs]
    # y: attainable GFLOP/s at each layer's intensity is the roof; the points show each
    # layer's FLOPs (GFLOP) so the chart separates heavy layers from light ones
    plotting.scatter(path, f"{report.name}: layers on the roofline of {profile.name}",
                     [(n, x, min(profile.peak_flops, x * profile.bandwidth) / 1e9) for n, x, _ in points],
                     "arithmetic intensity (FLOP/byte)", "attainable GFLOP/s",
                     lines=[(xs, roof, f"roof: {si(profile.peak_flops)}FLOP/s, {si(profile.bandwidth)}B/s")])
