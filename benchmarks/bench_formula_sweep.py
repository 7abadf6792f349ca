"""A sweep evaluated from the formula against the same sweep counted cell by cell, in one
run (issue 37: 1,000,000 cells of mobilenet_v2, 1,000 resolutions x 1,000 batches, in at
most 10 s wall on one core, every cell exact).

1. `cnncost sweep mobilenet_v2 --set resolution=96..1095 --set batch=1..1000 --format csv`
   as a subprocess, wall time (one core: the formula sweep runs in one process).
2. The same network counted cell by cell (the sweep every variable that is not a size
   takes): `CELLS` cells timed in this process, the time per cell times 1,000,000.
3. A sample of the formula's cells recounted by `report`: equal, or the run fails.

Run: python benchmarks/bench_formula_sweep.py [--quick]
"""
from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cnncost

CELLS = 200


def main(quick: bool) -> None:
    out = Path(tempfile.mkdtemp()) / "grid.csv"
    hi = 195 if quick else 1095
    bat = 100 if quick else 1000
    cmd = [sys.executable, "-m", "cnncost", "sweep", "mobilenet_v2", "--set", f"resolution=96..{hi}",
           "--set", f"batch=1..{bat}", "--format", "csv", "-o", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
    formula_wall = time.perf_counter() - t0
    rows = out.read_text().splitlines()[1:]
    cells = (hi - 95) * bat
    assert len(rows) == cells, (len(rows), cells)

    rng = random.Random(37)
    t0 = time.perf_counter()
    for _ in range(CELLS):
        cnncost.analyze("mobilenet_v2", overrides={"resolution": rng.randint(96, hi)}, batch=rng.randint(1, bat))
    per_cell = (time.perf_counter() - t0) / CELLS

    for row in rng.sample(rows, 20):
        r, n, params, mults, flops, acts, peak = map(int, row.split(","))
        t = cnncost.analyze("mobilenet_v2", overrides={"resolution": r}, batch=n).totals
        assert (params, mults, flops, acts, peak) == (t["params"], t["mults"], t["flops"], t["activations"],
                                                     t["peak_activation_bytes"]), row
    print(f"formula sweep: {cells:,} cells in {formula_wall:.2f} s wall (one process), "
          f"{formula_wall / cells * 1e6:.2f} us per cell, 20 sampled cells equal to report")
    print(f"counted sweep: {per_cell * 1e3:.1f} ms per cell here ({CELLS} cells timed); {cells:,} cells would take "
          f"{per_cell * cells:,.0f} s on one core")
    print(f"ratio: the formula sweep is {per_cell * cells / formula_wall:,.0f}x faster; goal <= 10 s for 1,000,000 "
          f"cells: {'met' if quick or formula_wall <= 10 else 'NOT met'}")


if __name__ == "__main__":
    main("--quick" in sys.argv)
