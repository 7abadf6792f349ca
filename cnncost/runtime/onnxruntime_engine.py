"""onnxruntime as an independent engine: the same network, weights and input run through
onnxruntime and through our NumPy executor, every layer's output compared; and per-layer
times from onnxruntime's profiler, for the roofline.

Agreement: every layer is computed from the inputs onnxruntime gave it (its values go on
in ours' place), and agrees when max |ours - onnxruntime| <= TOLERANCE * max(1, max
|onnxruntime|) over its whole output (float32 on both sides; the summation orders differ);
a quantized tensor (a QDQ file, an int8 TFLite) when QUANTIZED_SHARE of its values are
within one quantization step (see _agrees). On our own values end to end, the outputs'
difference is reported beside (`end_to_end`): there each layer's rounding meets the next.
"""
from __future__ import annotations

import json
import os
import statistics
import tempfile
from dataclasses import asdict, dataclass, field

from cnncost.core.graph import Graph
from cnncost.interop import require
from cnncost.interop.onnx import export as onnx_export
from cnncost.timing import best_of, times

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
    judged: bool = True        # False: reported beside (the outputs end to end on our own values)


@dataclass
class EngineComparison:
    engine: str
    tolerance: float
    layers: list[LayerAgreement] = field(default_factory=list)
    quantized: bool = False        # judged by quantization steps where the network quantizes
    outputs: dict = field(default_factory=dict, repr=False)   # onnxruntime's outputs, by our output layer
    # the outputs on our own values end to end (every layer's rounding met by the next): reported, not judged
    end_to_end: list[LayerAgreement] = field(default_factory=list)
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
        return max((r.rel_error for r in self.layers if r.judged), default=0.0)

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
                "rule": "max|ours - engine| <= tolerance * max(1, max|engine|) per layer, each on the engine's "
                        "own inputs; the outputs end to end on ours reported, not judged" + (
                    f"; a quantized tensor within one step on {QUANTIZED_SHARE:.1%} of values"
                    if self.quantized else ""),
                "max_rel_error": self.max_rel_error, "first_mismatch": first.name if first else None,
                "engine_seconds": self.engine_seconds, "ours_seconds": self.ours_seconds,
                "layers": [asdict(r) for r in self.layers],
                "end_to_end": [asdict(r) for r in self.end_to_end]}


def compare(graph: Graph, weights: dict, x, *, run_ours, timing: bool = True) -> EngineComparison:
    """Run x (NHWC, batch first) through onnxruntime with every layer exposed, then through
    `run_ours(on_value)` (our executor, returning its RunResult), comparing each layer as soon as it is computed,
    before any later layer may reuse its buffer. Each layer's output goes on as onnxruntime's
    (on_value returns it): every layer is judged on the inputs the engine gave it, not on
    our own. On ours, a layer would also carry every earlier layer's rounding: a dense's
    summation order, 1e-7 of its own range, is 2e-4 of a GELU after it whose outputs are
    a thousandth of that range, or, in a quantized network, a value flipped a step, which
    the next layers flip further."""
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
            return None
        diff = float(np.max(np.abs(y - ref))) if y.size else 0.0
        peak = float(np.max(np.abs(ref))) if ref.size else 0.0
        if not np.isfinite(diff):      # NaN on either side is a disagreement, never a pass
            diff = float("inf")
        rel = diff / max(1.0, peak)
        result.layers.append(LayerAgreement(node.name, node.label, diff, peak, rel, _agrees(y, ref, rel, node)))
        ref = np.ascontiguousarray(ref, dtype=y.dtype)
        if node.index in outputs:
            result.outputs[node.name] = ref.copy()     # a later layer may write into the one that goes on
        return ref

    outputs = {n.index for n in graph.output_nodes}

    quantized = is_quantized(graph)
    result.quantized = quantized
    ours = run_ours(on_value)
    result.ours_seconds = sum(r.seconds for r in ours.layers)   # forwards only, no comparing
    return result


def end_to_end(comparison: EngineComparison, outputs: dict) -> list[LayerAgreement]:
    """Our outputs on our own values (a run without on_value) against onnxruntime's: every
    layer's rounding met by the next, reported, not judged."""
    rows = []
    for name, ref in comparison.outputs.items():
        mine = outputs.get(name)
        if mine is None or mine.shape != ref.shape:
            continue
        row = _agreement(f"output '{name}' (end to end on our own values: reported, not judged)", "model",
                         mine, ref, None)
        rows.append(LayerAgreement(**{**asdict(row), "ok": True, "judged": False}))
    return rows


