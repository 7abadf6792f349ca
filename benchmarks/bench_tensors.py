"""Speed of the tensor-world core (issue: tensors of any shape, several outputs, attention).

1. `cnncost report yolov8n.onnx --format json`, end to end in a fresh process (goal <= 1 s):
   ultralytics' own export when ultralytics is installed, else our export of the bundled
   yolov8n spec (the same network).
2. The report path of today's specs against a baseline commit, in the same run: each
   version imported from its own tree in its own process, in-process report times
   interleaved, medians and the ratio (goal: no slower).

    python benchmarks/bench_tensors.py [--baseline REF] [--rounds N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = ("resnet50", "resnet152", "mobilenet_v2", "googlenet")
INNER = """
import time, cnncost
for name in {specs!r}:
    cnncost.report(name)                      # first call: imports, caches
    best = []
    for _ in range(15):
        t0 = time.perf_counter(); cnncost.report(name); best.append(time.perf_counter() - t0)
    best.sort()
    print(name, best[len(best) // 2])
"""


def yolov8n_onnx(tmp: str) -> tuple[str, str]:
    path = os.path.join(tmp, "yolov8n.onnx")
    try:
        os.environ["YOLO_OFFLINE"] = "1"
        import torch
        from ultralytics import YOLO

        m = YOLO("yolov8n.yaml").model.eval()
        for module in m.modules():
            if hasattr(module, "export"):
                module.export, module.format = True, "onnx"
        torch.onnx.export(m, (torch.randn(1, 3, 640, 640),), path, opset_version=17, dynamo=False)
        return path, "ultralytics' export"
    except ImportError:
        subprocess.run([sys.executable, "-m", "cnncost", "export", "yolov8n", "-o", path], check=True,
                       capture_output=True)
        return path, "cnncost's export of the bundled yolov8n (ultralytics not installed)"


def end_to_end(path: str, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cnncost", "report", path, "--format", "json"], check=True,
                       capture_output=True, cwd=tempfile.gettempdir())
        times.append(time.perf_counter() - t0)
    return times


def in_process(tree: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run([sys.executable, "-c", INNER.format(specs=SPECS)], check=True, capture_output=True,
                         text=True, env=env, cwd=tempfile.gettempdir()).stdout
    return {line.split()[0]: float(line.split()[1]) for line in out.splitlines()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default="7908498", help="the commit before the tensor core")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path, what = yolov8n_onnx(tmp)
        times = end_to_end(path, args.rounds)
        print(f"report yolov8n.onnx --format json ({what}): median {statistics.median(times):.2f} s, "
              f"range {min(times):.2f}-{max(times):.2f} s over {args.rounds} fresh processes (goal <= 1 s)")
        base = os.path.join(tmp, "baseline")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", base, args.baseline], check=True,
                       capture_output=True)
        try:
            rows = {name: ([], []) for name in SPECS}
            for _ in range(args.rounds):            # interleaved: baseline, current, baseline, ...
                for k, tree in enumerate((base, ROOT)):
                    for name, seconds in in_process(tree).items():
                        rows[name][k].append(seconds)
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", base], capture_output=True)
        print(f"in-process report, median of medians over {args.rounds} interleaved rounds "
              f"(baseline {args.baseline} vs this tree):")
        for name, (old, new) in rows.items():
            o, n = statistics.median(old), statistics.median(new)
            print(f"  {name:14s} baseline {o * 1000:6.2f} ms  now {n * 1000:6.2f} ms  ratio {n / o:4.2f}")


if __name__ == "__main__":
    main()
