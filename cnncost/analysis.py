"""Shape propagation + counting -> Report (per-layer rows, totals, conventions).

All counts are exact Python integers. Renderers only format what is computed here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .build import build, parse_overrides
from .limits import DEFAULT, Limits
from .graph import Graph
from .layers import KINDS, numel
from .spec import ArchSpec, load_spec

DTYPE_BYTES = 4  # float32

CONVENTIONS = {
    "mults": "multiplications of conv and dense layers = multiply-accumulates (MACs): "
             "H_out*W_out*C_out*kh*kw*C_in/groups for convolutions, in*out for dense; "
             "bias additions are not multiplications",
    "flops": "every arithmetic operation under the per-kind table (2 per MAC plus bias adds, "
             "BN 2 per element, activations, pooling, add, multiply, softmax, LRN); "
             "see `cnncost kinds`",
    "params": "weights + biases + BN gamma/beta; frozen layers (trainable: false) counted in "
              "frozen_params; BN running statistics reported separately as non_trainable_params",
    "activations": "output elements per layer, batch included; peak = largest set of live "
                   "outputs over the topological order (float32 bytes)",
    "units": "SI: k = 1e3, M = 1e6, G = 1e9; JSON carries exact integers",
}

CONVENTIONS_SHORT = ("mults = MACs of conv + dense layers (bias adds are not mults); flops = "
                     "per-kind table, 2 per MAC (`cnncost kinds`); params exclude BN running "
                     "statistics (non-trainable); SI units")

COUNT_FIELDS = ("params", "trainable_params", "frozen_params", "non_trainable_params",
                "mults", "flops", "activations")


@dataclass
class LayerCost:
    name: str
    kind: str
    inputs: list[str]
    output_shape: list[int]
    params: int
    trainable_params: int
    frozen_params: int
    non_trainable_params: int
    mults: int
    flops: int
    activations: int
    family: str = ""


@dataclass
class Report:
    name: str
    source: str
    input_shape: list[int]
    batch: int
    vars: dict
    layers: list[LayerCost]
    totals: dict
    conventions: dict = field(default_factory=lambda: dict(CONVENTIONS))
    graph: Graph | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        return {
            "name": self.name, "source": self.source, "input_shape": self.input_shape,
            "batch": self.batch, "vars": self.vars, "conventions": self.conventions,
            "layers": [asdict(r) for r in self.layers], "totals": self.totals,
        }

    def grouped(self, depth: int | None) -> list[LayerCost]:
        """Rows summed by the first `depth` components of their dotted names."""
        if not depth:
            return self.layers
        groups: dict[str, LayerCost] = {}
        for row in self.layers:
            key = ".".join(row.name.split(".")[:depth])
            g = groups.get(key)
            if g is None:
                groups[key] = LayerCost(key, row.kind, list(row.inputs), list(row.output_shape),
                                        *(getattr(row, f) for f in COUNT_FIELDS), family=row.family)
                continue
            for f in COUNT_FIELDS:
                setattr(g, f, getattr(g, f) + getattr(row, f))
            g.kind, g.family, g.output_shape = "block", "block", list(row.output_shape)
        return list(groups.values())


def peak_live_elements(graph: Graph) -> int:
    """Largest sum of output sizes alive at once when nodes run in list order; an output
    lives from its node until its last reader has run."""
    last = graph.last_use()
    delta = [0] * (len(graph.nodes) + 2)
    for node in graph.nodes:
        size = numel(node.out_shape)
        delta[node.index] += size
        delta[last[node.index] + 1] -= size
    peak = live = 0
    for d in delta:
        live += d
        peak = max(peak, live)
    return peak


def report_from_graph(graph: Graph, *, batch: int = 1, source: str = "", variables=None) -> Report:
    rows = []
    names = [n.name for n in graph.nodes]
    for node in graph.layers:
        k, a, ins, out = node.kind, node.args, node.in_shapes, node.out_shape
        weights = sum(numel(s) for s in k.weight_shapes(a, ins).values())
        stats = sum(numel(s) for s in k.stat_shapes(a, ins).values())
        rows.append(LayerCost(
            name=node.name, kind=node.label, inputs=[names[i] for i in node.inputs],
            output_shape=list(out), params=weights,
            trainable_params=weights if node.trainable else 0,
            frozen_params=0 if node.trainable else weights,
            non_trainable_params=stats,
            mults=k.mults(a, ins, out) * batch, flops=k.flops(a, ins, out) * batch,
            activations=numel(out) * batch, family=k.family,
        ))
    totals = {f: sum(getattr(r, f) for r in rows) for f in COUNT_FIELDS}
    totals["layers"] = len(rows)
    totals["peak_activations"] = peak_live_elements(graph) * batch
    totals["peak_activation_bytes"] = totals["peak_activations"] * DTYPE_BYTES
    totals["param_bytes"] = (totals["params"] + totals["non_trainable_params"]) * DTYPE_BYTES
    return Report(name=graph.name, source=source, input_shape=list(graph.nodes[0].out_shape),
                  batch=batch, vars=dict(variables or {}), layers=rows, totals=totals, graph=graph)


def analyze(spec: str | ArchSpec, *, batch: int = 1, overrides: dict | list | None = None,
            limits: Limits = DEFAULT) -> Report:
    """Analyse a spec (file path, bundled name or parsed ArchSpec) and return its Report.

    `overrides` sets variables: {"alpha": 0.5} or ["alpha=0.5"] as on the command line.
    """
    from .errors import SpecError

    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise SpecError(f"batch must be a positive integer, received {batch!r}")
    if isinstance(spec, str):
        spec = load_spec(spec, max_bytes=limits.max_spec_bytes)
    if isinstance(overrides, (list, tuple)):
        overrides = parse_overrides(overrides)
    graph = build(spec, overrides, limits)
    return report_from_graph(graph, batch=batch, source=spec.source, variables=graph.variables)


def flops_table() -> dict[str, str]:
    """The per-kind FLOP convention, for documentation and `cnncost kinds`."""
    return {name: kind.flops_rule for name, kind in KINDS.items()}
