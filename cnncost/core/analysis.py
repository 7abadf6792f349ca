"""Shape propagation + counting -> Report (per-layer rows, totals, conventions).

All counts are exact Python integers. Renderers only format what is computed here.
"""
from __future__ import annotations

import gc

from cnncost.core.build import build
from cnncost.core.options import parse_overrides
from cnncost.spec.limits import DEFAULT, Limits
from cnncost.core.graph import Graph, largest
from cnncost.layers import KINDS, MULT_CLASSES, Kind, numel
from cnncost.errors import SpecError, escape_controls
from cnncost.spec import ArchSpec, load_spec
from cnncost.core.precision import STORAGE_BYTES
from cnncost.records import Struct

DTYPE_BYTES = {"float32": 4, "float16": 2, "int8": 1}


def _mults_convention() -> str:
    """The MAC convention, stated from the registry: each kind that multiplies, its rule."""
    rules = "; ".join(f"{name}: {k.mults_rule}" for name, k in KINDS.items()
                      if k.mults_rule != "0" and k.parts.__func__ is Kind.parts)
    return (f"multiplications = multiply-accumulates (MACs) of the layers that multiply ({rules}); "
            "bias additions are not multiplications")


CONVENTIONS = {
    "mults": _mults_convention(),
    "flops": "every arithmetic operation under the per-kind table (2 per MAC plus bias adds, "
             "BN 2 per element, activations, pooling, add, multiply, softmax, LRN); "
             "see `cnncost kinds`",
    "params": "weights + biases + BN gamma/beta; frozen layers (trainable: false) counted in "
              "frozen_params; BN running statistics reported separately as non_trainable_params; "
              "a tensor used by several layers is counted once, at its first use (later uses name "
              "it in `shares` and add no params; their mults are counted at every use)",
    "activations": "output elements per layer, batch included (the input is not a layer's output "
                   "and is not counted); peak = largest set of live tensors over the topological "
                   "order, the input included while a layer reads it (bytes for the report's dtype)",
    "traffic": "bytes_read = inputs + weights, bytes_written = output, each layer on its own "
               "(no fusion or cache reuse), for the report's dtype; intensity = flops / bytes",
    "receptive_field": "input pixels one output unit sees per axis (t; h, w; d, h, w), its stride in input pixels, "
                       "and the top-left input coordinate of the first unit's field; over "
                       "branches the largest; `global` (rf_global) once a layer reads a whole map "
                       "(global pool, flatten), directly or through a multiply or add; `n/a` (rf_na) "
                       "past a tensor kind (reshape into tokens, matmul, softmax over tokens)",
    "training": "with --training: weight gradients of the trainable weights; stored_activation_bytes = "
                "the tensors autograd keeps for the backward pass, each once, as each kind's rule says "
                "(`cnncost kinds`: a conv its input when its weights train, a batch norm its input and "
                "statistics, a ReLU its output); nothing below the earliest trainable layer; optimizer "
                "state not included",
    "units": "SI: k = 1e3, M = 1e6, G = 1e9; JSON carries exact integers",
}

CONVENTIONS_SHORT = ("mults = MACs of conv, dense, matmul and einsum layers (bias adds are not mults); flops = "
                     "per-kind table, 2 per MAC (`cnncost kinds`); params exclude BN running "
                     "statistics (non-trainable); SI units")

# what a report adds to its conventions line when it holds such layers
CONVENTIONS_BY_KIND = {
    ("lstm", "gru", "rnn"): "recurrent: mults per time step (LSTM 4h(C+h), GRU 3h(C+h), RNN h(C+h)) x T x "
                            "directions, bias in the framework's layout (`cnncost kinds lstm`)",
    ("embedding",): "embedding: params vocab x dim, no mults (a lookup)",
}

COUNT_FIELDS = ("params", "trainable_params", "frozen_params", "non_trainable_params",
                "mults", "flops", "activations", "bytes_read", "bytes_written")


