"""A live PyTorch module read by running it once on meta tensors (no arithmetic, no copy of
a weight): every ATen operator it dispatches is written down as the ONNX node it is, into
an in-memory ONNX model that the ONNX importer reads like a file. About a tenth of the time
of a TorchScript trace, and exactly what the module computes, the functional ops (`+`,
`torch.matmul`, `F.interpolate`, attention) included.

Each node is named by the module that ran it (`/layer1.0.conv1/Conv`), so layer names are
the module paths. Parameters and buffers go in as the module's own tensors (zero-copy), so
`verify` and `run` use its weights. What is not written down here (an operator not in the
table, data-dependent values, an in-place write that another view of the tensor would see)
raises `Untraceable`, and the caller exports the module with torch.onnx.export instead:
never a silent zero.
"""
from __future__ import annotations

import itertools

from cnncost.interop.onnx.proto import Graph, Model, Node, Tensor, ValueInfo
from cnncost.interop.torch import shapes  # noqa: F401 - registers the data-moving operators in ATEN
from cnncost.interop.torch.aten import (ATEN, BINARY, DTYPES, FAST_UNARY, OPSET, SAME, VIEWS, WHOLE, Act, Const,
                                        Later, Unfaithful, Unset, Untraceable, View)

# a comparison of values, and what turns a tensor into a Python value: together, control flow
# that depends on the input's data
_COMPARE = ("gt", "lt", "ge", "le", "eq", "ne", "logical_and", "logical_or", "logical_not", "any", "all")
_READ_OUT = ("_local_scalar_dense", "is_nonzero", "item")
DATA_DEPENDENT = ("its forward() branches on a value of its input (`if y.mean() > 0:`, `.item()`): data-dependent "
                  "control flow, whose cost changes with the input, so no count holds for every input (an "
                  "exporter would trace one branch at random); count each branch as a module of its own")


class _Decision:
    """A comparison of the input's values: fine if only shapes follow, refused if read out."""

    group = -1
    stale = False


# operators that make a constant from a tensor's shape and dtype, never its values (an anchor grid)
_LIKE = ("new_full", "new_zeros", "new_ones", "zeros_like", "ones_like", "full_like")

__all__ = ["Unfaithful", "Untraceable", "trace", "to_bytes"]


