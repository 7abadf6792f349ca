"""NumPy reference executor: runs an analysed graph for real (NHWC, float32).

Weights are created from each kind's weight shapes (seeded) or loaded from an .npz file
named `<layer path>/<weight name>`. Conv and dense layers multiply only through `Ops`,
which counts multiplications from the operand shapes it was given, so the count is an
independent derivation, not a call of the counting formulas.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from cnncost.errors import CnnCostError, LimitError
from cnncost.core.graph import Graph, weight_specs  # noqa: F401 - weight_specs: named here by its users
from cnncost.layers import fmt_shape, numel

DTYPE = np.float32


class Ops:
    """The instrumented arithmetic of conv and dense forwards."""

    np = np

    def __init__(self, may_overwrite_input: bool = False, batch: int = 1):
        self.mults, self.batch = 0, batch
        # True when the layer is its inputs' last reader: element-wise forwards may then
        # write their result into the input instead of allocating (a large saving of
        # memory traffic and page faults on big maps).
        self.may_overwrite_input = may_overwrite_input

    def matmul(self, a, b, out=None):
        out = np.matmul(a, b, out=out)
        self.mults += out.size * a.shape[-1]   # each output element: K products
        return out

    def einsum(self, equation: str, *xs):
        """np.einsum, counting (operands - 1) products per combination of every letter's
        size, the sizes read from the arrays themselves."""
        operands = equation.split("->")[0].split(",")
        size = {}
        for letters, x in zip(operands, xs):
            size.update(zip(letters, x.shape))
        total = 1
        for d in size.values():
            total *= d
        self.mults += (len(xs) - 1) * total
        return np.einsum(equation, *xs, optimize=len(xs) > 2)

    def multiply(self, a, b, out=None):
        out = np.multiply(a, b, out=out)
        self.mults += out.size
        return out


# ---- weights ------------------------------------------------------------------------
def init_weights(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random weights, each drawn as its kind says (Kind.init_weight: LeCun-scaled
    kernels so activations neither explode nor vanish through 150+ layers, BN statistics
    near identity). Generated in float32 directly: a float64 temporary of VGG's fc6 alone
    is 822 MB."""
    rng = np.random.default_rng(seed)
    weights = {}
    for node in graph.layers:
        shapes = {**node.kind.weight_shapes(node.args, node.in_shapes),
                  **node.kind.stat_shapes(node.args, node.in_shapes)}
        for wname, shape in shapes.items():
            owned = weights.get(node.shares.get(wname, ""))
            if owned is not None and owned.shape == tuple(shape):      # one tensor, used again
                weights[f"{node.name}/{wname}"] = owned
                continue
            arr = node.kind.init_weight(node.args, node.in_shapes, wname, tuple(shape), rng, DTYPE)
            weights[f"{node.name}/{wname}"] = arr.astype(DTYPE, copy=False)
    return weights


def load_weights(graph: Graph, path: str) -> dict[str, np.ndarray]:
    """Load an .npz whose keys are '<layer path>/<weight name>'; every array must be
    present with the analysed shape and a real number type, and nothing else may be in
    the file. Headers are checked before any data is read (files.load_npz)."""
    from cnncost.files import load_npz

    arrays = load_npz(path, weight_specs(graph), "weights")
    return {k: v.astype(DTYPE, copy=False) for k, v in arrays.items()}