class LayerCost(Struct):
    __slots__ = ("name", "kind", "inputs", "output_shape", "params", "trainable_params",
                 "frozen_params", "non_trainable_params", "mults", "flops", "activations", "family",
                 "mult_class", "receptive_field", "rf_stride", "rf_start", "rf_global", "rf_na",
                 "training", "bytes_read", "bytes_written", "intensity", "precision", "shares")

    def __init__(self,
                 name: str,
                 kind: str,
                 inputs: list[str],
                 output_shape: list[int],
                 params: int,
                 trainable_params: int,
                 frozen_params: int,
                 non_trainable_params: int,
                 mults: int,
                 flops: int,
                 activations: int,
                 family: str = "",
                 mult_class: str = "",
                 receptive_field: list[int] | None = None,
                 rf_stride: list[int] | None = None,
                 rf_start: list[int] | None = None,
                 rf_global: bool = False,             # sees the whole input (reads a global pool, flatten, ...)
                 rf_na: bool = False,                 # no receptive field past a tensor kind (tokens, attention)
                 training: dict | None = None,        # backward-pass costs, with --training
                 bytes_read: int = 0,                 # inputs + weights (+ BN statistics), for the report's dtype
                 bytes_written: int = 0,              # the output
                 intensity: float = 0.0,              # flops / (bytes_read + bytes_written)
                 precision: str = "",                 # the dtype it computes in, when the file keeps its own
                 shares: dict | None = None):         # weight -> "owner/weight" it uses, counted there
        self.name = name
        self.kind = kind
        self.inputs = inputs
        self.output_shape = output_shape
        self.params = params
        self.trainable_params = trainable_params
        self.frozen_params = frozen_params
        self.non_trainable_params = non_trainable_params
        self.mults = mults
        self.flops = flops
        self.activations = activations
        self.family = family
        self.mult_class = mult_class
        self.receptive_field = [] if receptive_field is None else receptive_field
        self.rf_stride = [] if rf_stride is None else rf_stride
        self.rf_start = [] if rf_start is None else rf_start
        self.rf_global = rf_global
        self.rf_na = rf_na
        self.training = training
        self.bytes_read = bytes_read
        self.bytes_written = bytes_written
        self.intensity = intensity
        self.precision = precision
        self.shares = {} if shares is None else shares


