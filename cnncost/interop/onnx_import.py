"""Read an ONNX model as a cnncost spec, plus its weights in the layout `run --weights`
reads. Every node maps onto a kind, folds to a constant (shape arithmetic), or is
refused: all refusals are gathered into one message that lists each operator with its
count and first node. Never a silent zero.

Layouts: ONNX maps are NCHW, ours H x W x C. Each tensor remembers how ONNX holds it
(`_T.layout`): an NCHW map, a channels-last map (after Transpose 0,2,3,1), a vector, or
the 5-D and 3-D views of a channel shuffle and a group norm, so that a Reshape or
Transpose is read as the operation it spells. A Flatten of an NCHW map orders C, H, W
while ours orders H, W, C: the rows of the dense layer that reads it are permuted on
import (counts do not depend on it; `run` then reproduces onnxruntime).
"""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field

from cnncost.errors import SpecError
from cnncost.interop import onnx_fold, onnx_patterns
from cnncost.interop.onnx_proto import Node, read_model

OPSETS = range(7, 22)          # the ai.onnx versions whose operators are read here
CONTROL_FLOW = ("If", "Loop", "Scan")


@dataclass
class Imported:
    document: dict                                     # name, source, input, layers: the spec
    weights: dict = field(default_factory=dict)        # '<layer>/<name>' -> array, our layout
    input_shape: tuple = ()
    notes: tuple = ()

    @property
    def spec_text(self) -> str:
        """The spec as YAML, one layer per line: layer i stands on line FIRST_LAYER_LINE + i."""
        d = self.document
        lines = ["# imported by cnncost import", f"name: {d['name']}", f"source: {json.dumps(d['source'])}",
                 f"input: {list(d['input'])}", "layers:"]
        for layer in d["layers"]:
            lines.append("  - {" + ", ".join(f"{k}: {_yaml(v)}" for k, v in layer.items()) + "}")
        return "\n".join(lines) + "\n"


_YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def _yaml(value) -> str:
    """A flow-style YAML value: names bare, everything else as JSON (which YAML reads)."""
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) \
            and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value)


FIRST_LAYER_LINE = 6


@dataclass
class _T:
    """A tensor a layer makes. shape: ours, (H, W, C) or (C,). layout: how ONNX holds it:
    nchw | nhwc | vec | grouped (N, g, C/g, H, W) | shuffled (N, C/g, g, H, W) |
    gn (N, G, CHW/G) | gnorm (the same, normalised) | unshuffle6 / unshuffle_t (pixel
    unshuffle's 6-D views). chw: a vector flattened from an NCHW map: that map's (C, H, W)."""
    layer: str
    shape: tuple
    layout: str = "nchw"
    chw: tuple | None = None
    extra: dict = field(default_factory=dict)


class _C:
    """A constant: an initializer (decoded only when its values are needed) or a folded value."""

    def __init__(self, array=None, tensor=None, source=None):
        self._array, self.tensor, self.source = array, tensor, source

    @property
    def dims(self):
        return tuple(self.tensor.dims) if self._array is None else tuple(self._array.shape)

    @property
    def value(self):
        if self._array is None:
            self._array = self.tensor.value()
        return self._array


class _Refused(Exception):
    pass


_UNKNOWN = object()      # the output of a refused node: its consumers are not reported again


def parse_input_shape(text: str) -> tuple:
    """'1x3x224x224' -> (1, 3, 224, 224); one clear error otherwise."""
    try:
        dims = tuple(int(d) for d in text.lower().replace("*", "x").split("x"))
    except ValueError:
        dims = ()
    if len(dims) not in (2, 4) or min(dims) < 1 or max(dims) > 2 ** 31 - 1:
        raise SpecError(f"bad --input-shape '{text}': expected NxCxHxW (or NxC) of positive sizes, "
                        "e.g. 1x3x224x224")
    return dims


def import_onnx(path: str, *, with_weights: bool = True, input_shape=None) -> Imported:
    model = read_model(path)
    return _Importer(path, model, with_weights, input_shape).run()