def weights_for(graph: Graph, source=None, weights_path: str | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """The weights a command runs a network with: the .npz given, a model file's own (a
    Source opened with its weights: cnncost/sources.py), or seeded random ones."""
    if weights_path:
        return load_weights(graph, weights_path)
    if isinstance(source, str):       # a path would silently mean random weights
        raise TypeError("weights_for takes a Source: cnncost.open_source(path, with_weights=True)")
    arrays = getattr(source, "weights", None)
    if arrays is None:
        return init_weights(graph, seed)
    want = weight_specs(graph)
    for key, shape in want.items():
        if key not in arrays or tuple(arrays[key].shape) != tuple(shape):   # the file's, not its use's
            from cnncost.errors import SpecError

            got = getattr(arrays.get(key), "shape", None)
            raise SpecError(f"{source.label}: weight {key} is {'missing' if got is None else 'x'.join(map(str, got))}"
                            f"; the layer takes {'x'.join(map(str, shape))} (the file is damaged)")
    return {k: np.ascontiguousarray(v, dtype=DTYPE) for k, v in arrays.items()}


# ---- memory guard -------------------------------------------------------------------
def estimate_peak_bytes(graph: Graph, batch: int, itemsize: int = 4) -> dict:
    """Weights + the largest set of live activations + the largest temporary."""
    weights = sum(numel(s) for key, s in weight_specs(graph).items()     # a shared tensor is held once
                  if key.rpartition("/")[2] not in graph.nodes[graph.by_name[key.rpartition("/")[0]]].shares)
    live = graph.peak_live_elements() * batch
    temp = max((n.kind.workspace(n.args, n.in_shapes, n.out_shape) for n in graph.layers), default=0) * batch
    return {"weights": weights * itemsize, "activations": live * itemsize,
            "temporary": temp * itemsize, "total": (weights + live + temp) * itemsize}


def available_memory() -> int:
    """What this process can still allocate: the smallest of MemAvailable, the address-space
    limit (RLIMIT_AS) less what the process already maps, and the cgroup's memory limit
    less its usage (bytes); 4 GiB when none can be read."""
    candidates = []
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    candidates.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            candidates.append(max(0, soft - _mapped_bytes()))
    except (ImportError, OSError, ValueError):
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file) as fh:
                text = fh.read(64).strip()
            if text == "max":
                continue
            with open(usage_file) as fh:
                used = int(fh.read(64).strip())
            limit = int(text)
            if limit < 1 << 60:            # cgroup v1 says "no limit" with a huge number
                candidates.append(max(0, limit - used))
        except (OSError, ValueError):
            continue
    return min(candidates) if candidates else 4 * 1024**3


def _mapped_bytes() -> int:
    """The process's virtual size (what RLIMIT_AS counts)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


# Recurrences run one time step after another in Python, about 25 us a step (measured: an
# LSTM of 200,000 steps in 4.6 s): a million steps is about half a minute, a billion a week.
MAX_SERIAL_STEPS = 1_000_000


def guard_steps(graph: Graph) -> None:
    """Refuse before running a network whose recurrences add up to more serial steps than
    MAX_SERIAL_STEPS: counting it is exact and instant, running it would not end."""
    steps = {n.name: n.kind.serial_steps(n.args, n.in_shapes) for n in graph.layers}
    total = sum(steps.values())
    if total > MAX_SERIAL_STEPS:
        worst = max(steps, key=steps.get)
        raise LimitError(f"running {graph.name} takes {total:,} recurrent steps one after another (layer '{worst}': "
                         f"{steps[worst]:,}); the executor's limit is {MAX_SERIAL_STEPS:,} (about half a minute): "
                         f"count it with `cnncost report`, or run a shorter sequence")


def guard_memory(graph: Graph, batch: int, max_memory: int | None, extra: int = 0) -> dict:
    """Refuse before allocating when the estimate (plus `extra` bytes, e.g. an input file
    about to be read) exceeds --max-memory or, by default, half of what this process can
    still allocate; never more than that, whatever --max-memory says; and a network whose
    recurrences would not end (guard_steps)."""
    guard_steps(graph)
    estimate = estimate_peak_bytes(graph, batch)
    total = estimate["total"] + extra
    can = available_memory()
    limit = min(max_memory, can) if max_memory is not None else can // 2
    if total > limit:
        why = ("--max-memory" if max_memory is not None and max_memory <= can
               else "what this process can allocate: free memory, its address-space and cgroup limits")
        raise LimitError(
            f"running {graph.name} at batch {batch} needs about {total / 1e9:.2f} GB "
            f"(weights {estimate['weights'] / 1e9:.2f} + activations {estimate['activations'] / 1e9:.2f} "
            f"+ temporary {estimate['temporary'] / 1e9:.2f}"
            + (f" + input {extra / 1e9:.2f}" if extra else "")
            + f"); the limit is {limit / 1e9:.2f} GB ({why})")
    return estimate


# ---- running ------------------------------------------------------------------------
@dataclass
class LayerRun:
    name: str
    kind: str
    output_shape: list[int]
    executed_shape: list[int]
    mults: int
    executed_mults: int
    seconds: float
    finite: bool

    @property
    def ok(self) -> bool:
        return self.output_shape == self.executed_shape and self.mults == self.executed_mults and self.finite


@dataclass
class RunResult:
    layers: list[LayerRun] = field(default_factory=list)
    output: np.ndarray | None = None             # the first output
    seconds: float = 0.0
    outputs: dict = field(default_factory=dict)  # every output by its layer's name

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.layers)


def _root(a: np.ndarray) -> int:
    """Identity of the buffer that owns `a`'s memory (views share their owner's)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return id(a)