class Report(Struct):
    __slots__ = ("name", "source", "input_shape", "batch", "vars", "layers", "totals",
                 "conventions", "graph", "dtype", "spec_digest", "dead_layers", "params_as",
                 "variants", "inputs", "outputs")
    _uncompared = ("graph",)

    def __init__(self,
                 name: str,
                 source: str,
                 input_shape: list[int],
                 batch: int,
                 vars: dict,
                 layers: list[LayerCost],
                 totals: dict,
                 conventions: dict | None = None,
                 graph: Graph | None = None,
                 dtype: str = "float32",
                 spec_digest: str = "",
                 dead_layers: list[str] | None = None,  # outputs nothing reads
                 params_as: str = "",  # an imported file's own way of holding params ("" = the spec's layers)
                 variants: dict | None = None,        # the spec's ways to compare (name -> vars)
                 inputs: dict | None = None,          # name -> shape, when the network has several
                 outputs: list | None = None):        # the output layers, when several (or named)
        self.name = name
        self.source = source
        self.input_shape = input_shape
        self.batch = batch
        self.vars = vars
        self.layers = layers
        self.totals = totals
        self.conventions = dict(CONVENTIONS) if conventions is None else conventions
        self.graph = graph
        self.dtype = dtype
        self.spec_digest = spec_digest
        self.dead_layers = [] if dead_layers is None else dead_layers
        self.params_as = params_as
        self.variants = {} if variants is None else variants
        self.inputs = {} if inputs is None else inputs
        self.outputs = [] if outputs is None else outputs

    def io_text(self) -> str:
        """'input 224x224x3', or every input and the outputs of a network of several."""
        from cnncost.layers import fmt_shape

        ins = ", ".join(f"{k} {fmt_shape(v)}" for k, v in self.inputs.items()) if self.inputs else \
            f"input {fmt_shape(self.input_shape)}"
        if self.inputs:
            ins = "inputs " + ins
        return ins + (f"; outputs {', '.join(self.outputs)}" if self.outputs else "")

    def provenance(self) -> dict:
        """What this report measured: a baseline must match it to be compared."""
        from cnncost import __version__ as ours   # importlib.metadata would cost 10 ms of start-up

        return {"network": self.name, "spec_sha256": self.spec_digest, "input_shape": self.input_shape,
                "batch": self.batch, "dtype": self.dtype, "vars": self.vars, "cnncost_version": ours}

    def to_dict(self, depth: int | None = None, by_kind: bool = False) -> dict:
        """Plain data for JSON; rows grouped by the first `depth` name parts when given;
        `by_kind` adds the totals by kind of layer and of multiplication."""
        d = {
            "name": self.name, "source": self.source, "input_shape": self.input_shape,
            "batch": self.batch, "dtype": self.dtype, "vars": self.vars, "conventions": self.conventions,
            "layers": [_row(r) for r in self.grouped(depth)], "totals": self.totals,
            "provenance": self.provenance(), "dead_layers": self.dead_layers,
        }
        if self.variants:
            d["variants"] = self.variants
        if self.inputs:
            d["inputs"] = self.inputs
        if self.outputs:
            d["outputs"] = self.outputs
        if depth:
            d["depth"] = depth
        if by_kind:
            d["by_kind"] = [_row(r) for r in self.by_kind()]
        return d

    def row_table(self) -> tuple[list[str], list[list]]:
        """The JSON report's rows as columns and one list of values per row (a page's data:
        no key repeated per row); `precision` only when the file keeps its own dtypes."""
        fields = [f for f in LayerCost.field_names() if (f != "precision" or "precisions" in self.totals)
                  and (f != "shares" or "shared_params" in self.totals)]
        from operator import attrgetter

        get = attrgetter(*fields)
        return fields, [list(get(r)) for r in self.layers]

    def cumulative_mults(self) -> list[int]:
        """MACs of the network up to and including each layer, in execution order."""
        running, out = 0, []
        for r in self.layers:
            running += r.mults
            out.append(running)
        return out

    def live_bytes(self) -> list[int]:
        """Activation bytes alive while each layer runs (the input included while read);
        their largest is totals["peak_activation_bytes"]."""
        if self.graph is None:
            return []
        item = DTYPE_BYTES[self.dtype]
        if "precisions" in self.totals:           # a model file's own dtypes, as the peak counts them
            return [v * self.batch for v in self.graph.live_elements(lambda n: node_bytes(n, item))[1:]]
        return [v * self.batch * item for v in self.graph.live_elements()[1:]]

    def block_sums(self, extra: dict[str, float] | None = None, extra_name: str = "extra") -> dict[str, dict]:
        """For every block path (each proper prefix of the dotted names): its layer count
        and the sums of its layers' params, mults, flops and output bytes (and of `extra`,
        a value per layer name, under `extra_name`)."""
        acc: dict[str, list] = {}           # lists while summing, dicts once (a page of every report)
        for r in self.layers:               # each layer into its own block; blocks into theirs below
            name = r.name
            cut = name.rfind(".")
            if cut < 0:
                continue
            s = acc.get(name[:cut])
            if s is None:
                k = name.find(".")
                while k >= 0:               # every enclosing block, outermost first (the order shown)
                    acc.setdefault(name[:k], [0, 0, 0, 0, 0, 0])
                    k = name.find(".", k + 1)
                s = acc[name[:cut]]
            s[0] += 1
            s[1] += r.params
            s[2] += r.mults
            s[3] += r.flops
            s[4] += r.bytes_written
            if extra:
                s[5] += extra[name]
        for block in sorted(acc, key=lambda b: -b.count(".")):     # innermost first
            cut = block.rfind(".")
            if cut >= 0:
                outer, inner = acc[block[:cut]], acc[block]
                for k in range(6):
                    outer[k] += inner[k]
        keys = ("layers", "params", "mults", "flops", "activation_bytes", extra_name) if extra else \
            ("layers", "params", "mults", "flops", "activation_bytes")
        return {block: dict(zip(keys, s)) for block, s in acc.items()}

    def conventions_line(self) -> str:
        """The one-line conventions every report states, with those of the kinds it holds
        that count in a way of their own (recurrence, lookups)."""
        kinds = {row.kind for row in self.layers}
        extra = [text for names, text in CONVENTIONS_BY_KIND.items() if kinds.intersection(names)]
        return "; ".join([CONVENTIONS_SHORT, *extra])

    def formulas(self) -> dict:
        """Each layer's multiplication formula with its values (what `explain` prints): each
        distinct formula once (`formula_texts`) and each layer's index into them (`formula_of`);
        layers alike (kind, arguments, shapes) are explained once and share one."""
        texts: list[list[str]] = []
        of: dict[str, int] = {}
        seen: dict = {}
        spelled: dict[int, object] = {}
        for node in self.graph.layers if self.graph is not None else ():
            args = spelled.get(id(node.args))      # a block laid down again shares its Args
            if args is None:
                args = tuple(sorted(node.args.items()))
                try:
                    hash(args)
                except TypeError:                  # a list among the values: spelled out instead
                    args = repr(args)
                spelled[id(node.args)] = args
            key = (node.label, args, tuple(node.in_shapes), node.out_shape)
            if key not in seen:
                try:
                    lines = node.kind.explain(node.args, node.in_shapes, node.out_shape)
                except NotImplementedError:
                    lines = []
                seen[key] = len(texts) if lines else None
                if lines:
                    texts.append(lines)
            if seen[key] is not None:
                of[node.name] = seen[key]
        return {"formula_texts": texts, "formula_of": of}

    def windows(self) -> dict[str, dict]:
        """Each windowed layer's geometry as its arguments fix it (what Netron writes as
        "3×3/2, 64"): kernel, stride, dilation, padding ([top, bottom, left, right] or
        "same"), groups (a depthwise conv's are its input channels) and the channels it
        makes; `groups` alone for a group norm or channel shuffle. Layers without either
        are left out."""
        out: dict[str, dict] = {}
        if self.graph is None:
            return out
        for node in self.graph.layers:
            a = node.args
            if "kernel" in a:
                g = {k: list(a[k]) for k in ("kernel", "stride", "dilation") if a.get(k) is not None}
                pad = a.get("padding")
                if pad is not None:
                    g["padding"] = pad if isinstance(pad, str) else list(pad)
                groups = node.kind.groups(a, node.in_shapes)
                if groups is not None:
                    g["groups"] = groups
                if "filters" in a or "depth_multiplier" in a:
                    g["channels"] = node.out_shape[-1]
                out[node.name] = g
            elif "groups" in a:
                out[node.name] = {"groups": a["groups"]}
        return out

    def stages(self, sums: dict[str, dict]) -> list[dict]:
        """MACs and params of each first name part in order (what grouped(1) sums), from
        `block_sums` and the top-level rows: a block, a layer, or both (Keras' `conv1` and
        its fused `conv1.relu`)."""
        out: dict[str, dict] = {}
        for r in self.layers:
            top = r.name.split(".", 1)[0]
            if top not in out:
                s = sums.get(top, {"mults": 0, "params": 0})
                out[top] = {"name": top, "mults": s["mults"], "params": s["params"]}
            if r.name == top:
                out[top]["mults"] += r.mults
                out[top]["params"] += r.params
        return list(out.values())

    def by_kind(self) -> list[LayerCost]:
        """Rows summed by kind and kind of multiplication: how much is depthwise, pointwise,
        standard, dense ("conv (pointwise)", "depthwise_conv (depthwise)", "relu", ...)."""
        groups: dict[str, LayerCost] = {}
        for row in self.layers:
            key = f"{row.kind} ({row.mult_class})" if row.mult_class else row.kind
            g = groups.get(key)
            if g is None:
                groups[key] = row.replace(name=key, inputs=[], training=None, shares={}, receptive_field=[],
                                      rf_stride=[], rf_start=[], output_shape=[])
                continue
            for f in COUNT_FIELDS:
                setattr(g, f, getattr(g, f) + getattr(row, f))
            g.intensity = intensity(g.flops, g.bytes_read + g.bytes_written)
        return sorted(groups.values(), key=lambda g: -g.mults)

    def grouped(self, depth: int | None) -> list[LayerCost]:
        """Rows summed by the first `depth` components of their dotted names."""
        if not depth:
            return self.layers
        groups: dict[str, LayerCost] = {}
        for row in self.layers:
            key = ".".join(row.name.split(".")[:depth])
            g = groups.get(key)
            if g is None:
                groups[key] = row.replace(name=key, inputs=list(row.inputs),
                                      training=dict(row.training) if row.training else None)
                continue
            for f in COUNT_FIELDS:
                setattr(g, f, getattr(g, f) + getattr(row, f))
            g.intensity = intensity(g.flops, g.bytes_read + g.bytes_written)
            if row.training:
                g.training = {k: g.training[k] + v for k, v in row.training.items()}
            g.kind, g.family, g.mult_class, g.shares = "block", "block", "", {}   # a block's rows say it
            g.output_shape, g.receptive_field = list(row.output_shape), row.receptive_field
            g.rf_stride, g.rf_start, g.rf_global, g.rf_na = row.rf_stride, row.rf_start, row.rf_global, row.rf_na
        return list(groups.values())