def is_quantized(graph: Graph) -> bool:
    return any(n.precision is not None and n.precision.quantum for n in graph.nodes)


def _agrees(y, ref, rel: float, node) -> bool:
    """Float tensors: within TOLERANCE. A quantized tensor: within one step on at least
    QUANTIZED_SHARE of its values. Two engines' float sums (a conv's, summed in another
    order) fall on either side of a rounding boundary now and then, one value in 10^4 or
    10^5; run on our own values those flips compound layer by layer (MobileNetV3-Large in
    QDQ: half of its 1,000 outputs a step or two off, 1.4% of their range, where every layer
    on onnxruntime's inputs is within one step on every value), which is why each layer is
    judged on the engine's own inputs (compare, compare_file)."""
    import numpy as np

    step = node.precision.quantum if node.precision is not None else None
    if step:
        return float(np.mean(np.abs(y - ref) <= 1.01 * step)) >= QUANTIZED_SHARE
    return rel <= TOLERANCE


def _feed(graph: Graph, x, names=None, file_layouts=None) -> dict:
    """Our input(s) in the exported (or the file's) layout, by the model's input names;
    `file_layouts`: the file's own, where it holds an input otherwise (batch_second)."""
    import numpy as np

    given = x if isinstance(x, dict) else {graph.nodes[graph.inputs[0]].name: x}
    held = onnx_export.layouts(graph)
    feed = {}
    for k, i in enumerate(graph.inputs):
        node = graph.nodes[i]
        value = onnx_export.to_nchw(given[node.name], held[i])
        if (file_layouts or {}).get(node.name) == "batch_second":
            value = value.swapaxes(0, 1)
        feed[names[k] if names else node.name] = np.ascontiguousarray(value)
    return feed


FILE_TYPES = {"tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(float16)": "float16",
              "tensor(double)": "float64"}


def _as_file_types(sess, feed: dict) -> dict:
    """Each input in the type the file declares: our executor carries token ids as float32
    (exact below 2**24), an nn.Embedding's file takes int64."""
    types = {i.name: FILE_TYPES.get(i.type) for i in sess.get_inputs()}
    return {k: v.astype(types[k]) if types.get(k) else v for k, v in feed.items()}


def compare_file(source, graph: Graph, x, ours: dict, run_forced=None) -> list[LayerAgreement]:
    """Our outputs against onnxruntime running the ONNX model itself (a Source's, as its
    reader parsed it: the file's own bytes, or a traced module's graph) on the same x:
    every output of the file, in its order (the import keeps it).

    A quantized file (`run_forced`: our executor taking an on_value) runs as its QDQ nodes
    define it, graph optimisations off: optimised, onnxruntime fuses each Dequantize-op-
    Quantize group into an int8 kernel that rounds its own way (MobileNetV3-Large: 909 of
    its 1,000 outputs move, by 14% of their range, between onnxruntime's two modes). Its
    activations' DequantizeLinear outputs are read out too, and our executor goes on from
    each with the file's value: each stretch between two of them is judged on the file's
    own inputs, and the outputs on the last one. End to end on our own values (`ours`) the
    rounding flips compound: that is reported, not judged."""
    import numpy as np

    path, model = source.label, source.onnx_model
    if model.raw is None:                  # a PyTorch module traced in memory: no file
        from cnncost.interop.torch.trace import to_bytes
        data = to_bytes(model)
    else:
        data = bytes(model.raw)
    points = {}
    if run_forced is not None:
        # our layers of the activations' DequantizeLinear: one quantization step per integer
        data, points = _with_points(data, {n.name for n in graph.layers if n.precision is not None and n.precision.step})
    sess = session(data, optimize=run_forced is None)
    feed = _as_file_types(sess, _feed(graph, x, [i.name for i in sess.get_inputs()], source.input_layouts))
    try:
        refs = _run(sess, feed)
    except Exception as exc:   # onnxruntime raises its own types (e.g. a batch the file fixes)
        from cnncost.errors import CnnCostError
        raise CnnCostError(f"onnxruntime could not run {path} on the input: {str(exc).splitlines()[0][:300]}") from None
    held = source.output_layouts
    got = dict(zip([o.name for o in sess.get_outputs()], refs))
    finals = sess.get_outputs()[:len(graph.output_nodes)]
    out, before = [], {}
    if points:
        layouts = onnx_export.layouts(graph)
        last = {n.name for n in graph.output_nodes}

        def on_value(node, y):
            tensor = points.get(node.name)
            if tensor is None:
                return None
            ref = onnx_export.to_nhwc(got[tensor], layouts[node.index])
            if ref.shape != y.shape:
                return None
            out.append(_agreement(f"{path} '{tensor}' (the file, from its own values before)", node.label,
                                  y, ref, node))
            if node.name in last:
                before[node.name] = y          # an output judged as ours, not as the file's value
            return np.ascontiguousarray(ref, dtype=y.dtype)

        drift = ours
        ours = {**run_forced(on_value).outputs, **before}
    for node, o in zip(graph.output_nodes, finals):
        ref, mine = onnx_export.to_nhwc(got[o.name], held.get(node.name, "nchw")), ours[node.name]
        name = f"{path} output '{o.name}' (the file, " + ("from its own values before)" if points else "end to end)")
        if ref.shape != mine.shape:
            out.append(LayerAgreement(name, "model", float("inf"), 0.0, float("inf"), False))
            continue
        out.append(_agreement(name, "model", mine, ref, node))
        if points and drift[node.name].shape == ref.shape:
            row = _agreement(f"{path} output '{o.name}' (the file, end to end on our own values: "
                             "reported, not judged)", "model", drift[node.name], ref, node)
            out.append(LayerAgreement(**{**asdict(row), "ok": True, "judged": False}))
    return out


