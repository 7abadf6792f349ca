"""onnxruntime as an independent engine: the same network, weights and input run through
onnxruntime and through our NumPy executor, every layer's output compared; and per-layer
times from onnxruntime's profiler, for the roofline.

Agreement: a layer agrees when max |ours - onnxruntime| <= TOLERANCE * max(1, max |onnxruntime|)
over its whole output (float32 on both sides; the summation orders differ). In a quantized
network (a QDQ file, an int8 TFLite) the outputs agree when QUANTIZED_SHARE of their values
are within one quantization step; the tensors inside are reported, not judged (see _agrees).
"""
from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field

from cnncost.core.graph import Graph
from cnncost.interop import onnx_export, require

TOLERANCE = 1e-4
QUANTIZED_SHARE = 0.999       # of a quantized tensor's values within one step
NAME = "onnxruntime"


def _ort():
    return require("onnxruntime")


def session(model_bytes: bytes, *, optimize: bool = True, profile_prefix: str | None = None):
    ort = _ort()
    ort.set_default_logger_severity(3)      # errors reach the user as one line, not a log dump
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                     else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    try:
        return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:   # onnxruntime raises its own exception types
        from cnncost.errors import CnnCostError
        raise CnnCostError(f"onnxruntime refused the exported model: {str(exc).splitlines()[0]}") from None


@dataclass
class LayerAgreement:
    name: str
    kind: str
    max_abs_diff: float
    max_abs_value: float       # max |onnxruntime| over the layer's output
    rel_error: float           # max_abs_diff / max(1, max_abs_value)
    ok: bool


@dataclass
class EngineComparison:
    engine: str
    tolerance: float
    layers: list[LayerAgreement] = field(default_factory=list)
    quantized: bool = False        # judged by quantization steps where the network quantizes
    engine_seconds: float = 0.0    # onnxruntime forward (all optimisations, final output only)
    ours_seconds: float = 0.0      # our executor's forward

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.layers)

    @property
    def first_mismatch(self) -> LayerAgreement | None:
        return next((r for r in self.layers if not r.ok), None)

    @property
    def max_rel_error(self) -> float:
        return max((r.rel_error for r in self.layers), default=0.0)

    def failures(self) -> list[str]:
        bad = self.first_mismatch
        if bad is None:
            return []
        others = sum(not r.ok for r in self.layers) - 1
        return [f"layer '{bad.name}' ({bad.kind}): ours and {self.engine} differ by "
                f"{bad.max_abs_diff:.3g} (relative {bad.rel_error:.3g} > {self.tolerance:g}); the first "
                f"disagreeing layer" + (f", {others} later layer(s) also differ" if others > 0 else "")]

    def to_dict(self) -> dict:
        first = self.first_mismatch
        return {"engine": self.engine, "tolerance": self.tolerance, "ok": self.ok,
                "rule": "max|ours - engine| <= tolerance * max(1, max|engine|) per layer" + (
                    f"; a quantized network: its outputs within one step on {QUANTIZED_SHARE:.1%} of values, "
                    "the tensors inside reported, not judged" if self.quantized else ""),
                "max_rel_error": self.max_rel_error, "first_mismatch": first.name if first else None,
                "engine_seconds": self.engine_seconds, "ours_seconds": self.ours_seconds,
                "layers": [asdict(r) for r in self.layers]}


