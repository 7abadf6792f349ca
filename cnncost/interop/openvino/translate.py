"""An OpenVINO IR's graph written as the ONNX graph it is equivalent to, for the ONNX
reader (interop/onnx/reader.import_model) to map onto cnncost's kinds: OpenVINO's opset is
close to ONNX's (NCHW maps, OIHW kernels), so a handler per layer type (ops.py,
plumbing.py; the table OPS) writes the ONNX node or nodes of the same computation, and the
layouts, folding, fused patterns and weights are the ONNX reader's, not written twice.

Where the converter split what ONNX holds as one node, the split is joined back here: a
convolution's bias is its own Add of a [1, C, 1, 1] constant (joined to the Conv, so the
spec is the ONNX export's), and a weight kept as float16 or int8 is Const -> Convert
[-> Subtract zero point] -> Multiply scale, which becomes a DequantizeLinear of the stored
tensor, so its stored dtype is what its bytes are counted in. Anything else of constants
(the shape arithmetic of ShapeOf) is folded by the ONNX reader.

Layers of a type not in OPS, and layers a handler refuses, are gathered into one message
with their counts; a damaged graph (an edge to nothing, a cycle) is refused in one line."""
from __future__ import annotations

import math
import re
import struct

from cnncost.errors import ModelFileError
from cnncost.interop.handlers import Handlers
from cnncost.interop.onnx.proto import Graph, Model, Node, Tensor, ValueInfo
from cnncost.interop.openvino.ir import Layer, Net
from cnncost.interop.openvino.weights import ELEMENTS, BinFile
from cnncost.interop.refusals import Refused, Tally

OPSET = 17
OPS = Handlers("OpenVINO")          # layer type -> handler(translator, layer)
CONTROL_FLOW = ("TensorIterator", "Loop", "If")
WHY = {**{t: "control flow (a sub-graph run a data-dependent number of times)" for t in CONTROL_FLOW},
       **{t: "post-processing that depends on the data" for t in ("TopK", "NonMaxSuppression", "NonZero",
                                                                   "ExperimentalDetectronDetectionOutput",
                                                                   "DetectionOutput", "Proposal")}}
MAX_ATTR = 2 ** 31 - 1             # an attribute's integer (an axis, a stride, a pad)
SMALL = 1 << 16                     # a constant read while translating (an axis, a permutation)
CONV_LIKE = ("Convolution", "GroupConvolution", "ConvolutionBackpropData", "GroupConvolutionBackpropData")


def _name(text: str) -> str:
    """A layer's name without what the converter appends to a node it split."""
    return re.sub(r"(/WithoutBiases|/fq_weights_\d+|_compressed)$", "", text)


def _node_name(name: str, op: str) -> str:
    """A module path's last part ('/features.1/avgpool/GlobalAveragePool', the source
    framework's op) named after the ONNX op written for it, so that the ONNX reader's
    naming (a node's module path) reads it: features.1.avgpool."""
    parts = name.split("/")
    if len(parts) > 2 and not parts[0] and re.fullmatch(r"[A-Z][A-Za-z0-9]*(_\d+)?", parts[-1]):
        suffix = re.search(r"(_\d+)?$", parts[-1]).group(0)
        return "/".join(parts[:-1] + [op + suffix])
    return name


class Downstream(Refused):
    """Reads what a refused layer makes: not counted as a refusal of its own."""


