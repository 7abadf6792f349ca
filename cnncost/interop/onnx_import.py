"""Read an ONNX model as a cnncost spec (plus its weights in the layout `run --weights`
reads). A first set of operators: the convolutional classifiers' core. Anything else is
refused in one message that lists every unsupported operator with its count and first
node: never a silent zero.

Layouts: ONNX maps are NCHW, ours H x W x C. A Flatten of an NCHW map orders C, H, W while
ours orders H, W, C, so the rows of the dense layer that reads it are permuted on import
(the counts do not depend on it; `run` then reproduces onnxruntime). A Transpose to NHWC
followed by Flatten (what `cnncost export` writes) is our own flatten order already.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from cnncost.errors import SpecError
from cnncost.interop import require

SUPPORTED = ("Conv", "ConvTranspose", "BatchNormalization", "Relu", "Sigmoid", "Tanh", "LeakyRelu",
             "Elu", "HardSigmoid", "HardSwish", "Softplus", "Clip", "Softmax", "MaxPool", "AveragePool",
             "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Gemm", "Add", "Sum", "Mul", "Sub",
             "Concat", "Dropout", "Identity", "LRN", "Transpose")


@dataclass
class Imported:
    spec_text: str
    weights: dict = field(default_factory=dict)        # '<layer>/<name>' -> array, our layout
    input_shape: tuple = ()


class _Value:
    """A tensor of the ONNX graph as we know it: the layer that makes it, its rank in
    our terms (3: a map, 1: a vector), and, for a vector made by flattening an NCHW map,
    that map's (C, H, W) (the order its elements come in)."""

    def __init__(self, layer, shape, chw=None, nhwc=False):
        self.layer, self.shape, self.chw, self.nhwc = layer, tuple(shape), chw, nhwc


