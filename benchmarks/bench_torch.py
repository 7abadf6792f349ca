"""A live PyTorch module: cnncost.report(module) against fvcore's FlopCountAnalysis and
ptflops' get_model_complexity_info on the same torchvision model, in one process,
interleaved, medians. Prints each tool's count and seconds, and cnncost's time as a share
of fvcore's (goal: at most 0.5).

Needs torch, torchvision, fvcore and ptflops (none of them a dependency of cnncost).
Run: python benchmarks/bench_torch.py [resnet50 mobilenet_v2 ...]
"""
from __future__ import annotations

import statistics
import sys
import time
import warnings

import torch
import torchvision

import cnncost


def ours(model, x):
    return cnncost.report(model, input_shape=tuple(x.shape)).report.totals["mults"]


def fvcore_count(model, x):
    from fvcore.nn import FlopCountAnalysis
    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return int(analysis.total())


def ptflops_count(model, x):
    from ptflops import get_model_complexity_info
    macs, _ = get_model_complexity_info(model, tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False,
                                        verbose=False)
    return int(macs)


def main():
    names = sys.argv[1:] or ["resnet50", "mobilenet_v2", "vgg16"]
    warnings.simplefilter("ignore")
    tools = {"cnncost": ours, "fvcore": fvcore_count, "ptflops": ptflops_count}
    for name in names:
        model = getattr(torchvision.models, name)(weights=None).eval()
        x = torch.randn(1, 3, 224, 224)
        times = {k: [] for k in tools}
        counts = {}
        for _ in range(5):
            for label, fn in tools.items():
                t0 = time.perf_counter()
                counts[label] = fn(model, x)
                times[label].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(name + ": " + "; ".join(f"{k} {counts[k]:,} in {med[k]:.2f} s" for k in tools)
              + f"; cnncost / fvcore time = {med['cnncost'] / med['fvcore']:.2f} (goal <= 0.5)")


if __name__ == "__main__":
    main()