def compare(graph: Graph, weights: dict, x, *, run_ours, timing: bool = True) -> EngineComparison:
    """Run x (NHWC, batch first) through onnxruntime with every layer exposed, then through
    `run_ours(on_value)` (our executor, returning its RunResult), comparing each layer as soon as it is computed,
    before any later layer may reuse its buffer."""
    import numpy as np

    feed = _feed(graph, x)
    batch = next(iter(feed.values())).shape[0]
    model = onnx_export.build_model(graph, weights, batch=batch, all_outputs=True)
    full = session(model.SerializeToString(), optimize=False)
    names = [o.name for o in full.get_outputs()]
    theirs = dict(zip(names, full.run(None, feed)))
    del full
    result = EngineComparison(NAME, TOLERANCE)
    if timing:   # the model as a user would run it: final output only, optimisations on
        final = [o for o in model.graph.output if o.name in {n.name for n in graph.output_nodes}]
        del model.graph.output[:]
        model.graph.output.extend(final)
        result.engine_seconds = _median_forward(session(model.SerializeToString()), feed, 3)
    del model

    held = onnx_export.layouts(graph)

    def on_value(node, y):
        ref = onnx_export.to_nhwc(theirs.pop(node.name), held[node.index])
        if ref.shape != y.shape:
            result.layers.append(LayerAgreement(node.name, node.label, float("inf"), 0.0, float("inf"), False))
            return
        diff = float(np.max(np.abs(y - ref))) if y.size else 0.0
        peak = float(np.max(np.abs(ref))) if ref.size else 0.0
        if not np.isfinite(diff):      # NaN on either side is a disagreement, never a pass
            diff = float("inf")
        rel = diff / max(1.0, peak)
        result.layers.append(LayerAgreement(node.name, node.label, diff, peak, rel,
                                            _agrees(y, ref, rel, node, quantized, node.index in outputs)))

    quantized = any(n.precision is not None and n.precision.quantum for n in graph.nodes)
    outputs = {n.index for n in graph.output_nodes}
    result.quantized = quantized
    ours = run_ours(on_value)
    result.ours_seconds = sum(r.seconds for r in ours.layers)   # forwards only, no comparing
    return result


def _agrees(y, ref, rel: float, node, quantized: bool, output: bool = True) -> bool:
    """Float tensors: within TOLERANCE. A quantized network is judged at its outputs: within
    one step on at least QUANTIZED_SHARE of their values. Inside it, two engines' float sums
    fall on either side of a rounding boundary now and then and the flips compound layer by
    layer (88% within a step deep in a QDQ MobileNet whose outputs agree exactly), so the
    tensors inside are reported, not judged."""
    import numpy as np

    if quantized and not output:
        return True
    step = node.precision.quantum if node.precision is not None else None
    if step:
        return float(np.mean(np.abs(y - ref) <= 1.01 * step)) >= QUANTIZED_SHARE
    return rel <= TOLERANCE


def _feed(graph: Graph, x, names=None) -> dict:
    """Our input(s) in the exported (or the file's) layout, by the model's input names."""
    import numpy as np

    given = x if isinstance(x, dict) else {graph.nodes[graph.inputs[0]].name: x}
    held = onnx_export.layouts(graph)
    feed = {}
    for k, i in enumerate(graph.inputs):
        node = graph.nodes[i]
        feed[names[k] if names else node.name] = np.ascontiguousarray(onnx_export.to_nchw(given[node.name], held[i]))
    return feed


def compare_file(path: str, graph: Graph, x, ours: dict) -> list[LayerAgreement]:
    """Our outputs against onnxruntime running the ONNX file itself on the same x: every
    output of the file, in its order (the import keeps it)."""
    import numpy as np

    from cnncost.interop.onnx_proto import IN_MEMORY

    if path in IN_MEMORY:                  # a PyTorch module traced in memory: no file to open
        from cnncost.interop.torch_trace import to_bytes
        sess = session(to_bytes(IN_MEMORY[path]))
    else:
        with open(path, "rb") as f:
            sess = session(f.read())
    feed = _feed(graph, x, [i.name for i in sess.get_inputs()])
    try:
        refs = sess.run(None, feed)
    except Exception as exc:   # onnxruntime raises its own types (e.g. a batch the file fixes)
        from cnncost.errors import CnnCostError
        raise CnnCostError(f"onnxruntime could not run {path} on the input: {str(exc).splitlines()[0][:300]}") from None
    from cnncost.interop.onnx_import import import_onnx
    from cnncost.spec.loader import ONNX_INPUT_SHAPE

    held = import_onnx(path, with_weights=False, input_shape=ONNX_INPUT_SHAPE.get()).output_layouts
    out = []
    for node, raw, o in zip(graph.output_nodes, refs, sess.get_outputs()):
        ref, mine = onnx_export.to_nhwc(raw, held.get(node.name, "nchw")), ours[node.name]
        name = f"{path} output '{o.name}' (the file, end to end)"
        if ref.shape != mine.shape:
            out.append(LayerAgreement(name, "model", float("inf"), 0.0, float("inf"), False))
            continue
        diff = float(np.max(np.abs(mine - ref))) if ref.size else 0.0
        diff = diff if np.isfinite(diff) else float("inf")
        peak = float(np.max(np.abs(ref))) if ref.size else 0.0
        rel = diff / max(1.0, peak)
        out.append(LayerAgreement(name, "model", diff, peak, rel, _agrees(mine, ref, rel, node, False)))
    return out


