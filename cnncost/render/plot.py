"""Charts with matplotlib (the optional `plot` extra). `chart(path, result)` draws the
chart of any command's result."""
from __future__ import annotations

from pathlib import Path

from cnncost.errors import CnnCostError


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise CnnCostError("--plot needs matplotlib, the `plot` extra: pip install '.[plot]' "
                           "in a clone of cnncost (or: pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _check_path(path: str) -> None:
    if Path(path).suffix.lower() not in (".svg", ".png", ".pdf"):
        raise CnnCostError(f"--plot {path}: use a .svg, .png or .pdf file name")
    if not Path(path).resolve().parent.is_dir():
        raise CnnCostError(f"cannot write {path}: folder {Path(path).parent} does not exist")


def bars(path: str, title: str, labels: list[str], series: dict[str, list[float]]) -> None:
    """One horizontal bar chart per series (e.g. mults and params), sharing the labels."""
    _check_path(path)
    plt = _pyplot()
    fig = bars_figure(plt, title, labels, series)
    fig.savefig(path)
    plt.close(fig)


def bars_figure(plt, title: str, labels: list[str], series: dict[str, list[float]]):
    """The figure of `bars`: the layout engine places the figure's title above the panels'
    (tight_layout leaves room for neither on a tall figure, so they overlapped)."""
    height = max(3.0, 0.22 * len(labels) + 1.5)
    fig, axes = plt.subplots(1, len(series), figsize=(5 * len(series) + 2, height), sharey=True,
                             layout="constrained", squeeze=False)
    axes = axes[0]
    from matplotlib.ticker import EngFormatter

    for ax, (name, values) in zip(axes, series.items()):
        ax.barh(range(len(labels)), values, color="#4477aa")
        if len(series) > 1:                        # one series: the figure's title names it
            ax.set_title(name)
        wide = max(values or [0]) > 0 and min(v for v in values if v > 0) * 1e3 < max(values)
        ax.set_xscale("log" if wide else "linear")
        if not wide:
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))   # 500M, 1G: the report's units
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(labels)), labels, fontsize=7)
    axes[0].set_ylim(len(labels) - 0.5, -0.5)      # first row on top, no empty band above or below
    fig.suptitle(title)
    return fig


MAX_CURVES = 8


def sweep_curves(path: str, grid, metric: str) -> None:
    """The metric against the first axis, one line per value of the others (at most
    MAX_CURVES of them, evenly picked); a grid from a formula read row by row."""
    from itertools import product

    others = list(product(*grid.values[1:]))
    step = max(1, -(-len(others) // MAX_CURVES))
    chosen = others[::step]
    series = {c: [] for c in chosen}
    cells = grid.cells
    for x in grid.values[0]:
        for c in chosen:
            series[c].append(cells[(x, *c)][metric])
    _check_path(path)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    from matplotlib.ticker import EngFormatter

    for c, ys in series.items():
        label = ", ".join(f"{n}={v}" for n, v in zip(grid.names[1:], c))
        ax.plot(grid.values[0], ys, "-", label=label or None)
    ax.yaxis.set_major_formatter(EngFormatter(sep=""))
    ax.set_xlabel(grid.names[0])
    ax.set_ylabel(metric)
    ax.set_title(f"{grid.spec}: {metric}")
    ax.grid(alpha=0.3)
    if any(series) and grid.names[1:]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def scatter(path: str, title: str, points: list[tuple[str, float, float]], xlabel: str, ylabel: str,
            lines: list[tuple[list[float], list[float], str]] = ()) -> None:
    """Labelled points on log-log axes (a roofline), with optional reference lines."""
    _check_path(path)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 6))
    for xs, ys, label in lines:
        ax.plot(xs, ys, "-", color="#aa3377", label=label)
    ax.scatter([p[1] for p in points], [p[2] for p in points], s=12, color="#4477aa")
    for label, x, y in points[:: max(1, len(points) // 25)]:
        ax.annotate(label, (x, y), fontsize=6, alpha=0.7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    if lines:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def chart(path: str, result) -> None:
    """The chart of a result of cnncost.api: per-layer (report), per-column (compare),
    per-cell (sweep) bars, or the roofline with one point per layer (latency)."""
    from cnncost import api

    if isinstance(result, api.ReportResult):
        rows = result.report.grouped(result.depth)
        bars(path, f"{result.report.name}: per-layer cost", [r.name for r in rows],
             {"mults": [r.mults for r in rows], "params": [r.params for r in rows]})
    elif isinstance(result, api.CompareResult):
        cols = list(result.columns)
        bars(path, "compare", [c.label for c in cols], {"mults": [c.values["mults"] for c in cols],
                                                       "params": [c.values["params"] for c in cols]})
    elif isinstance(result, api.SweepResult):
        g = result.grid
        if len(g.values[0]) > 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in g.values[0]):
            sweep_curves(path, g, result.metric)        # a size on the x axis: the metric against it
            return
        labels = [",".join(f"{n}={v}" for n, v in zip(g.names, c)) for c in g.cells]
        bars(path, f"{g.spec}: {result.metric}", labels, {result.metric: [v[result.metric] for v in g.cells.values()]})
    else:
        from cnncost.analyses.roofline import Latency
        if not isinstance(result, Latency):
            raise CnnCostError(f"--plot: nothing to chart for {type(result).__name__}")
        roofline_chart(path, result.report, result.profile)


def roofline_chart(path, report, profile) -> None:
    """One point per layer at its arithmetic intensity, under the device's roof."""
    from cnncost.analyses import roofline
    from cnncost.render.report import si

    points = [(r.name, r.intensity) for r in report.layers if r.flops and r.intensity]
    if not points:
        raise CnnCostError("nothing to plot: no layer does arithmetic")
    xs, ys = roofline.roof(profile, [x for _, x in points])
    scatter(path, f"{report.name}: layers on the roofline of {profile.name}",
            [(n, x, roofline.attainable(profile, x) / 1e9) for n, x in points],
            "arithmetic intensity (FLOP/byte)", "attainable GFLOP/s",
            lines=[(xs, [y / 1e9 for y in ys], f"roof: {si(profile.peak_flops)}FLOP/s, {si(profile.bandwidth)}B/s")])
