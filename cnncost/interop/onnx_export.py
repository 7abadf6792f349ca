"""Export an analysed graph as a standard ONNX model (opset 17).

Layout: ONNX is NCHW, so the model takes the input as N x C x H x W (a rank-1 spec input
stays N x F) and every feature map inside is NCHW; the spec's layer paths are the node
names and the output tensor names. Weights are stored in ONNX's layouts (Conv: F x C/g x
kh x kw; Gemm: in x out). `flatten` keeps our H, W, C order by transposing to NHWC first,
so a dense layer after it uses the same weights as in the executor.

Every kind writes its own nodes through `LayerBuilder` (its `onnx` method, next to its
shape rule and forward); this module only assembles the model and knows no kind.
"""
from __future__ import annotations

from cnncost.errors import ExportError
from cnncost.core.graph import Graph, Node

OPSET = 17
FLOAT = "float32"


class LayerBuilder:
    """What a kind's `onnx(a, ins, out, b)` sees: its inputs' tensor names, its weights in
    our layout, and `op` / `weight` / `const` to add nodes and initializers."""

    def __init__(self, model: "ModelBuilder", node: Node, inputs: list[str], weights: dict):
        self._m, self.node, self.inputs, self.w = model, node, inputs, weights
        self._count = 0

    def _fresh(self, what: str) -> str:
        self._count += 1
        return f"{self.node.name}/{what}_{self._count}"

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        """Add a node; return its (single) output tensor's name."""
        out = self._fresh(op_type.lower())
        self._m.nodes.append((out, op_type, list(inputs), out, attrs))
        return out

    def weight(self, name: str, array) -> str:
        """An initializer '<layer>/<name>' holding `array` (already in ONNX layout)."""
        key = f"{self.node.name}/{name}"
        self._m.initializers[key] = array.astype(FLOAT, copy=False)
        return key

    def const(self, values, dtype: str = "int64") -> str:
        import numpy as np

        key = self._fresh("const")
        self._m.initializers[key] = np.asarray(values, dtype=dtype)
        return key


class ModelBuilder:
    def __init__(self):
        self.nodes: list[tuple] = []           # (node name, op, inputs, output, attrs)
        self.initializers: dict = {}


def onnx_shape(shape, batch: int) -> list[int]:
    """Our per-example shape (H, W, C) or (F,) -> the ONNX tensor shape with batch."""
    if len(shape) == 3:
        h, w, c = shape
        return [batch, c, h, w]
    return [batch, *shape]


def to_nchw(array):
    """An executor value (batch first, NHWC) in the exported model's layout."""
    return array.transpose(0, 3, 1, 2) if array.ndim == 4 else array


def to_nhwc(array):
    return array.transpose(0, 2, 3, 1) if array.ndim == 4 else array


def build_model(graph: Graph, weights: dict, *, batch: int = 1, all_outputs: bool = False):
    """The ONNX ModelProto of `graph` with `weights` (executor layout, '<layer>/<name>').
    `all_outputs` also exposes every layer's output (for per-layer comparison)."""
    import numpy as np

    _onnx()
    from onnx import TensorProto, helper

    m = ModelBuilder()
    names = {0: "input"}
    for node in graph.layers:
        prefix = node.name + "/"
        b = LayerBuilder(m, node, [names[i] for i in node.inputs],
                         {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)
                          and "/" not in k[len(prefix):]})
        try:
            out = node.kind.onnx(node.args, node.in_shapes, node.out_shape, b)
        except ExportError as exc:
            raise exc.with_context(loc=node.loc, layer=node.name, kind=node.label)
        _name_output(m, b, out, node.name)
        names[node.index] = node.name
    f32 = TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info("input", f32, onnx_shape(graph.nodes[0].out_shape, batch))]
    shown = graph.layers if all_outputs else [graph.output]
    outputs = [helper.make_tensor_value_info(n.name, f32, onnx_shape(n.out_shape, batch)) for n in shown]
    nodes = [helper.make_node(op, ins, [out], name=name, **attrs) for name, op, ins, out, attrs in m.nodes]
    g = helper.make_graph(nodes, graph.name or "cnncost", inputs, outputs)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="cnncost", producer_version=_version())
    model.ir_version = min(model.ir_version, 8)     # opset 17 readers accept IR 8
    # initializers go straight into the model: make_graph / make_model copy what they are given
    for key, array in m.initializers.items():
        t = model.graph.initializer.add()
        t.name, t.data_type = key, helper.np_dtype_to_tensor_dtype(array.dtype)
        t.dims.extend(array.shape)
        t.raw_data = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
    helper.set_model_props(model, {"cnncost.layout": "NCHW input and feature maps; flatten in H, W, C order",
                                   "cnncost.batch": str(batch)})
    return model


def _name_output(m: ModelBuilder, b: LayerBuilder, out: str, layer: str) -> None:
    """The node that produces the layer's output takes the layer path as its node name and
    output name; a layer that passed a tensor through gets an Identity of that name."""
    for k in range(len(m.nodes) - 1, -1, -1):
        name, op, ins, o, attrs = m.nodes[k]
        if o == out and name.startswith(layer + "/"):
            m.nodes[k] = (layer, op, ins, layer, attrs)
            for j in range(k + 1, len(m.nodes)):    # later nodes of this layer reading it
                n2, op2, ins2, o2, at2 = m.nodes[j]
                m.nodes[j] = (n2, op2, [layer if i == out else i for i in ins2], o2, at2)
            return
    m.nodes.append((layer, "Identity", [out], layer, {}))


def export(graph: Graph, weights: dict, path: str, *, batch: int = 1) -> dict:
    """Write the model to `path`, checked by onnx.checker (full check); return facts."""
    import time

    from cnncost.files import write_output

    t0 = time.perf_counter()
    model = build_model(graph, weights, batch=batch)
    data = _serialize(model)
    check(model)
    write_output(path, data)
    return {"path": path, "bytes": len(data), "nodes": len(model.graph.node), "opset": OPSET,
            "initializers": len(model.graph.initializer), "seconds": time.perf_counter() - t0}


def check(model) -> None:
    onnx = _onnx()
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"the exported model fails onnx.checker: {first}") from None


PROTOBUF_LIMIT = 2**31 - 1


def _serialize(model) -> bytes:
    size = sum(t.ByteSize() for t in model.graph.initializer)
    if size >= PROTOBUF_LIMIT - (1 << 20):
        raise ExportError(f"the weights take {size / 1e9:.2f} GB, more than one ONNX file can hold "
                          "(2 GB protobuf limit)")
    return model.SerializeToString()


def _onnx():
    from cnncost.interop import require
    return require("onnx")


def _version() -> str:
    from cnncost import __version__
    return __version__
