"""TFLite's fused recurrent operators onto our `lstm` and `rnn` kinds (layers/recurrent.py):
UNIDIRECTIONAL_SEQUENCE_LSTM (what the converter writes for a tf_keras LSTM of a fixed
batch), BIDIRECTIONAL_SEQUENCE_LSTM, UNIDIRECTIONAL_SEQUENCE_RNN and
BIDIRECTIONAL_SEQUENCE_RNN. (The converter writes Keras' Bidirectional as two
UNIDIRECTIONAL_SEQUENCE_LSTMs, one between two REVERSE_V2s: read as they are.)

An LSTM's inputs (tensorflow/lite/kernels/lstm_shared.h), one block per direction: the
input weights of the input, forget, cell and output gates (h, C), their recurrent weights
(h, h_out), three peephole vectors, the four gate biases (h), the projection (h_out, h)
and its bias; then the output and cell states (variables, zero at the start) and four
layer-norm vectors. UNIDIRECTIONAL: the input, the block (1-17), the states (18, 19), layer
norm (20-23). BIDIRECTIONAL: the input, the forward block (1-17), the backward block
(18-34), the states (35-38), an auxiliary input and its weights (39-47). An RNN's: the
input, then per direction its weights (h, C), recurrent weights (h, h), bias (h) and state.

Ours: gates in ONNX's order i, o, f, c; kernel (dirs, C, 4h) the input weights transposed
side by side, recurrent_kernel (dirs, h_out, 4h), one bias per gate (bias_layout keras),
projection (dirs, h, h_out). The cell's and output's activation (the fused one) is tanh;
the converter's cell_clip (10 for a Keras LSTM) is our cell_clip. A backward direction's
outputs are in input time order, as ours. What the kinds cannot compute is refused by name:
peepholes, a coupled input gate (CIFG), layer norm, a projection bias or clip, another
activation, time-major sequences, an auxiliary input, an initial state other than zero."""
from __future__ import annotations

import math

from cnncost.interop.refusals import Refused
from cnncost.interop.tflite.file import Damaged, TensorInfo
from cnncost.interop.tflite.operators import OPERATORS

LSTM_GATES = (1, 4, 2, 3)          # a block's input weights, i f c o, in our order i o f c
CELL_ACTIVATIONS = {4: "tanh"}
RNN_ACTIVATIONS = {1: "relu", 4: "tanh"}
FUSED_NAMES = {0: "none", 1: "relu", 2: "relu_n1_to_1", 3: "relu6", 4: "tanh", 5: "sign_bit", 6: "sigmoid"}


def _stacked(r, parts: list, shape: tuple, arrange) -> tuple:
    """One weight of ours made of the file's tensors `parts` (each [direction][piece]):
    (what the reader counts and names its dtype by, a function that makes it in our layout)."""
    first = parts[0][0]
    info = TensorInfo(first.index, first.name, shape, first.dtype, first.buffer)

    def make():
        import numpy as np

        return np.stack([arrange(np, [t.real() for t in pieces]) for pieces in parts]).astype(np.float32)
    return info, make


def _tensor(r, i: int, shape: tuple, what: str) -> TensorInfo:
    w = r.const(i, what)
    if tuple(w.shape) != shape:
        raise Damaged(f"its {what} (tensor {i}) has shape {list(w.shape)}; {list(shape)} expected")
    return w


def _zero_state(r, i: int, what: str) -> None:
    """A state input: a variable the interpreter zeroes (no operator writes it)."""
    if i < 0:
        raise Damaged(f"no {what} tensor")
    if i in r.values:
        raise Refused(f"its {what} comes from another operator: cnncost's recurrent kinds start from zero")
    c = r.constant(i)
    if c is not None and any(c.numbers()):
        raise Refused(f"a non-zero initial {what}")


def _sequence(r, op) -> tuple[str, int, int]:
    """(our layer, T, C) of the operator's batch-first input."""
    x = r.act(op.inputs[0])
    _, t, c = r.shape(op.inputs[0], 3, "input")
    return x, t, c


def _time_major(r, op, field: int, default: int) -> None:
    if r.opt(op, field, "b", default):
        raise Refused("time_major: its sequence is time-first (T, N, C); cnncost's sequences are batch-first "
                      "(convert with time_major=False, Keras' default)")


def _activation(r, op, field: int, known: dict, kind: str) -> str:
    code = r.opt(op, field, "b")
    if code not in known:
        raise Refused(f"activation {FUSED_NAMES.get(code, code)}: the {kind} kind's is "
                      f"{' or '.join(sorted(set(known.values())))}")
    return known[code]


