"""ONNX reading speed, printed as ratios against baselines measured in the same run.

1. Wall time of `cnncost report MODEL.onnx` (CLI, subprocess, median) next to the same
   network from its bundled YAML spec and a bare `python -c pass` (target: ResNet-50 under
   1 s).
2. In-process: our reader + import against `onnx.load` of the same file (what reading
   cost before: importing onnx alone, then parsing every weight into memory).

The models are written by `cnncost export` (needs the onnx extra), or given as paths:
    python benchmarks/bench_onnx_import.py [--runs N] [model.onnx ...]
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench_report import wall        # median wall time of a subprocess (this folder)


def in_process(path, runs):
    from cnncost.interop.onnx.reader import import_onnx

    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        import_onnx(path, with_weights=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def onnx_load(path, runs):
    code = f"import time; t = time.perf_counter(); import onnx; onnx.load({path!r}); print(time.perf_counter() - t)"
    return statistics.median(float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                                  text=True).stdout) for _ in range(runs))


def main(argv):
    runs = 5
    if "--runs" in argv:
        runs = int(argv[argv.index("--runs") + 1])
        del argv[argv.index("--runs"): argv.index("--runs") + 2]
    cli = [sys.executable, "-m", "cnncost.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        models = [(os.path.basename(p)[:-5], p, None) for p in argv]
        if not models:
            for name in ("resnet50", "resnet152"):
                path = os.path.join(tmp, f"{name}.onnx")
                subprocess.run(cli + ["export", name, "-o", path], check=True, stdout=subprocess.DEVNULL)
                models.append((name, path, name))
        bare = wall([sys.executable, "-c", "pass"], runs)
        print(f"bare python -c pass: {bare * 1000:.0f} ms (median of {runs})")
        print("| model | MB | report .onnx s | report bundled .yaml s | .onnx / .yaml | .onnx / bare python "
              "| import in process ms | onnx.load ms | onnx.load / ours |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, path, spec in models:
            onnx_s = wall(cli + ["report", path], runs)
            yaml_s = wall(cli + ["report", spec], runs) if spec else float("nan")
            ours = in_process(path, runs)
            try:
                theirs = onnx_load(path, max(1, runs // 2))
            except subprocess.CalledProcessError:
                theirs = float("nan")
            print(f"| {name} | {os.path.getsize(path) / 1e6:.1f} | {onnx_s:.3f} | {yaml_s:.3f} | {onnx_s / yaml_s:.2f} "
                  f"| {onnx_s / bare:.1f} | {ours * 1000:.1f} | {theirs * 1000:.0f} | {theirs / ours:.0f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