class Translator:
    def __init__(self, net: Net, bin_file: BinFile, path: str):
        self.net, self.bin, self.path = net, bin_file, path
        self.by_id = {layer.id: layer for layer in net.layers}
        self.graph = Graph(name=net.name)
        self.names: dict[tuple, str] = {}         # (layer id, output port id) -> ONNX value
        self.taken: set[str] = set()
        self.done: set[int] = set()               # layers a pattern wrote with an earlier one
        self.refused = Tally()
        self.dead: set[int] = set()               # layers refused, or reading one
        self.readers: dict[tuple, list] = {}      # (layer id, output port) -> [(layer, input index)]
        self._check_edges()

    # ---- the graph ------------------------------------------------------------------
    def _check_edges(self) -> None:
        for (to, port), (frm, out) in self.net.edges.items():
            if to not in self.by_id or frm not in self.by_id:
                raise ModelFileError(f"{self.path}: an edge from layer {frm} to layer {to}, one of which does not "
                                     "exist")
            if self.by_id[frm].output(out) is None:
                raise ModelFileError(f"{self.path}: an edge leaves port {out} of layer {frm} "
                                     f"('{self.by_id[frm].name}'), which has no such output port")
            target = self.by_id[to]
            index = next((i for i, p in enumerate(target.inputs) if p.id == port), None)
            if index is None:
                raise ModelFileError(f"{self.path}: an edge enters port {port} of layer {to} ('{target.name}'), "
                                     "which has no such input port")
            self.readers.setdefault((frm, out), []).append((target, index))
        for layer in self.net.layers:
            for p in layer.inputs:
                if (layer.id, p.id) not in self.net.edges:
                    raise ModelFileError(f"{self.path}: input port {p.id} of layer {layer.id} ('{layer.name}', "
                                         f"{layer.type}) is connected to nothing")

    def _order(self) -> list[Layer]:
        """The layers in an order where each comes after what it reads (the file's, where it can)."""
        import heapq

        at = {layer.id: k for k, layer in enumerate(self.net.layers)}
        waiting = {layer.id: len(layer.inputs) for layer in self.net.layers}
        ready = [(at[layer.id], layer.id) for layer in self.net.layers if not layer.inputs]
        heapq.heapify(ready)
        out = []
        while ready:
            layer = self.by_id[heapq.heappop(ready)[1]]
            out.append(layer)
            for port in layer.outputs:
                for reader, _ in self.readers.get((layer.id, port.id), []):
                    waiting[reader.id] -= 1
                    if not waiting[reader.id]:
                        heapq.heappush(ready, (at[reader.id], reader.id))
        if len(out) != len(self.net.layers):
            stuck = next(layer for layer in self.net.layers if waiting[layer.id] > 0)
            raise ModelFileError(f"{self.path}: the graph has a cycle (layer {stuck.id}, '{stuck.name}', waits on "
                                 "itself)")
        return out

    def run(self) -> Model:
        for layer in self._order():
            if layer.id in self.done:
                continue
            try:
                self._layer(layer)
            except Downstream:
                self.dead.add(layer.id)
            except Refused as exc:
                self.dead.add(layer.id)
                self.refused.add(layer.type, layer.id, layer.name, str(exc))
        if self.refused:
            listed = "; ".join(f"{t} x{n} (first: layer {first[0]} '{first[1]}': {first[2]})"
                               for t, n, first in self.refused.listed())
            raise ModelFileError(f"{self.path}: {self.refused.total()} layer(s) not read: {listed}")
        if not self.graph.inputs:
            raise ModelFileError(f"{self.path}: the model has no input (no Parameter layer)")
        if not self.graph.outputs:
            raise ModelFileError(f"{self.path}: the model has no output (no Result layer)")
        return Model(ir_version=8, opsets={"": OPSET}, producer=f"OpenVINO IR v{self.net.version}",
                     graph=self.graph)

    def _layer(self, layer: Layer) -> None:
        if layer.has_body or layer.type in CONTROL_FLOW:
            raise Refused(WHY.get(layer.type, "a layer holding a sub-graph (control flow)"))
        handler = OPS.get(layer.type)
        if handler is None:
            raise Refused(WHY.get(layer.type, "no mapping onto cnncost's kinds"))
        handler(self, layer)

    # ---- for handlers: values, constants, nodes -----------------------------------------
    def source(self, layer: Layer, i: int) -> tuple[Layer, int]:
        """The layer and output port that input i of `layer` reads."""
        if i >= len(layer.inputs):
            raise Refused(f"it has {len(layer.inputs)} input(s), input {i} is needed")
        frm, port = self.net.edges[(layer.id, layer.inputs[i].id)]
        return self.by_id[frm], port

    def src(self, layer: Layer, i: int) -> str:
        """The ONNX value that input i of `layer` reads."""
        frm, port = self.source(layer, i)
        if frm.id in self.dead:
            raise Downstream()
        if (frm.id, port) not in self.names:
            if frm.type == "Const":
                self.const(frm)
            elif frm.type == "Convert" and frm.id not in self.done and self.is_constant(layer, i):
                self.done.add(frm.id)          # a decompressed constant, written where it is first read
                self._layer(frm)
            else:
                raise Refused(f"input {i} reads layer {frm.id} ('{frm.name}'), which was not read")
        return self.names[(frm.id, port)]

    def out(self, layer: Layer, i: int = 0) -> str:
        """The ONNX value for output i of `layer` (named once)."""
        if i >= len(layer.outputs):
            raise ModelFileError(f"{self.path}: layer {layer.id} ('{layer.name}', {layer.type}) has "
                                 f"{len(layer.outputs)} output(s), output {i} is needed")
        key = (layer.id, layer.outputs[i].id)
        if key not in self.names:
            self.names[key] = self.unique(f"{layer.name or layer.type}:{i}" if layer.type != "Parameter"
                                          else layer.name or "input")
        return self.names[key]

    def unique(self, base: str) -> str:
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}#{n}"
        self.taken.add(name)
        return name

    def dims(self, layer: Layer, i: int, output: bool = False) -> tuple:
        ports = layer.outputs if output else layer.inputs
        if i >= len(ports):
            raise Refused(f"it has {len(ports)} {'output' if output else 'input'}(s), {i + 1} needed")
        return ports[i].dims

    def readers_of(self, layer: Layer, i: int = 0) -> list:
        """[(layer, input index)] reading output i of `layer`."""
        return self.readers.get((layer.id, layer.outputs[i].id), []) if i < len(layer.outputs) else []

    def sole_reader(self, layer: Layer, type_: str):
        """The one layer reading `layer`'s output, when it is of `type_` (not a Result)."""
        users = self.readers_of(layer)
        return users[0] if len(users) == 1 and users[0][0].type == type_ else None

    def node(self, op: str, inputs: list, outputs: list, name: str, **attrs) -> None:
        self.graph.nodes.append(Node(op, _node_name(_name(name), op), list(inputs), list(outputs), attrs))

    def node_out(self, op: str, inputs: list, name: str, **attrs) -> str:
        """A node of one new output (a step of the layer `name`): that output's value."""
        value = self.unique(f"{name}/{op}")
        self.node(op, inputs, [value], name, **attrs)
        return value

    def const(self, layer: Layer) -> str:
        """A Const layer as an ONNX initializer viewing the .bin (once)."""
        key = (layer.id, layer.outputs[0].id if layer.outputs else 0)
        if key not in self.names:
            if len(layer.outputs) != 1:
                raise ModelFileError(f"{self.path}: Const layer {layer.id} ('{layer.name}') has "
                                     f"{len(layer.outputs)} outputs")
            name = self.unique(_name(layer.name) or f"const{layer.id}")
            tensor = self.bin.tensor(name, layer.attrs, layer.outputs[0].dims, f"layer {layer.id} ('{layer.name}')")
            self.graph.initializers[name] = tensor
            self.names[key] = name
        return self.names[key]

    def new_const(self, base: str, values, dtype: str = "i64", dims: tuple | None = None) -> str:
        """An initializer of our own (a target shape, a unit scale)."""
        values = list(values)
        code, size = ELEMENTS[dtype]
        fmt = {"i64": "q", "f32": "f", "u8": "B", "i8": "b"}[dtype]
        raw = memoryview(struct.pack(f"<{len(values)}{fmt}", *values))
        name = self.unique(base)
        self.graph.initializers[name] = Tensor(name=name, dims=(len(values),) if dims is None else dims,
                                               data_type=code, raw=raw)
        return name

    def constant(self, layer: Layer, i: int, what: str):
        """Input i as a numpy array when it is a small constant (a Const, or a Convert of
        one): an axis, a permutation, a clamp's bound; refused otherwise."""
        frm, _ = self.source(layer, i)
        while frm.type == "Convert" and frm.inputs:
            frm, _ = self.source(frm, 0)
        if frm.type != "Const":
            raise Refused(f"its {what} is computed, not a constant")
        dims = frm.outputs[0].dims if frm.outputs else ()
        if any(d is None for d in dims) or math.prod(dims) > SMALL:
            raise Refused(f"its {what} has {list(dims)} values")
        self.const(frm)
        return self.graph.initializers[self.names[(frm.id, frm.outputs[0].id)]].value()

    def is_constant(self, layer: Layer, i: int, depth: int = 0) -> bool:
        """Whether input i is computed from constants alone (a Const, a Convert or arithmetic of
        them: a decompressed weight)."""
        frm, _ = self.source(layer, i)
        if frm.type == "Const":
            return True
        if depth > 8 or frm.type not in ("Convert", "Multiply", "Subtract", "Add", "Reshape", "Unsqueeze"):
            return False
        return all(self.is_constant(frm, k, depth + 1) for k in range(len(frm.inputs)))

    def attr(self, layer: Layer, key: str, default: str | None = None) -> str:
        value = layer.attrs.get(key, default)
        if value is None:
            raise ModelFileError(f"{self.path}: layer {layer.id} ('{layer.name}', {layer.type}) has no `{key}`")
        return value

    def ints(self, layer: Layer, key: str, default: str | None = None) -> list[int]:
        """An attribute of comma-separated integers ('1, 1'), or one integer."""
        text = self.attr(layer, key, default)
        try:
            values = [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            values = None
        if values is None or any(abs(v) > MAX_ATTR for v in values):
            raise ModelFileError(f"{self.path}: layer {layer.id} ('{layer.name}', {layer.type}): `{key}` is "
                                 f"{text[:40]!r}, not integers of at most {MAX_ATTR:,}")
        return values

    def number(self, layer: Layer, key: str, default: str | None = None) -> float:
        text = self.attr(layer, key, default)
        try:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
        except ValueError:
            raise ModelFileError(f"{self.path}: layer {layer.id} ('{layer.name}', {layer.type}): `{key}` is "
                                 f"{text[:40]!r}, not a number") from None