class Recorder:
    def __init__(self, torch, module, examples, input_names):
        self.torch = torch
        self.nodes: list = []
        self.inits: dict = {}
        self.values: dict = {}          # id(meta tensor) -> Act | View | Const
        self.keep: list = []            # every traced tensor stays alive: ids are never reused
        self.stack: list = []           # module paths being run
        self.paths = {id(m): n for n, m in module.named_modules()}
        self.counter = itertools.count()
        self.groups = itertools.count()
        self.values_by_param: dict = {}
        self.node_names: dict = {}
        self.decided = False            # a comparison of the input's values was made
        self.quiet = 0                  # inside an operator caught whole: its decomposition is not recorded
        self.derived: dict = {}         # a tensor made of parameters (an LSTM's gates reordered) -> their names
        self.inputs = []
        for name, x in zip(input_names, examples):
            meta = torch.empty(tuple(x.shape), dtype=x.dtype, device="meta")
            self._bind(meta, Act(name, x.shape, next(self.groups)))
            self.inputs.append((name, meta))

    # ---- values ---------------------------------------------------------------------------
    def _bind(self, tensor, value):
        self.keep.append(tensor)
        self.values[id(tensor)] = value

    def meta_params(self, module):
        out = {}
        for kind, items in (("param", module.named_parameters()), ("buffer", module.named_buffers())):
            for name, t in items:
                if t.dtype.is_floating_point and str(t.dtype).split(".")[-1] != "float32":
                    raise Untraceable(f"{kind} '{name}' is {t.dtype}, not float32")
                meta = t.detach().to("meta")
                self._bind(meta, Const(t.detach(), param=name))
                self.values_by_param[name] = self.values[id(meta)]
                out[name] = meta
        return out

    def _value(self, x):
        if not isinstance(x, self.torch.Tensor):
            return x
        v = self.values.get(id(x))
        if v is None:
            if x.device.type == "meta":
                raise Untraceable("a tensor made outside the traced forward")
            v = Const(x.detach())        # a real tensor the forward holds (a scale, a 0-d number)
            self._bind(x, v)
        if getattr(v, "stale", False):
            raise Unfaithful("a tensor is read after an in-place write through another view of it, which "
                             "neither the tracer nor torch.onnx.export writes faithfully: make that write "
                             "out of place (y = y.relu() for y.relu_())")
        return v

    def name(self, v, keep_view=False) -> str:
        """The graph name of a value: a pending reshape or a value made on demand is written
        now, a constant stored."""
        if isinstance(v, Later):
            return v.written(self)
        if isinstance(v, View):
            return self.emit("Reshape", [v.base.name, self.int64(v.shape)], v.shape)[0].name
        if isinstance(v, Const):
            if v.param is None and v.t_of is not None:      # a weight transposed: a node, not a copy
                if v.node is None:                           # written once, however often read
                    key = self.name(self.values_by_param[v.t_of])
                    v.node = self.emit("Transpose", [key], v.shape, perm=[1, 0])[0].name
                return v.node
            if not v.learned:
                if v.node is None:
                    v.node = self._constant(v.tensor)
                return v.node
            if v.param is None and v.expand_of is not None and v.expand_of.param is not None:
                if v.node is None:               # written once, however often read
                    v.node = self._broadcast_of(v.expand_of, v) or ""
                if v.node:
                    return v.node
            if v.param is not None:
                key = v.param
            else:
                key = f"onnx::Constant_{next(self.counter)}"
            if key not in self.inits:
                self.inits[key] = self.tensor(key, v.tensor)
            return key
        return v.name

    def _broadcast_of(self, param, v) -> str | None:
        """A parameter broadcast (a class token expanded to the batch, then viewed) as a node
        over the parameter's own initializer, so the file holds the token once however often
        it is read; None when the values are no plain reshape or broadcast of it."""
        torch, src, want = self.torch, param.tensor, v.tensor
        key = self.name(param)
        if src.numel() == want.numel() and torch.equal(src.reshape(want.shape), want):
            return self.emit("Reshape", [key, self.int64(want.shape)], v.shape)[0].name
        ok = src.dim() <= want.dim() and all(a in (1, b) for a, b in zip(reversed(src.shape), reversed(want.shape)))
        if ok and torch.equal(src.expand(want.shape), want):
            return self.emit("Expand", [key, self.int64(want.shape)], v.shape)[0].name
        return None

    def tensor(self, name, t) -> Tensor:
        dtype = DTYPES.get(str(t.dtype).split(".")[-1])
        if dtype is None:
            raise Untraceable(f"a constant of dtype {t.dtype}")
        array = t.detach().contiguous().numpy()
        return Tensor(name=name, dims=tuple(t.shape), data_type=dtype, raw=memoryview(array).cast("B"))

    def int64(self, values) -> str:
        return self._constant(self.torch.tensor(list(values), dtype=self.torch.int64))

    def scalar(self, value, dtype=None) -> str:
        return self._constant(self.torch.tensor(value, dtype=dtype or self.torch.float32))

    def emit(self, op, inputs, *shapes, **attrs) -> list:
        path = next((p for p in reversed(self.stack) if p is not None), "")
        index = len(self.nodes)
        outs = [Act(f"t{index}_{k}", s, next(self.groups)) for k, s in enumerate(shapes)]
        name = f"/{path}/{op}" if path else f"/{op}"
        seen = self.node_names.get(name, 0)         # unique, as the exporter makes them: Relu, Relu_1
        self.node_names[name] = seen + 1
        self.nodes.append(Node(op, f"{name}_{seen}" if seen else name, list(inputs), [o.name for o in outs], attrs))
        return outs

    # ---- the dispatch ---------------------------------------------------------------------
    def whole(self, func, name, args, kwargs):
        """An operator torch decomposes before the dispatcher (CompositeImplicitAutograd: an
        LSTM into its time steps, a 1-D pool into a 2-D one), caught at the function level
        (WHOLE): its meta result computed unrecorded, then its own handler."""
        torch = self.torch
        self.quiet += 1
        try:
            out = func(*args, **kwargs)
        finally:
            self.quiet -= 1
        leaves, _ = torch.utils._pytree.tree_flatten((args, kwargs))
        vals = {id(t): self._value(t) for t in leaves if isinstance(t, torch.Tensor)}
        if any(isinstance(v, (Unset, _Decision)) for v in vals.values()):
            raise Untraceable(f"{name} of a tensor whose values were never set or of a comparison")
        return self._handle(ATEN[name], name, False, args, kwargs, vals, out)

    def call(self, func, args, kwargs):
        if self.quiet:
            return func(*args, **kwargs)
        torch = self.torch
        name = func._overloadpacket.__name__
        inplace = name.endswith("_") and not name.startswith("_") and name[:-1] != ""
        base = name[:-1] if inplace else name
        out = self._fast_meta(base, inplace, args)
        if out is None:
            out = func(*args, **kwargs)
        leaves, _ = torch.utils._pytree.tree_flatten((args, kwargs))
        vals = {id(t): self._value(t) for t in leaves if isinstance(t, torch.Tensor)}
        if base in _LIKE:                    # a tensor made from another's shape and dtype alone
            real = func(torch.empty(tuple(args[0].shape), dtype=args[0].dtype), *[_cpu(a) for a in args[1:]],
                        **{k: _cpu(v) for k, v in kwargs.items()})
            self._bind(out, Const(real, learned=False))
            return out
        if base == "index" and isinstance(vals.get(id(args[0])), Const) and vals[id(args[0])].param:
            return self._index(args, out)           # a table of learned values gathered: its own weight
        if vals and all(isinstance(v, Const) for v in vals.values()) and base not in ("empty",):
            if inplace or base == "copy":
                raise Untraceable(f"aten.{name} writes into a parameter or constant")
            return self._fold(func, args, kwargs, out, base)
        if not vals and isinstance(out, torch.Tensor):          # a tensor made from nothing
            if base in ("empty", "empty_like", "new_empty", "empty_strided"):
                self._bind(out, Unset())
                return out
            real = func(*[_cpu(a) for a in args], **{k: _cpu(v) for k, v in kwargs.items()})
            self._bind(out, Const(real, learned=False))
            return out
        from_input = [v for v in vals.values() if isinstance(v, (Act, View, _Decision))]
        if base in _READ_OUT and from_input:
            raise Unfaithful(DATA_DEPENDENT)
        if base in _COMPARE and from_input:     # a decision on the input's values: its use tells
            self.decided = True
            self._bind(out, _Decision())
            return out
        if any(isinstance(v, _Decision) for v in vals.values()):
            raise Untraceable(f"aten.{name} of a comparison of the input's values")
        handler = ATEN.get(base) if base not in WHOLE else None
        if handler is None:
            raise Untraceable(f"{func} is not read by the tracer")
        if any(isinstance(vals.get(id(x)), Unset) for x in args if isinstance(x, torch.Tensor)):
            raise Untraceable(f"aten.{name} reads a tensor whose values were never set")
        return self._handle(handler, name, inplace, args, kwargs, vals, out)

    def _handle(self, handler, name, inplace, args, kwargs, vals, out):
        """The handler on the values of the arguments; its results bound to torch's outputs."""
        torch = self.torch
        base = name[:-1] if inplace else name
        a, kw = torch.utils._pytree.tree_map(lambda x: vals[id(x)] if isinstance(x, torch.Tensor) else x,
                                             (list(args), kwargs))
        result = handler(self, a, kw, out)
        outs = out if isinstance(out, (tuple, list)) else [out]
        results = result if isinstance(result, (tuple, list)) else [result]
        if inplace:
            target = a[0]
            if not isinstance(target, Act):
                raise Untraceable(f"aten.{name} writes in place into a view or constant")
            for v in self.values.values():          # every other view of it is out of date
                if v is not target and getattr(v, "group", None) == target.group:
                    v.stale = True
            results[0].group = target.group
        for t, v in zip(outs, results):
            if isinstance(t, torch.Tensor) and v is not None:
                if base in VIEWS and isinstance(a[0], (Act, View)):
                    v.group = a[0].group
                self._bind(t, v)
        return out

    def _fast_meta(self, base, inplace, args):
        """The output of an elementwise operator or an inference BatchNorm without running
        torch's meta kernel for it (Python decompositions: most of the trace's time)."""
        torch = self.torch
        x = args[0] if args else None
        if not isinstance(x, torch.Tensor) or x.device.type != "meta" or id(x) not in self.values:
            return None
        if base in FAST_UNARY:
            return x if inplace else torch.empty_like(x)
        if base in BINARY and len(args) > 1:
            y = args[1]
            if not isinstance(y, torch.Tensor):
                return x if inplace and isinstance(y, (int, float)) else \
                    torch.empty_like(x) if isinstance(y, (int, float)) and not isinstance(y, bool) else None
            if y.dtype != x.dtype or y.device.type not in ("meta",):
                return None
            if y.shape == x.shape:
                return x if inplace else torch.empty_like(x)
            shape = torch.broadcast_shapes(x.shape, y.shape)
            if inplace:
                return x if shape == x.shape else None
            return torch.empty(shape, dtype=x.dtype, device="meta")
        if base in ("native_batch_norm", "_native_batch_norm_legit_no_training") and not inplace:
            if base == "native_batch_norm" and args[5]:
                return None
            stat = torch.empty((0,), dtype=x.dtype, device="meta")
            return torch.empty_like(x), stat, torch.empty((0,), dtype=x.dtype, device="meta")
        return None

    def _index(self, args, out):
        """table[:, idx] (a relative-position bias): a Gather of the learned table, as the
        exporter writes it, so the table counts as the parameter it is."""
        table, indices = self.values[id(args[0])], args[1]
        axes = [k for k, t in enumerate(indices) if t is not None]
        if len(axes) != 1 or not isinstance(self._value(indices[axes[0]]), Const):
            raise Untraceable("indexing a parameter by more than one tensor")
        idx = self._value(indices[axes[0]])
        y = self.emit("Gather", [self.name(table), self.name(Const(idx.tensor.to(self.torch.int64)))],
                      out.shape, axis=axes[0])[0]
        self._bind(out, y)
        return out

    def _constant(self, tensor) -> str:
        """A small computed constant as a Constant node (a shape, an axis, attention's scale):
        a number of the graph, not a weight of the model."""
        name = f"onnx::Constant_{next(self.counter)}"
        self.nodes.append(Node("Constant", f"/Constant_{name.rsplit('_', 1)[1]}", [], [name],
                               {"value": self.tensor(name, tensor)}))
        return name

    def _fold(self, func, args, kwargs, out, base):
        """Every input known: computed now on the real tensors (a weight transposed for a
        linear layer, a relative-position table indexed)."""
        torch = self.torch
        real = func(*[self._real(a) for a in args], **{k: self._real(v) for k, v in kwargs.items()})
        t_of = None
        if base == "t" and isinstance(self._value(args[0]), Const):
            t_of = self._value(args[0]).param
        leaves, _ = torch.utils._pytree.tree_flatten((args, kwargs))
        learned = any(self._value(t).learned for t in leaves if isinstance(t, torch.Tensor))
        outs, reals = (out, real) if isinstance(out, (tuple, list)) else ([out], [real])
        for t, r in zip(outs, reals):
            if isinstance(t, torch.Tensor):
                self._bind(t, Const(r, t_of=t_of, learned=learned))
        # a weight broadcast, then viewed, for a bmm (F.linear on four or more axes): still the weight
        src = self._value(args[0]) if learned and isinstance(args[0], torch.Tensor) else None
        if src is not None and isinstance(out, torch.Tensor) and (base == "expand" or (
                src.expand_of is not None and base in VIEWS + SAME)):
            self._value(out).expand_of = src.expand_of or src
        return out

    def _real(self, x):
        torch = self.torch
        if isinstance(x, torch.Tensor):
            return self._value(x).tensor
        if isinstance(x, (list, tuple)):
            return type(x)(self._real(v) for v in x)
        if isinstance(x, torch.device):
            return torch.device("cpu")
        return x

    # ---- the model ------------------------------------------------------------------------
    def model(self, outputs) -> Model:
        names = []
        for i, t in enumerate(outputs):
            v = self._value(t)
            if not isinstance(v, (Act, View, Later)) or any(v is self.values[id(x)] for _, x in self.inputs):
                raise Untraceable("an output that is a constant or an input")
            name = self.name(v)
            names.append((name, t.shape))
        outs = []
        for i, (name, shape) in enumerate(names):
            alias = "output" if len(names) == 1 else f"output{i}"
            self.nodes.append(Node("Identity", f"/{alias}/Identity", [name], [alias], {}))
            outs.append(ValueInfo(alias, 1, list(shape)))
        inputs = [ValueInfo(n, 1, list(t.shape)) for n, t in self.inputs]
        graph = Graph("torch", self.nodes, self.inits, inputs, outs)
        model = Model(8, {"": OPSET}, "cnncost torch trace", graph)
        model.derived = self.derived
        return model



