"""Start-up against the floor of the stack, as ratios measured in one run (issue: start-up
at the floor of the stack). Run it from a regular install (`pip install .`: an editable
install adds an import hook to every interpreter start).

Each command and its floor run interleaved (floor, command, floor, command, ...), so a
machine that slows down slows both; the ratio of their medians is what is judged:

  cnncost --version / --help            <= 1.3x  python -c "import click"
  cnncost report resnet152 --format json <= 1.5x  python -c "import click, yaml"
  cnncost report resnet152 (table)       <= 1.5x  python -c "import click, yaml, rich"

and in process, after a first call: report("resnet50") <= 10 ms, report("resnet152")
<= 30 ms; a sweep of 10,000 mobilenet_v1 cells in one process under 60 s.

Run: python benchmarks/bench_startup.py [--quick]
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

PY = sys.executable
# the command a user types: the console script pip writes (`python -m` adds runpy's import)
_SCRIPT = os.path.join(os.path.dirname(PY), "cnncost")
CNNCOST = [_SCRIPT] if os.path.exists(_SCRIPT) else [PY, "-m", "cnncost"]
GOALS = [
    ("cnncost --version", CNNCOST + ["--version"], "import click", 1.3),
    ("cnncost --help", CNNCOST + ["--help"], "import click", 1.3),
    ("cnncost report resnet152 --format json", CNNCOST + ["report", "resnet152", "--format", "json"],
     "import click, yaml", 1.5),
    ("cnncost report resnet152 (table)", CNNCOST + ["report", "resnet152"], "import click, yaml, rich", 1.5),
]


def once(cmd) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "200"})
    return time.perf_counter() - t0


def interleaved(cmd, floor, runs):
    ours, base = [], []
    once(cmd), once(floor)                       # warm the file cache
    for _ in range(runs):
        base.append(once(floor))
        ours.append(once(cmd))
    return statistics.median(ours), statistics.median(base)


def in_process(runs):
    import cnncost

    out = {}
    for name, goal in (("resnet50", 0.010), ("resnet152", 0.030)):
        cnncost.report(name)                     # the first call reads and parses the spec
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            cnncost.report(name)
            times.append(time.perf_counter() - t0)
        out[name] = (statistics.median(times), goal)
    return out


def sweep_cells(quick):
    import cnncost

    alphas = [round(0.25 + 0.01 * i, 2) for i in range(100)]
    resolutions = list(range(96, 96 + (10 if quick else 100) * 2, 2))
    t0 = time.perf_counter()
    axes = ["alpha=" + ",".join(map(str, alphas)), "resolution=" + ",".join(map(str, resolutions))]
    limits = cnncost.Limits(max_sweep_cells=10_000)
    grid = cnncost.sweep("mobilenet_v1", axes, jobs=1, limits=limits)
    return len(grid.grid.cells), time.perf_counter() - t0


def main():
    quick = "--quick" in sys.argv
    runs = 7 if quick else 21
    ok = True
    print(f"{'command':42s} {'ms':>8s} {'floor':>28s} {'ms':>8s} {'ratio':>6s} goal")
    for label, cmd, floor, goal in GOALS:
        t, b = interleaved(cmd, [PY, "-c", floor], runs)
        met = t / b <= goal
        ok &= met
        print(f"{label:42s} {t * 1000:8.1f} {'python -c ' + repr(floor):>28s} {b * 1000:8.1f} "
              f"{t / b:6.2f} <= {goal} {'met' if met else 'NOT met'}")
    for name, (t, goal) in in_process(15 if quick else 41).items():
        met = t <= goal
        ok &= met
        print(f"in process: report({name!r}) {t * 1000:.1f} ms (goal <= {goal * 1000:.0f} ms) "
              f"{'met' if met else 'NOT met'}")
    cells, seconds = sweep_cells(quick)
    scaled = seconds * 10_000 / cells
    met = scaled < 60
    ok &= met
    print(f"sweep of {cells:,} mobilenet_v1 cells: {seconds:.1f} s"
          + (f" (x{10_000 // cells} = {scaled:.0f} s for 10,000)" if cells < 10_000 else "")
          + f" (goal < 60 s for 10,000) {'met' if met else 'NOT met'}")
    print("all goals met" if ok else "some goals NOT met")


if __name__ == "__main__":
    main()
