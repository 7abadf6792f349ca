"""What each ATen operator a traced module dispatches is in ONNX: the values the tracer
keeps (activations, pending reshapes, constants) and one handler per operator in `ATEN`,
h_<name>(rec, args, kwargs, out), writing the nodes through the recorder `rec`
(interop/torch_trace runs the module and calls them; the prefix, as ATen's `slice` or `t`
would shadow Python's or say little). Read against PyTorch's native_functions.yaml and the
ONNX operator specs (opset 17).

At torch 2.14 nn.LSTM/GRU/RNN and the 1-D pools never reach the dispatcher whole: aten::lstm,
max_pool1d, avg_pool1d, adaptive_avg_pool1d are CompositeImplicitAutograd (on meta tensors an
LSTM arrives as its time steps, a 1-D pool as unsqueeze, a 2-D pool, squeeze). The tracer
catches those (WHOLE) at the function level, torch.lstm etc., and their handlers write the
ONNX operator. An LSTM with proj_size is refused (ONNX's LSTM has no projection: neither
reader writes it), naming the spec that counts it."""
from __future__ import annotations

from cnncost.interop.handlers import Handlers

OPSET = 17
ATEN = Handlers("PyTorch")          # the operator's name, without its in-place `_` -> handler
# torch dtype name -> ONNX TensorProto element type
DTYPES = {"float32": 1, "uint8": 2, "int8": 3, "int16": 5, "int32": 6, "int64": 7, "bool": 9, "float16": 10,
          "float64": 11}
UNARY = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "hardswish": "HardSwish", "exp": "Exp",
         "sqrt": "Sqrt", "erf": "Erf", "neg": "Neg", "abs": "Abs", "reciprocal": "Reciprocal"}
BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div"}
# elementwise on one tensor: the output is shaped as the input (see Recorder._fast_meta)
FAST_UNARY = {*UNARY, "silu", "gelu", "hardsigmoid", "hardtanh", "leaky_relu", "elu"}
# operators that only name their input again (a copy, a detached alias, a same-type cast)
SAME = ("clone", "contiguous", "detach", "alias", "lift_fresh", "_to_copy", "dropout")
# operators whose output shares its input's storage (an in-place write through one is seen by the others)
# operators torch decomposes before the dispatcher sees them (CompositeImplicitAutograd): the
# tracer catches them at the function level, whole (trace.Recorder.whole)
WHOLE = ("lstm", "gru", "rnn_tanh", "rnn_relu", "max_pool1d", "max_pool1d_with_indices", "avg_pool1d",
         "adaptive_avg_pool1d")
VIEWS = ("view", "_unsafe_view", "reshape", "t", "transpose", "permute", "expand", "select", "slice",
         "unsqueeze", "squeeze", "split", "split_with_sizes", "unbind", "alias", "detach", "as_strided")


class Untraceable(Exception):
    """What this reader does not write down; the caller falls back to torch.onnx.export."""


class Unfaithful(Untraceable):
    """What neither reader writes faithfully: an in-place write another view of the tensor
    sees (torch.onnx.export's graph reads the view's old values)."""


class Act:
    """An activation: a value of the graph, made by a node or an input."""

    def __init__(self, name, shape, group):
        self.name, self.shape, self.group, self.stale = name, tuple(shape), group, False


class View:
    """A reshape not written yet: a matmul reads its base when it only merged leading axes."""

    def __init__(self, base: Act, shape):
        self.base, self.shape, self.group, self.stale = base, tuple(shape), base.group, False


class Const:
    """A tensor of known value: a parameter or buffer (named so), or a constant computed here."""

    def __init__(self, tensor, param=None, t_of=None, learned=True):
        self.tensor, self.param, self.t_of = tensor, param, t_of
        # computed from shapes alone (an anchor grid, a stride per cell): a number of the
        # graph, not a weight of the model
        self.learned = learned
        self.node = None
        self.expand_of = None     # the weight this one broadcasts (F.linear's weight for a bmm)

    @property
    def shape(self):
        return tuple(self.tensor.shape)


