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

Y_h read beside Y (a bare nn.GRU's h_n, PyTorch's h_n of a stack, whose Concat reads every
layer's Y_h) is held as a view of the layer's Y and read out where used (_state): the last
step of the forward direction, the first of the reverse one, zero-cost gathers and slices.
A stack's h_n (seq_states) is read one row at a time. Y_c (c_n) is refused (CELL_STATE).
A time-first output (T, N, dirs*h) or h_n (rows, N, h) as a graph output is ours with the
batch moved first, marked batch_second; read by another operator, it is the file's tensor
of one example (the "full" world, batch 1). A model's own time-first input (T, N, C) is
"tnc" (reader), read only as a recurrent X.
"""
from __future__ import annotations

import numpy as np

from cnncost.interop.onnx import fold as onnx_fold
from cnncost.interop.onnx.handlers import LAYERS
from cnncost.interop.onnx.proto import Node
from cnncost.interop.onnx.values import Const, Held
from cnncost.interop.refusals import Refused

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
# c_n is no part of what cnncost's lstm makes (its output, every step's h, or the last h), nor
# a function of it: a kind has one output, and an option that appended c_n to it would change
# the lstm's output for every reader. Refused, with the way out.
CELL_STATE = ("LSTM whose cell state Y_c is read (PyTorch's c_n): cnncost's lstm makes every step's h (its "
              "output) and the final h (h_n), not c_n; count the module with c_n left unread, e.g. wrap it: "
              "`y, (h_n, _) = self.lstm(x); return y` (or h_n)")
DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}


def onnx_dims(reader, x: Held) -> list:
    """ONNX's dims of a value held "seq_axes", from the names of its axes."""
    sizes = {**x.extra["sizes"], "N": reader.batch, "S": len(x.extra.get("rows", ()))}
    return [sizes[a] for a in x.extra["axes"]]


def _view(reader, node, x, axes):
    """x with ONNX axes `axes`: our plain tensor or vector again when the batch is first
    and the rest is ours; else still a view."""
    axes = tuple(axes)
    if x.extra["dirs"] == 1:            # one direction: H and F are the same axis
        axes = tuple("F" if a == "H" else a for a in axes)
    ours = ("N", "T", "F") if len(x.shape) == 2 else ("N", "F")
    if axes == ours and "steps" in x.extra:      # Y_h of a layer whose output is Y: its final states
        parts = [_state(reader, node, x, d) for d in range(x.extra["dirs"])]
        return reader._alias(node, parts[0] if len(parts) == 1 else reader.emit(
            _part(node, "states"), {"kind": "concat"}, None, parts, output=False, layout="vec"))
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
    stack's h_n (every layer's Y_h concatenated) one layer's direction. A slice of the
    layer's output where it is a part of it, whose cost is the whole layer's (the file
    computes every direction and step)."""
    names = list(x.extra["axes"])
    axis = node.attrs.get("axis", 0) % len(names)
    index = np.asarray(index)
    rest = [n for i, n in enumerate(names) if i != axis]
    if names[axis] == "T" and rest == ["N", "F"] and index.ndim == 0:
        # one step of a time-first output, y[-1] (PyTorch's seq-first idiom): ours (T, F)'s row
        t = x.extra["sizes"]["T"]
        if not -t <= int(index) < t:
            raise Refused(f"a Gather of step {int(index)} of {x.extra['op']}'s {t} steps")
        reader.values[node.outputs[0]] = reader.emit(
            node, {"kind": "gather", "axis": 1, "indices": [int(index) % t], "keepdims": False}, None,
            [Held(x.layer, x.shape, "plain")], output=False, layout="vec")
        return
    rows = _rows_of(x)
    if names[axis] not in "DS" or index.ndim != 0 or rest[0] != "N" or not -len(rows) <= int(index) < len(rows):
        raise Refused(f"a Gather of {index.tolist()} on axis {axis} of {x.extra['op']}'s output (axes "
                      f"{''.join(names)}): only one direction's final state is read as a layer's output")
    state, d = rows[int(index) % len(rows)]
    reader.values[node.outputs[0]] = _state(reader, node, state, d)


def _rows_of(x) -> list:
    """The final states a Y_h view or a stack of them holds, one (Y_h view, direction) a row."""
    return x.extra["rows"] if x.layout == "seq_states" else [(x, d) for d in range(x.extra["dirs"])]


def _state(reader, node, x, d) -> Held:
    """Direction d's final state of the layer a Y_h view is of, our vector (h,): the layer's
    own output, a slice of it, or, where the layer returns every step (its Y is read too),
    the step the direction ends on (the last forward, the first reverse) sliced out of Y."""
    dirs, h = x.extra["dirs"], x.extra["sizes"]["H"]
    cache = reader.__dict__.setdefault("_state_cache", {})
    if (x.layer, d) in cache:
        return cache[(x.layer, d)]
    v = Held(x.layer, x.shape, "vec")
    if "steps" in x.extra:               # the layer's output is Y (T, dirs x h)
        t = x.extra["steps"]
        step = 0 if d == 1 or x.extra["reverse"] else t - 1
        v = reader.emit(_part(node, f"step{d}"), {"kind": "gather", "axis": 1, "indices": [step], "keepdims": False},
                        None, [Held(x.layer, (t, dirs * h), "plain")], output=False, layout="vec")
    if dirs == 2:
        v = reader.emit(_part(node, f"dir{d}"), {"kind": "slice", "start": d * h, "stop": (d + 1) * h}, (h,), [v],
                        output=False, layout="vec")
    cache[(x.layer, d)] = v
    return v


def _part(node, suffix):
    """A node for a layer the import adds on its own."""
    return Node(node.op, f"{node.name or node.outputs[0]}_{suffix}", node.inputs, [], {})


def concat(reader, node, args):
    """PyTorch's h_n (c_n) of a stack: every layer's Y_h along the directions axis, read
    again one row at a time (gather)."""
    if not all(isinstance(a, Held) and a.layout in ("seq_axes", "seq_states") for a in args) or \
            node.attrs.get("axis", 0) % 3 != 0 or any(_rows_axes(a) != ("N", "H") for a in args):
        raise Refused("a Concat of a recurrent node's output with other values: cnncost reads the "
                      "concatenated final states (PyTorch's h_n) one row at a time")
    rows = [r for a in args for r in _rows_of(a)]
    h = {a.extra["sizes"]["H"] for a in args}
    if len(h) != 1:
        raise Refused(f"final states of hidden sizes {sorted(h)} concatenated")
    reader.values[node.outputs[0]] = Held(args[0].layer, (len(rows), h.pop()), "seq_states", extra={
        "rows": rows, "axes": ("S", "N", "H"), "op": args[0].extra["op"], "sizes": dict(args[0].extra["sizes"])})


def _rows_axes(x) -> tuple:
    """The axes after the first of a Y_h view (ONNX layout 0: D, N, H) or a stack of them."""
    axes = x.extra["axes"]
    return tuple("H" if a == "F" else a for a in axes[1:]) if axes[0] in "DS" else ()


def as_output(reader, node, x) -> Held:
    """A graph output with the batch on ONNX's axis 1 (PyTorch's time-first output
    (T, N, dirs*h), its h_n (layers x dirs, N, h)): ours without that axis, marked
    `batch_second` so what runs the file compares it with the batch moved first."""
    axes = tuple(x.extra["axes"])
    if axes == ("T", "N", "F"):
        return Held(x.layer, x.shape, "plain", extra={"batch_second": True})
    if _rows_axes(x) != ("N", "H"):
        to_plain(reader, node, x)
    h = x.extra["sizes"]["H"]
    rows = [reader.emit(_part(node, f"row{k}"), {"kind": "reshape", "shape": [1, h]}, (1, h),
                        [_state(reader, node, state, d)], output=False, layout="plain")
            for k, (state, d) in enumerate(_rows_of(x))]
    out = rows[0] if len(rows) == 1 else reader.emit(_part(node, "states"), {"kind": "concat", "axis": 1}, None,
                                                     rows, output=False, layout="plain")
    return Held(out.layer, out.shape, "plain", extra={"batch_second": True})


def batch_inside(x) -> bool:
    """Whether the batch is not ONNX's first axis of a view (time-first, or final states)."""
    return x.extra["axes"][0] != "N"