# ---- LSTM -----------------------------------------------------------------------------
def _lstm_block(r, op, base: int, c: int) -> dict:
    """One direction's tensors (the block at inputs base+1 ... base+17): their sizes checked,
    what our kind cannot compute refused."""
    ins = op.inputs
    at = lambda k: ins[base + k]       # noqa: E731 - the block's k-th input
    absent = [base + k for k in (2, 3, 4, 6, 7, 8, 13, 14, 15) if at(k) < 0]
    if absent:
        raise Damaged(f"inputs {absent} are absent: an LSTM has forget, cell and output gate weights and biases")
    if at(1) < 0 or at(5) < 0:
        raise Refused("a coupled input and forget gate (CIFG: no input gate weights); the lstm kind has an "
                      "input gate")
    if any(at(k) >= 0 for k in (9, 10, 11)):
        raise Refused("peephole connections (cell-to-gate weights); the lstm kind has none")
    if at(17) >= 0:
        raise Refused("a projection bias; the lstm kind's projection has none")
    h = r.shape(at(4), 2, "input weights")[0]
    proj = _tensor(r, at(16), (r.shape(at(16), 2, "projection")[0], h), "projection") if at(16) >= 0 else None
    h_out = proj.shape[0] if proj is not None else h
    return {"kernel": [_tensor(r, at(k), (h, c), "input weights") for k in LSTM_GATES],
            "recurrent": [_tensor(r, at(k + 4), (h, h_out), "recurrent weights") for k in LSTM_GATES],
            "bias": [_tensor(r, at(k + 11), (h,), "gate bias") for k in LSTM_GATES],
            "projection": proj, "h": h, "h_out": h_out}


def _lstm_weights(r, blocks: list, c: int) -> tuple[dict, dict]:
    """Our weights for the direction blocks (forward first), and the layer's arguments."""
    h, h_out, dirs = blocks[0]["h"], blocks[0]["h_out"], len(blocks)
    if any((b["h"], b["h_out"]) != (h, h_out) for b in blocks):
        raise Refused("directions of different sizes in one layer")
    side = lambda np, ws: np.concatenate([w.T for w in ws], axis=1)     # noqa: E731 - (h, k) each -> (k, 4h)
    weights = {"kernel": _stacked(r, [b["kernel"] for b in blocks], (dirs, c, 4 * h), side),
               "recurrent_kernel": _stacked(r, [b["recurrent"] for b in blocks], (dirs, h_out, 4 * h), side),
               "bias": _stacked(r, [b["bias"] for b in blocks], (dirs, 4 * h), lambda np, bs: np.concatenate(bs))}
    if blocks[0]["projection"] is not None:
        weights["projection"] = _stacked(r, [[b["projection"]] for b in blocks], (dirs, h, h_out),
                                         lambda np, ps: ps[0].T)
    return weights, {"units": h, "proj_size": h_out if h_out != h else None, "bias_layout": "keras"}


def _lstm_options(r, op, proj_clip_field: int) -> dict:
    """The options both LSTMs share: fused activation (0), cell_clip (1), proj_clip (2)."""
    _activation(r, op, 0, CELL_ACTIVATIONS, "lstm")
    clip, proj_clip = r.opt(op, 1, "f", 0.0), r.opt(op, proj_clip_field, "f", 0.0)
    if not (math.isfinite(clip) and clip >= 0):
        raise Damaged(f"cell_clip {clip}")
    if proj_clip:
        raise Refused(f"proj_clip {proj_clip} (the projection's output clipped); the lstm kind has no such bound")
    return {"cell_clip": float(clip) if clip else None}


@OPERATORS.on("UNIDIRECTIONAL_SEQUENCE_LSTM")
def unidirectional_sequence_lstm(r, op):
    if len(op.inputs) < 20:
        raise Damaged(f"{len(op.inputs)} inputs; it has 20 or 24")
    x, _, c = _sequence(r, op)
    _time_major(r, op, 3, 0)
    if r.opt(op, 5, "b"):
        raise Refused("diagonal recurrent weights; the lstm kind's are full matrices")
    if any(i >= 0 for i in op.inputs[20:24]):
        raise Refused("layer normalisation of the gates (a layer-norm LSTM); the lstm kind has none")
    for i, what in ((op.inputs[18], "output state"), (op.inputs[19], "cell state")):
        _zero_state(r, i, what)
    args = _lstm_options(r, op, 2)
    weights, shape = _lstm_weights(r, [_lstm_block(r, op, 0, c)], c)
    r.emit(op, "lstm", [x], weights=weights, **shape, **args)


