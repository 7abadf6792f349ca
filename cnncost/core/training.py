"""Transfer learning and training cost: where the network is cut into a frozen base and a
trained head, and what the backward pass costs per layer.

Backward pass, per layer (documented in the README and tested against a hand derivation):
- gradient w.r.t. the layer's input: needed only when some layer below it (an ancestor)
  has trainable weights; for conv and dense it costs exactly the forward MACs (each
  forward product x*w has one backward product dy*w); other layers are charged their
  forward FLOPs and no mults;
- gradient w.r.t. the weights: only for trainable layers with weights; for conv and
  dense again the forward MACs (dy*x), plus one add per output element for a bias.
"""
from __future__ import annotations

from cnncost.errors import SpecError
from cnncost.core.graph import Graph


def _matching(graph: Graph, name: str) -> list[int]:
    idx = [n.index for n in graph.layers if n.name == name or n.name.startswith(name + ".")]
    if not idx:
        raise SpecError(f"no layer or block named '{name}' to cut at")
    return idx


def apply_cut(graph: Graph, trainable_from: str | None = None, freeze_until: str | None = None) -> None:
    """Freeze every layer before `trainable_from` (its first layer), or up to and
    including `freeze_until` (its last layer), in topological order."""
    if trainable_from and freeze_until:
        raise SpecError("give either --trainable-from or --freeze-until, not both")
    if trainable_from:
        cut = min(_matching(graph, trainable_from))
    elif freeze_until:
        cut = max(_matching(graph, freeze_until)) + 1
    else:
        return
    for node in graph.layers:
        if node.index < cut:
            node.trainable = False


def has_weights(node) -> bool:
    return bool(node.kind.weight_shapes(node.args, node.in_shapes))


def trains(graph: Graph, node) -> bool:
    """Whether a layer's weights train: its own when it is trainable, and a tensor it shares by
    its owner's flag (one tensor has one flag, as in PyTorch)."""
    weights = node.kind.weight_shapes(node.args, node.in_shapes)
    if any(w not in node.shares for w in weights) and node.trainable:
        return True
    owners = {key.rpartition("/")[0] for w, key in node.shares.items() if w in weights}
    return any(graph.nodes[graph.by_name[o]].trainable for o in owners if o in graph.by_name)


def backward(graph: Graph) -> list[dict]:
    """Per layer (graph.layers order): input_grad and weight_grad mults and flops."""
    learns = [False] * len(graph.nodes)      # this node or an ancestor has trainable weights
    rows = []
    for node in graph.layers:
        k, a, ins, out = node.kind, node.args, node.in_shapes, node.out_shape
        own = trains(graph, node)
        needs_input_grad = any(learns[i] for i in node.inputs)
        learns[node.index] = own or needs_input_grad
        fwd_mults = k.mults(a, ins, out)
        row = {"input_grad_mults": 0, "input_grad_flops": 0, "weight_grad_mults": 0, "weight_grad_flops": 0}
        if needs_input_grad:
            row["input_grad_mults"] = fwd_mults
            row["input_grad_flops"] = 2 * fwd_mults if fwd_mults else k.flops(a, ins, out)
        elif own and k.state_grad_mults(a, ins):
            # a recurrence's weight gradients need its states' gradients, through time
            row["input_grad_mults"] = k.state_grad_mults(a, ins)
            row["input_grad_flops"] = 2 * row["input_grad_mults"]
        if own:
            row["weight_grad_mults"] = fwd_mults
            bias = k.weight_shapes(a, ins).get("bias")
            out_elems = 1
            for d in out:
                out_elems *= d
            row["weight_grad_flops"] = 2 * fwd_mults + (out_elems if bias else 0) if fwd_mults \
                else 2 * out_elems   # BN gamma/beta: a multiply-add per element
        rows.append(row)
    return rows


def saved_bytes(graph: Graph, itemsize: int, batch: int) -> list[int]:
    """Per layer (graph.layers order): the bytes autograd keeps for its backward pass, as
    PyTorch's saved tensors are kept. A layer is recorded only when its output needs a
    gradient (its weights train, or an input's gradient is needed); what it keeps is its
    kind's rule (Kind.saved: a conv its input when its weights train, a batch norm its input
    and statistics, a ReLU its output, ...). A tensor kept by several layers (a ReLU's output
    that the next conv reads) is counted once, at the first layer that keeps it; weights are
    parameters, not counted here. Below the earliest trained layer nothing is kept."""
    grads = [False] * len(graph.nodes)
    kept: set[int] = set()
    out = []
    for node in graph.layers:
        learns = trains(graph, node)
        needs = [grads[i] for i in node.inputs]
        grads[node.index] = learns or any(needs)
        nbytes = 0
        if grads[node.index]:
            s = node.kind.saved(node.args, node.in_shapes, node.out_shape, needs, learns)
            for t in [node.inputs[i] for i in s.inputs] + ([node.index] if s.output else []):
                if t not in kept:
                    kept.add(t)
                    nbytes += _numel(graph.nodes[t].out_shape) * batch * itemsize
            nbytes += (s.per_example * batch + s.fixed) * itemsize + s.int64 * batch * 8
        out.append(nbytes)
    return out


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def cut_summary(graph: Graph, itemsize: int) -> dict:
    """Forward cost of the frozen base vs the trained head, and the bytes per example of
    caching the features that cross the cut (outputs of frozen layers read by trained ones)."""
    # the base: frozen layers that read only the inputs and other frozen layers (a frozen
    # layer after trained ones, YOLO's fixed DFL convolution, is no base to cache)
    frozen: set[int] = set()
    for n in graph.layers:      # a weightless layer on the frozen base (a global pool) is base too
        if (not n.trainable or not has_weights(n)) and all(i in frozen or i in graph.inputs for i in n.inputs):
            frozen.add(n.index)
    base = sum(n.kind.mults(n.args, n.in_shapes, n.out_shape) for n in graph.layers if n.index in frozen)
    head = sum(n.kind.mults(n.args, n.in_shapes, n.out_shape) for n in graph.layers if n.index not in frozen)
    crossing = {i for n in graph.layers if n.index not in frozen for i in n.inputs if i in frozen}
    if frozen and not crossing and len(frozen) == len(graph.layers):
        crossing = {graph.output.index}
    elements = 0
    for i in crossing:
        size = 1
        for d in graph.nodes[i].out_shape:
            size *= d
        elements += size
    return {"frozen_layers": len(frozen), "frozen_forward_mults": base, "trainable_forward_mults": head,
            "cut_features": sorted(graph.nodes[i].name for i in crossing),
            "cached_feature_bytes_per_example": elements * itemsize}