class Later:
    """A value written into the graph only when something reads it (an LSTM's h_n and c_n:
    nodes for an output nobody reads would make the reader see it read)."""

    def __init__(self, shape, write, group):
        self.shape, self.write, self.group, self.stale, self.node = tuple(shape), write, group, False, None

    def written(self, rec) -> str:
        if self.node is None:
            self.node = self.write()
        return self.node


class Unset:
    """The output of torch.empty: shape only, no values (fine unless read)."""

    group = -1
    stale = False


def _tuple(v, d: int) -> list:
    """A window argument for d spatial axes: one int, or one per axis (PyTorch takes both)."""
    return [v] * d if isinstance(v, int) else list(v) * d if len(v) == 1 else list(v)


def _arg(a, kw, i, name, default):
    """Argument i (or `name` as a keyword) of an operator caught whole (WHOLE), whose
    Python-level callers pass some by keyword."""
    return a[i] if len(a) > i else kw.get(name, default)


# ---- layers ---------------------------------------------------------------------------
@ATEN.on("convolution")
def h_convolution(rec, a, kw, out):
    x, w, b, stride, padding, dilation, transposed, output_padding, groups = a[:9]
    ins = [rec.name(x), rec.name(w)] + ([rec.name(b)] if b is not None else [])
    attrs = {"strides": list(stride), "pads": [*padding, *padding], "dilations": list(dilation),
             "group": groups, "kernel_shape": list(w.tensor.shape[2:])}
    if transposed:
        attrs["output_padding"] = list(output_padding)
    return rec.emit("ConvTranspose" if transposed else "Conv", ins, out.shape, **attrs)[0]


def _matmul(rec, x, w, out, bias=None):
    """x @ w (+ bias): on the tensor x flattened its leading axes from, when it did, so a
    linear layer on tokens stays one layer on tokens."""
    lead, x_in = None, x
    if isinstance(x, View) and len(x.shape) == 2 and x.base.shape[-1] == x.shape[-1]:
        lead, x_in = x.base.shape[:-1], x.base
    elif isinstance(x, View) and len(x.shape) == 2 and len(x.base.shape) > 2:
        # (B, T, H, d) flattened to (B*T, H*d): keep the leading axes whose product is B*T
        size = 1
        for j, d in enumerate(x.base.shape):
            size *= d
            if size == x.shape[0] and j + 1 < len(x.base.shape):
                lead = x.base.shape[:j + 1]
                shape = (*lead, x.shape[1])
                x_in = rec.emit("Reshape", [x.base.name, rec.int64(shape)], shape)[0]
                break
    if isinstance(w, Const) and w.t_of is not None and bias is not None and lead is None:
        node = rec.emit("Gemm", [rec.name(x_in), w.t_of, rec.name(bias)], out.shape, transB=1)[0]
        rec.inits.setdefault(w.t_of, rec.tensor(w.t_of, w.tensor.t()))
        return node
    shape = (*lead, out.shape[-1]) if lead is not None else out.shape
    y = rec.emit("MatMul", [rec.name(x_in), rec.name(w)], shape)[0]
    if bias is not None:
        y = rec.emit("Add", [y.name, rec.name(bias)], shape)[0]
    return View(y, out.shape) if lead is not None and tuple(out.shape) != y.shape else y


@ATEN.on("addmm")
def h_addmm(rec, a, kw, out):
    if kw.get("beta", 1) != 1 or kw.get("alpha", 1) != 1:
        raise Untraceable("addmm with alpha or beta")
    return _matmul(rec, a[1], a[2], out, bias=a[0])


@ATEN.on("mm")
def h_mm(rec, a, kw, out):
    return _matmul(rec, a[0], a[1], out)


@ATEN.on("bmm")
def h_bmm(rec, a, kw, out):
    x, y = a[0], a[1]
    if isinstance(y, Const) and y.expand_of is not None and len(y.expand_of.shape) == 2:
        # F.linear on a tensor of four or more axes: x @ weight.t(), the weight broadcast
        return rec.emit("MatMul", [rec.name(x), rec.name(y.expand_of)], out.shape)[0]
    if isinstance(x, View) and isinstance(y, View) and x.base.shape[:-2] == y.base.shape[:-2] \
            and len(x.base.shape) > 3:
        shape = (*x.base.shape[:-2], *out.shape[-2:])
        return View(rec.emit("MatMul", [x.base.name, y.base.name], shape)[0], out.shape)
    return rec.emit("MatMul", [rec.name(x), rec.name(y)], out.shape)[0]


