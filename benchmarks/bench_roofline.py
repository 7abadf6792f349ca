"""How well the roofline model predicts the NumPy executor on this machine.

Calibrates a profile (matmul FLOP/s, copy bandwidth), then for each network prints the
Spearman rank correlation between predicted and measured per-layer times, the totals, and
measured / predicted by layer kind (where the model fails). Finally the VGG-16 vs
MobileNet v1 ratios: MACs, estimated time, measured time.

Run: python benchmarks/bench_roofline.py [--repeat N] [--engine onnxruntime]
(with --engine onnxruntime the profile is calibrated through onnxruntime and per-layer
times come from its profiler.)
"""
from __future__ import annotations

import statistics
import sys
from collections import defaultdict

from cnncost.analyses import roofline

NETWORKS = ("alexnet", "vgg16", "googlenet", "resnet50", "mobilenet_v1", "mobilenet_v2", "xception")


def main():
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 5
    engine = sys.argv[sys.argv.index("--engine") + 1] if "--engine" in sys.argv else "numpy"
    profile = roofline.calibrate(engine=engine)
    print(f"profile: {profile.peak_flops / 1e9:.1f} GFLOP/s, {profile.bandwidth / 1e9:.1f} GB/s, "
          f"ridge {profile.ridge:.1f} FLOP/B ({profile.source})")
    print(f"{'network':14s} {'rho':>6s} {'pred ms':>8s} {'meas ms':>8s} {'meas/pred':>9s}  measured/predicted by kind (median)")
    results = {}
    for name in NETWORKS:
        lat = roofline.latency(name, profile, repeat=repeat, engine=engine)
        results[name] = lat
        by_kind = defaultdict(list)
        for r in lat.rows:
            if r["seconds"] > 0:
                by_kind[r["kind"]].append(r["measured_seconds"] / r["seconds"])
        kinds = ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in
                          sorted(by_kind.items(), key=lambda kv: -statistics.median(kv[1])))
        print(f"{name:14s} {lat.rho:6.3f} {lat.predicted_seconds * 1000:8.1f} {lat.measured_seconds * 1000:8.1f} "
              f"{lat.measured_seconds / lat.predicted_seconds:9.2f}  {kinds}")
    vgg, mb = results["vgg16"], results.get("mobilenet_v1")
    if mb:
        macs = vgg.report.totals["mults"] / mb.report.totals["mults"]
        print(f"\nvgg16 / mobilenet_v1: MACs {macs:.1f}x, roofline time {vgg.predicted_seconds / mb.predicted_seconds:.1f}x, "
              f"measured time {vgg.measured_seconds / mb.measured_seconds:.1f}x")
        for lat in (vgg, mb):
            mem = sum(r["seconds"] for r in lat.rows if r["bound"] == "memory")
            conv = [r for r in lat.rows if r["kind"] in ("conv", "depthwise_conv")]
            ai = statistics.median(r["intensity"] for r in conv)
            dw = [r["intensity"] for r in lat.rows if r["kind"] == "depthwise_conv"]
            print(f"  {lat.report.name}: {mem / lat.predicted_seconds:.0%} of predicted time memory-bound; "
                  f"median conv intensity {ai:.1f} FLOP/B"
                  + (f"; depthwise {statistics.median(dw):.1f} FLOP/B" if dw else ""))


if __name__ == "__main__":
    main()