@OPERATORS.on("BIDIRECTIONAL_SEQUENCE_LSTM")
def bidirectional_sequence_lstm(r, op):
    if len(op.inputs) < 48:
        raise Damaged(f"{len(op.inputs)} inputs; it has 48")
    x, _, c = _sequence(r, op)
    _time_major(r, op, 4, 1)                       # the schema's default: time-major
    if any(i >= 0 for i in op.inputs[39:48]):
        raise Refused("an auxiliary input (stacked bidirectional cells with cross links)")
    for i in op.inputs[35:39]:
        _zero_state(r, i, "state")
    args = _lstm_options(r, op, 2)
    blocks = [_lstm_block(r, op, 0, c), _lstm_block(r, op, 17, c)]
    _both_directions(r, op, x, "lstm", blocks, lambda bs: _lstm_weights(r, bs, c), r.opt(op, 3, "b"), args)


def _both_directions(r, op, x, kind, blocks, weights_of, merged: bool, args: dict) -> None:
    """A bidirectional operator: merged, one layer of ours [forward | backward]; else its two
    outputs, a forward and a reverse layer."""
    if merged:
        weights, shape = weights_of(blocks)
        r.emit(op, kind, [x], weights=weights, direction="bidirectional", **shape, **args)
        return
    if len(op.outputs) < 2:
        raise Damaged(f"{len(op.outputs)} output(s) without merge_outputs; it has 2")
    for k, direction in enumerate(("forward", "reverse")):
        weights, shape = weights_of(blocks[k:k + 1])
        r.emit(op, kind, [x], weights=weights, out=op.outputs[k],
               direction=direction if k else None, **shape, **args)


# ---- RNN ------------------------------------------------------------------------------
def _rnn_weights(r, at: list, c: int) -> tuple[dict, dict]:
    """Our weights from each direction's (weights, recurrent weights, bias) inputs."""
    h = r.shape(at[0][0], 2, "weights")[0]
    parts = [(_tensor(r, w, (h, c), "weights"), _tensor(r, u, (h, h), "recurrent weights"),
              _tensor(r, b, (h,), "bias")) for w, u, b in at]
    dirs = len(parts)
    weights = {"kernel": _stacked(r, [[p[0]] for p in parts], (dirs, c, h), lambda np, ws: ws[0].T),
               "recurrent_kernel": _stacked(r, [[p[1]] for p in parts], (dirs, h, h), lambda np, ws: ws[0].T),
               "bias": _stacked(r, [[p[2]] for p in parts], (dirs, h), lambda np, bs: bs[0])}
    return weights, {"units": h, "bias_layout": "keras"}


def _rnn_head(r, op, need: int, said: str) -> tuple[str, int, dict]:
    """(our layer, C, our activation argument) of an RNN operator of `need` inputs or more;
    its options: time_major (0), the fused activation (1)."""
    if len(op.inputs) < need or min(op.inputs[:need]) < 0:
        raise Damaged(f"inputs {op.inputs}; it has {said}")
    x, _, c = _sequence(r, op)
    _time_major(r, op, 0, 0)
    act = _activation(r, op, 1, RNN_ACTIVATIONS, "rnn")
    return x, c, {"activation": act if act != "tanh" else None}


@OPERATORS.on("UNIDIRECTIONAL_SEQUENCE_RNN")
def unidirectional_sequence_rnn(r, op):
    x, c, act = _rnn_head(r, op, 5, "5")
    _zero_state(r, op.inputs[4], "hidden state")
    weights, shape = _rnn_weights(r, [op.inputs[1:4]], c)
    r.emit(op, "rnn", [x], weights=weights, **act, **shape)


@OPERATORS.on("BIDIRECTIONAL_SEQUENCE_RNN")
def bidirectional_sequence_rnn(r, op):
    x, c, act = _rnn_head(r, op, 9, "9 to 12")
    if any(i >= 0 for i in op.inputs[9:12]):
        raise Refused("an auxiliary input (stacked bidirectional cells with cross links)")
    for i in (op.inputs[4], op.inputs[8]):
        _zero_state(r, i, "hidden state")
    blocks = [op.inputs[1:4], op.inputs[5:8]]
    _both_directions(r, op, x, "rnn", blocks, lambda bs: _rnn_weights(r, bs, c), r.opt(op, 2, "b"), act)
