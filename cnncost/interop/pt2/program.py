"""An exported program's graph (the JSON of torch.export's schema: nodes of ATen operators,
each output's tensor metadata) written as the ONNX model the live-module tracer writes
(interop/torch/trace.py): the same values (Act, View, Const) and the same handlers (`ATEN`,
interop/torch/aten.py), so an operator has one ONNX spelling whichever way the network came.
What the saved graph holds that a dispatch never sees (torch.export keeps conv2d, linear,
batch_norm, flatten, lstm ... whole) is restated in the tracer's terms by `PT2`
(interop/pt2/operators.py). Weights are numpy views of the archive; torch is not needed."""
from __future__ import annotations

import itertools

from cnncost.errors import ModelFileError
from cnncost.interop.onnx.proto import Graph, Model, Node, Tensor, ValueInfo
from cnncost.interop.pt2.archive import Archive, Stored, tensor_meta
from cnncost.interop.pt2.operators import PT2, NumpyAsTorch
from cnncost.interop.refusals import Tally
from cnncost.interop.torch import shapes  # noqa: F401 - registers the data-moving operators in ATEN
from cnncost.interop.torch.aten import ATEN, DTYPES, OPSET, Act, Const, Later, Untraceable, View
from cnncost.interop.torch.trace import Recorder

MAX_NODES = 50_000
MAX_ARGS = 10_000
PREFIX = "torch.ops.aten."
IGNORED = ("_assert_tensor_metadata", "_assert_scalar", "_assert_async", "sym_constrain_range_for_size",
           "sym_size", "_local_scalar_dense")


class Downstream(Untraceable):
    """Reads what a refused operator made: not a refusal of its own."""


class Meta:
    """What a handler reads of an operator's output: its shape (a meta tensor's, to the tracer)."""

    def __init__(self, shape):
        self.shape = tuple(shape)


class Unloaded(Tensor):
    """A weight counted by its dims whose values are not read (a pickle; bfloat16; a strided
    view): asked for its values, it says why in one line."""

    why = ""

    def value(self):
        raise ModelFileError(self.why)


