"""ONNX's recurrent operators, LSTM, GRU and RNN, as cnncost's lstm, gru and rnn kinds
(layers/recurrent), and the views of their outputs that exporters read.

Our recurrent kinds take one example's (T, C) and make (T, dirs*h) (every step, ONNX's Y)
or (dirs*h,) (the last state, Y_h). ONNX holds a sequence time-first or batch-first
(`layout` 0: X (T, N, C), Y (T, dirs, N, h), Y_h (dirs, N, h); 1: X (N, T, C), Y
(N, T, dirs, h), Y_h (N, dirs, h)). PyTorch writes a Transpose (1, 0, 2) before a
batch-first LSTM, and after it a Transpose (0, 2, 1, 3) and a Reshape to (T, N, dirs*h)
(a Squeeze of axis 1 for one direction), then a Transpose back to batch-first.

An output of a recurrent node is held "seq_axes": our tensor is the layer's, and
`extra["axes"]` names ONNX's axes by what they hold: T (time), N (the batch), D
(directions), H (hidden), F (directions x hidden, D then H merged). A Transpose permutes
the names, a Reshape merges D and H or a Squeeze drops a single D, with no layer; once
the batch is first and the rest is (T, F) or (F,), the value is our plain tensor or
vector again, the layer's own output. Any other view of it is refused by name.
"""
from __future__ import annotations

import numpy as np

from cnncost.interop.onnx import fold as onnx_fold
from cnncost.interop.onnx.handlers import LAYERS
from cnncost.interop.onnx.values import Const, Held
from cnncost.interop.refusals import Refused

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}


def onnx_dims(reader, x: Held) -> list:
    """ONNX's dims of a value held "seq_axes", from the names of its axes."""
    sizes = {**x.extra["sizes"], "N": reader.batch}
    return [sizes[a] for a in x.extra["axes"]]


def _view(reader, node, x, axes):
    """x with ONNX axes `axes`: our plain tensor or vector again when the batch is first
    and the rest is ours; else still a view."""
    axes = tuple(axes)
    if x.extra["dirs"] == 1:            # one direction: H and F are the same axis
        axes = tuple("F" if a == "H" else a for a in axes)
    ours = ("N", "T", "F") if len(x.shape) == 2 else ("N", "F")
    if axes == ours:
        return reader._alias(node, x, layout="plain" if len(x.shape) == 2 else "vec", extra={})
    reader._alias(node, x, extra={**x.extra, "axes": axes})


def transpose(reader, node, x):
    perm = list(node.attrs.get("perm", range(len(x.extra["axes"]) - 1, -1, -1)))
    axes = x.extra["axes"]
    if sorted(perm) != list(range(len(axes))):
        raise Refused(f"perm {perm} of a rank-{len(axes)} tensor")
    _view(reader, node, x, [axes[p] for p in perm])


def reshape(reader, node, x, target):
    axes = list(x.extra["axes"])
    dims = onnx_dims(reader, x)
    if target == dims:
        return reader._alias(node, x)
    if "D" in axes and axes.index("D") + 1 < len(axes) and axes[axes.index("D") + 1] in "HF":
        k = axes.index("D")               # (dirs, h) merged; one direction's D dropped
        if target == dims[:k] + [dims[k] * dims[k + 1]] + dims[k + 2:]:
            return _view(reader, node, x, axes[:k] + ["F"] + axes[k + 2:])
    raise Refused(f"a reshape of {x.extra['op']}'s output {dims} (axes {''.join(axes)}) to {target}: "
                  "no cnncost kind holds it")


def squeeze(reader, node, x, axes):
    names = list(x.extra["axes"])
    dims = onnx_dims(reader, x)
    axes = [i for i, d in enumerate(dims) if d == 1 and names[i] != "N"] if axes is None \
        else [a % len(dims) for a in axes]
    if any(names[a] != "D" or dims[a] != 1 for a in axes) or not axes:
        raise Refused(f"squeezing axes {axes} of {x.extra['op']}'s output {dims} (axes {''.join(names)})")
    _view(reader, node, x, [n for i, n in enumerate(names) if i not in axes])