def _median_forward(sess, feed, repeat: int) -> float:
    sess.run(None, feed)                                   # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@dataclass
class EngineProfile:
    layer_seconds: dict[str, float]    # median over runs, per layer (optimisations off)
    forward_seconds: float             # median forward, optimisations off
    optimized_seconds: float           # median forward with every graph optimisation on


def profile_layers(graph: Graph, weights: dict, x, *, repeat: int = 5) -> EngineProfile:
    """Per-layer times from onnxruntime's profiler. Graph optimisations are off so that
    every layer stays its own node(s) (fusion would hide a layer inside another); the
    whole forward with optimisations on is measured too."""
    import numpy as np

    feed = _feed(graph, x)
    batch = next(iter(feed.values())).shape[0]
    data = onnx_export.build_model(graph, weights, batch=batch).SerializeToString()
    layers = {n.name for n in graph.layers}
    with tempfile.TemporaryDirectory() as tmp:
        sess = session(data, optimize=False, profile_prefix=os.path.join(tmp, "cnncost"))
        sess.run(None, feed)                       # warm-up, left out below
        for _ in range(repeat):
            sess.run(None, feed)
        with open(sess.end_profiling()) as fh:
            events = json.load(fh)
    runs = sorted((e["ts"], e["ts"] + e["dur"], e["dur"]) for e in events
                  if e.get("cat") == "Session" and e.get("name") == "model_run")[1:]
    per_run = [dict.fromkeys(layers, 0.0) for _ in runs]
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        node = e["name"][: -len("_kernel_time")]
        layer = node if node in layers else node.rsplit("/", 1)[0]
        for k, (start, end, _) in enumerate(runs):
            if start <= e["ts"] <= end and layer in per_run[k]:
                per_run[k][layer] += e["dur"] / 1e6
                break
    return EngineProfile({name: statistics.median(r[name] for r in per_run) for name in layers},
                         statistics.median(d / 1e6 for _, _, d in runs),
                         _median_forward(session(data), feed, repeat))


def calibrate(matmul_n: int = 2048, copy_mb: int = 256, repeat: int = 5) -> tuple[float, float, str]:
    """(FLOP/s, bytes/s, how) measured through onnxruntime: MatMul throughput and the
    bandwidth of an element-wise op over a large tensor (one read and one write per element)."""
    import numpy as np

    from onnx import TensorProto, helper

    def model(op, shape, extra=()):
        f32 = TensorProto.FLOAT
        ins = [helper.make_tensor_value_info(n, f32, shape) for n in ("a", *extra)]
        g = helper.make_graph([helper.make_node(op, ["a", *extra], ["y"])], "calibrate", ins,
                              [helper.make_tensor_value_info("y", f32, shape)])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", onnx_export.OPSET)])
        m.ir_version = 8
        return session(m.SerializeToString())

    def best(sess, feed):
        sess.run(None, feed)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            sess.run(None, feed)
            times.append(time.perf_counter() - t0)
        return min(times)

    rng = np.random.default_rng(0)
    a = rng.standard_normal((matmul_n, matmul_n), dtype=np.float32)
    flops = 2 * matmul_n**3 / best(model("MatMul", [matmul_n, matmul_n], ("b",)), {"a": a, "b": a})
    n = copy_mb * 1024 * 1024 // 4
    big = np.ones(n, np.float32)
    bandwidth = 2 * big.nbytes / best(model("Relu", [n]), {"a": big})
    return flops, bandwidth, (f"cnncost calibrate --engine onnxruntime: {matmul_n}^3 float32 MatMul, "
                              f"{copy_mb} MB Relu, onnxruntime {_ort().__version__}, best of {repeat}")