def _row(row: "LayerCost") -> dict:
    """A row as plain data: a shallow field copy (a deep copy of every value was a large
    share of a big report's JSON time)."""
    out = row.to_dict()
    if not row.precision:                    # only a model file's own dtypes say it
        del out["precision"]
    if not row.shares:                       # only a layer that uses another's tensors says it
        del out["shares"]
    return out


def intensity(flops: int, nbytes: int) -> float:
    """Arithmetic intensity in FLOPs per byte moved (0 when nothing moves): a ratio, never
    part of a size's formula (formula/: counts may be expressions; the ratio is of numbers)."""
    flops, nbytes = int(flops), int(nbytes)
    try:
        return flops / nbytes if nbytes else 0.0
    except OverflowError:   # absurd but exact integer counts: the ratio exceeds a float
        return float("inf")


def weighted_depth(graph: Graph) -> int:
    """Convolution and dense layers on the longest path from input to output."""
    depth = [0] * len(graph.nodes)
    for node in graph.layers:
        own = 1 if node.kind.mult_class(node.args, node.in_shapes) else 0
        depth[node.index] = own + max((depth[i] for i in node.inputs), default=0)
    return depth[graph.output.index]


def report_from_graph(graph: Graph, *, batch: int = 1, source: str = "", variables=None,
                      dtype: str = "float32", training: bool = False) -> Report:
    from cnncost.core.receptive import exact, receptive_fields
    from cnncost.core.training import backward, cut_summary, saved_bytes

    if dtype not in DTYPE_BYTES:
        raise SpecError(f"unknown dtype '{dtype}' (known: {', '.join(DTYPE_BYTES)})")
    itemsize = DTYPE_BYTES[dtype]
    own = any(n.precision is not None for n in graph.nodes)    # a model file's own dtypes win

    def size_of(node) -> int:
        return node_bytes(node, itemsize)
    param_bytes = 0
    rows = []
    names = [n.name for n in graph.nodes]
    fields = receptive_fields(graph)
    first = graph.nodes[0].out_shape       # a map's spatial sizes: what a `global` field covers
    whole_input = [exact(v) for v in first[:-1]] if len(first) in (2, 3, 4) else []
    grads = backward(graph) if training else None
    kept = saved_bytes(graph, itemsize, batch) if training else None
    for node in graph.layers:
        k, a, ins, out = node.kind, node.args, node.in_shapes, node.out_shape
        shapes = k.weight_shapes(a, ins)
        weights = sum(numel(s) for w, s in shapes.items() if w not in node.shares)     # shared: its owner's
        stats = sum(numel(s) for w, s in k.stat_shapes(a, ins).items() if w not in node.shares)
        rf = fields[node.index]
        # memory traffic with no reuse across layers: every input and weight read once per
        # batch, the output written once; each tensor in its own dtype when the file has them
        if own:
            p = node.precision
            by_weight = {w: numel(s) * (STORAGE_BYTES[p.weight_dtype(w)] if p else itemsize) for w, s in shapes.items()}
            stored = sum(by_weight.values()) + stats * size_of(node)
            read = sum(numel(s) * size_of(graph.nodes[i]) for s, i in zip(ins, node.inputs)) * batch + stored
            written = numel(out) * batch * size_of(node)
            param_bytes += stored - sum(by_weight[w] for w in node.shares)    # read at every use, held once
        else:
            read = (sum(numel(s) for s in ins) * batch + weights + stats) * itemsize
            written = numel(out) * batch * itemsize
        flops = k.flops(a, ins, out) * batch
        rows.append(LayerCost(
            name=node.name, kind=node.label, inputs=[names[i] for i in node.inputs],
            output_shape=list(out), params=weights,
            trainable_params=weights if node.trainable else 0,
            frozen_params=0 if node.trainable else weights,
            non_trainable_params=stats,
            mults=k.mults(a, ins, out) * batch, flops=flops,
            activations=numel(out) * batch, family=k.family, mult_class=k.mult_class(a, ins),
            receptive_field=[] if rf.na else whole_input if rf.whole else [exact(v) for v in rf.size],
            rf_stride=[] if rf.whole or rf.na else [exact(v) for v in rf.jump],
            rf_start=[] if rf.na else [0] * len(whole_input) if rf.whole and whole_input else [] if rf.whole
            else [exact(v) for v in rf.start],
            rf_global=rf.whole, rf_na=rf.na,
            training={**{key: v * batch for key, v in grads[node.index - 1].items()},
                      "saved_bytes": kept[node.index - 1]} if grads else None,
            bytes_read=read, bytes_written=written, intensity=intensity(flops, read + written),
            precision=node.precision.dtype if node.precision is not None else "",
            shares=node.shares or None,
        ))
    totals = {f: sum(getattr(r, f) for r in rows) for f in COUNT_FIELDS}
    totals["layers"] = len(rows)
    shared = sum(numel(s) for n in graph.layers if n.shares
                 for w, s in n.kind.weight_shapes(n.args, n.in_shapes).items() if w in n.shares)
    if shared:
        totals["shared_params"] = shared      # elements later uses read from their owners: not params again
    totals["intensity"] = intensity(totals["flops"], totals["bytes_read"] + totals["bytes_written"])
    totals["weighted_depth"] = weighted_depth(graph)
    by_class = dict.fromkeys(MULT_CLASSES, 0)
    for r in rows:                       # one pass: this runs on every report
        if r.mult_class:
            by_class[r.mult_class] += r.mults
    totals["mults_by_class"] = by_class
    totals["peak_activations"] = graph.peak_live_elements() * batch
    totals["peak_activation_bytes"] = totals["peak_activations"] * itemsize
    totals["param_bytes"] = (totals["params"] + totals["non_trainable_params"]) * itemsize
    if own:
        totals["peak_activation_bytes"] = largest(graph.live_elements(size_of)) * batch
        totals["param_bytes"] = param_bytes
        totals["precisions"] = precision_summary(graph, rows, dtype)
    if any(not n.trainable for n in graph.layers):
        cut = cut_summary(graph, itemsize)
        if cut["frozen_layers"]:
            totals["transfer"] = cut
    if grads:
        back = {key: sum(r.training[key] for r in rows) for key in rows[0].training} if rows else {}
        trainable_bytes = totals["trainable_params"] * itemsize
        stored = back["saved_bytes"]         # what autograd keeps for the backward pass (Kind.saved)
        totals["training"] = {**back,
                              "training_mults": totals["mults"] + back["input_grad_mults"] + back["weight_grad_mults"],
                              "training_flops": totals["flops"] + back["input_grad_flops"] + back["weight_grad_flops"],
                              "gradient_bytes": trainable_bytes, "stored_activation_bytes": stored,
                              "training_memory_bytes": totals["param_bytes"] + trainable_bytes + stored}
    last = graph.last_use()
    dead = [n.name for n in graph.layers[:-1] if last[n.index] == n.index]
    # a file's own words (an ONNX producer_name, a .keras version, a spec's name:) reach
    # terminals and pages: no control character of theirs is passed on
    return Report(name=escape_controls(graph.name), source=escape_controls(source),
                  input_shape=list(graph.nodes[0].out_shape),
                  batch=batch, vars=dict(variables or {}), layers=rows, totals=totals, graph=graph,
                  dtype=dtype, dead_layers=dead,
                  inputs={graph.nodes[i].name: list(graph.nodes[i].out_shape) for i in graph.inputs}
                  if len(graph.inputs) > 1 else {},
                  outputs=[n.name for n in graph.output_nodes] if len(graph.output_nodes) > 1 else [])