def import_onnx(path: str, *, with_weights: bool = True, input_shape=None) -> Imported:
    onnx = require("onnx")
    from onnx import numpy_helper

    try:
        model = onnx.load(path, load_external_data=with_weights)
    except Exception as exc:    # protobuf and onnx raise many types; say it in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpecError(f"{path}: not a readable ONNX model ({first[:200]})") from None
    graph = model.graph
    unsupported = Counter(n.op_type for n in graph.node if n.op_type not in SUPPORTED)
    if unsupported:
        first = {op: next(n.name or n.output[0] for n in graph.node if n.op_type == op) for op in unsupported}
        raise SpecError(f"{path}: unsupported ONNX operators: " + ", ".join(
            f"{op} x{count} (first: {first[op]!r})" for op, count in unsupported.most_common()))
    inits = {t.name: t for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise SpecError(f"{path}: expected one input, found {len(inputs)} ({', '.join(i.name for i in inputs)})")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
    if input_shape is not None:
        dims = list(input_shape)
    if not dims or any(d is None or d < 1 for d in dims[1:]):
        raise SpecError(f"{path}: input '{inputs[0].name}' has dynamic dimensions {dims}; "
                        "give them with `cnncost import MODEL --input-shape NxCxHxW`")
    per_example = (dims[2], dims[3], dims[1]) if len(dims) == 4 else tuple(dims[1:])

    def array(name):
        return numpy_helper.to_array(inits[name]) if with_weights else None

    def constant(name):     # a small attribute-like input (Clip bounds): always read
        return numpy_helper.to_array(inits[name])

    def attr(node, key, default=None):
        for a in node.attribute:
            if a.name == key:
                return onnx.helper.get_attribute_value(a)
        return default

    names: dict[str, _Value] = {inputs[0].name: _Value("input", per_example)}
    layers, weights, used = [], {}, set()

    def unique(node):
        base = re.sub(r"[^A-Za-z0-9_]+", "_", (node.name or node.output[0]).strip("/")).strip("_") or "layer"
        if base == "input" or base[0].isdigit():
            base = "l_" + base
        name, k = base[:180], 1
        while name in used:
            k += 1
            name = f"{base[:180]}_{k}"
        used.add(name)
        return name

    def emit(node, body, shape, weights_of=None, **extra):
        name = unique(node)
        srcs = [names[i].layer for i in node.input if i in names]
        layers.append({"name": name, **body, "inputs": srcs})
        for key, value in (weights_of or {}).items():
            if value is not None:
                weights[f"{name}/{key}"] = value
        names[node.output[0]] = _Value(name, shape, **extra)

    for node in graph.node:
        op = node.op_type
        data = [names.get(i) for i in node.input]
        x = data[0] if data else None
        if op in ("Conv", "ConvTranspose"):
            w = inits[node.input[1]]
            f, cg, kh, kw = (w.dims[1] * (attr(node, "group", 1) or 1), w.dims[0], w.dims[2], w.dims[3]) \
                if op == "ConvTranspose" else tuple(w.dims)
            groups = attr(node, "group", 1)
            pads = list(attr(node, "pads", [0, 0, 0, 0]))
            if attr(node, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise SpecError(f"{path}: node {node.name!r}: auto_pad is not supported; export with explicit pads")
            body = {"kind": "conv" if op == "Conv" else "conv_transpose", "filters": f, "kernel": [kh, kw],
                    "stride": list(attr(node, "strides", [1, 1])), "dilation": list(attr(node, "dilations", [1, 1])),
                    "padding": [pads[0], pads[2], pads[1], pads[3]], "groups": groups,
                    "bias": len(node.input) > 2 and bool(node.input[2])}
            kernel = array(node.input[1])
            if op == "ConvTranspose":
                body["output_padding"] = list(attr(node, "output_padding", [0, 0]))
            wk = {"kernel": kernel.transpose(2, 3, 1, 0) if kernel is not None else None}
            if body["bias"]:
                wk["bias"] = array(node.input[2])
            emit(node, body, _conv_shape(body, x.shape, op), wk)
        elif op == "BatchNormalization":
            wk = dict(zip(("gamma", "beta", "moving_mean", "moving_variance"), (array(i) for i in node.input[1:5])))
            emit(node, {"kind": "batch_norm", "eps": float(attr(node, "epsilon", 1e-5))}, x.shape, wk)
        elif op in ("Relu", "Sigmoid", "Tanh", "HardSwish", "Softplus"):
            fn = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hard_swish",
                  "Softplus": "softplus"}[op]
            emit(node, {"kind": fn}, x.shape)
        elif op == "LeakyRelu":
            emit(node, {"kind": "leaky_relu", "slope": float(attr(node, "alpha", 0.01))}, x.shape)
        elif op == "Elu":
            emit(node, {"kind": "elu", "alpha": float(attr(node, "alpha", 1.0))}, x.shape)
        elif op == "HardSigmoid":
            if abs(attr(node, "alpha", 0.2) - 1 / 6) > 1e-6 or abs(attr(node, "beta", 0.5) - 0.5) > 1e-6:
                raise SpecError(f"{path}: node {node.name!r}: HardSigmoid with alpha/beta other than 1/6, 1/2")
            emit(node, {"kind": "hard_sigmoid"}, x.shape)
        elif op == "Clip":
            lo = float(constant(node.input[1])) if len(node.input) > 1 and node.input[1] else float("-inf")
            hi = float(constant(node.input[2])) if len(node.input) > 2 and node.input[2] else float("inf")
            fn = {(0.0, 6.0): "relu6", (0.0, float("inf")): "relu", (-1.0, 1.0): "hard_tanh"}.get((lo, hi))
            if fn is None:
                raise SpecError(f"{path}: node {node.name!r}: Clip({lo}, {hi}) has no cnncost kind")
            emit(node, {"kind": fn}, x.shape)
        elif op == "Softmax":
            axis = attr(node, "axis", -1)
            if axis not in ((1, -1) if len(x.shape) == 1 else (1,)):
                raise SpecError(f"{path}: node {node.name!r}: softmax over axis {axis} (cnncost: channels)")
            emit(node, {"kind": "softmax"}, x.shape)
        elif op in ("MaxPool", "AveragePool"):
            pads = list(attr(node, "pads", [0, 0, 0, 0]))
            body = {"kind": "max_pool" if op == "MaxPool" else "avg_pool",
                    "kernel": list(attr(node, "kernel_shape")), "stride": list(attr(node, "strides", [1, 1])),
                    "padding": [pads[0], pads[2], pads[1], pads[3]], "ceil_mode": bool(attr(node, "ceil_mode", 0))}
            if op == "AveragePool":
                body["count_include_pad"] = bool(attr(node, "count_include_pad", 0))
            emit(node, body, _pool_shape(body, x.shape))
        elif op in ("GlobalAveragePool", "GlobalMaxPool"):
            emit(node, {"kind": "global_avg_pool" if op == "GlobalAveragePool" else "global_max_pool",
                        "keepdims": True}, (1, 1, x.shape[2]))
        elif op == "Transpose":
            if list(attr(node, "perm", [])) != [0, 2, 3, 1] or len(x.shape) != 3:
                raise SpecError(f"{path}: node {node.name!r}: only the NHWC transpose before a Flatten is supported")
            names[node.output[0]] = _Value(x.layer, x.shape, nhwc=True)
        elif op == "Flatten":
            if attr(node, "axis", 1) != 1:
                raise SpecError(f"{path}: node {node.name!r}: Flatten axis must be 1")
            if len(x.shape) == 1:
                names[node.output[0]] = x
                continue
            h, w, c = x.shape
            chw = None if x.nhwc or h * w == 1 else (c, h, w)
            emit(node, {"kind": "flatten"}, (h * w * c,), chw=chw)
        elif op == "Gemm":
            if attr(node, "transA", 0) or attr(node, "alpha", 1.0) != 1.0 or attr(node, "beta", 1.0) != 1.0:
                raise SpecError(f"{path}: node {node.name!r}: Gemm with transA, alpha or beta is not supported")
            b = inits[node.input[1]]
            units = b.dims[0] if attr(node, "transB", 0) else b.dims[1]
            kernel = array(node.input[1])
            if kernel is not None:
                kernel = kernel.T if attr(node, "transB", 0) else kernel
                if x.chw is not None:          # rows in C, H, W order -> ours, H, W, C
                    c, h, w = x.chw
                    kernel = kernel.reshape(c, h, w, units).transpose(1, 2, 0, 3).reshape(-1, units)
            bias = len(node.input) > 2 and bool(node.input[2])
            emit(node, {"kind": "dense", "units": units, "bias": bias}, (units,),
                 {"kernel": kernel, **({"bias": array(node.input[2])} if bias else {})})
        elif op in ("Add", "Sum", "Mul", "Sub"):
            if any(i not in names for i in node.input):
                raise SpecError(f"{path}: node {node.name!r}: {op} with a constant operand is not supported yet")
            kind = {"Add": "add", "Sum": "add", "Mul": "multiply", "Sub": "subtract"}[op]
            shapes = [names[i].shape for i in node.input]
            shape = shapes[0] if op in ("Add", "Sum") else max(shapes, key=len)   # Mul, Sub broadcast
            emit(node, {"kind": kind}, shape)
        elif op == "Concat":
            if attr(node, "axis") != 1:
                raise SpecError(f"{path}: node {node.name!r}: Concat on axis {attr(node, 'axis')} (cnncost: channels)")
            shapes = [names[i].shape for i in node.input]
            emit(node, {"kind": "concat"}, shapes[0][:-1] + (sum(s[-1] for s in shapes),))
        elif op in ("Dropout", "Identity"):
            emit(node, {"kind": "dropout" if op == "Dropout" else "linear"}, x.shape)
        elif op == "LRN":
            emit(node, {"kind": "lrn", "size": attr(node, "size"), "alpha": float(attr(node, "alpha", 1e-4)),
                        "beta": float(attr(node, "beta", 0.75)), "k": float(attr(node, "bias", 1.0))}, x.shape)
    out = names.get(graph.output[0].name)
    if out is None or not layers:
        raise SpecError(f"{path}: the graph's output is not produced by any supported layer")
    if layers[-1]["name"] != out.layer:
        layers.append({"name": "output", "kind": "linear", "inputs": [out.layer]})
    return Imported(_spec_text(path, graph.name, per_example, layers), weights, per_example)


def _conv_shape(body, shape, op):
    from cnncost.layers import geometry

    h, w, _ = shape
    t, b, l, r = body["padding"]
    (kh, kw), (sh, sw), (dh, dw) = body["kernel"], body["stride"], body["dilation"]
    if op == "ConvTranspose":
        oph, opw = body["output_padding"]
        return ((h - 1) * sh - t - b + dh * (kh - 1) + oph + 1, (w - 1) * sw - l - r + dw * (kw - 1) + opw + 1,
                body["filters"])
    return (geometry.window_out(h, kh, sh, dh, t, b, False, "height"),
            geometry.window_out(w, kw, sw, dw, l, r, False, "width"), body["filters"])


def _pool_shape(body, shape):
    from cnncost.layers import geometry

    h, w, c = shape
    t, b, l, r = body["padding"]
    (kh, kw), (sh, sw) = body["kernel"], body["stride"]
    return (geometry.window_out(h, kh, sh, 1, t, b, body["ceil_mode"], "height"),
            geometry.window_out(w, kw, sw, 1, l, r, body["ceil_mode"], "width"), c)


def _spec_text(path, graph_name, input_shape, layers) -> str:
    import json

    name = re.sub(r"[^A-Za-z0-9_]+", "_", graph_name or "imported").strip("_") or "imported"
    lines = [f"# imported from {path} by cnncost import", f"name: {name}",
             f"source: {json.dumps('ONNX model ' + str(path))}", f"input: {list(input_shape)}", "layers:"]
    for layer in layers:
        lines.append("  - {" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in layer.items()) + "}")
    return "\n".join(lines) + "\n"