@ATEN.on("native_batch_norm")
def h_native_batch_norm(rec, a, kw, out):
    x, w, b, mean, var, training, _, eps = a[:8]
    if training and mean is None and var is None:
        return _instance_norm(rec, x, w, b, eps, out)
    if training:
        raise Untraceable("BatchNorm in training mode")
    return _batch_norm(rec, x, w, b, mean, var, eps, out)


def _instance_norm(rec, x, w, b, eps, out):
    """F.instance_norm: a batch norm in training mode without running statistics on x viewed
    as (1, N x C, ...), its scale repeated N times; one example's view is x itself."""
    if isinstance(x, View):
        if x.base.shape != x.shape:
            raise Untraceable("an instance norm of a batch of several examples (the batch merged with channels)")
        x = x.base
    c = x.shape[1]
    w = w if w is not None else Const(rec.torch.ones(c))
    b = b if b is not None else Const(rec.torch.zeros(c))
    y = rec.emit("InstanceNormalization", [rec.name(v) for v in (x, w, b)], out[0].shape, epsilon=float(eps))[0]
    return [y, None, None]


@ATEN.on("native_group_norm")
def h_native_group_norm(rec, a, kw, out):
    """As the exporter writes it (opset 17 has no GroupNormalization): the groups as an
    instance norm of (N, G, C/G x spatial), reshaped back, then the per-channel scale and shift."""
    x, w, b, n, c, _, groups, eps = a[:8]
    shape = x.shape
    size = 1
    for d in shape[1:]:
        size *= d
    ones, zeros = (Const(f(groups), learned=False) for f in (rec.torch.ones, rec.torch.zeros))
    y = rec.emit("Reshape", [rec.name(x), rec.int64([0, groups, -1])], (n, groups, size // groups))[0]
    y = rec.emit("InstanceNormalization", [y.name, rec.name(ones), rec.name(zeros)], y.shape, epsilon=float(eps))[0]
    y = rec.emit("Reshape", [y.name, rec.int64(shape)], shape)[0]
    spatial = list(range(1, len(shape) - 1))
    for op, v in (("Mul", w), ("Add", b)):
        if v is not None:        # (C,) as (C, 1, ...) against the map
            t = rec.emit("Unsqueeze", [rec.name(v), rec.int64(spatial)], (c, *[1] * len(spatial)))[0].name \
                if spatial else rec.name(v)
            y = rec.emit(op, [y.name, t], shape)[0]
    return [y, None, None]


@ATEN.on("_native_batch_norm_legit_no_training")
def h__native_batch_norm_legit_no_training(rec, a, kw, out):
    x, w, b, mean, var, _, eps = a[:7]
    return _batch_norm(rec, x, w, b, mean, var, eps, out)


def _batch_norm(rec, x, w, b, mean, var, eps, out):
    c = x.shape[1]
    w = w if w is not None else Const(rec.torch.ones(c))
    b = b if b is not None else Const(rec.torch.zeros(c))
    y = rec.emit("BatchNormalization", [rec.name(v) for v in (x, w, b, mean, var)], out[0].shape,
                 epsilon=float(eps))[0]
    return [y, None, None]


@ATEN.on("native_layer_norm")
def h_native_layer_norm(rec, a, kw, out):
    x, shape, w, b, eps = a[:5]
    ins = [rec.name(x)] + [rec.name(v) for v in (w, b) if v is not None]
    if w is None and b is not None:
        raise Untraceable("a LayerNorm with a bias and no weight")
    y = rec.emit("LayerNormalization", ins, out[0].shape, axis=-len(shape), epsilon=float(eps))[0]
    return [y, None, None]


@ATEN.on("max_pool2d_with_indices", "max_pool3d_with_indices")
def h_max_pool_with_indices(rec, a, kw, out):
    x = a[0]
    d = len(x.shape) - 2
    kernel = _tuple(a[1], d)
    stride = _tuple(a[2], d) if len(a) > 2 and a[2] else kernel
    y = _max_pool(rec, x, d, kernel, stride, a[3] if len(a) > 3 else 0, a[4] if len(a) > 4 else 1,
                  a[5] if len(a) > 5 else False, out[0].shape)
    return [y, None]


def _max_pool(rec, x, d, kernel, stride, padding, dilation, ceil, shape):
    return rec.emit("MaxPool", [rec.name(x)], shape, kernel_shape=kernel, strides=stride,
                    pads=_tuple(padding, d) * 2, dilations=_tuple(dilation, d), ceil_mode=int(bool(ceil)))[0]


@ATEN.on("max_pool1d", "max_pool1d_with_indices")
def h_max_pool1d(rec, a, kw, out):
    """F.max_pool1d, caught whole (WHOLE): torch runs it as a 2-D pool on an unsqueezed map."""
    x = a[0]
    kernel = _tuple(_arg(a, kw, 1, "kernel_size", None), 1)
    stride = _arg(a, kw, 2, "stride", None)
    y = _max_pool(rec, x, 1, kernel, _tuple(stride, 1) if stride else kernel, _arg(a, kw, 3, "padding", 0),
                  _arg(a, kw, 4, "dilation", 1), _arg(a, kw, 5, "ceil_mode", False),
                  (out[0] if isinstance(out, (tuple, list)) else out).shape)
    return [y, None] if isinstance(out, (tuple, list)) else y


@ATEN.on("avg_pool2d", "avg_pool3d")
def h_avg_pool(rec, a, kw, out):
    x = a[0]
    if len(a) > 6 and a[6] is not None:
        raise Untraceable("an average pool with divisor_override")
    return _avg_pool(rec, x, len(x.shape) - 2, a[1], a[2] if len(a) > 2 else None, a[3] if len(a) > 3 else 0,
                     a[4] if len(a) > 4 else False, a[5] if len(a) > 5 else True, out.shape)


@ATEN.on("avg_pool1d")
def h_avg_pool1d(rec, a, kw, out):
    """torch.avg_pool1d, caught whole (WHOLE): torch runs it as a 2-D pool."""
    return _avg_pool(rec, a[0], 1, _arg(a, kw, 1, "kernel_size", None), _arg(a, kw, 2, "stride", None),
                     _arg(a, kw, 3, "padding", 0), _arg(a, kw, 4, "ceil_mode", False),
                     _arg(a, kw, 5, "count_include_pad", True), out.shape)


def _avg_pool(rec, x, d, kernel, stride, padding, ceil, include, shape):
    kernel = _tuple(kernel, d)
    stride = _tuple(stride, d) if stride else kernel
    return rec.emit("AveragePool", [rec.name(x)], shape, kernel_shape=kernel, strides=stride,
                    pads=_tuple(padding, d) * 2, ceil_mode=int(bool(ceil)), count_include_pad=int(bool(include)))[0]


@ATEN.on("_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_avg_pool1d")
def h_adaptive_avg_pool(rec, a, kw, out):
    """A global pool, or a pool of whole windows (as the exporter writes it); adaptive_avg_pool1d
    is caught whole (WHOLE), torch runs it as a 2-D one."""
    x = a[0]
    size, want = x.shape[2:], _tuple(_arg(a, kw, 1, "output_size", None), len(x.shape) - 2)
    want = [s if o is None else o for s, o in zip(size, want)]
    if all(o == 1 for o in want):
        return rec.emit("GlobalAveragePool", [rec.name(x)], out.shape)[0]
    if any(s % o for s, o in zip(size, want)):
        raise Untraceable(f"an adaptive pool from {list(size)} to {want}, not a whole window")
    window = [s // o for s, o in zip(size, want)]
    return rec.emit("AveragePool", [rec.name(x)], out.shape, kernel_shape=window, strides=window)[0]


@ATEN.on("mean")
def h_mean(rec, a, kw, out):
    x = a[0]
    dims = a[1] if len(a) > 1 and a[1] is not None else list(range(len(x.shape)))
    keep = int(bool(a[2] if len(a) > 2 else kw.get("keepdim", False)))
    rank = len(x.shape)
    if rank in (3, 5) and keep and sorted(d % rank for d in dims) == list(range(2, rank)):
        # adaptive_avg_pool1d/3d to 1: a global pool of a 1-D or 3-D map (ONNX's ReduceMean
        # over spatial axes is read on 2-D maps only)
        return rec.emit("GlobalAveragePool", [rec.name(x)], out.shape)[0]
    return rec.emit("ReduceMean", [rec.name(x)], out.shape, axes=list(dims), keepdims=keep)[0]


@ATEN.on("_softmax", "_safe_softmax")
def h__softmax(rec, a, kw, out):
    return rec.emit("Softmax", [rec.name(a[0])], out.shape, axis=a[1])[0]


@ATEN.on("gelu")
def h_gelu(rec, a, kw, out):
    if kw.get("approximate", "none") != "none":
        raise Untraceable("GELU's tanh approximation")
    # as opset 17 spells it (Gelu is an operator from opset 20): x * (1 + erf(x / sqrt 2)) / 2,
    # the pattern the importer reads as one gelu
    x, shape = rec.name(a[0]), out.shape
    d = rec.emit("Div", [x, rec.scalar(2 ** 0.5)], shape)[0]
    e = rec.emit("Erf", [d.name], shape)[0]
    p = rec.emit("Add", [e.name, rec.scalar(1.0)], shape)[0]
    m = rec.emit("Mul", [x, p.name], shape)[0]
    return rec.emit("Mul", [m.name, rec.scalar(0.5)], shape)[0]


@ATEN.on("silu")
def h_silu(rec, a, kw, out):
    s = rec.emit("Sigmoid", [rec.name(a[0])], out.shape)[0]
    return rec.emit("Mul", [rec.name(a[0]), s.name], out.shape)[0]


@ATEN.on("hardsigmoid")
def h_hardsigmoid(rec, a, kw, out):
    return rec.emit("HardSigmoid", [rec.name(a[0])], out.shape, alpha=1 / 6, beta=0.5)[0]


@ATEN.on("hardtanh")
def h_hardtanh(rec, a, kw, out):
    lo, hi = (a[1] if len(a) > 1 else -1.0), (a[2] if len(a) > 2 else 1.0)
    return rec.emit("Clip", [rec.name(a[0]), rec.scalar(lo), rec.scalar(hi)], out.shape)[0]


@ATEN.on("leaky_relu")
def h_leaky_relu(rec, a, kw, out):
    return rec.emit("LeakyRelu", [rec.name(a[0])], out.shape, alpha=float(a[1] if len(a) > 1 else 0.01))[0]


@ATEN.on("elu")
def h_elu(rec, a, kw, out):
    if len(a) > 2 and (a[2] != 1 or (len(a) > 3 and a[3] != 1)):
        raise Untraceable("elu with a scale")
    return rec.emit("Elu", [rec.name(a[0])], out.shape, alpha=float(a[1] if len(a) > 1 else 1.0))[0]


# elementwise operators one ONNX operator each, and the ones that only name their input again:
# a handler made for each
def _unary(onnx_op):
    return lambda rec, a, kw, out: rec.emit(onnx_op, [rec.name(a[0])], out.shape)[0]


def _binary(onnx_op):
    def handler(rec, a, kw, out):
        x, y = a[0], a[1]
        alpha = kw.get("alpha", a[2] if len(a) > 2 else 1)
        if alpha != 1 or kw.get("rounding_mode") is not None:
            raise Untraceable(f"{onnx_op} with alpha or a rounding mode")
        names = [rec.name(v) if not isinstance(v, (int, float)) else rec.scalar(float(v)) for v in (x, y)]
        return rec.emit(onnx_op, names, out.shape)[0]
    return handler


def _same(op):
    def handler(rec, a, kw, out):
        """The input named again: an alias stays in its storage group (an in-place write
        to the original makes it stale), a copy starts its own."""
        x = a[0]
        if not isinstance(x, Act):
            return x
        return Act(x.name, x.shape, x.group if op in VIEWS else next(rec.groups))
    return handler


for _op, _onnx in UNARY.items():
    ATEN.on(_op)(_unary(_onnx))
for _op, _onnx in BINARY.items():
    ATEN.on(_op)(_binary(_onnx))
for _op in SAME:
    ATEN.on(_op)(_same(_op))


@ATEN.on("upsample_nearest2d")
def h_upsample_nearest2d(rec, a, kw, out):
    return _resize(rec, a, out, "nearest", align=False)


@ATEN.on("upsample_bilinear2d")
def h_upsample_bilinear2d(rec, a, kw, out):
    return _resize(rec, a, out, "linear", align=bool(a[2]) if len(a) > 2 else False)


def _resize(rec, a, out, mode, align):
    x = a[0]
    scales = a[-1] if isinstance(a[-1], (list, tuple)) and a[-1] and isinstance(a[-1][0], float) else None
    if scales is None and len(a) > 2 and mode == "nearest" and all(isinstance(s, float) for s in a[2:4]):
        scales = list(a[2:4])
    h, w = x.shape[-2:]
    oh, ow = out.shape[-2:]
    if mode == "nearest" and scales is not None and (int(h * scales[0]), int(w * scales[1])) != (oh, ow):
        raise Untraceable("nearest resize whose scale and size disagree")
    ctm = "asymmetric" if mode == "nearest" else "align_corners" if align else "pytorch_half_pixel"
    return rec.emit("Resize", [rec.name(x), "", "", rec.int64(out.shape)], out.shape, mode=mode,
                    coordinate_transformation_mode=ctm, nearest_mode="floor")[0]


@ATEN.on("_scaled_dot_product_flash_attention_for_cpu")
def h__scaled_dot_product_flash_attention_for_cpu(rec, a, kw, out):
    q, k, v = a[:3]
    if kw.get("is_causal") or kw.get("attn_mask") is not None or (len(a) > 4 and a[4]):
        raise Untraceable("attention with a mask")
    d = q.shape[-1]
    scale = kw.get("scale") or d ** -0.5
    rank = len(k.shape)
    perm = list(range(rank))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    kt = rec.emit("Transpose", [rec.name(k)], (*k.shape[:-2], k.shape[-1], k.shape[-2]), perm=perm)[0]
    scores = (*q.shape[:-1], k.shape[-2])
    s = rec.emit("MatMul", [rec.name(q), kt.name], scores)[0]
    s = rec.emit("Mul", [s.name, rec.scalar(float(scale))], scores)[0]
    p = rec.emit("Softmax", [s.name], scores, axis=-1)[0]
    return [rec.emit("MatMul", [p.name, rec.name(v)], out[0].shape)[0], None]


# ---- recurrent layers ---------------------------------------------------------------------
# PyTorch's gate blocks in ONNX's order (as torch.onnx.export permutes them): LSTM i, f, g, o
# -> i, o, f, c; GRU r, z, n -> z, r, h
RECURRENT = {"lstm": ("LSTM", [0, 3, 1, 2]), "gru": ("GRU", [1, 0, 2]), "rnn_tanh": ("RNN", [0]),
             "rnn_relu": ("RNN", [0])}


def _recurrent(name):
    op, order = RECURRENT[name]

    def handler(rec, a, kw, out):
        """nn.LSTM, nn.GRU, nn.RNN (torch.lstm etc., caught whole: WHOLE): one ONNX node per
        layer, time-first as the exporter writes it; the output and h_n (c_n) as torch gives them."""
        if not isinstance(a[3], bool):
            raise Untraceable(f"{name} of a packed sequence (its lengths vary by example)")
        x, hx, params, bias, layers, dropout, train, bidir, batch_first = a[:9]
        if train and dropout:
            raise Untraceable(f"{name} with dropout in training mode")
        for h0 in (hx if isinstance(hx, (tuple, list)) else [hx]):
            if not isinstance(h0, Const) or bool(h0.tensor.any()):
                raise Untraceable(f"{name} from a given initial state (cnncost's recurrent kinds start from zeros)")
        dirs = 2 if bidir else 1
        per = len(params) // (layers * dirs)
        seq = rec.name(x)
        t, n = (x.shape[1], x.shape[0]) if batch_first else x.shape[:2]
        if batch_first:
            seq = rec.emit("Transpose", [seq], (t, n, x.shape[2]), perm=[1, 0, 2])[0].name
        states = []
        for layer in range(layers):
            w = params[layer * dirs * per:(layer + 1) * dirs * per]
            seq, y_h, y_c = _recurrent_layer(rec, op, name, order, seq, [w[d * per:(d + 1) * per] for d in range(dirs)],
                                             bias, t, n)
            states.append((y_h, y_c))
        y = rec.emit("Transpose", [seq], out[0].shape, perm=[1, 0, 2])[0] if batch_first else \
            Act(seq, out[0].shape, next(rec.groups))
        later = [Later(o.shape, _concat(rec, [s[k] for s in states], o.shape), next(rec.groups))
                 for k, o in enumerate(out[1:])]
        return [y, *later]
    return handler


def _recurrent_layer(rec, op, name, order, seq, weights, bias, t, n):
    """One layer of every direction: (its output (T, N, dirs x h) for the next layer, Y_h, Y_c)."""
    torch = rec.torch
    dirs = len(weights)
    w_hh = weights[0][1].tensor
    h = w_hh.shape[1]
    if w_hh.shape[0] != len(order) * h:      # weight_hh (4h, proj_size): the output is projected
        raise Unfaithful(f"an LSTM with proj_size={h} (hidden size {w_hh.shape[0] // 4}): ONNX's LSTM has no "
                         "projection, so neither the tracer nor torch.onnx.export writes it; count it from a "
                         f"spec: kind lstm with units {w_hh.shape[0] // 4} and proj_size {h}")

    def gates(v):          # the gate blocks in ONNX's order
        return v.reshape(len(order), h, *v.shape[1:])[order].reshape(v.shape)

    parts = {"W": [ws[0] for ws in weights], "R": [ws[1] for ws in weights]}
    if bias:
        parts["B"] = [b for ws in weights for b in ws[2:4]]
    keys = []
    for k, ps in parts.items():
        v = torch.stack([torch.cat([gates(ps[2 * d].tensor), gates(ps[2 * d + 1].tensor)]) for d in range(dirs)]) \
            if k == "B" else torch.stack([gates(p.tensor) for p in ps])
        keys.append(rec.name(Const(v)))
        rec.derived[keys[-1]] = [p.param for p in ps]      # frozen when all its parameters are
    attrs = {"hidden_size": h, "direction": "bidirectional" if dirs == 2 else "forward"}
    if op == "GRU":
        attrs["linear_before_reset"] = 1
    if name == "rnn_relu":
        attrs["activations"] = ["Relu"] * dirs
    shapes = [(t, dirs, n, h), (dirs, n, h)] + ([(dirs, n, h)] if op == "LSTM" else [])
    outs = rec.emit(op, [seq, *keys] if bias else [seq, *keys, ""], *shapes, **attrs)
    if dirs == 1:
        y = rec.emit("Squeeze", [outs[0].name, rec.int64([1])], (t, n, h))[0]
    else:
        y = rec.emit("Transpose", [outs[0].name], (t, n, dirs, h), perm=[0, 2, 1, 3])[0]
        y = rec.emit("Reshape", [y.name, rec.int64([0, 0, -1])], (t, n, dirs * h))[0]
    return y.name, outs[1].name, outs[2].name if op == "LSTM" else None


def _concat(rec, names, shape):
    """h_n (c_n): every layer's final states along axis 0, written when read."""
    return lambda: names[0] if len(names) == 1 else rec.emit("Concat", names, shape, axis=0)[0].name


for _name in RECURRENT:
    ATEN.on(_name)(_recurrent(_name))