def to_full(reader, node, x) -> Held:
    """A view with the batch inside (T, N, dirs*h), read at batch 1 as the file's tensor of
    one example, its leading axes included ("full", onnx/worlds): ours reshaped, where its
    other axes are in our order; the final states stacked (as_output) first."""
    axes = [a for a in x.extra["axes"] if a != "N"]
    if x.layout == "seq_states" or axes[0] in "DS":
        x = as_output(reader, node, x)
    elif "".join(axes) not in ("TF", "TDH", "TDF"):
        to_plain(reader, node, x)
    dims = onnx_dims(reader, x) if x.layout != "plain" else [x.shape[0], 1, x.shape[1]]
    return reader.emit(_part(node, "example"), {"kind": "reshape", "shape": dims}, tuple(dims),
                       [Held(x.layer, x.shape, "plain")], output=False, layout="full")


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
    if layout == 0 and x.layout == "moved" and len(x.extra["perm"]) == 3 and x.extra["perm"][1] == 0:
        # the batch moved to axis 1 of a plain (T, C) or (C, T) tensor (a CRNN's features
        # permuted (2, 0, 1) to (W, N, C)): ours, transposed where it was (C, T)
        src, perm = x.extra["source"], x.extra["perm"]
        if isinstance(src, Held) and src.layout == "plain" and len(src.shape) == 2:
            if perm == [1, 0, 2]:
                return src
            return reader.emit(_part(node, "time_first"), {"kind": "transpose", "perm": [0, 2, 1]},
                               (src.shape[1], src.shape[0]), [src], output=False, layout="plain")
    if layout == 1 and x.layout == "plain" and len(x.shape) == 2:
        return x
    if layout == 0 and x.layout == "tnc":         # the model's time-first input
        return Held(x.layer, x.shape, "plain")
    if layout == 0 and x.layout == "full" and len(x.shape) == 3 and x.shape[1] == 1 and reader.batch == 1:
        # a time-first tensor read at batch 1 with its batch axis inside (a CRNN's linear
        # layer between two LSTMs, to_full): its one example's (T, C)
        return reader.emit(_part(node, "sequence"), {"kind": "reshape", "shape": [x.shape[0], x.shape[2]]},
                           (x.shape[0], x.shape[2]), [x], output=False, layout="plain")
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
        raise Refused(CELL_STATE)
    sequences = used[0] or not used[1]        # Y read: Y_h is a part of it (_state)
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
    if sequences and used[1]:            # Y_h as well: the steps each direction ends on, read when used
        reader.values[outs[1]] = Held(held.layer, (dirs * h,), "seq_axes", extra={
            **extra, "axes": ("D", "N", "H") if layout == 0 else ("N", "D", "H"), "steps": t,
            "reverse": direction == "reverse"})