def node_bytes(node, itemsize: int) -> int:
    """Bytes per element of a node's output: its file's own dtype, else the report's."""
    return STORAGE_BYTES[node.precision.dtype] if node.precision is not None else itemsize


def precision_summary(graph, rows, dtype: str) -> dict:
    """How many layers compute in each dtype, and how many weight elements each dtype holds
    (a layer the file gives no dtype counts in the report's)."""
    layers: dict[str, int] = {}
    weights: dict[str, int] = {}
    for node, row in zip(graph.layers, rows):
        dt = row.precision or dtype
        layers[dt] = layers.get(dt, 0) + 1
        for w, s in node.kind.weight_shapes(node.args, node.in_shapes).items():
            wd = node.precision.weight_dtype(w) if node.precision is not None else dtype
            weights[wd] = weights.get(wd, 0) + numel(s)
    return {"layers": layers, "weight_elements": weights}


def framework_params(totals: dict, accounting: dict) -> dict:
    """The three lines the file's framework prints (Keras' model.summary()) from our counts:
    its non-trainable are our frozen weights and BN statistics, plus the weights it keeps
    for its own bookkeeping (Normalization's sample count)."""
    extra = int(accounting.get("extra_non_trainable", 0))
    non_trainable = totals["frozen_params"] + totals["non_trainable_params"] + extra
    return {"framework": accounting.get("framework", ""), "total": totals["trainable_params"] + non_trainable,
            "trainable": totals["trainable_params"], "non_trainable": non_trainable,
            "bookkeeping": extra, "why": accounting.get("why", "")}