class ArchiveRecorder(Recorder):
    """The tracer's recorder over a saved graph: no module, no torch; numpy stands in for the
    few tensors a handler makes (an LSTM's gates in ONNX's order, a constant shape)."""

    def __init__(self, archive: Archive, with_weights: bool):         # noqa: super().__init__ runs a module
        self.torch = NumpyAsTorch
        self.archive, self.with_weights = archive, with_weights
        self.nodes, self.inits, self.values, self.keep, self.stack = [], {}, {}, [], []
        self.counter, self.groups = itertools.count(), itertools.count()
        self.values_by_param, self.node_names, self.derived = {}, {}, {}
        self.decided, self.quiet, self.inputs = False, 0, []
        self.by_name: dict[str, object] = {}       # the graph's value names -> our values
        self.mutated: dict[str, str] = {}          # a name written in place -> the node that wrote it
        self.frozen: set[str] = set()
        self.refused = Tally()

    def tensor(self, name, t) -> Tensor:
        """An initializer over a numpy array: a view of the archive stays one."""
        import numpy as np

        if isinstance(t, _Unread):
            tensor = Unloaded(name=name, dims=tuple(t.shape), data_type=DTYPES.get(t.dtype, 1))
            tensor.why = t.why
            return tensor
        dtype = DTYPES.get(str(np.asarray(t).dtype))
        if dtype is None:
            raise Untraceable(f"a constant of dtype {np.asarray(t).dtype}")
        array = np.require(t, requirements="C")       # ascontiguousarray would make a 0-d array 1-d
        return Tensor(name=name, dims=tuple(array.shape), data_type=dtype, raw=memoryview(array.reshape(-1)).cast("B"))

    # ---- the graph ------------------------------------------------------------------------
    def run(self) -> Model:
        gm = self.archive.program["graph_module"]
        graph, signature = gm.get("graph"), gm.get("signature")
        if not isinstance(graph, dict) or not isinstance(signature, dict):
            raise ModelFileError(f"{self.archive.path}: the exported program has no graph or signature")
        self.metas = graph.get("tensor_values") or {}
        self._inputs(signature.get("input_specs") or [])
        nodes = graph.get("nodes") or []
        if not isinstance(nodes, list) or len(nodes) > MAX_NODES:
            raise ModelFileError(f"{self.archive.path}: the graph's nodes are not a list of at most {MAX_NODES:,}")
        for k, node in enumerate(nodes):
            self._node(k, node)
        if self.refused:
            raise ModelFileError(f"{self.archive.path}: {self.refused.total()} operator(s) not read: " + ", ".join(
                f"{op} x{n} (first: {first[0]!r}: {first[1]})" for op, n, first in self.refused.listed()))
        outs = [s["user_output"]["arg"] for s in signature.get("output_specs") or [] if "user_output" in s]
        others = [next(iter(s)) for s in signature.get("output_specs") or [] if "user_output" not in s]
        if others:
            raise ModelFileError(f"{self.archive.path}: the program writes {others[0]} (a buffer updated in "
                                 "training mode?); export the module in eval mode")
        return self._model([self._output(o) for o in outs])

    def _inputs(self, specs: list) -> None:
        weights = self.archive.weights
        for spec in specs:
            kind = next(iter(spec)) if isinstance(spec, dict) and spec else "?"
            body = spec.get(kind) if isinstance(spec, dict) else None
            if kind == "user_input":
                arg = body["arg"]
                if "as_tensor" not in arg:         # a number or None given to forward(): fixed at export
                    continue
                name = arg["as_tensor"]["name"]
                _, shape = tensor_meta(self.metas.get(name, {}), f"{self.archive.path}: input {name!r}")
                act = Act(name, shape, next(self.groups))
                self.by_name[name] = act
                self.inputs.append((name, Meta(shape)))
            elif kind in ("parameter", "buffer", "tensor_constant"):
                name = body["arg"]["name"]
                fqn = body.get(f"{kind}_name") or body.get("parameter_name") or name
                meta = self.metas.get(name, {})
                dtype, shape = tensor_meta(meta, f"{self.archive.path}: {kind} {fqn!r}")
                stored = weights.get(fqn)
                if stored is not None and stored.sizes != shape:
                    raise ModelFileError(f"{self.archive.path}: {kind} {fqn!r} is {list(shape)} in the graph, "
                                         f"{list(stored.sizes)} in its weights config")
                self.by_name[name] = Const(self._weight(fqn, stored, shape, dtype), param=fqn)
                if kind != "parameter" or not meta.get("requires_grad", True):
                    self.frozen.add(fqn)
            else:
                raise ModelFileError(f"{self.archive.path}: an input of kind {kind!r} (a custom object or token): "
                                     "cnncost reads tensors, parameters and buffers")

    def _weight(self, fqn, stored, shape, dtype):
        """A weight as numpy (a view of the archive: nothing read until touched); counting
        takes one `run` could not have (a pickle, bfloat16, a strided view) by its shape."""
        if stored is None:
            stored = Stored(dtype, shape)            # the older archives: serialized_state_dict.pt, a pickle
        try:
            return self.archive.array(fqn, stored)
        except ModelFileError as exc:
            if self.with_weights:
                raise
            return _Unread(shape, dtype, str(exc))

    def _node(self, k: int, node) -> None:
        try:
            target = node["target"]
            label = node.get("name") or f"node {k}"
        except (KeyError, TypeError):
            raise ModelFileError(f"{self.archive.path}: node {k} has no target") from None
        if not isinstance(target, str) or not target.startswith(PREFIX):
            self.refused.add(str(target)[:80], label, "not an ATen operator (a higher-order or custom operator)")
            self._unknown(node)
            return
        op = target[len(PREFIX):].rsplit(".", 1)[0]
        inplace = op.endswith("_") and not op.startswith("_")
        base = op[:-1] if inplace else op
        if base in IGNORED:
            return
        try:
            named, a, kw = self._arguments(node)
            out = self._outputs(node)
            handler = PT2.get(base)
            if handler is None and ATEN.get(base) is None:
                raise Untraceable("no mapping onto cnncost's kinds")
            self.stack, self.current = [_module_path(node)], base
            result = handler(self, named, out) if handler is not None else \
                ATEN[base](self, a, kw, out if len(out) != 1 or _many(node) else out[0])
        except Downstream:
            self._unknown(node)
            return
        except Untraceable as exc:
            self.refused.add(base, label, str(exc) or type(exc).__name__)
            self._unknown(node)
            return
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, ZeroDivisionError) as exc:
            raise ModelFileError(f"{self.archive.path}: node {label!r} ({base}): damaged or not as torch.export "
                                 f"writes it ({type(exc).__name__}: {str(exc)[:80]})") from None
        results = result if isinstance(result, (list, tuple)) else [result]
        for name, v in zip(_output_names(node), results):
            if name is not None and v is not None:
                self.by_name[name] = v
        if inplace:
            first = node["inputs"][0]["arg"].get("as_tensor", {}).get("name")
            if first:
                self.mutated[first] = label

    def _unknown(self, node) -> None:
        for o in node.get("outputs") or []:
            if isinstance(o, dict) and "as_tensor" in o:
                self.by_name[o["as_tensor"]["name"]] = None

    def _arguments(self, node):
        inputs = node.get("inputs") or []
        if len(inputs) > MAX_ARGS:
            raise Untraceable(f"{len(inputs):,} arguments")
        named, a, kw = {}, [], {}
        for i in inputs:
            value = self._argument(i["arg"])
            named[i["name"]] = value
            (a.append(value) if i.get("kind", 1) != 2 else kw.__setitem__(i["name"], value))
        return named, a, kw

    def _argument(self, arg: dict):
        (kind, v), = arg.items()
        if kind == "as_tensor":
            return self._value(v["name"])
        if kind in ("as_tensors", "as_optional_tensors"):
            if len(v) > MAX_ARGS:
                raise Untraceable(f"a list of {len(v):,} tensors")
            return [self._argument(t) if kind == "as_optional_tensors" else self._value(t["name"]) for t in v]
        if kind == "as_optional_tensor":
            return self._argument(v)
        if kind in ("as_sym_int", "as_sym_float", "as_sym_bool"):
            (inner, value), = v.items()
            if inner.startswith("as_name"):
                raise Untraceable("a symbolic size: export with static shapes")
            return value
        if kind in ("as_sym_ints", "as_sym_floats"):
            return [self._argument({kind[:-1]: x}) for x in v]
        if kind in ("as_graph", "as_custom_obj", "as_operator", "as_string_to_argument", "as_nested_tensors"):
            raise Untraceable(f"an argument of kind {kind}")
        return None if kind == "as_none" else v

    def _value(self, name: str):
        if name in self.mutated:
            raise Untraceable(f"reads {name!r} after node {self.mutated[name]!r} wrote it in place")
        if name not in self.by_name:
            raise ModelFileError(f"{self.archive.path}: a node reads {name!r}, which no earlier node makes")
        v = self.by_name[name]
        if v is None:
            raise Downstream()
        return v

    def _outputs(self, node) -> list:
        outs = []
        for o in node.get("outputs") or []:
            if "as_tensor" in o:
                name = o["as_tensor"]["name"]
                outs.append(Meta(tensor_meta(self.metas.get(name, {}), f"{self.archive.path}: value {name!r}")[1]))
            elif "as_tensors" in o:
                for t in o["as_tensors"]:
                    outs.append(Meta(tensor_meta(self.metas.get(t["name"], {}),
                                                 f"{self.archive.path}: value {t['name']!r}")[1]))
            else:
                outs.append(None)
        return outs

    def _output(self, arg):
        name = arg.get("as_tensor", {}).get("name") if isinstance(arg, dict) else None
        v = self.by_name.get(name)
        if not isinstance(v, (Act, View, Later)) or any(v is self.by_name.get(n) for n, _ in self.inputs):
            raise ModelFileError(f"{self.archive.path}: the output {name!r} is a constant, an input or made by nothing")
        return self.name(v), v.shape

    def _model(self, outputs) -> Model:
        outs = []
        for i, (name, shape) in enumerate(outputs):
            alias = "output" if len(outputs) == 1 else f"output{i}"
            self.nodes.append(Node("Identity", f"/{alias}/Identity", [name], [alias], {}))
            outs.append(ValueInfo(alias, 1, list(shape)))
        inputs = [ValueInfo("input" if len(self.inputs) == 1 else n, 1, list(m.shape)) for n, m in self.inputs]
        if len(self.inputs) == 1:
            old = self.inputs[0][0]
            for n in self.nodes:
                n.inputs = ["input" if i == old else i for i in n.inputs]
        model = Model(8, {"": OPSET}, "torch.export", Graph("torch.export", self.nodes, self.inits, inputs, outs))
        model.frozen = frozenset(self.frozen | {k for k, ps in self.derived.items() if all(p in self.frozen for p in ps)})
        return model


class _Unread:
    """A weight whose values are not read: shape, dtype and why."""

    def __init__(self, shape, dtype, why: str):
        self.shape, self.dtype, self.why = tuple(shape), dtype, why


def _output_names(node) -> list:
    """The names of a node's outputs, a list of tensors flattened; None where it has none."""
    names = []
    for o in node.get("outputs") or []:
        if "as_tensor" in o:
            names.append(o["as_tensor"]["name"])
        elif "as_tensors" in o:
            names += [t["name"] for t in o["as_tensors"]]
        else:
            names.append(None)
    return names


def _many(node) -> bool:
    return any("as_tensors" in o for o in node.get("outputs") or [])


def _module_path(node) -> str | None:
    """The module that ran the node: the last entry of nn_module_stack ('key,path,type;...')."""
    stack = (node.get("metadata") or {}).get("nn_module_stack") or ""
    last = stack.split(";")[-1].split(",") if stack else []
    return last[1] if len(last) >= 2 and last[1] else None
