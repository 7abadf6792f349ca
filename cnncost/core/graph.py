"""The layer graph: a DAG whose node list is already in topological order, because a
layer may only read layers defined before it (a later or own name is a cycle error)."""
from __future__ import annotations

import math

from cnncost.errors import Loc
from cnncost.layers import Args, Kind
from cnncost.records import Struct


class Node(Struct):
    __slots__ = ("index", "name", "kind", "label", "args", "inputs", "in_shapes", "out_shape",
                 "loc", "trainable", "tokens", "precision", "shares")

    def __init__(self,
                 index: int,
                 name: str,
                 kind: Kind | None,                   # None for the network input
                 label: str,                          # kind as written (an alias such as `relu` stays visible)
                 args: Args,
                 inputs: list[int],
                 in_shapes: list[tuple],
                 out_shape: tuple,
                 loc: Loc | None,
                 trainable: bool = True,
                 tokens: bool = False,  # made by (or from) a tensor kind: a rank-3 value here is no H x W x C map
                 # core.precision.Precision: the dtypes a model file keeps (None: the report's)
                 precision: object = None,
                 # weight name -> "owner/weight": tensors first used by an earlier layer (a module
                 # called twice, an ONNX initializer feeding several nodes), counted there once
                 shares: dict | None = None):
        self.index = index
        self.name = name
        self.kind = kind
        self.label = label
        self.args = args
        self.inputs = inputs
        self.in_shapes = in_shapes
        self.out_shape = out_shape
        self.loc = loc
        self.trainable = trainable
        self.tokens = tokens
        self.precision = precision
        self.shares = {} if shares is None else shares


def makes_tokens(kind: Kind, inputs: list[Node]) -> bool:
    """Whether a layer's output is past a tensor kind (tokens, scores: a rank-3 value that
    is no H x W x C map) until a map kind makes a map again."""
    return kind.onnx_layout == "plain" or (kind.onnx_layout == "any" and any(n.tokens for n in inputs))


class Graph(Struct):
    __slots__ = ("name", "nodes", "by_name", "variables", "inputs", "outputs")

    def __init__(self,
                 name: str,
                 nodes: list[Node] | None = None,
                 by_name: dict[str, int] | None = None,
                 variables: dict | None = None,       # evaluated spec variables
                 inputs: list[int] | None = None,     # the input nodes, first in the list
                 outputs: list[int] | None = None):   # named outputs; empty: the last layer
        self.name = name
        self.nodes = [] if nodes is None else nodes
        self.by_name = {} if by_name is None else by_name
        self.variables = {} if variables is None else variables
        self.inputs = [0] if inputs is None else inputs
        self.outputs = [] if outputs is None else outputs

    def add(self, node: Node) -> Node:
        node.index = len(self.nodes)
        self.nodes.append(node)
        self.by_name[node.name] = node.index
        return node

    @property
    def layers(self) -> list[Node]:
        """Every node but the inputs."""
        return self.nodes[len(self.inputs):]

    @property
    def output(self) -> Node:
        """The first output (the only one of most networks)."""
        return self.nodes[self.outputs[0]] if self.outputs else self.nodes[-1]

    @property
    def output_nodes(self) -> list[Node]:
        return [self.nodes[i] for i in self.outputs] if self.outputs else [self.nodes[-1]]

    def last_use(self) -> list[int]:
        """For each node, the index of the last node that reads it (itself if none;
        the outputs live to the end)."""
        last = [n.index for n in self.nodes]
        for node in self.nodes:
            for i in node.inputs:
                last[i] = max(last[i], node.index)
        for node in self.output_nodes:
            last[node.index] = len(self.nodes)
        return last

    def live_elements(self, itemsize=None) -> list[int]:
        """For each node in list order, the sum of output sizes alive while it runs: an
        output lives from its node until its last reader has run (in bytes when
        `itemsize(node)` gives each output's element size)."""
        last = self.last_use()
        delta = [0] * (len(self.nodes) + 2)
        for node in self.nodes:
            size = math.prod(node.out_shape) * (itemsize(node) if itemsize else 1)
            delta[node.index] += size
            delta[last[node.index] + 1] -= size
        live, out = 0, []
        for d in delta[:len(self.nodes)]:
            live += d
            out.append(live)
        return out

    def peak_live_elements(self) -> int:
        """Largest sum of output sizes alive at once when nodes run in list order."""
        return largest(self.live_elements())


def largest(values: list) -> int:
    """max(values, default=0); sizes that are expressions as well as numbers (formula.sym)
    give the expression of the maximum through their type's own `largest`."""
    for v in values:
        pick = getattr(type(v), "largest", None)
        if pick is not None:
            return pick(values)
    return max(values, default=0)


def weight_specs(graph: Graph) -> dict[str, tuple]:
    """Every array the network needs: '<layer>/<name>' -> shape."""
    specs = {}
    for node in graph.layers:
        shapes = {**node.kind.weight_shapes(node.args, node.in_shapes),
                  **node.kind.stat_shapes(node.args, node.in_shapes)}
        for wname, shape in shapes.items():
            specs[f"{node.name}/{wname}"] = tuple(shape)
    return specs