def gather(reader, node, x, index):
    """Y_h[d]: one direction's final state (N, h), our vector (PyTorch's h_n[-1]); of a
    bidirectional layer a slice of ours, whose cost is the whole layer's (the file
    computes both directions)."""
    names = list(x.extra["axes"])
    axis = node.attrs.get("axis", 0) % len(names)
    index = np.asarray(index)
    dirs = x.extra["dirs"]
    rest = [n for i, n in enumerate(names) if i != axis]
    if names[axis] != "D" or index.ndim != 0 or rest != ["N", "H" if dirs > 1 else "F"] or \
            not -dirs <= int(index) < dirs:
        raise Refused(f"a Gather of {index.tolist()} on axis {axis} of {x.extra['op']}'s output (axes "
                      f"{''.join(names)}): only one direction's final state is read as a layer's output")
    if dirs == 1:
        return _view(reader, node, x, rest)
    d, h = int(index) % dirs, x.extra["sizes"]["H"]
    reader.emit(node, {"kind": "slice", "start": d * h, "stop": (d + 1) * h}, (h,), [Held(x.layer, x.shape, "vec")],
                layout="vec")


def to_plain(reader, node, x):
    raise Refused(f"the output of {x.extra['op']} held as {list(onnx_dims(reader, x))} (axes "
                  f"{''.join(x.extra['axes'])}) read by {node.op}: cnncost reads it once the batch is first "
                  "and directions x hidden are one axis")


# ---- the operators ------------------------------------------------------------------
def _sequence(reader, node, x, layout: int):
    """Our (T, C) of X, from how it is held."""
    if isinstance(x, Const) or not isinstance(x, Held):
        raise Refused("its input X is a constant")
    if x.layout == "seq_axes":
        axes = x.extra["axes"]
        if axes == (("T", "N", "F") if layout == 0 else ("N", "T", "F")):
            return Held(x.layer, x.shape, "plain")
        raise Refused(f"its input X is held with axes {''.join(axes)} and layout={layout}")
    if layout == 0 and x.layout == "moved" and x.extra["perm"] == [1, 0, 2]:
        src = x.extra["source"]
        if isinstance(src, Held) and src.layout == "plain" and len(src.shape) == 2:
            return src
    if layout == 1 and x.layout == "plain" and len(x.shape) == 2:
        return x
    if layout == 0 and x.layout == "plain" and len(x.shape) == 2:
        raise Refused(f"X {[reader.batch, *x.shape]} with layout=0 puts time on axis 0, which cnncost reads "
                      "as the batch: give the model a batch-first input (PyTorch: batch_first=True, or "
                      "transpose inside the model)")
    raise Refused(f"its input X is a {x.layout} tensor of dims {reader._onnx_dims(x)}; it reads (T, N, C) "
                  "or (N, T, C) sequences")


def _zeros(reader, node, arg, what):
    if arg is None:
        return
    c = reader._const(node, arg, what) if isinstance(arg, Const) else None
    if c is None or np.any(c.value != 0):
        raise Refused(f"{node.op} with a non-zero {what} (cnncost's {node.op.lower()} starts from zero states)")


