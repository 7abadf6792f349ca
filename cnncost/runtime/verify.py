"""`cnncost verify`: run a network in the NumPy executor and compare, layer by layer, the
shapes it produced and the multiplications it performed with the analysis."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from cnncost.core.analysis import Report, analyze
from cnncost.spec.limits import DEFAULT, Limits


@dataclass
class Verification:
    report: Report
    runs: list                  # one executor.RunResult per repeat
    memory_estimate: dict
    seed: int
    engine: object | None = field(default=None)   # interop EngineComparison, with --engine

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.runs) and (self.engine is None or self.engine.ok)

    @property
    def forward_seconds_median(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    def layer_seconds(self) -> list[float]:
        return [statistics.median(run.layers[i].seconds for run in self.runs)
                for i in range(len(self.runs[0].layers))]

    def failures(self) -> list[str]:
        out = []
        for row in self.runs[0].layers:
            if row.output_shape != row.executed_shape:
                out.append(f"layer '{row.name}' ({row.kind}): analysed shape "
                           f"{'x'.join(map(str, row.output_shape))}, executed "
                           f"{'x'.join(map(str, row.executed_shape))}")
            if row.mults != row.executed_mults:
                out.append(f"layer '{row.name}' ({row.kind}): analysed mults {row.mults:,}, "
                           f"executed {row.executed_mults:,}")
            if not row.finite:
                out.append(f"layer '{row.name}' ({row.kind}): output has NaN or Inf")
        if self.engine is not None:
            out += self.engine.failures()
        return out

    def to_dict(self) -> dict:
        seconds = self.layer_seconds()
        return {
            "name": self.report.name, "ok": self.ok, "batch": self.report.batch, "seed": self.seed,
            "layout": "NHWC", "dtype": "float32",
            "failures": self.failures(),
            "memory_estimate_bytes": self.memory_estimate,
            "totals": {"mults": self.report.totals["mults"],
                       "executed_mults": sum(r.executed_mults for r in self.runs[0].layers)},
            "timing": {"repeats": len(self.runs), "forward_seconds_median": self.forward_seconds_median,
                       "layer_seconds": {r.name: s for r, s in zip(self.runs[0].layers, seconds)}},
            "layers": [{"name": r.name, "kind": r.kind, "output_shape": r.output_shape,
                        "executed_shape": r.executed_shape, "mults": r.mults,
                        "executed_mults": r.executed_mults, "finite": r.finite, "ok": r.ok,
                        "seconds": s} for r, s in zip(self.runs[0].layers, seconds)],
            "engine": self.engine.to_dict() if self.engine is not None else None,
        }


def verify(source, *, batch: int | None = None, overrides=None, seed: int = 0, repeat: int = 1,
           max_memory: int | None = None, weights_path: str | None = None,
           limits: Limits = DEFAULT, on_layer=None, engine: str | None = None) -> Verification:
    """Analyse a Source (cnncost/sources.py; its file's weights when it was opened with them),
    run it `repeat` times on a seeded random input, and compare with
    the analysis; with engine="onnxruntime" also every layer's output with onnxruntime's."""
    import numpy as np

    from cnncost.runtime import executor

    report = analyze(source.spec, batch=batch, overrides=overrides, limits=limits)
    graph, batch = report.graph, report.batch
    estimate = executor.guard_memory(graph, batch, max_memory)
    weights = executor.weights_for(graph, source, weights_path, seed)
    rng = np.random.default_rng(seed + 1)
    x = executor.random_inputs(graph, batch, rng)
    runs, comparison = [], None
    if engine not in (None, "numpy", "onnxruntime"):
        from cnncost.errors import CnnCostError
        raise CnnCostError(f"unknown engine '{engine}' (known: numpy, onnxruntime)")
    if engine == "onnxruntime":
        from cnncost.runtime import onnxruntime_engine

        def run_ours(on_value):
            runs.append(executor.run(graph, x, weights, on_layer=on_layer, on_value=on_value))
            return runs[-1]

        comparison = onnxruntime_engine.compare(graph, weights, x, run_ours=run_ours)
    runs += [executor.run(graph, x, weights, on_layer=on_layer) for _ in range(max(1, repeat) - len(runs))]
    if comparison is not None:   # the run above went on from onnxruntime's values: ours end to end too
        ours = (runs[1] if len(runs) > 1 else executor.run(graph, x, weights)).outputs
        if source.onnx_model is not None and not weights_path:    # and the model as the file holds it
            forced = None
            if comparison.quantized:

                def forced(on_value):
                    return executor.run(graph, x, weights, on_value=on_value)
            rows = onnxruntime_engine.compare_file(source, graph, x, ours, run_forced=forced)
            comparison.layers += [r for r in rows if r.judged]
            comparison.end_to_end += [r for r in rows if not r.judged]
        if not comparison.end_to_end:
            comparison.end_to_end += onnxruntime_engine.end_to_end(comparison, ours)
    return Verification(report, runs, estimate, seed, comparison)
