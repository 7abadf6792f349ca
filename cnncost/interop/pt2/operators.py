"""What torch.export saves whole and a dispatch never sees (CompositeImplicitAutograd
operators: conv2d, linear, batch_norm, flatten, max_pool2d, softmax, lstm ...), restated in
the terms of the tracer's handlers (interop/torch/aten.py), which write the ONNX: one
adapter per operator in `PT2`, called as adapter(rec, n, out) with n the node's arguments
by schema name (native_functions.yaml) and out its output's shape (a list for several).
A default the archive leaves out is the schema's."""
from __future__ import annotations

from cnncost.interop.handlers import Handlers
from cnncost.interop.torch.aten import ATEN, Const, Untraceable, _batch_norm

PT2 = Handlers("torch.export")


class NumpyAsTorch:
    """The few torch functions the tracer's handlers call to make a tensor, in numpy."""

    int64, float32 = "int64", "float32"          # numpy takes its dtypes by name

    @staticmethod
    def tensor(values, dtype=None):
        import numpy as np

        return np.asarray(values, dtype=dtype or np.float32)

    @staticmethod
    def ones(n):
        import numpy as np

        return np.ones(n, np.float32)

    @staticmethod
    def zeros(n):
        import numpy as np

        return np.zeros(n, np.float32)

    @staticmethod
    def stack(arrays):
        import numpy as np

        return np.stack(arrays)

    @staticmethod
    def cat(arrays):
        import numpy as np

        return np.concatenate(arrays)


def _d(out) -> int:
    return len(out.shape) - 2


def _each(v, d: int) -> list:
    return [v] * d if isinstance(v, int) else list(v) * d if len(v) == 1 else list(v)