def _cpu(v):
    import torch

    return torch.device("cpu") if isinstance(v, torch.device) else v


def trace(torch, module, examples, input_names) -> Model:
    """Run `module` once on meta tensors and return what it computed as an ONNX model."""
    from torch.nn.modules import module as nn_module
    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode

    rec = Recorder(torch, module, examples, input_names)
    params = rec.meta_params(module)

    class Mode(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            return rec.call(func, args, kwargs or {})

    class Whole(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            if name in WHOLE and not rec.quiet:
                return rec.whole(func, name, args, kwargs or {})
            return func(*args, **(kwargs or {}))

    def enter(m, _):
        rec.stack.append(rec.paths.get(id(m)) or None)

    def leave(m, _, __):
        rec.stack.pop()

    handles = [nn_module.register_module_forward_pre_hook(enter), nn_module.register_module_forward_hook(leave)]
    try:
        with Whole(), Mode():
            out = torch.func.functional_call(module, params, tuple(m for _, m in rec.inputs), strict=False)
    except Untraceable:
        raise
    except Exception as exc:       # noqa: BLE001 - anything the forward raises: the exporter may do better
        if rec.decided and "meta tensors" in str(exc):      # `if y.mean() > 0:` on the input's values
            raise Unfaithful(DATA_DEPENDENT) from None
        raise Untraceable(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    finally:
        for h in handles:
            h.remove()
    flat, _ = torch.utils._pytree.tree_flatten(out)
    tensors = [t for t in flat if isinstance(t, torch.Tensor)]
    if not tensors:
        raise Untraceable("the forward returns no tensor")
    return rec.model(tensors)


def to_bytes(model: Model) -> bytes:
    """The in-memory model as an ONNX file's bytes, for onnxruntime (`verify --engine
    onnxruntime`): built with the onnx package, which comes with onnxruntime's extra."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    inits = []
    for name, t in g.initializers.items():
        dtype = helper.tensor_dtype_to_np_dtype(t.data_type)
        inits.append(numpy_helper.from_array(np.frombuffer(t.raw, dtype=dtype).reshape(t.dims), name))
    def attr(v):
        if isinstance(v, Tensor):
            return numpy_helper.from_array(np.frombuffer(v.raw, dtype=helper.tensor_dtype_to_np_dtype(v.data_type))
                                           .reshape(v.dims), v.name)
        return v
    nodes = [helper.make_node(n.op, n.inputs, n.outputs, name=n.name, **{k: attr(v) for k, v in n.attrs.items()})
             for n in g.nodes]
    info = [helper.make_tensor_value_info(v.name, TensorProto.FLOAT, v.dims) for v in g.inputs]
    outs = [helper.make_tensor_value_info(v.name, TensorProto.FLOAT, v.dims) for v in g.outputs]
    proto = helper.make_model(helper.make_graph(nodes, g.name, info, outs, inits),
                              opset_imports=[helper.make_opsetid("", model.opsets[""])], ir_version=8)
    return proto.SerializeToString()
