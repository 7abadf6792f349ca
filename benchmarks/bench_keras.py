"""Keras reading speed, printed as ratios against the same network from its bundled YAML
spec, measured in the same run (interleaved, medians).

    python benchmarks/bench_keras.py [--runs N] MODEL.keras=BUNDLED ...

e.g. `VGG16.keras=vgg16` (a keras.applications.VGG16(weights=None) saved by Keras: 554 MB,
almost all of it weights, which counting never reads). Without arguments, the committed
fixtures against themselves are timed only in process.
"""
from __future__ import annotations

import os
import statistics
import sys
import time

from bench_report import wall        # median wall time of a subprocess (this folder)


def in_process(spec, runs):
    from cnncost import api

    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        api.analyze(spec)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv):
    runs = int(argv[argv.index("--runs") + 1]) if "--runs" in argv else 5
    pairs = [a.split("=", 1) for a in argv if "=" in a and not a.startswith("--")]
    cli = [sys.executable, "-m", "cnncost", "report"]
    for model, bundled in pairs:
        size = os.path.getsize(model) / 1e6
        k_cli = y_cli = k_in = y_in = 0.0
        ks, ys, kis, yis = [], [], [], []
        for _ in range(runs):                                   # interleaved
            ks.append(wall(cli + [model, "--format", "json"], 1))
            ys.append(wall(cli + [bundled, "--format", "json"], 1))
            kis.append(in_process(model, 1))
            yis.append(in_process(bundled, 1))
        k_cli, y_cli, k_in, y_in = (statistics.median(v) for v in (ks, ys, kis, yis))
        print(f"{os.path.basename(model)} ({size:.0f} MB) vs {bundled}.yaml: CLI {k_cli * 1e3:.0f} ms vs "
              f"{y_cli * 1e3:.0f} ms ({k_cli / y_cli:.2f}x); in process {k_in * 1e3:.1f} ms vs {y_in * 1e3:.1f} ms "
              f"({k_in / y_in:.2f}x)")
    if not pairs:
        here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "keras_files")
        for name in sorted(os.listdir(here)):
            if name.endswith(".keras"):
                print(f"{name}: in process {in_process(os.path.join(here, name), runs) * 1e3:.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1:])
