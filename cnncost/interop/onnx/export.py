"""Export an analysed graph as a standard ONNX model (opset 17).

Layout: ONNX is NCHW, so the model takes an H x W x C input as N x C x H x W and the
convolutional kinds' maps are NCHW inside; a value of any other rank, and every value of a
tensor kind (reshape, matmul, softmax over an axis, ...), is held as our per-example
shape with the batch in front ("plain"). Each kind says which it works in
(`Kind.onnx_layout`) and the builder inserts the Transpose between the two where a rank-3
value crosses from one to the other. The spec's layer paths are the node names and the
output tensor names. Weights are stored in ONNX's layouts (Conv: F x C/g x
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

    def __init__(self, model: "ModelBuilder", node: Node, inputs: list[str], weights: dict,
                 layout: str = "plain", batch: int = 1):
        self._m, self.node, self.inputs, self.w = model, node, inputs, weights
        self.layout, self.batch = layout, batch      # how this layer's rank-3 values are held
        self._count = 0

    def axis(self, axis: int, rank: int) -> int:
        """An axis of our per-example shape -> the axis of the ONNX tensor here."""
        axis %= rank
        return (2, 3, 1)[axis] if rank == 3 and self.layout == "nchw" else 1 + axis

    def per_example(self, ins: list[tuple]) -> list[str]:
        """The inputs, each of lower rank unsqueezed so that ONNX broadcasts them per
        example as NumPy broadcasts our shapes (trailing axes), never against the batch."""
        rank = max(len(s) for s in ins)
        out = []
        for x, s in zip(self.inputs, ins):
            if len(s) < rank:
                if self.layout == "nchw" and rank == 3:
                    if len(s) != 1:
                        raise ExportError(f"cannot broadcast a rank-{len(s)} value against an NCHW map")
                    x = self.op("Unsqueeze", [x, self.const([2, 3])])
                else:
                    x = self.op("Unsqueeze", [x, self.const(list(range(1, 1 + rank - len(s))))])
            out.append(x)
        return out

    def channels_first(self, x: str, d: int) -> str:
        """A map of d spatial axes held channels last (batch, T, C; batch, D, H, W, C: the
        plain layout of ranks other than 3) -> channels first (N, C, T; N, C, D, H, W), for
        the windowed ONNX operators; `channels_last` turns their result back."""
        return self.op("Transpose", [x], perm=[0, d + 1, *range(1, d + 1)])

    def channels_last(self, x: str, d: int) -> str:
        return self.op("Transpose", [x], perm=[0, *range(2, d + 2), 1])

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
        owner = self._m.initializers.get(self.node.shares.get(name, ""))
        if owner is not None and owner.shape == array.shape:    # a shared tensor: the file holds it once
            return self.node.shares[name]
        key = f"{self.node.name}/{name}"
        self._m.initializers[key] = array.astype(FLOAT, copy=False)
        return key

    def scalar(self, value: float) -> str:
        """A float constant as a Constant node: a number of the graph, no weight of it (an
        importer counts initializers as the file's parameters)."""
        out = self._fresh("scalar")
        self._m.nodes.append((out, "Constant", [], out, {"value_float": float(value)}))
        return out

    def tensor(self, array) -> str:
        """A float array as a Constant node (a buffer: no weight of the file)."""
        from onnx import numpy_helper

        out = self._fresh("tensor")
        self._m.nodes.append((out, "Constant", [], out, {"value": numpy_helper.from_array(array.astype(FLOAT))}))
        return out

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


def to_nchw(array, layout: str = "nchw"):
    """An executor value (batch first, NHWC) in the exported model's layout."""
    return array.transpose(0, 3, 1, 2) if array.ndim == 4 and layout == "nchw" else array


def to_nhwc(array, layout: str = "nchw"):
    """A file's value as ours: NCHW to NHWC; batch_second (a time-first sequence) batch first;
    full (the batch folded inside, one example) as one example of ours."""
    if layout == "batch_second":
        return array.swapaxes(0, 1)
    if layout == "full":                  # one example's tensor, its batch folded inside
        return array[None]
    return array.transpose(0, 2, 3, 1) if array.ndim == 4 and layout == "nchw" else array


def layouts(graph: Graph) -> list[str]:
    """How the export holds each node's output: "nchw" (a rank-3 value of a map kind or
    the input) or "plain" (batch + our shape). Element-wise kinds keep their first input's."""
    out = []
    for node in graph.nodes:
        if len(node.out_shape) != 3:
            out.append("plain")
        elif node.kind is None:
            out.append("nchw")
        else:
            want = node.kind.onnx_layout
            if want == "any":
                first = [out[i] for i, s in zip(node.inputs, node.in_shapes) if len(s) == 3]
                out.append(first[0] if first else "plain")
            else:
                out.append("nchw" if want == "map" else "plain")
    return out


def _layout_in(node: Node, held: list[str]) -> str:
    """The layout a layer's rank-3 inputs must arrive in."""
    want = node.kind.onnx_layout
    if want == "any":
        first = [held[i] for i, s in zip(node.inputs, node.in_shapes) if len(s) == 3]
        return first[0] if first else "plain"
    return "nchw" if want == "map" else "plain"


def fake_quant(b, x: str, q) -> str:
    """`x` as the integers of a quantized tensor hold it (core/precision.py's rule): ONNX's
    QuantizeLinear where it rounds the same (half to even), else the same steps in float ops
    (half away from zero, before or after the zero point)."""
    from cnncost.core.precision import INTEGER_RANGE

    scale, f32 = b.const(q.scale, "float32"), "float32"
    if q.rounding == "even" and q.dtype in ("int8", "uint8"):
        zp = b.const(q.zero_point, q.dtype)
        return b.op("DequantizeLinear", [b.op("QuantizeLinear", [x, scale, zp]), scale, zp])
    zp = b.const(float(q.zero_point), f32)
    v = b.op("Div", [x, scale])
    if q.rounding == "raw":
        v = b.op("Add", [v, zp])
    grid = b.const(4096.0, f32)
    v = b.op("Div", [b.op("Round", [b.op("Mul", [v, grid])]), grid])
    v = b.op("Mul", [b.op("Floor", [b.op("Add", [b.op("Abs", [v]), b.const(0.5, f32)])]), b.op("Sign", [v])])
    if q.rounding != "raw":
        v = b.op("Add", [v, zp])
    lo, hi = INTEGER_RANGE[q.dtype]
    v = b.op("Clip", [v, b.const(float(lo), f32), b.const(float(hi), f32)])
    return b.op("Mul", [b.op("Sub", [v, zp]), scale])


def build_model(graph: Graph, weights: dict, *, batch: int = 1, all_outputs: bool = False):
    """The ONNX ModelProto of `graph` with `weights` (executor layout, '<layer>/<name>').
    `all_outputs` also exposes every layer's output (for per-layer comparison)."""
    import numpy as np

    _onnx()
    from onnx import TensorProto, helper

    m = ModelBuilder()
    held = layouts(graph)
    names = {i: graph.nodes[i].name for i in graph.inputs}
    converted: dict = {}        # (node index, layout) -> the Transpose made for it once
    for node in graph.layers:
        if node.kind is None:
            continue
        prefix = node.name + "/"
        layout = _layout_in(node, held)
        b = LayerBuilder(m, node, [], {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)
                                       and "/" not in k[len(prefix):]}, layout, batch)
        for i, s in zip(node.inputs, node.in_shapes):
            name = names[i]
            q = graph.nodes[i].precision
            if graph.nodes[i].kind is None and q is not None and q.scale is not None:   # an integer input
                if (i, "q") not in converted:
                    converted[(i, "q")] = fake_quant(b, name, q)
                name = converted[(i, "q")]
            if len(s) == 3 and held[i] != layout:
                if (i, layout) not in converted:
                    converted[(i, layout)] = b.op("Transpose", [name],
                                                  perm=[0, 2, 3, 1] if layout == "plain" else [0, 3, 1, 2])
                name = converted[(i, layout)]
            b.inputs.append(name)
        try:
            out = node.kind.onnx(node.args, node.in_shapes, node.out_shape, b)
        except ExportError as exc:
            raise exc.with_context(loc=node.loc, layer=node.name, kind=node.label)
        q = node.precision
        if q is not None and q.scale is not None:             # a quantized output: as its integers hold it
            out = fake_quant(b, out, q)
        _name_output(m, b, out, node.name, set(converted.values()))
        names[node.index] = node.name
    f32 = TensorProto.FLOAT

    def info(n):
        shape = onnx_shape(n.out_shape, batch) if held[n.index] == "nchw" else [batch, *n.out_shape]
        return helper.make_tensor_value_info(n.name, f32, shape)

    inputs = [info(graph.nodes[i]) for i in graph.inputs]
    shown = graph.layers if all_outputs else graph.output_nodes
    outputs = [info(n) for n in shown]
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


def _name_output(m: ModelBuilder, b: LayerBuilder, out: str, layer: str, shared: set) -> None:
    """The node that produces the layer's output takes the layer path as its node name and
    output name; a layer that passed a tensor through (or returned a layout conversion
    that later layers share) gets an Identity of that name."""
    for k in range(len(m.nodes) - 1, -1, -1):
        name, op, ins, o, attrs = m.nodes[k]
        if o == out and name.startswith(layer + "/") and out not in shared:
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