def _conv_padding(n, d: int) -> list:
    """Padding as ints; 'valid', or 'same' at stride 1 where the kernel's reach is even."""
    padding = n.get("padding", 0)
    if padding == "valid":
        return [0] * d
    if padding == "same":
        kernel = n["weight"].shape[2:]
        reach = [dl * (k - 1) for dl, k in zip(_each(n.get("dilation", 1), d), kernel)]
        if any(r % 2 for r in reach):
            raise Untraceable("padding='same' with an odd total padding")
        return [r // 2 for r in reach]
    return _each(padding, d)


@PT2.on("conv1d", "conv2d", "conv3d")
def conv(rec, n, out):
    d = _d(out[0])
    args = [n["input"], n["weight"], n.get("bias"), _each(n.get("stride", 1), d), _conv_padding(n, d),
            _each(n.get("dilation", 1), d), False, [0] * d, n.get("groups", 1)]
    return ATEN["convolution"](rec, args, {}, out[0])


@PT2.on("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
def conv_transpose(rec, n, out):
    d = _d(out[0])
    args = [n["input"], n["weight"], n.get("bias"), _each(n.get("stride", 1), d), _each(n.get("padding", 0), d),
            _each(n.get("dilation", 1), d), True, _each(n.get("output_padding", 0), d), n.get("groups", 1)]
    return ATEN["convolution"](rec, args, {}, out[0])


@PT2.on("linear")
def linear(rec, n, out):
    """x W^T + b: a Gemm on a vector; on more axes a MatMul by W^T (a Transpose of the
    weight, which the importer folds) and the bias added."""
    x, w, b = n["input"], n["weight"], n.get("bias")
    shape = out[0].shape
    if len(x.shape) == 2:
        ins = [rec.name(x), rec.name(w)] + ([rec.name(b)] if b is not None else [])
        return rec.emit("Gemm", ins, shape, transB=1)[0]
    wt = rec.emit("Transpose", [rec.name(w)], tuple(reversed(w.shape)), perm=[1, 0])[0]
    y = rec.emit("MatMul", [rec.name(x), wt.name], shape)[0]
    return rec.emit("Add", [y.name, rec.name(b)], shape)[0] if b is not None else y


@PT2.on("matmul")
def matmul(rec, n, out):
    return rec.emit("MatMul", [rec.name(n["self"]), rec.name(n["other"])], out[0].shape)[0]


@PT2.on("batch_norm")
def batch_norm(rec, n, out):
    if n.get("training"):
        raise Untraceable("BatchNorm in training mode: export the module in eval mode")
    return _batch_norm(rec, n["input"], n.get("weight"), n.get("bias"), n["running_mean"], n["running_var"],
                       n.get("eps", 1e-5), out)[0]


@PT2.on("layer_norm")
def layer_norm(rec, n, out):
    args = [n["input"], n["normalized_shape"], n.get("weight"), n.get("bias"), n.get("eps", 1e-5)]
    return ATEN["native_layer_norm"](rec, args, {}, [out[0], None, None])[0]


@PT2.on("group_norm")
def group_norm(rec, n, out):
    x = n["input"]
    size = 1
    for s in x.shape[2:]:
        size *= s
    args = [x, n.get("weight"), n.get("bias"), x.shape[0], x.shape[1], size, n["num_groups"], n.get("eps", 1e-5)]
    return ATEN["native_group_norm"](rec, args, {}, [out[0], None, None])[0]


@PT2.on("flatten", "unflatten")
def flatten(rec, n, out):
    return ATEN["view"](rec, [n.get("input", n.get("self")), list(out[0].shape)], {}, out[0])


@PT2.on("max_pool2d", "max_pool3d")
def max_pool(rec, n, out):
    d = _d(out[0])
    kernel = _each(n["kernel_size"], d)
    args = [n["self"], kernel, _each(n.get("stride") or kernel, d), n.get("padding", 0), n.get("dilation", 1),
            n.get("ceil_mode", False)]
    return ATEN["max_pool2d_with_indices"](rec, args, {}, [out[0], None])[0]


@PT2.on("max_pool1d")
def max_pool1d(rec, n, out):
    kernel = _each(n["kernel_size"], 1)
    args = [n["self"], kernel, n.get("stride") or kernel, n.get("padding", 0), n.get("dilation", 1),
            n.get("ceil_mode", False)]
    return ATEN["max_pool1d"](rec, args, {}, out[0])


@PT2.on("avg_pool1d")
def avg_pool1d(rec, n, out):
    args = [n["self"], n["kernel_size"], n.get("stride") or None, n.get("padding", 0), n.get("ceil_mode", False),
            n.get("count_include_pad", True)]
    return ATEN["avg_pool1d"](rec, args, {}, out[0])


@PT2.on("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d")
def adaptive_avg_pool(rec, n, out):
    x = n["self"]
    key = "adaptive_avg_pool1d" if len(x.shape) == 3 else f"_adaptive_avg_pool{len(x.shape) - 2}d"
    return ATEN[key](rec, [x, n["output_size"]], {}, out[0])


@PT2.on("softmax")
def softmax(rec, n, out):
    return ATEN["_softmax"](rec, [n["self"], n["dim"]], {}, out[0])


@PT2.on("dropout", "feature_dropout", "alpha_dropout", "contiguous", "clone", "lift_fresh_copy", "to", "type_as")
def same(rec, n, out):
    """The input itself (evaluation mode: dropout is the identity; a copy or a cast to float)."""
    x = n.get("input", n.get("self"))
    if n.get("dtype") not in (None, 6, 7, 8):           # the export schema's half, float, double
        raise Untraceable(f"a cast to the export schema's type {n.get('dtype')}, not a float")
    if n.get("train"):
        raise Untraceable("dropout in training mode: export the module in eval mode")
    return x


@PT2.on("zeros", "ones", "full")
def filled(rec, n, out):
    """A tensor of one value made in the graph (an LSTM's zero initial state): a number of the
    graph, not a weight."""
    import numpy as np

    value = {"zeros": 0.0, "ones": 1.0}.get(rec.current, n.get("fill_value", 0.0))
    return Const(np.full(tuple(out[0].shape), value, np.float32), learned=False)


@PT2.on("clamp", "clip")
def clamp(rec, n, out):
    """clamp(x, min, max) as ONNX's Clip (core ATen's spelling of hardtanh, and of hardswish's
    relu6 part); a bound left out is unbounded."""
    x, lo, hi = n["self"], n.get("min"), n.get("max")
    if not all(v is None or isinstance(v, (int, float)) for v in (lo, hi)):
        raise Untraceable("clamp to bounds that are tensors")
    bounds = [rec.scalar(float(v)) if v is not None else "" for v in (lo, hi)]
    return rec.emit("Clip", [rec.name(x), *bounds], out[0].shape)[0]


@PT2.on("pad")
def pad(rec, n, out):
    if n.get("mode", "constant") != "constant":
        raise Untraceable(f"{n.get('mode')} padding")
    return ATEN["constant_pad_nd"](rec, [n["self"], n["pad"], n.get("value") or 0.0], {}, out[0])


@PT2.on("lstm", "gru", "rnn_tanh", "rnn_relu")
def recurrent(rec, n, out):
    """The recurrent layers, whole as the tracer catches them (its WHOLE), in the order of
    their `.input` overloads."""
    order = ["input", "hx", "params", "has_biases", "num_layers", "dropout", "train", "bidirectional", "batch_first"]
    if "data" in n:
        raise Untraceable("a packed sequence (its lengths vary by example)")
    return ATEN[rec.current](rec, [n[k] for k in order], {}, out)