class _Buffers:
    """Who may write where. A forward may overwrite an input only when this layer is the
    last reader of every value living in that buffer: a pass-through layer (dropout,
    `linear`, flatten, a 1-group shuffle) returns its input or a view of it, so two live
    values can share one buffer, and a buffer the caller passed in is never ours."""

    def __init__(self, external: list):
        self.external = external          # kept referenced so their ids are never reused
        self.outside = {_root(a) for a in external}
        self.readers: dict[int, int] = {}  # buffer -> live values in it

    def add(self, value: np.ndarray) -> None:
        r = _root(value)
        self.readers[r] = self.readers.get(r, 0) + 1

    def drop(self, value: np.ndarray) -> None:
        r = _root(value)
        self.readers[r] -= 1
        if not self.readers[r]:
            del self.readers[r]

    def writable(self, xs: list, dying: list[bool]) -> bool:
        """True when every input dies here and owns its buffer alone."""
        roots = [_root(x) for x in xs]
        return (all(dying) and len(set(roots)) == len(roots)
                and all(r not in self.outside and self.readers[r] == 1 for r in roots))


def run(graph: Graph, x, weights: dict[str, np.ndarray], *, on_layer=None,
        on_value=None) -> RunResult:
    """Run the graph on x (batch, H, W, C), or on {input name: array} for several inputs;
    record shapes, executed mults and time per layer. Activations are freed after their
    last reader; the inputs themselves are never written. `on_value(node, y)` sees each
    layer's output before any later layer may reuse it; an array it returns goes on in
    y's place (verify runs each layer on onnxruntime's values of its inputs)."""
    given = x if isinstance(x, dict) else {graph.nodes[graph.inputs[0]].name: x}
    names = [graph.nodes[i].name for i in graph.inputs]
    if sorted(given) != sorted(names):
        raise CnnCostError(f"inputs given: {', '.join(sorted(given))}; the network takes {', '.join(names)}")
    batch = given[names[0]].shape[0] if given[names[0]].ndim else 0
    values = {}
    for i, name in zip(graph.inputs, names):
        a = given[name]
        expected = (batch,) + tuple(graph.nodes[i].out_shape)
        if tuple(a.shape) != expected:
            what = "input" if len(names) == 1 else f"input '{name}'"
            raise CnnCostError(f"{what} has shape {fmt_shape(a.shape)}, the network expects "
                               f"{fmt_shape(expected)} (batch first)")
        values[i] = a.astype(DTYPE, copy=False)
        p = graph.nodes[i].precision
        if p is not None and p.scale is not None:      # an integer input: the values it can hold
            values[i] = p.fake_quant(np, values[i])
    last = graph.last_use()
    buffers = _Buffers(list(values.values()))
    for v in values.values():
        buffers.add(v)
    result = RunResult()
    t_start = time.perf_counter()
    for node in graph.layers:
        xs = [values[i] for i in node.inputs]
        w = {}
        prefix = node.name + "/"
        for wname in (*node.kind.weight_shapes(node.args, node.in_shapes),
                      *node.kind.stat_shapes(node.args, node.in_shapes)):
            w[wname] = weights[prefix + wname]
        ops = Ops(may_overwrite_input=bool(xs) and buffers.writable(
            xs, [last[i] == node.index for i in node.inputs]), batch=batch)
        t0 = time.perf_counter()
        try:
            y = node.kind.forward(node.args, w, xs, ops)
        except CnnCostError as exc:       # a value the layer cannot take (an embedding's id out of range)
            raise exc.with_context(loc=node.loc, layer=node.name, kind=node.label)
        if y.dtype != DTYPE:
            y = y.astype(DTYPE)
        if node.precision is not None and node.precision.scale is not None:
            y = node.precision.fake_quant(np, y)      # a quantized output: the integers it holds
        seconds = time.perf_counter() - t0
        mults = node.kind.mults(node.args, node.in_shapes, node.out_shape) * batch
        result.layers.append(LayerRun(node.name, node.label, list(node.out_shape), list(y.shape[1:]),
                                      mults, ops.mults, seconds, bool(np.isfinite(y).all())))
        if on_value is not None:
            forced = on_value(node, y)
            if forced is not None:     # another engine's value of this layer goes on in ours' place
                y = forced
        values[node.index] = y
        buffers.add(y)
        for i in set(node.inputs):
            if last[i] == node.index:
                buffers.drop(values.pop(i))
        if on_layer is not None:
            on_layer(node)
    result.seconds = time.perf_counter() - t_start
    result.outputs = {n.name: values[n.index] for n in graph.output_nodes}
    result.output = values[graph.output.index]
    return result


