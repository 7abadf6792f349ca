"""The ONNX model a Core ML model is written into, in memory (interop/onnx/proto's
dataclasses), for the ONNX importer to read: Core ML's layers are NCHW and its kernels
ONNX's ([out, in / groups, kh, kw]; a linear layer's [out, in]), so its operators map onto
ONNX's one for one, and the importer keeps the one definition of layouts, patterns and
folding. A weight stays a view of the mapped file until `run` decodes it."""
from __future__ import annotations

import struct

from cnncost.interop.onnx.proto import Graph, Model, Node, Tensor, ValueInfo
from cnncost.interop.refusals import UniqueNames

OPSET = 17
ONNX_TYPES = {"float32": 1, "uint8": 2, "int8": 3, "int16": 5, "int32": 6, "int64": 7, "bool": 9, "float16": 10,
              "float64": 11}


class OnnxGraph:
    def __init__(self, producer: str):
        self.producer = producer
        self.nodes: list[Node] = []
        self.inits: dict[str, Tensor] = {}
        self.names = UniqueNames()
        self.made = 0

    def tensor(self, name: str, dtype: str, dims, raw) -> str:
        """An initializer over `raw` (a view of the file's bytes) of `dims` of `dtype`."""
        self.inits[name] = Tensor(name=name, dims=tuple(dims), data_type=ONNX_TYPES[dtype], raw=raw)
        return name

    def numbers(self, values, dtype: str = "int64", dims=None) -> str:
        """A small constant made here (a shape, axes, a clip bound)."""
        code = {"int64": "q", "float32": "f"}[dtype]
        dims = (len(values),) if dims is None else dims
        return self.constant(dtype, dims, memoryview(struct.pack(f"<{len(values)}{code}", *values)))

    def constant(self, dtype: str, dims, raw, name: str | None = None) -> str:
        """A number of the graph, not a weight of the model (a shape, a clip bound, the 0.5 of
        `y * 0.5`): a Constant node, as an exporter writes a Python number."""
        self.made += 1
        name = name or f"coreml::const_{self.made}"
        value = Tensor(name=name, dims=tuple(dims), data_type=ONNX_TYPES[dtype], raw=raw)
        self.nodes.append(Node("Constant", f"/Constant_{self.made}", [], [name], {"value": value}))
        return name

    def node(self, op: str, inputs: list, outputs: list, name: str, **attrs) -> str:
        self.nodes.append(Node(op, self.names(name), list(inputs), list(outputs), attrs))
        return outputs[0]

    def temp(self, base: str) -> str:
        """A name for a value between two nodes of one operator."""
        self.made += 1
        return f"{base}::{self.made}"

    def model(self, inputs: list, outputs: list) -> Model:
        """inputs, outputs: [(name, dims)]"""
        graph = Graph("coreml", self.nodes, self.inits, [ValueInfo(n, 1, list(d)) for n, d in inputs],
                      [ValueInfo(n, 1, list(d) if d else None) for n, d in outputs])
        return Model(8, {"": OPSET}, self.producer, graph)
