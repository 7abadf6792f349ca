"""Tables and charts for roofline estimates and latency validation (formatting only)."""
from __future__ import annotations

from dataclasses import asdict

from cnncost.analyses import roofline
from cnncost.render.report import rich_console, si


def estimates_dict(profile, estimates) -> dict:
    return {"profile": asdict(profile), "total_seconds": roofline.total_seconds(estimates),
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
    console = rich_console()
    console.print(table)
    total = roofline.total_seconds(estimates)
    console.print(f"estimated {total * 1000:.2f} ms, {roofline.memory_share(estimates):.0%} of it in "
                  "memory-bound layers" if total else "nothing to estimate", highlight=False)


def print_latency(result) -> None:
    from rich.table import Table

    table = Table(header_style="bold", title_justify="left",
                  title=f"{result.report.name}: roofline ({result.profile.name}) vs "
                        + ("onnxruntime's profiler (graph optimisations off)" if result.engine == "onnxruntime"
                           else "NumPy executor"))
    for col, just in (("layer", "left"), ("kind", "left"), ("FLOP/B", "right"), ("bound", "left"),
                      ("predicted ms", "right"), ("measured ms", "right"), ("measured / predicted", "right")):
        table.add_column(col, justify=just, no_wrap=True)
    for r in result.rows:
        ratio = "-" if r["measured_over_predicted"] is None else f"{r['measured_over_predicted']:.1f}"
        table.add_row(r["name"], r["kind"], f"{r['intensity']:.2f}", r["bound"],
                      f"{r['seconds'] * 1000:.3f}", f"{r['measured_seconds'] * 1000:.3f}", ratio)
    console = rich_console()
    console.print(table)
    console.print(f"predicted {result.predicted_seconds * 1000:.1f} ms, measured {result.measured_seconds * 1000:.1f} ms "
                  f"(median forward); Spearman rho over layers = {result.rho:.3f}"
                  + (f"; onnxruntime with graph optimisations on: {result.optimized_seconds * 1000:.1f} ms"
                     if result.optimized_seconds is not None else ""), highlight=False)