def random_inputs(graph: Graph, batch: int, rng):
    """A seeded standard-normal input (one array, or {name: array} for several inputs); an
    input that a layer reads as integer ids (an embedding's) holds ids it accepts."""
    arrays = {}
    for i in graph.inputs:
        node = graph.nodes[i]
        shape = (batch,) + tuple(node.out_shape)
        ids = [k for n in graph.layers if n.inputs and n.inputs[0] == i
               if (k := n.kind.id_range(n.args, n.in_shapes)) is not None]
        arrays[node.name] = (rng.integers(0, min(ids), shape).astype(DTYPE) if ids
                             else rng.standard_normal(shape, dtype=DTYPE))
    return arrays if len(arrays) > 1 else next(iter(arrays.values()))


def load_input(path: str, graph: Graph, max_memory: int | None = None,
               channels_first: bool = False, time_first: bool = False) -> tuple[np.ndarray, str]:
    """A .npy input for `graph` and the layout it was read in: the per-example shape
    (H x W x C), or N of them batch first. With `channels_first` (a model whose own input
    is NCHW, as an ONNX file's) C x H x W and N x C x H x W are read too, and preferred
    where both fit; with `time_first` (a model whose own input is a time-first sequence,
    (T, N, C)) T x N x C is read too, and preferred. The header is checked against the
    network and the memory guard before any data is read."""
    from cnncost.files import load_npy, load_npz

    if len(graph.inputs) > 1:
        # several inputs: an .npz of one example each, keyed by input name (headers checked first)
        want = {graph.nodes[i].name: (1, *graph.nodes[i].out_shape) for i in graph.inputs}
        guard_memory(graph, 1, max_memory, extra=sum(numel(s) for s in want.values()) * 8)
        arrays = load_npz(path, want, "input")
        return {k: np.ascontiguousarray(v, dtype=DTYPE) for k, v in arrays.items()}, "NHWC"
    want = tuple(graph.nodes[0].out_shape)
    layouts = [(want, "NHWC")]
    if channels_first and len(want) == 3:
        layouts.insert(0, ((want[2], want[0], want[1]), "NCHW"))
    chosen = []

    def check(shape, dtype):
        if time_first and len(shape) == 3 and (shape[0], shape[2]) == tuple(want):
            shape = (shape[1], shape[0], shape[2])          # T x N x C: N examples of T x C
            chosen.append("TNC")
        for per_example, layout in layouts:
            per = shape[1:] if len(shape) == len(per_example) + 1 else shape
            if len(shape) in (len(per_example), len(per_example) + 1) and tuple(per) == per_example:
                chosen.append(chosen.pop() if chosen else layout)
                break
        else:
            shown = " or ".join(f"{fmt_shape(p)} or N x {fmt_shape(p)} ({name})" for p, name in layouts)
            raise CnnCostError(f"input {path}: shape {fmt_shape(shape) or '()'} does not fit the network's "
                               f"input {fmt_shape(want)} (give {shown})")
        batch = shape[0] if len(shape) == len(want) + 1 else 1
        if batch < 1:
            raise CnnCostError(f"input {path}: the batch is empty (shape {fmt_shape(shape)})")
        guard_memory(graph, batch, max_memory, extra=numel(shape) * (dtype.itemsize + 4))

    x = load_npy(path, "input", check)
    if chosen[0] == "TNC":
        x = np.ascontiguousarray(x.swapaxes(0, 1))
    x = x[None] if x.ndim == len(want) else x
    if chosen[0] == "NCHW":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return x, chosen[0]
