"""onnxruntime beside our NumPy executor, in one run: export time, median forward times
(same network, weights and input), and the largest relative disagreement over all layers.

    python benchmarks/bench_engines.py [--repeat 10] [NETWORK ...]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from cnncost.runtime import executor
from cnncost.core.analysis import analyze
from cnncost.interop.onnx import export as onnx_export
from cnncost.runtime import onnxruntime_engine
from cnncost.timing import times


def median_seconds(fn, repeat):
    return statistics.median(times(fn, repeat, warmup=1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("networks", nargs="*", default=["resnet50", "mobilenet_v2", "resnet152"])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    import os
    import tempfile

    print("| network | export s (checked) | onnxruntime ms | cnncost NumPy ms | NumPy / onnxruntime "
          "| largest relative error over layers |")
    print("|---|---|---|---|---|---|")
    for name in args.networks:
        graph = analyze(name).graph
        weights = executor.init_weights(graph, 0)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            onnx_export.export(graph, weights, os.path.join(tmp, "m.onnx"))
            export_s = time.perf_counter() - t0
            data = open(os.path.join(tmp, "m.onnx"), "rb").read()
        x = np.random.default_rng(1).standard_normal((1,) + tuple(graph.nodes[0].out_shape), dtype=np.float32)
        sess = onnxruntime_engine.session(data)
        feed = {"input": np.ascontiguousarray(onnx_export.to_nchw(x))}
        ort_s = median_seconds(lambda: sess.run(None, feed), args.repeat)
        ours_s = median_seconds(lambda: executor.run(graph, x, weights), args.repeat)
        comparison = onnxruntime_engine.compare(
            graph, weights, x, run_ours=lambda cb: executor.run(graph, x, weights, on_value=cb), timing=False)
        print(f"| {name} | {export_s:.2f} | {ort_s * 1000:.1f} | {ours_s * 1000:.1f} | "
              f"{ours_s / ort_s:.2f} | {comparison.max_rel_error:.2e} |", flush=True)


if __name__ == "__main__":
    main()