def _run(sess, feed: dict) -> list:
    """The session's outputs on the feed; a model that fixes batch 1 (a live module traced on
    one example) runs on each example in turn, its outputs stacked along the batch."""
    import numpy as np

    n = next(iter(feed.values())).shape[0]
    if n == 1 or any(i.shape[:1] != [1] for i in sess.get_inputs()):
        return sess.run(None, feed)
    runs = [sess.run(None, {k: v[e:e + 1] for k, v in feed.items()}) for e in range(n)]
    return [np.concatenate(parts, axis=0) for parts in zip(*runs)]


def _agreement(name: str, kind: str, mine, ref, node) -> LayerAgreement:
    import numpy as np

    diff = float(np.max(np.abs(mine - ref))) if ref.size else 0.0
    diff = diff if np.isfinite(diff) else float("inf")
    peak = float(np.max(np.abs(ref))) if ref.size else 0.0
    rel = diff / max(1.0, peak)
    return LayerAgreement(name, kind, diff, peak, rel,
                          _agrees(mine, ref, rel, node) if node is not None else rel <= TOLERANCE)


def _with_points(data: bytes, layers: set) -> tuple[bytes, dict]:
    """The model with every activation's DequantizeLinear output also a graph output:
    {our layer's name: tensor name}, for the nodes whose layer name (as the import makes
    it) is one of our dequantizing `layers` and no other node's."""
    from collections import Counter

    import onnx

    from cnncost.interop.onnx.reader import layer_name

    def ours(n):
        name = layer_name(n.name, n.op_type)
        return "l_" + name if name == "input" or name[0].isdigit() else name

    model = onnx.load_from_string(data)
    weights = {t.name for t in model.graph.initializer}
    outputs = {o.name for o in model.graph.output}
    named = Counter(ours(n) for n in model.graph.node if n.name)
    points = {}
    for n in model.graph.node:
        if n.op_type == "DequantizeLinear" and n.name and n.input[0] not in weights \
                and n.output[0] not in outputs and named[ours(n)] == 1 and ours(n) in layers:
            points[ours(n)] = n.output[0]
            model.graph.output.append(onnx.ValueInfoProto(name=n.output[0]))
    return model.SerializeToString(), points


def _median_forward(sess, feed, repeat: int) -> float:
    return statistics.median(times(lambda: sess.run(None, feed), repeat))


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
        return best_of(lambda: sess.run(None, feed), repeat)

    rng = np.random.default_rng(0)
    a = rng.standard_normal((matmul_n, matmul_n), dtype=np.float32)
    flops = 2 * matmul_n**3 / best(model("MatMul", [matmul_n, matmul_n], ("b",)), {"a": a, "b": a})
    n = copy_mb * 1024 * 1024 // 4
    big = np.ones(n, np.float32)
    bandwidth = 2 * big.nbytes / best(model("Relu", [n]), {"a": big})
    return flops, bandwidth, (f"cnncost calibrate --engine onnxruntime: {matmul_n}^3 float32 MatMul, "
                              f"{copy_mb} MB Relu, onnxruntime {_ort().__version__}, best of {repeat}")