class _Importer:
    def __init__(self, path, model, with_weights, input_shape):
        self.path, self.model, self.with_weights = path, model, with_weights
        self.graph = model.graph
        self.values: dict[str, object] = {}
        self.layers: list[dict] = []
        self.by_name: dict[str, dict] = {}
        self.weights: dict = {}
        self.sources: dict[str, set] = {}         # initializer -> layers whose weight it is
        self.used: set[str] = set()
        self.refusals: list[tuple[str, str, str]] = []
        self.input_shape = input_shape

    # ---- the whole graph --------------------------------------------------------------
    def run(self) -> Imported:
        self._check_model()
        g = self.graph
        for name, t in g.initializers.items():
            self.values[name] = _C(tensor=t, source=name)
        self._read_input()
        self._identity = {n.outputs[0]: n.inputs[0] for n in g.nodes if n.op == "Identity" and n.inputs}
        nodes = onnx_patterns.fuse(g.nodes, [o.name for o in g.outputs], self._constant_value)
        self.consumers = Counter(i for n in nodes for i in n.inputs if i)
        self.consumers.update(o.name for o in g.outputs)
        for node in nodes:
            self._node(node)
        if self.refusals:
            self._refuse_all()
        return self._result()

    def _check_model(self):
        m, path = self.model, self.path
        version = m.opsets.get("", 0)
        if version not in OPSETS:
            raise SpecError(f"{path}: ONNX opset {version} is not one cnncost reads "
                            f"(opsets {OPSETS.start} to {OPSETS.stop - 1}); convert the model with "
                            "onnx.version_converter")
        flow = Counter(n.op for n in self.graph.nodes if n.op in CONTROL_FLOW)
        if flow:
            raise SpecError(f"{path}: control flow ({', '.join(f'{op} x{c}' for op, c in flow.items())}) "
                            "cannot be counted without running the model; export it without data-dependent "
                            "branches or loops")
        missing = Counter(n.op if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op}"
                          for n in self.graph.nodes if not self._known(n))
        if missing:
            first = {}
            for n in self.graph.nodes:
                key = n.op if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op}"
                first.setdefault(key, n.name or n.outputs[0])
            raise SpecError(f"{path}: unsupported ONNX operators: " + ", ".join(
                f"{op} x{count} (first: {first[op]!r})" for op, count in missing.most_common()))
        if len(self.graph.outputs) != 1:
            raise SpecError(f"{path}: the model has {len(self.graph.outputs)} outputs "
                            f"({', '.join(o.name for o in self.graph.outputs)}); cnncost reads models of one output")

    def _known(self, n) -> bool:
        return n.domain in ("", "ai.onnx") and (hasattr(self, "op_" + n.op) or n.op in onnx_fold.FOLDABLE)

    def _read_input(self):
        g, path = self.graph, self.path
        inputs = [i for i in g.inputs if i.name not in g.initializers]
        if len(inputs) != 1:
            unknown = [i.name for i in inputs if i.dims is None or any(not isinstance(d, int) for d in i.dims)]
            detail = f"; {len(unknown)} of unknown shape" if unknown else ""
            raise SpecError(f"{path}: the model has {len(inputs)} inputs ({', '.join(i.name for i in inputs)})"
                            f"{detail}; cnncost reads models of one input")
        x = inputs[0]
        dims = list(self.input_shape) if self.input_shape is not None else x.dims
        if dims is None or len(dims) not in (2, 4):
            raise SpecError(f"{path}: input '{x.name}' has shape {dims}; cnncost reads an NCHW image "
                            "(rank 4) or a vector (rank 2)")
        if any(not isinstance(d, int) or d < 1 for d in dims):
            shown = ", ".join(str(d if d is not None else "?") for d in dims)
            raise SpecError(f"{path}: input '{x.name}' has dynamic dimensions [{shown}]; fix them with "
                            "--input-shape, e.g. --input-shape 1x3x224x224")
        if self.input_shape is not None and x.dims and len(x.dims) != len(dims):
            raise SpecError(f"{path}: --input-shape has {len(dims)} dimensions, input '{x.name}' {len(x.dims)}")
        self.batch = dims[0]
        self.per_example = (dims[2], dims[3], dims[1]) if len(dims) == 4 else (dims[1],)
        self.values[x.name] = _T("input", self.per_example, "nchw" if len(dims) == 4 else "vec")

    def _constant_value(self, name):
        """For pattern matching: a constant's array (initializers, also through Identity
        nodes, and Constant nodes)."""
        for _ in range(64):
            if name not in self._identity:
                break
            name = self._identity[name]
        v = self.values.get(name)
        if isinstance(v, _C):
            return v.value if v.tensor is None or v.tensor.size <= 4096 else None
        for n in self.graph.nodes:
            if n.op == "Constant" and name in n.outputs:
                try:
                    return onnx_fold.constant_attr(n)
                except onnx_fold.FoldError:
                    return None
        return None

    def _node(self, node: Node):
        args = []
        for i in node.inputs:
            if not i:
                args.append(None)
                continue
            if i not in self.values:
                raise SpecError(f"{self.path}: node {self._label(node)} reads '{i}', which no earlier node "
                                "makes (the graph is not in topological order, or is damaged)")
            args.append(self.values[i])
        if any(a is _UNKNOWN for a in args):
            self._set(node, [_UNKNOWN] * len(node.outputs))
            return
        try:
            if node.op == "Identity" and isinstance(args[0], _C):     # exporters' shared tensors
                self._set(node, [args[0]])
            elif all(a is None or isinstance(a, _C) for a in args) and node.op in onnx_fold.FOLDABLE:
                outs = onnx_fold.fold(node, [None if a is None else a.value for a in args])
                self._set(node, [_C(array=o) for o in outs])
            elif node.op == "Shape" and isinstance(args[0], _T):
                outs = onnx_fold.fold(node, [None], shape_of=self._onnx_dims(args[0]))
                self._set(node, [_C(array=outs[0])])
            elif hasattr(self, "op_" + node.op):
                getattr(self, "op_" + node.op)(node, args)
            else:
                raise _Refused("applies to a layer's output here (cnncost folds it only on constants)")
        except _Refused as exc:
            self.refusals.append((node.op, node.name or node.outputs[0], str(exc)))
            self._set(node, [_UNKNOWN] * len(node.outputs))
        except (onnx_fold.FoldError, ValueError, IndexError, KeyError, TypeError) as exc:
            detail = str(exc) or type(exc).__name__
            self.refusals.append((node.op, node.name or node.outputs[0], f"cannot evaluate ({detail[:120]})"))
            self._set(node, [_UNKNOWN] * len(node.outputs))

    def _set(self, node, values):
        for name, v in zip(node.outputs, values):
            if name:
                self.values[name] = v

    def _refuse_all(self):
        count = Counter(op for op, _, _ in self.refusals)
        first = {}
        for op, name, why in self.refusals:
            first.setdefault(op, (name, why))
        raise SpecError(f"{self.path}: unsupported ONNX operators as used here: " + "; ".join(
            f"{op} x{c} (first: {first[op][0]!r}: {first[op][1]})" for op, c in count.most_common()))

    def _label(self, node):
        return f"{(node.name or node.outputs[0])!r} ({node.op})"

    def _result(self) -> Imported:
        out = self.values.get(self.graph.outputs[0].name)
        if not isinstance(out, _T) or not self.layers:
            raise SpecError(f"{self.path}: the graph's output is not made by any layer")
        if out.layout not in ("nchw", "nhwc", "vec"):
            raise SpecError(f"{self.path}: the graph's output is a {out.layout} view (no cnncost kind)")
        if self.layers[-1]["name"] != out.layer:
            self.layers.append({"name": self._unique("output"), "kind": "linear", "inputs": [out.layer]})
        shared = sorted(k for k, users in self.sources.items() if len(users) > 1)
        notes = ["params are the tensors as the file holds them (a BatchNorm folded into a conv by the "
                 "exporter changes params, not mults)"]
        if shared:
            notes.append(f"{len(shared)} tensors are shared by several layers and counted for each")
        # the file's name: exporters' graph names say little ("main_graph", "torch_jit")
        name = re.sub(r"[^A-Za-z0-9_]+", "_", os.path.splitext(os.path.basename(self.path))[0]).strip("_") or "imported"
        producer = f", {self.model.producer}" if self.model.producer else ""
        source = f"ONNX model {self.path} (opset {self.model.opsets['']}{producer}): " + "; ".join(notes)
        document = {"name": name, "source": source, "input": list(self.per_example), "layers": self.layers}
        return Imported(document, self.weights, self.per_example, tuple(notes))

    # ---- layers -----------------------------------------------------------------------
    def _unique(self, base, op=""):
        base = re.sub(r"[^A-Za-z0-9_]+", "_", _module_path(base, op)).strip("_") or "layer"
        if base == "input" or base[0].isdigit():
            base = "l_" + base
        name, k = base[:180], 1
        while name in self.used:
            k += 1
            name = f"{base[:180]}_{k}"
        self.used.add(name)
        return name

    def emit(self, node, body, shape, inputs, weights=None, output=None, **t):
        """Append a layer; `weights`: our weight name -> (constant, transform of its array)."""
        name = self._unique(node.name or node.outputs[0], node.op)
        layer = {"name": name, **body, "inputs": [x.layer for x in inputs]}
        self.layers.append(layer)
        self.by_name[name] = layer
        for key, (const, how) in (weights or {}).items():
            self._weight(name, key, const, how)
        value = _T(name, tuple(shape), **t)
        if output is not False:
            self.values[output or node.outputs[0]] = value
        return value

    def _weight(self, layer, key, const, how=None):
        if const.source:
            self.sources.setdefault(const.source, set()).add(layer)
        if self.with_weights:
            arr = const.value.astype("float32")
            self.weights[f"{layer}/{key}"] = how(arr) if how else arr

    def _const(self, node, arg, what):
        if not isinstance(arg, _C):
            raise _Refused(f"its {what} must be a constant (a weight of the file), not a layer's output")
        return arg

    def _map(self, x, *layouts):
        if not isinstance(x, _T) or x.layout not in layouts:
            got = "a constant" if isinstance(x, _C) else f"a {x.layout} tensor"
            raise _Refused(f"expects {' or '.join(layouts)} data, received {got}")
        return x

    def _onnx_dims(self, x: _T) -> list:
        n = self.batch
        if x.layout == "vec":
            return [n, *x.shape] + ([1, 1] if x.extra.get("as_map") else [])
        h, w, c = x.shape
        g = x.extra.get("groups", 1)
        r = x.extra.get("factor", 1)
        return {"nchw": [n, c, h, w], "nhwc": [n, h, w, c], "grouped": [n, g, c // g, h, w],
                "shuffled": [n, c // g, g, h, w], "gn": [n, g, c * h * w // g], "gnorm": [n, g, c * h * w // g],
                "unshuffle6": [n, c, h // r, r, w // r, r], "unshuffle_t": [n, c, r, r, h // r, w // r]}[x.layout]

    def _alias(self, node, x, **changes):
        fields = {"layer": x.layer, "shape": x.shape, "layout": x.layout, "chw": x.chw, "extra": dict(x.extra)}
        fields.update(changes)
        self.values[node.outputs[0]] = _T(**fields)

    def _channel_axis(self, x, axis):
        rank = len(self._onnx_dims(x))
        axis %= rank
        want = {"nchw": 1, "vec": 1, "nhwc": 3}.get(x.layout)
        if axis != want:
            raise _Refused(f"works on axis {axis} of a {x.layout} tensor; cnncost's kinds work on channels")

    # ---- convolutions and dense -------------------------------------------------------
    def op_Conv(self, node, args, transpose=False):
        x = self._map(args[0], "nchw")
        w = self._const(node, args[1], "weight")
        a = node.attrs
        groups = a.get("group", 1)
        if transpose:
            cin, cg, kh, kw = w.dims
            f = cg * groups
        else:
            f, cg, kh, kw = w.dims
        stride, dilation = list(a.get("strides", [1, 1])), list(a.get("dilations", [1, 1]))
        pads = self._pads(node, x.shape, (kh, kw), stride, dilation, transpose)
        body = {"kind": "conv_transpose" if transpose else "conv", "filters": f, "kernel": [kh, kw],
                "stride": stride, "dilation": dilation, "padding": pads, "groups": groups,
                "bias": len(args) > 2 and args[2] is not None}
        if transpose:
            if "output_shape" in a:
                raise _Refused("output_shape is not supported; export with explicit pads")
            body["output_padding"] = list(a.get("output_padding", [0, 0]))
        wk = {"kernel": (w, lambda k: k.transpose(2, 3, 1, 0))}
        if body["bias"]:
            wk["bias"] = (self._const(node, args[2], "bias"), None)
        self.emit(node, body, _conv_shape(body, x.shape, transpose), [x], wk)

    def op_ConvTranspose(self, node, args):
        self.op_Conv(node, args, transpose=True)

    def _pads(self, node, shape, kernel, stride, dilation, transpose=False):
        """[top, bottom, left, right] from `pads` or `auto_pad`."""
        auto = node.attrs.get("auto_pad", "NOTSET")
        if auto in ("NOTSET", ""):
            p = list(node.attrs.get("pads", [0, 0, 0, 0]))
            if len(p) != 4:
                raise _Refused(f"pads {p}: a 2-D window needs four")
            return [p[0], p[2], p[1], p[3]]
        if auto == "VALID":
            return [0, 0, 0, 0]
        if transpose:
            raise _Refused(f"auto_pad {auto} of a ConvTranspose is not supported; export with explicit pads")
        out = []
        for size, k, s, d in zip(shape[:2], kernel, stride, dilation):
            total = max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)
            lo = total // 2 if auto == "SAME_UPPER" else total - total // 2
            out += [lo, total - lo]
        return out

    def op_Gemm(self, node, args):
        a = node.attrs
        x = self._map(args[0], "vec")
        if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
            raise _Refused("transA, alpha or beta other than 1 has no cnncost kind")
        b = self._const(node, args[1], "weight")
        trans = a.get("transB", 0)
        units = b.dims[0] if trans else b.dims[1]
        bias = len(args) > 2 and args[2] is not None
        self._dense(node, x, b, units, trans, args[2] if bias else None)

    def op_MatMul(self, node, args):
        x = self._map(args[0], "vec", "nhwc")
        b = self._const(node, args[1], "weight")
        if len(b.dims) != 2 or b.dims[0] != x.shape[-1]:
            raise _Refused(f"a weight of dims {list(b.dims)} against {x.shape[-1]} features")
        self._dense(node, x, b, b.dims[1], False, None)

    def _dense(self, node, x, b, units, trans, bias):
        def layout(k):
            k = k.T if trans else k
            if x.chw is not None:          # rows in C, H, W order -> ours, H, W, C
                c, h, w = x.chw
                k = k.reshape(c, h, w, units).transpose(1, 2, 0, 3).reshape(-1, units)
            return k
        wk = {"kernel": (b, layout)}
        if bias is not None:
            bias = self._const(node, bias, "bias")
            if [d for d in bias.dims if d != 1] != [units]:
                raise _Refused(f"a bias of dims {list(bias.dims)} for {units} units")
            wk["bias"] = (bias, lambda v: v.reshape(-1))
        self.emit(node, {"kind": "dense", "units": units, "bias": bias is not None},
                  x.shape[:-1] + (units,), [x], wk, layout=x.layout, extra={"open_bias": bias is None})

    # ---- element-wise ---------------------------------------------------------------
    ACTIVATIONS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hard_swish",
                   "Softplus": "softplus", "SiLU": "silu", "Mish": "mish"}

    def _activation(self, node, args, body):
        x = self._map(args[0], "nchw", "nhwc", "vec")
        self.emit(node, body, x.shape, [x], layout=x.layout, chw=x.chw)

    def op_Relu(self, node, args):
        self._activation(node, args, {"kind": self.ACTIVATIONS[node.op]})

    op_Sigmoid = op_Tanh = op_HardSwish = op_Softplus = op_SiLU = op_Mish = op_Relu

    def op_Gelu(self, node, args):
        approx = node.attrs.get("approximate", "none")
        self._activation(node, args, {"kind": "gelu", **({"approximate": "tanh"} if approx == "tanh" else {})})

    def op_LeakyRelu(self, node, args):
        self._activation(node, args, {"kind": "leaky_relu", "slope": float(node.attrs.get("alpha", 0.01))})

    def op_Elu(self, node, args):
        self._activation(node, args, {"kind": "elu", "alpha": float(node.attrs.get("alpha", 1.0))})

    def op_HardSigmoid(self, node, args):
        if abs(node.attrs.get("alpha", 0.2) - 1 / 6) > 1e-6 or abs(node.attrs.get("beta", 0.5) - 0.5) > 1e-6:
            raise _Refused("alpha and beta other than 1/6 and 1/2 (PyTorch's hardsigmoid) have no cnncost kind")
        self._activation(node, args, {"kind": "hard_sigmoid"})

    def op_Clip(self, node, args):
        def bound(i, key, default):
            if len(args) > i and args[i] is not None:
                return float(self._const(node, args[i], key).value.reshape(-1)[0])
            return float(node.attrs.get(key, default))
        lo, hi = bound(1, "min", float("-inf")), bound(2, "max", float("inf"))
        fn = {(0.0, 6.0): "relu6", (0.0, float("inf")): "relu", (-1.0, 1.0): "hard_tanh"}.get((lo, hi))
        if fn is None:
            raise _Refused(f"Clip({lo}, {hi}) has no cnncost kind (relu, relu6 and hard_tanh do)")
        self._activation(node, args, {"kind": fn})

    def op_Softmax(self, node, args):
        x = self._map(args[0], "nchw", "nhwc", "vec")
        if self.model.opsets[""] < 13 and x.layout != "vec":
            raise _Refused("before opset 13 Softmax spans every axis after `axis`, not the channels alone")
        self._channel_axis(x, node.attrs.get("axis", -1 if self.model.opsets[""] >= 13 else 1))
        self._activation(node, args, {"kind": "softmax"})

    def op_PRelu(self, node, args):
        x = self._map(args[0], "nchw", "nhwc", "vec")
        shared = self._per_channel(x, self._const(node, args[1], "slope"))
        self.emit(node, {"kind": "prelu", **({"shared": True} if shared else {})}, x.shape, [x],
                  {"slope": (args[1], self._per_feature(x))}, layout=x.layout, chw=x.chw)

    def _per_feature(self, x, base=lambda v: v.reshape(-1)):
        """`base` then, for a vector flattened from an NCHW map (its features in C, H, W
        order; ours H, W, C), the same reordering of a 1-D weight over those features."""
        if x.chw is None:
            return base
        c, h, w = x.chw
        return lambda v: (lambda u: u if u.size == 1 else u.reshape(c, h, w).transpose(1, 2, 0).reshape(-1))(base(v))

    def _whole_features(self, *xs):
        if any(x.chw is not None for x in xs):
            raise _Refused("the vector's features are in C, H, W order (a Flatten of an NCHW map) and cnncost's "
                           "in H, W, C: only a layer of every feature may read it")

    def _per_channel(self, x, c) -> bool:
        """Whether constant `c` holds one value (True) or one per channel of x (False) as
        ONNX broadcasts it; anything else has no cnncost kind."""
        dims = list(c.dims)
        while dims and dims[0] == 1 and len(dims) > 1:
            dims.pop(0)
        size = 1
        for d in dims:
            size *= d
        if size == 1:
            return True
        ch = x.shape[-1]
        ok = {"nchw": [[ch, 1, 1]], "nhwc": [[ch]], "vec": [[ch]]}.get(x.layout, [])
        if dims in ok:
            return False
        raise _Refused(f"a constant of dims {list(c.dims)} against a {x.layout} tensor of shape "
                       f"{self._onnx_dims(x)}: cnncost's kinds take one value or one per channel")

    def _binary(self, node, args, kind):
        tensors = [a for a in args if isinstance(a, _T)]
        if len(tensors) == len(args):
            self._merge(node, tensors, kind)
            return
        x, c = (args[0], args[1]) if isinstance(args[0], _T) else (args[1], args[0])
        if x is args[1] and node.op in ("Sub", "Div"):
            raise _Refused("a constant minus or divided by a layer's output has no cnncost kind")
        self._map(x, "nchw", "nhwc", "vec")
        shared = self._per_channel(x, c)
        layer = self.by_name.get(x.layer)
        sole = self.consumers[node.inputs[0] if x is args[0] else node.inputs[1]] == 1
        if node.op == "Add" and sole and x.extra.get("open_bias") and not shared:   # MatMul + Add: its bias
            layer["bias"] = True
            self._weight(layer["name"], "bias", c, lambda v: v.reshape(-1))
            self._alias(node, x, extra={})
            return
        if sole and not shared and x.extra.get("affine") == node.op:      # a group norm's gamma, then beta
            self._weight(layer["name"], "gamma" if node.op == "Mul" else "beta", c, lambda v: v.reshape(-1))
            self._alias(node, x, extra={"affine": "Add" if node.op == "Mul" else None})
            if node.op == "Mul":
                layer["affine"] = True
            return
        if x.extra.get("affine") == "Add":
            raise _Refused("a group norm scaled but not shifted has no cnncost kind")
        kind, weight, how = {"Mul": ("scale", "gamma", None), "Div": ("scale", "gamma", "reciprocal"),
                             "Add": ("shift", "beta", None), "Sub": ("shift", "beta", "negate")}[node.op]
        transform = {None: lambda v: v.reshape(-1), "reciprocal": lambda v: 1.0 / v.reshape(-1),
                     "negate": lambda v: -v.reshape(-1)}[how]
        self.emit(node, {"kind": kind, **({"shared": True} if shared else {})}, x.shape, [x],
                  {weight: (c, self._per_feature(x, transform))}, layout=x.layout, chw=x.chw)

    def _merge(self, node, xs, kind):
        layouts = {x.layout for x in xs}
        maps = [x for x in xs if x.layout != "vec"]
        vecs_as_maps = all(x.extra.get("as_map") for x in xs if x.layout == "vec")
        if len(layouts - {"vec"}) > 1 or (maps and not vecs_as_maps) or not layouts <= {"nchw", "nhwc", "vec"}:
            raise _Refused(f"operands held as {', '.join(x.layout for x in xs)}: no cnncost kind broadcasts these")
        shapes = [x.shape for x in xs]
        from cnncost.layers.merge import broadcast_shape
        try:
            shape = broadcast_shape(shapes)
        except Exception:
            raise _Refused(f"operands {shapes} do not broadcast") from None
        if node.op in ("Add", "Sum") and len(set(shapes)) > 1:
            raise _Refused(f"add of unequal shapes {shapes}")
        layout = maps[0].layout if maps else "vec"
        if len({x.chw for x in xs}) > 1:
            self._whole_features(*xs)
        self.emit(node, {"kind": kind}, shape, xs, layout=layout, chw=xs[0].chw)

    def op_Add(self, node, args):
        self._binary(node, args, "add")

    def op_Sum(self, node, args):
        if len(args) == 1:
            return self._alias(node, self._map(args[0], "nchw", "nhwc", "vec"))
        if not all(isinstance(a, _T) for a in args):
            raise _Refused("a Sum with constant operands has no cnncost kind")
        self._merge(node, args, "add")

    def op_Mul(self, node, args):
        self._binary(node, args, "multiply")

    def op_Sub(self, node, args):
        self._binary(node, args, "subtract")

    def op_Div(self, node, args):
        self._binary(node, args, "divide")

    # ---- normalisation ----------------------------------------------------------------
    def op_BatchNormalization(self, node, args):
        x = self._map(args[0], "nchw", "vec")
        if node.attrs.get("training_mode", 0):
            raise _Refused("training_mode=1: export the model in eval mode")
        names = ("gamma", "beta", "moving_mean", "moving_variance")
        wk = {k: (self._const(node, a, k), self._per_feature(x)) for k, a in zip(names, args[1:5])}
        self.emit(node, {"kind": "batch_norm", "eps": float(node.attrs.get("epsilon", 1e-5))}, x.shape, [x], wk,
                  layout=x.layout, chw=x.chw)

    def _identity_affine(self, scale, bias):
        """Whether scale and bias are all ones and all zeros (not learned: PyTorch's affine=False)."""
        if scale is None:
            return True
        if max(scale.dims or (1,)) > 1 << 16:
            return False
        import numpy as np
        return bool(np.all(scale.value == 1) and (bias is None or np.all(bias.value == 0)))

    def op_InstanceNormalization(self, node, args):
        x = self._map(args[0], "nchw", "gn")
        scale, bias = self._const(node, args[1], "scale"), self._const(node, args[2], "bias")
        eps = float(node.attrs.get("epsilon", 1e-5))
        plain = self._identity_affine(scale, bias)
        if x.layout == "gn":
            if not plain:
                raise _Refused("a group norm's InstanceNormalization with a learned scale has no cnncost kind")
            return self._alias(node, x, layout="gnorm", extra={**x.extra, "eps": eps})
        wk = {} if plain else {"gamma": (scale, None), "beta": (bias, None)}
        self.emit(node, {"kind": "instance_norm", "eps": eps, "affine": not plain}, x.shape, [x], wk)

    def op_LayerNormalization(self, node, args):
        x = self._map(args[0], "nhwc", "vec")
        self._channel_axis(x, node.attrs.get("axis", -1))
        scale = self._const(node, args[1], "scale") if len(args) > 1 and args[1] is not None else None
        bias = self._const(node, args[2], "bias") if len(args) > 2 and args[2] is not None else None
        if scale is not None and bias is None:
            raise _Refused("a LayerNorm with a scale and no bias has no cnncost kind")
        eps = float(node.attrs.get("epsilon", 1e-5))
        order = self._per_feature(x)
        wk = {} if scale is None else {"gamma": (scale, order), "beta": (bias, order)}
        self.emit(node, {"kind": "layer_norm", "eps": eps, **({} if scale is not None else {"affine": False})},
                  x.shape, [x], wk, layout=x.layout, chw=x.chw)
        for extra in node.outputs[1:]:
            if extra and self.consumers[extra]:
                raise _Refused("its mean and inverse deviation outputs are used (training graphs only)")

    def op_LRN(self, node, args):
        x = self._map(args[0], "nchw")
        size = node.attrs["size"]
        if size % 2 == 0:
            raise _Refused(f"an LRN of even size {size}: ONNX centres its window one channel away from "
                           "PyTorch's, which cnncost's lrn computes")
        self.emit(node, {"kind": "lrn", "size": size, "alpha": float(node.attrs.get("alpha", 1e-4)),
                         "beta": float(node.attrs.get("beta", 0.75)), "k": float(node.attrs.get("bias", 1.0))},
                  x.shape, [x])

    def op_Dropout(self, node, args):
        x = self._map(args[0], "nchw", "nhwc", "vec")
        if len(node.outputs) > 1 and node.outputs[1] and self.consumers[node.outputs[1]]:
            raise _Refused("its mask is used (training graphs only)")
        rate = node.attrs.get("ratio", 0.5)
        if len(args) > 1 and args[1] is not None:
            rate = float(self._const(node, args[1], "ratio").value.reshape(-1)[0])
        self.emit(node, {"kind": "dropout", "rate": round(float(rate), 6)}, x.shape, [x], layout=x.layout,
                  chw=x.chw)

    def op_Identity(self, node, args):
        self._alias(node, args[0])

    def op_Cast(self, node, args):
        if onnx_fold.DTYPES.get(node.attrs.get("to")) not in ("float32", "float16", "float64"):
            raise _Refused("a cast of a layer's output to a non-float type")
        self._alias(node, args[0])

    # ---- pooling ----------------------------------------------------------------------
    def _pool(self, node, args, kind):
        x = self._map(args[0], "nchw")
        a = node.attrs
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            raise _Refused("a dilated pool has no cnncost kind")
        if len(node.outputs) > 1 and node.outputs[1] and self.consumers[node.outputs[1]]:
            raise _Refused("its indices output is used")
        kernel, stride = list(a["kernel_shape"]), list(a.get("strides", [1, 1]))
        body = {"kind": kind, "kernel": kernel, "stride": stride,
                "padding": self._pads(node, x.shape, kernel, stride, (1, 1)),
                "ceil_mode": bool(a.get("ceil_mode", 0))}
        if node.op == "AveragePool":
            body["count_include_pad"] = bool(a.get("count_include_pad", 0))
        self.emit(node, body, _pool_shape(body, x.shape), [x])

    def op_MaxPool(self, node, args):
        self._pool(node, args, "max_pool")

    def op_AveragePool(self, node, args):
        self._pool(node, args, "avg_pool")

    def op_GlobalAveragePool(self, node, args):
        x = self._map(args[0], "nchw")
        kind = "global_avg_pool" if node.op == "GlobalAveragePool" else "global_max_pool"
        self.emit(node, {"kind": kind, "keepdims": True}, (1, 1, x.shape[2]), [x])

    op_GlobalMaxPool = op_GlobalAveragePool

    def op_ReduceMean(self, node, args):
        x = self._map(args[0], "nchw", "nhwc")
        rank = 4
        axes = onnx_fold._axes(node, [None if a is None else getattr(a, "value", None) for a in args], 1)
        spatial = {"nchw": {2, 3}, "nhwc": {1, 2}}[x.layout]
        if axes is None or {a % rank for a in axes} != spatial:
            raise _Refused(f"a mean over axes {axes} of a {x.layout} map: cnncost's global pools take H and W")
        keep = bool(node.attrs.get("keepdims", 1))
        kind = "global_avg_pool" if node.op == "ReduceMean" else "global_max_pool"
        self.emit(node, {"kind": kind, "keepdims": keep}, (1, 1, x.shape[2]) if keep else (x.shape[2],), [x],
                  layout=x.layout if keep else "vec")

    op_ReduceMax = op_ReduceMean

    # ---- moving data ------------------------------------------------------------------
    def op_Flatten(self, node, args):
        x = self._map(args[0], "nchw", "nhwc", "vec")
        if node.attrs.get("axis", 1) != 1:
            raise _Refused(f"Flatten on axis {node.attrs.get('axis')}: cnncost flattens after the batch")
        self._flatten(node, x)

    def _flatten(self, node, x):
        if x.layout == "vec":
            return self._alias(node, x, extra={})
        h, w, c = x.shape
        chw = (c, h, w) if x.layout == "nchw" and h * w > 1 else None
        self.emit(node, {"kind": "flatten"}, (h * w * c,), [x], layout="vec", chw=chw)

    def op_Squeeze(self, node, args):
        x = args[0]
        dims = self._onnx_dims(self._map(x, "nchw", "nhwc", "vec"))
        axes = onnx_fold._axes(node, [None] + [getattr(a, "value", None) for a in args[1:]], 1)
        axes = [i for i, d in enumerate(dims) if d == 1 and i > 0] if axes is None else [a % len(dims) for a in axes]
        if x.layout == "vec" and sorted(axes) == [2, 3]:
            return self._alias(node, x, extra={})
        if x.layout == "nchw" and x.shape[:2] == (1, 1) and sorted(axes) == [2, 3]:
            return self._flatten(node, x)
        raise _Refused(f"squeezing axes {axes} of {dims}")

    def op_Unsqueeze(self, node, args):
        x = self._map(args[0], "vec")
        axes = onnx_fold._axes(node, [None] + [getattr(a, "value", None) for a in args[1:]], 1)
        if axes is not None and sorted(a % 4 for a in axes) == [2, 3] and not x.extra.get("as_map"):
            return self._alias(node, x, extra={"as_map": True})
        raise _Refused(f"unsqueezing axes {axes} of a vector")

    def op_Expand(self, node, args):
        x = self._map(args[0], "nchw", "nhwc", "vec")
        shape = [int(d) for d in self._const(node, args[1], "shape").value]
        dims = self._onnx_dims(x)
        if len(shape) <= len(dims) and all(s in (1, d) for s, d in zip(shape[::-1], dims[::-1])):
            return self._alias(node, x)
        raise _Refused(f"expanding {dims} to {shape} copies data no cnncost kind copies")

    def op_Reshape(self, node, args):
        x = self._map(args[0], "nchw", "nhwc", "vec", "grouped", "shuffled", "gn", "gnorm", "unshuffle_t")
        dims = self._onnx_dims(x)
        target = onnx_fold.reshape_target(dims, [int(d) for d in self._const(node, args[1], "shape").value],
                                          bool(node.attrs.get("allowzero", 0)))
        n = dims[0]
        if target == dims:
            return self._alias(node, x)
        if target[0] != n:
            raise _Refused(f"a reshape of {dims} to {target} moves data across the batch")
        if x.layout in ("nchw", "nhwc", "vec") and len(target) == 2:
            return self._flatten(node, x)
        if x.layout == "vec" and target == [n, x.shape[0], 1, 1]:
            return self._alias(node, x, extra={"as_map": True})
        if x.layout == "nchw":
            h, w, c = x.shape
            if len(target) == 5 and target[3:] == [h, w] and target[1] * target[2] == c:
                return self._alias(node, x, layout="grouped", extra={"groups": target[1]})
            if len(target) == 3 and c % target[1] == 0:
                return self._alias(node, x, layout="gn", extra={"groups": target[1]})
            if len(target) == 6 and target[1] == c and target[3] == target[5] and target[2] * target[3] == h \
                    and target[4] * target[5] == w:
                return self._alias(node, x, layout="unshuffle6", extra={"factor": target[3]})
        h, w, c = x.shape if x.layout != "vec" else (0, 0, 0)
        if len(target) == 4 and target[1:] == [c, h, w]:
            if x.layout == "shuffled":
                return self.emit(node, {"kind": "channel_shuffle", "groups": x.extra["groups"]}, x.shape, [x])
            if x.layout == "gnorm":
                layer = self.emit(node, {"kind": "group_norm", "groups": x.extra["groups"], "eps": x.extra["eps"],
                                         "affine": False}, x.shape, [x])
                layer.extra["affine"] = "Mul"       # a Mul and an Add by constants may follow
                return layer
        if x.layout == "unshuffle_t" and len(target) == 4:
            r = x.extra["factor"]
            if target[1:] == [c * r * r, h // r, w // r]:
                return self.emit(node, {"kind": "pixel_unshuffle", "factor": r}, (h // r, w // r, c * r * r), [x])
        raise _Refused(f"a reshape of {dims} (held as {x.layout}) to {target} has no cnncost kind")

    def op_Transpose(self, node, args):
        x = self._map(args[0], "nchw", "nhwc", "vec", "grouped", "unshuffle6")
        perm = list(node.attrs.get("perm", []))
        moves = {("nchw", (0, 2, 3, 1)): "nhwc", ("nhwc", (0, 3, 1, 2)): "nchw", ("vec", (0, 1)): "vec",
                 ("grouped", (0, 2, 1, 3, 4)): "shuffled", ("unshuffle6", (0, 1, 3, 5, 2, 4)): "unshuffle_t"}
        layout = moves.get((x.layout, tuple(perm)))
        if layout is None:
            raise _Refused(f"a transpose {perm} of {self._onnx_dims(x)} (held as {x.layout}) has no cnncost kind")
        self._alias(node, x, layout=layout)

    def op_DepthToSpace(self, node, args):
        x = self._map(args[0], "nchw")
        r = node.attrs["blocksize"]
        if node.attrs.get("mode", "DCR") != "CRD":
            raise _Refused("mode DCR (TensorFlow's channel order) has no cnncost kind; PyTorch's CRD has")
        h, w, c = x.shape
        self.emit(node, {"kind": "pixel_shuffle", "factor": r}, (h * r, w * r, c // (r * r)), [x])

    def op_Concat(self, node, args):
        xs = [self._map(a, "nchw", "nhwc", "vec") for a in args]
        if len(xs) == 1:                # torch.cat of a one-tensor list (DenseNet's first layer)
            return self._alias(node, xs[0])
        self._whole_features(*xs)
        for x in xs:
            self._channel_axis(x, node.attrs.get("axis", 1))
        if len({x.layout for x in xs}) > 1 or len({x.shape[:-1] for x in xs}) > 1:
            raise _Refused(f"operands {[x.shape for x in xs]} held as {[x.layout for x in xs]}")
        self.emit(node, {"kind": "concat"}, xs[0].shape[:-1] + (sum(x.shape[-1] for x in xs),), xs,
                  layout=xs[0].layout)

    def op_Split(self, node, args):
        x = self._map(args[0], "nchw", "nhwc", "vec")
        self._channel_axis(x, node.attrs.get("axis", 0))
        self._whole_features(x)
        c = x.shape[-1]
        if len(args) > 1 and args[1] is not None:
            sizes = [int(s) for s in self._const(node, args[1], "split").value]
        elif "split" in node.attrs:
            sizes = list(node.attrs["split"])
        else:
            k = len(node.outputs)
            sizes = [-(-c // k)] * (k - 1) + [c - -(-c // k) * (k - 1)]
        if sum(sizes) != c or len(sizes) != len(node.outputs) or min(sizes) < 1:
            raise _Refused(f"split sizes {sizes} of {c} channels")
        start = 0
        for out, size in zip(node.outputs, sizes):
            part = Node(node.op, f"{node.name or node.outputs[0]}_{len(self.layers)}", node.inputs, [out], {})
            self.emit(part, {"kind": "slice", "start": start, "stop": start + size},
                      x.shape[:-1] + (size,), [x], output=out, layout=x.layout)
            start += size

    def op_Slice(self, node, args):
        x = self._map(args[0], "nchw", "nhwc", "vec")
        dims = self._onnx_dims(x)
        if len(args) > 1:
            vals = [None if a is None else [int(v) for v in self._const(node, a, "bound").value.reshape(-1)]
                    for a in args[1:5]]
            starts, ends = vals[0], vals[1]
            axes = vals[2] if len(vals) > 2 and vals[2] is not None else list(range(len(starts)))
            steps = vals[3] if len(vals) > 3 and vals[3] is not None else [1] * len(starts)
        else:
            a = node.attrs
            starts, ends = list(a["starts"]), list(a["ends"])
            axes, steps = list(a.get("axes", range(len(starts)))), [1] * len(starts)
        if any(s != 1 for s in steps):
            raise _Refused(f"a strided slice (steps {steps}) has no cnncost kind")
        ranges = {}
        for s, e, ax in zip(starts, ends, axes):
            ax %= len(dims)
            size = dims[ax]
            s = max(0, min(size, s + size if s < 0 else s))
            e = max(0, min(size, e + size if e < 0 else e))
            if (s, e) != (0, size):
                ranges[ax] = (s, e)
        if not ranges:
            return self._alias(node, x)
        self._whole_features(x)
        channel = {"nchw": 1, "nhwc": 3, "vec": 1}[x.layout]
        if set(ranges) == {channel}:
            s, e = ranges[channel]
            return self.emit(node, {"kind": "slice", "start": s, "stop": e}, x.shape[:-1] + (e - s,), [x],
                             layout=x.layout)
        if x.layout == "nchw" and set(ranges) <= {2, 3}:
            h, w, c = x.shape
            (t, b), (l, r) = ranges.get(2, (0, h)), ranges.get(3, (0, w))
            if (t, l) == ((h - (b - t)) // 2, (w - (r - l)) // 2):
                return self.emit(node, {"kind": "crop", "size": [b - t, r - l]}, (b - t, r - l, c), [x])
            raise _Refused(f"rows {t}..{b} and columns {l}..{r} of {h}x{w}: cnncost's crop takes the centre")
        raise _Refused(f"a slice over axes {sorted(ranges)} of a {x.layout} tensor")

    def op_Pad(self, node, args):
        x = self._map(args[0], "nchw")
        mode = node.attrs.get("mode", "constant")
        if mode != "constant":
            raise _Refused(f"{mode} padding has no cnncost kind (zero padding has)")
        pads = [int(p) for p in self._const(node, args[1], "pads").value] if len(args) > 1 and args[1] is not None \
            else list(node.attrs.get("pads", []))
        if len(args) > 2 and args[2] is not None and float(self._const(node, args[2], "value").value.reshape(-1)[0]):
            raise _Refused("padding with a value other than 0 has no cnncost kind")
        if len(args) > 3 and args[3] is not None:
            axes = [int(a) % 4 for a in self._const(node, args[3], "axes").value]
            full = [0] * 8
            for i, ax in enumerate(axes):
                full[ax], full[ax + 4] = pads[i], pads[i + len(axes)]
            pads = full
        if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0:
            raise _Refused(f"pads {pads}: cnncost pads H and W by zero or more")
        t, l, b, r = pads[2], pads[3], pads[6], pads[7]
        h, w, c = x.shape
        self.emit(node, {"kind": "zero_pad", "padding": [t, b, l, r]}, (h + t + b, w + l + r, c), [x])

    def op_Resize(self, node, args):
        x = self._map(args[0], "nchw")
        a = node.attrs
        h, w, c = x.shape
        mode = a.get("mode", "nearest")
        if node.op == "Upsample" or self.model.opsets[""] < 11:
            scales, sizes = (args[1] if len(args) > 1 else None), None
            ctm = "asymmetric"
            nearest = "floor"
        else:
            scales = args[2] if len(args) > 2 else None
            sizes = args[3] if len(args) > 3 else None
            ctm = a.get("coordinate_transformation_mode", "half_pixel")
            nearest = a.get("nearest_mode", "round_prefer_floor")
        if a.get("antialias", 0):
            raise _Refused("antialiased resizing has no cnncost kind")
        if sizes is not None:
            out = [int(v) for v in self._const(node, sizes, "sizes").value]
            oh, ow = out[-2], out[-1]
            factor = None
        elif scales is not None:
            sc = [float(v) for v in self._const(node, scales, "scales").value]
            if sc[:2] != [1.0, 1.0]:
                raise _Refused(f"scales {sc} change the batch or channels")
            oh, ow = int(h * sc[2]), int(w * sc[3])
            factor = [int(sc[2]), int(sc[3])] if sc[2].is_integer() and sc[3].is_integer() else None
        else:
            raise _Refused("neither scales nor sizes")
        if mode == "nearest":
            if ctm != "asymmetric" or nearest != "floor":
                raise _Refused(f"nearest with {ctm} coordinates and {nearest} rounding: cnncost's nearest is "
                               "PyTorch's (asymmetric, floor)")
            body = {"mode": "nearest"}
        elif mode == "linear":
            if ctm == "align_corners":
                body = {"mode": "bilinear", "align_corners": True}
            elif ctm == "pytorch_half_pixel" or (ctm == "half_pixel" and oh > 1 and ow > 1):
                body = {"mode": "bilinear"}
            else:
                raise _Refused(f"linear with {ctm} coordinates has no cnncost kind")
        else:
            raise _Refused(f"{mode} interpolation has no cnncost kind (nearest and bilinear have)")
        if factor is None and oh % h == 0 and ow % w == 0 and (oh // h, ow // w) != (1, 1) and mode == "nearest":
            factor = [oh // h, ow // w]
        size = {"scale": factor} if factor and (h * factor[0], w * factor[1]) == (oh, ow) else {"size": [oh, ow]}
        self.emit(node, {"kind": "upsample", **body, **size}, (oh, ow, c), [x])

    op_Upsample = op_Resize


def _conv_shape(body, shape, transpose):
    from cnncost.layers import geometry

    h, w, _ = shape
    t, b, l, r = body["padding"]
    (kh, kw), (sh, sw), (dh, dw) = body["kernel"], body["stride"], body["dilation"]
    if transpose:
        oph, opw = body["output_padding"]
        return ((h - 1) * sh - t - b + dh * (kh - 1) + oph + 1, (w - 1) * sw - l - r + dw * (kw - 1) + opw + 1,
                body["filters"])
    try:
        return (geometry.window_out(h, kh, sh, dh, t, b, False, "height"),
                geometry.window_out(w, kw, sw, dw, l, r, False, "width"), body["filters"])
    except SpecError as exc:
        raise _Refused(str(exc)) from None


def _pool_shape(body, shape):
    from cnncost.layers import geometry

    h, w, c = shape
    t, b, l, r = body["padding"]
    (kh, kw), (sh, sw) = body["kernel"], body["stride"]
    try:
        return (geometry.window_out(h, kh, sh, 1, t, b, body["ceil_mode"], "height"),
                geometry.window_out(w, kw, sw, 1, l, r, body["ceil_mode"], "width"), c)
    except SpecError as exc:
        raise _Refused(str(exc)) from None


def _module_path(name: str, op: str) -> str:
    """A node's name as the module path it came from: PyTorch names nodes by scope and
    op, '/layer1/layer1.0/conv1/Conv', each scope either a child's name or the full path
    of a Sequential's item: the module is layer1.0.conv1 (dots become underscores in a
    layer name). Other names are kept."""
    parts = [p for p in name.split("/") if p]
    if len(parts) < 2 or not name.startswith("/") or not op or not parts[-1].startswith(op):
        return name
    path, last = "", ""
    for seg in parts[:-1]:
        path = path[: len(path) - len(last)] + seg if last and seg.startswith(last + ".") else \
            (f"{path}.{seg}" if path else seg)
        last = seg
    return path