def resolve_batch(spec: ArchSpec, batch: int | None) -> int:
    """The batch of a report: --batch when given, else the one an imported model fixes (its
    --input-shape N or its static first dimension), else 1. A --batch that contradicts the
    N of --input-shape is an error; one that replaces a file's static batch is allowed (the
    counts are per example times the batch)."""
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise SpecError(f"batch must be a positive integer, received {batch!r}")
    if batch is not None and spec.batch_from == "--input-shape" and spec.batch != batch:
        raise SpecError(f"--batch {batch} contradicts --input-shape's batch {spec.batch} "
                        "(the N of NxCxHxW is the batch; give one of them)")
    return batch if batch is not None else spec.batch or 1


def analyze(spec: str | ArchSpec, *, batch: int | None = None, overrides: dict | list | None = None,
            limits: Limits = DEFAULT, dtype: str = "float32", trainable_from: str | None = None,
            freeze_until: str | None = None, training: bool = False, rewrite: str | None = None) -> Report:
    """Analyse a spec (file path, bundled name or parsed ArchSpec) and return its Report.

    `overrides` sets variables: {"alpha": 0.5} or ["alpha=0.5"] as on the command line.
    `trainable_from` / `freeze_until` cut the network into a frozen base and a trained head;
    `training` adds the backward pass; `rewrite` is "separable" or "bottleneck=R" (what-if).
    """
    from cnncost.core.training import apply_cut

    if isinstance(spec, str):
        spec = load_spec(spec, max_bytes=limits.max_spec_bytes)
    batch = resolve_batch(spec, batch)
    if isinstance(overrides, (list, tuple)):
        overrides = parse_overrides(overrides)
    # The analysis allocates many small objects and frees none until it returns; the cyclic
    # garbage collector's passes over them would make it superlinear in the layer count.
    enabled = gc.isenabled()
    gc.disable()
    try:
        graph = build(spec, overrides, limits, rewrite=rewrite)
        if spec.input_precision is not None:
            from cnncost.core.precision import parse

            for i in graph.inputs:
                graph.nodes[i].precision = parse(spec.input_precision, spec.loc, "input")
        apply_cut(graph, trainable_from, freeze_until)
        rep = report_from_graph(graph, batch=batch, source=spec.source, variables=graph.variables,
                                dtype=dtype, training=training)
        rep.spec_digest, rep.params_as, rep.variants = spec.digest, spec.params_as, spec.variants
        if spec.accounting:
            rep.totals["framework_params"] = framework_params(rep.totals, spec.accounting)
        return rep
    finally:
        if enabled:
            gc.enable()