@LAYERS.on("LSTM", "GRU", "RNN")
def recurrent(reader, node, args):
    op, a = node.op, node.attrs
    args = list(args) + [None] * (8 - len(args))
    layout = int(a.get("layout", 0))
    if layout not in (0, 1):
        raise Refused(f"layout={layout}")
    direction = a.get("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise Refused(f"direction {direction!r}")
    dirs = 2 if direction == "bidirectional" else 1
    if "clip" in a:
        raise Refused(f"{op} with clip={a['clip']} (cnncost's {op.lower()} does not clip its cells)")
    if a.get("input_forget", 0):
        raise Refused("LSTM with input_forget=1 (coupled input and forget gates) has no cnncost kind")
    if a.get("activation_alpha") or a.get("activation_beta"):
        raise Refused(f"{op} with activation_alpha/activation_beta")
    acts = [s.decode() if isinstance(s, bytes) else s for s in a.get("activations", [])]
    body = {}
    if op == "RNN":
        default = ["Tanh"]
        if acts and set(acts) == {"Relu"} and len(acts) in (1, dirs):
            body["activation"] = "relu"
        elif acts and (set(acts) != {"Tanh"} or len(acts) not in (1, dirs)):
            raise Refused(f"RNN with activations {acts} (cnncost's rnn takes Tanh or Relu)")
    else:
        default = DEFAULT_ACTIVATIONS[op]
        if acts and acts != default * dirs:
            raise Refused(f"{op} with activations {acts} (cnncost's {op.lower()} has the default "
                          f"{default * dirs})")
    if op == "GRU":
        body["reset_after"] = bool(a.get("linear_before_reset", 0))
    seq = _sequence(reader, node, args[0], layout)
    t, c = seq.shape
    w = reader._const(node, args[1], "W")
    r = reader._const(node, args[2], "R")
    g = GATES[op]
    h = int(a.get("hidden_size", r.dims[-1] if len(r.dims) == 3 else 0))
    if tuple(w.dims) != (dirs, g * h, c) or tuple(r.dims) != (dirs, g * h, h):
        raise Refused(f"W {list(w.dims)} and R {list(r.dims)} for {dirs} direction(s), {g} gates of hidden size "
                      f"{h} over {c} features (the file is inconsistent)")
    bias = args[3] is not None
    if args[4] is not None:
        lens = reader._const(node, args[4], "sequence_lens") if isinstance(args[4], Const) else None
        if lens is None or np.any(lens.value != t):
            raise Refused(f"{op} with sequence_lens other than the full length {t} (variable lengths depend "
                          "on the data)")
    _zeros(reader, node, args[5], "initial_h")
    if op == "LSTM":
        _zeros(reader, node, args[6], "initial_c")
        _zeros(reader, node, args[7], "P (peepholes)")
    outs = list(node.outputs) + [""] * 3
    used = [bool(o) and reader.consumers[o] > 0 for o in outs[:3]]
    if op == "LSTM" and used[2]:
        raise Refused("LSTM whose cell state Y_c is read: cnncost's lstm makes Y or Y_h")
    if used[0] and used[1]:
        raise Refused(f"{op} whose Y and Y_h are both read: cnncost's {op.lower()} makes one of them (PyTorch's "
                      "h_n of a stack concatenates every layer's final state: read y[:, -1] instead, or h_n "
                      "of one layer)")
    sequences = not used[1]
    body = {"kind": op.lower(), "units": h, "direction": direction, "return_sequences": sequences,
            "bias": bias, **({"bias_layout": "pytorch"} if bias else {}), **body}
    wk = {"kernel": (w, lambda v: v.transpose(0, 2, 1)), "recurrent_kernel": (r, lambda v: v.transpose(0, 2, 1))}
    if bias:
        b = reader._const(node, args[3], "B")
        if tuple(b.dims) != (dirs, 2 * g * h):
            raise Refused(f"B {list(b.dims)} for {dirs} direction(s) of {2 * g * h} biases")
        wk["bias"] = (b, None)
    names = (("T", "D", "N", "H") if layout == 0 else ("N", "T", "D", "H")) if sequences else \
        (("D", "N", "H") if layout == 0 else ("N", "D", "H"))
    extra = {"axes": names, "dirs": dirs, "op": f"{op} {node.name or node.outputs[0]!r}",
             "sizes": {"T": t, "D": dirs, "H": h, "F": dirs * h}}
    held = reader.emit(node, body, None, [seq], wk, output=outs[0 if sequences else 1], layout="seq_axes", extra=extra)
    # the view's own names: one direction's H is our F
    if dirs == 1:
        held.extra["axes"] = tuple("F" if n == "H" else n for n in names)
