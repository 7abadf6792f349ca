"""Executor performance: cnncost's NumPy forward vs PyTorch CPU eager on the same network
(built from the same graph with the same weights), at 224x224, batch 1.

Prints per network: cnncost forward median, torch forward median (same thread count),
their ratio, GFLOP/s achieved (2 x MACs / time), the largest output difference, and the
peak RSS of a torch-free run against the memory estimate; plus NumPy's own float32
matmul GFLOP/s on this machine as the ceiling.

Run: python benchmarks/bench_executor.py [--repeat N]   (pip install torch==2.13.0 for
the PyTorch column; without it that column is skipped)
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import cnncost
from cnncost.runtime import executor
from cnncost.timing import times

NETWORKS = ("resnet50", "vgg16", "mobilenet_v2")
TARGETS = {"resnet50": 1.5, "vgg16": 1.5, "mobilenet_v2": 2.5}


def median_time(fn, repeat):
    return statistics.median(times(fn, repeat, warmup=1))


def matmul_gflops(n=2048, repeat=5):
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    return 2 * n**3 / median_time(lambda: a @ b, repeat) / 1e9


RSS_CHILD = r"""
import json, sys
import numpy as np
import cnncost
from cnncost.runtime import executor
name = sys.argv[1]
rep = cnncost.analyze(name)
g = rep.graph
x = np.random.default_rng(0).standard_normal((1,) + tuple(g.nodes[0].out_shape), dtype=np.float32)
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
base = status("VmRSS")
w = executor.init_weights(g)
executor.run(g, x, w)
peak = status("VmHWM")
print(json.dumps({"base": base, "peak": peak, "estimate": executor.estimate_peak_bytes(g, 1)}))
"""


def rss(name):
    out = subprocess.run([sys.executable, "-c", RSS_CHILD, name], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main():
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 10
    try:
        import torch
        sys.path.insert(0, str(Path(__file__).parent))
        import torch_from_graph
        threads = torch.get_num_threads()
    except ImportError:
        torch = None
        threads = None
    ceiling = matmul_gflops()
    print(f"NumPy float32 matmul (2048^3): {ceiling:.1f} GFLOP/s  (numpy {np.__version__}"
          + (f", torch {torch.__version__}, {threads} threads)" if torch else ", torch not installed)"))
    print(f"{'network':14s} {'GMACs':>6s} {'cnncost ms':>10s} {'torch ms':>9s} {'ratio':>6s} "
          f"{'target':>6s} {'GFLOP/s':>8s} {'max |diff|':>10s} {'RSS MB':>7s} {'est. MB':>7s} {'RSS/est':>7s}")
    for name in NETWORKS:
        rep = cnncost.analyze(name)
        g = rep.graph
        weights = executor.init_weights(g)
        x = np.random.default_rng(0).standard_normal((1,) + tuple(g.nodes[0].out_shape), dtype=np.float32)
        ours = median_time(lambda: executor.run(g, x, weights), repeat)
        torch_ms = ratio = diff = "-"
        if torch is not None:
            fwd = torch_from_graph.build(g, weights)
            xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            with torch.inference_mode():
                theirs = median_time(lambda: fwd(xt), repeat)
                ref = fwd(xt).numpy()
            out = executor.run(g, x, weights).output
            diff = f"{float(np.abs(out - ref).max()):.2e}"
            torch_ms, ratio = f"{theirs * 1000:.1f}", f"{ours / theirs:.2f}"
        m = rss(name)
        used = m["peak"] - m["base"]
        est = m["estimate"]["total"]
        gflops = 2 * rep.totals["mults"] / ours / 1e9
        print(f"{name:14s} {rep.totals['mults'] / 1e9:6.2f} {ours * 1000:10.1f} {torch_ms:>9s} {ratio:>6s} "
              f"{TARGETS[name]:6.1f} {gflops:8.1f} {diff:>10s} {used / 1e6:7.0f} {est / 1e6:7.0f} {used / est:7.2f}")


if __name__ == "__main__":
    main()
