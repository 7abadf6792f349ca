"""Recurrent layers over a sequence: `lstm`, `gru` and a plain `rnn`, forward, reverse or
bidirectional, returning every step's state or the last one.

Shapes (per example; the batch axis is never in shapes): the input is (T, C), T time steps
(tokens) of C features. The output is (T, dirs x h_out) with `return_sequences` (the
default), else the final state of each direction, (dirs x h_out,): ONNX's Y_h, PyTorch's
h_n, Keras' return_sequences=False. Directions are concatenated direction-major, then
hidden ([forward | reverse], as PyTorch's output and Keras' Bidirectional merge_mode
'concat'); a reverse direction's sequence is in input time order (ONNX's Y). h_out is
`proj_size` for an LSTM with a projection, else `units` (h). A stack is several layers in
a spec (PyTorch's num_layers is one layer each); PyTorch's batch_first is a property of
its tensors, not of the cost: our batch is always first.

Final states read beside the output (a bare nn.GRU returns (output, h_n)): h_n is no layer of
its own but the step each direction ends on, read out of the output (the last step of the
forward direction, the first of the reverse one): zero-cost gathers and slices of this kind's
(T, dirs x h_out) output, exact. An LSTM's cell state c_n is not a function of the output
and a kind has one output: readers refuse a c_n that is read, saying to leave it unread.

One internal weight layout, which every reader permutes a framework's weights into. The
gate order is ONNX's, so the export is direct: LSTM i, o, f, c (PyTorch's is i, f, g, o;
Keras' i, f, c, o); GRU z, r, h (PyTorch's r, z, n; Keras' z, r, h). With G gates (LSTM 4,
GRU 3, RNN 1) and dirs directions (1, or 2 bidirectional; forward first):

    kernel            (dirs, C, G*h)       x_t @ kernel[d]: ONNX W[d] transposed, PyTorch weight_ih^T
    recurrent_kernel  (dirs, h_out, G*h)   h_{t-1} @ recurrent_kernel[d]: ONNX R[d]^T, PyTorch weight_hh^T
    bias              (dirs, 2*G*h)        bias_layout pytorch: [input bias | recurrent bias], ONNX's B,
                                           PyTorch's bias_ih and bias_hh
                      (dirs, G*h)          bias_layout keras: one bias vector (the recurrent one zero)
                      (dirs, 2*G*h)        keras GRU with reset_after: Keras' (2, 3h) [input; recurrent]
    projection        (dirs, h, proj_size) LSTM proj_size: h_t = (o ⊙ tanh c_t) @ projection[d],
                                           PyTorch's weight_hr^T (no ONNX operator has it)

Equations are ONNX's LSTM, GRU and RNN operators with their default activations (sigmoid
gates, tanh cells; an RNN's tanh or relu), no peepholes, zero initial states; an LSTM's
`cell_clip` bounds its cell state as TFLite's does (ONNX's clip, on the gates, is not read):
    LSTM  i, o, f = σ(x W + h R + b);  c~ = tanh(x W_c + h R_c + b_c);  c = f ⊙ c + i ⊙ c~;
          h = o ⊙ tanh(c)  (then h = h P with proj_size)
    GRU   z, r = σ(x W + h R + b);  reset_after (PyTorch, Keras' default, ONNX linear_before_reset=1):
          h~ = tanh(x W_h + Wb_h + r ⊙ (h R_h + Rb_h)); else (the original GRU):
          h~ = tanh(x W_h + (r ⊙ h) R_h + Wb_h + Rb_h);  h = (1 - z) ⊙ h~ + z ⊙ h
    RNN   h = act(x W + h R + b)

Costs, per time step and direction, then times T and times dirs (exact integers, O(1) in T):
mults (MACs): the products with the two weight matrices, LSTM 4h(C + h_out) (+ h x proj_size),
GRU 3h(C + h), RNN h(C + h) — each step is a dense layer on [x_t, h_{t-1}], so they are of the
`dense` class. FLOPs: 2 per MAC; 1 per bias element (G*h per bias vector: pytorch 2 vectors,
keras 1, a keras GRU with reset_after 2); the gate arithmetic by the activation table
(sigmoid 3, tanh 1, relu 1 per element) and 1 per element-wise multiply, add or 1 - z:
LSTM 3 σ + 2 tanh + 4 = 15h, GRU 2 σ + tanh + 5 = 12h, RNN the activation's h.
"""
from __future__ import annotations

import math

from cnncost.errors import ExportError, ShapeError, SpecError
from cnncost.layers.activation import FUNCTIONS
from cnncost.layers.base import Arg, Kind, Saved, Tensorial, fmt_shape, numel, register

DIRECTIONS = ("forward", "reverse", "bidirectional")
SIGMOID, TANH = FUNCTIONS["sigmoid"][0], FUNCTIONS["tanh"][0]
COMMON_ARGS = {
    "units": Arg("int", doc="hidden size h"),
    "direction": Arg("choice", "forward", choices=DIRECTIONS, doc="bidirectional: two directions, concatenated"),
    "return_sequences": Arg("bool", True, doc="every step's state (T, dirs*h) or the final one (dirs*h,)"),
    "bias": Arg("bool", True),
    "bias_layout": Arg("choice", "pytorch", choices=("pytorch", "keras"),
                       doc="pytorch (and ONNX): an input and a recurrent bias per gate; keras: one"),
}


class Recurrent(Tensorial, Kind):
    """What the three kinds share: shapes, weights, the cost formulas from per-kind
    constants, the loop over time and the export. Subclasses give `gates`, `onnx_op`,
    the per-step gate arithmetic (`pointwise`), what the backward keeps per unit
    (`kept`) and one step of the forward (`step`)."""

    family = "recurrent"
    gates = 1
    onnx_op = ""
    mult_classes = ("dense",)

    # ---- dimensions ----
    def dims(self, a, ins):
        """(T, C, h, h_out, dirs) of this layer on input shape ins[0]."""
        if len(ins[0]) != 2:
            raise ShapeError(f"expected an input of rank 2 (T x C: time steps x features), "
                             f"received {fmt_shape(ins[0])}")
        t, c = ins[0]
        return t, c, a.units, a.get("proj_size") or a.units, 2 if a.direction == "bidirectional" else 1

    def bias_vectors(self, a) -> int:
        """How many bias vectors of G*h each direction holds."""
        return 0 if not a.bias else 2 if a.bias_layout == "pytorch" else 1

    def pointwise(self, a) -> int:
        """FLOPs of one step's gate arithmetic per hidden unit."""
        raise NotImplementedError

    def kept(self, a, h, h_out) -> int:
        """Elements one step of one direction keeps for the backward."""
        raise NotImplementedError

    def output_shape(self, a, ins):
        t, _, _, h_out, dirs = self.dims(a, ins)
        return (t, dirs * h_out) if a.return_sequences else (dirs * h_out,)

    def weight_shapes(self, a, ins):
        _, c, h, h_out, dirs = self.dims(a, ins)
        g = self.gates * h
        w = {"kernel": (dirs, c, g), "recurrent_kernel": (dirs, h_out, g)}
        if a.bias:
            w["bias"] = (dirs, self.bias_vectors(a) * g)
        if a.get("proj_size"):
            w["projection"] = (dirs, h, a.proj_size)
        return w

    def init_weight(self, a, ins, name, shape, rng, dtype):
        arr = rng.standard_normal(shape, dtype=dtype)
        return arr * dtype(0.1 if name == "bias" else 1.0 / math.sqrt(shape[1]))   # fan-in: axis 1

    # ---- costs ----
    def step_mults(self, a, c, h, h_out) -> int:
        proj = h * a.proj_size if a.get("proj_size") else 0
        return self.gates * h * (c + h_out) + proj

    def mults(self, a, ins, out):
        t, c, h, h_out, dirs = self.dims(a, ins)
        return t * dirs * self.step_mults(a, c, h, h_out)

    def mult_class(self, a, ins):
        return "dense"

    def state_grad_mults(self, a, ins) -> int:
        """Back-propagation through time: each step's gate gradients go back through the
        recurrent weights (and the projection) to the previous state, dh_{t-1} = d_gates R^T,
        whether or not the input needs a gradient: the input-free part of a step, T x dirs
        x (G h h_out + the projection)."""
        t, _, h, h_out, dirs = self.dims(a, ins)
        return t * dirs * self.step_mults(a, 0, h, h_out)

    def step_flops(self, a, c, h, h_out) -> int:
        return 2 * self.step_mults(a, c, h, h_out) + self.bias_vectors(a) * self.gates * h + self.pointwise(a) * h

    def flops(self, a, ins, out):
        t, c, h, h_out, dirs = self.dims(a, ins)
        return t * dirs * self.step_flops(a, c, h, h_out)

    def explain(self, a, ins, out):
        t, c, h, h_out, dirs = self.dims(a, ins)
        g, nb, pw = self.gates, self.bias_vectors(a), self.pointwise(a)
        proj = a.get("proj_size") or 0
        mult = f"{g}h x (C + h_out)" + (" + h x proj" if proj else "")
        vals = f"{g} x {h} x ({c} + {h_out})" + (f" + {h} x {proj}" if proj else "")
        return [f"mults = T x dirs x ({mult}) = {t} x {dirs} x ({vals}) = {self.mults(a, ins, out):,}",
                f"flops = T x dirs x (2 x step MACs + {nb} bias x {g}h + {pw}h gate arithmetic) = "
                f"{t} x {dirs} x (2 x {self.step_mults(a, c, h, h_out):,} + {nb * g * h} + {pw * h}) = "
                f"{self.flops(a, ins, out):,}"]

    def saved(self, a, ins, out, grads, trains):
        t, _, h, h_out, dirs = self.dims(a, ins)
        return Saved(inputs=(0,) if trains else (), per_example=t * dirs * self.kept(a, h, h_out))

    def workspace(self, a, ins, out):
        t, _, h, _, _ = self.dims(a, ins)
        return t * self.gates * h + 4 * self.gates * h + 4 * h

    # ---- NumPy forward: vectorised over the batch, a loop over time only ----
    def serial_steps(self, a, ins):
        t, _, _, _, dirs = self.dims(a, ins)
        return t * dirs

    def forward(self, a, w, xs, ops):
        np, x = ops.np, xs[0]
        n, t, c = x.shape
        _, _, h, h_out, dirs = self.dims(a, [x.shape[1:]])
        out = np.empty((n, t, dirs * h_out) if a.return_sequences else (n, dirs * h_out), x.dtype)
        flat = x.reshape(n * t, c)
        for d in range(dirs):
            b_in, b_rec = self.split_bias(a, w, d)
            xw = ops.matmul(flat, w["kernel"][d]).reshape(n, t, self.gates * h)
            if b_in is not None:
                xw += b_in
            state = (np.zeros((n, h_out), x.dtype), np.zeros((n, h), x.dtype))
            reverse = a.direction == "reverse" or d == 1
            for step in (range(t - 1, -1, -1) if reverse else range(t)):
                state = self.step(a, w, d, xw[:, step], state, b_rec, ops)
                if a.return_sequences:
                    out[:, step, d * h_out:(d + 1) * h_out] = state[0]
            if not a.return_sequences:
                out[:, d * h_out:(d + 1) * h_out] = state[0]
        return out

    def split_bias(self, a, w, d):
        """(input bias, recurrent bias) of direction d, None where the layer has none."""
        if not a.bias:
            return None, None
        g = self.gates * a.units
        b = w["bias"][d]
        return b[:g], (b[g:] if b.shape[0] > g else None)

    def step(self, a, w, d, xw, state, b_rec, ops):
        """One time step of direction d: xw is x_t W (+ input bias), state (h, c); the new state."""
        raise NotImplementedError

    # ---- ONNX export: the operator of the same name, sequence first (layout 0) ----
    def onnx_attrs(self, a, dirs) -> dict:
        return {}

    def onnx(self, a, ins, out, b):
        import numpy as np

        t, _, h, _, dirs = self.dims(a, ins)
        if a.get("proj_size"):
            raise ExportError("an LSTM with proj_size has no ONNX operator (ONNX's LSTM has no "
                              "projection); counting and the NumPy forward still work")
        x = b.op("Transpose", [b.inputs[0]], perm=[1, 0, 2])                  # (T, N, C)
        args = [x, b.weight("kernel", b.w["kernel"].transpose(0, 2, 1)),
                b.weight("recurrent_kernel", b.w["recurrent_kernel"].transpose(0, 2, 1))]
        if a.bias:
            bias = b.weight("bias", b.w["bias"])
            if self.bias_vectors(a) == 1:     # ONNX's B holds two: the recurrent one zero (a buffer)
                bias = b.op("Concat", [bias, b.tensor(np.zeros_like(b.w["bias"]))], axis=1)
            args.append(bias)
        y = b.op(self.onnx_op, args, hidden_size=h, direction=a.direction, **self.onnx_attrs(a, dirs))
        if a.return_sequences:            # Y (T, dirs, N, h) -> (N, T, dirs*h)
            return b.op("Reshape", [b.op("Transpose", [y], perm=[2, 0, 1, 3]), b.const([0, 0, -1])])
        lasts = []                        # Y_h: each direction's state after its last step
        for d in range(dirs):
            last = 0 if (a.direction == "reverse" or d == 1) else t - 1
            lasts.append(b.op("Gather", [b.op("Gather", [y, b.const(last)], axis=0), b.const(d)], axis=0))
        return lasts[0] if dirs == 1 else b.op("Concat", lasts, axis=1)


def _sigmoid(np, x):
    return FUNCTIONS["sigmoid"][1](np, x, None)


@register
class LSTM(Recurrent):
    name, gates, onnx_op = "lstm", 4, "LSTM"
    doc = ("long short-term memory over (T, C) (ONNX's LSTM; gates i, o, f, c); mults per step and "
           "direction 4h(C + h_out) (+ h x proj_size), times T, times directions; a stack is one layer each")
    args = {**COMMON_ARGS, "proj_size": Arg("int", 0, minimum=0, doc="PyTorch's projection of h (0: none)"),
            "cell_clip": Arg("float", 0.0, doc=(
                "the cell state clipped to [-cell_clip, cell_clip] after each step, as TFLite's LSTM "
                "(its converter writes 10 for a Keras LSTM); 0: none"))}
    mults_rule = "T x dirs x (4h x (C + h_out) + h x proj_size); h_out = proj_size or h"
    flops_rule = (f"T x dirs x (2 per MAC + 4h per bias vector (pytorch 2, keras 1) + {3 * SIGMOID + 2 * TANH + 4}h: "
                  f"3 sigmoid x {SIGMOID} + 2 tanh x {TANH} + 4 for f·c, i·c~, +, o·tanh c; + 2h with cell_clip)")
    saves_rule = ("its input when its weights train (dW = Σ xᵀ·dgates), and per step and direction the 4h gate "
                  "activations, the cell state c_t (h) and the state h_t (h_out); with proj_size also "
                  "o ⊙ tanh(c_t) (h)")

    def validate(self, a):
        if a.cell_clip < 0:
            raise SpecError(f"Invalid value for argument `cell_clip`. Expected a number >= 0 (0: no clipping). "
                            f"Received cell_clip={a.cell_clip!r}.")
        if a.proj_size >= a.units:
            raise SpecError(f"Invalid value for argument `proj_size`. Expected less than units ({a.units}), "
                            f"as PyTorch requires. Received proj_size={a.proj_size}.")

    def pointwise(self, a):
        return 3 * SIGMOID + 2 * TANH + 4 + (2 if a.cell_clip else 0)      # a clip: a min and a max

    def kept(self, a, h, h_out):
        return 4 * h + h + h_out + (h if a.proj_size else 0)

    def onnx(self, a, ins, out, b):
        if a.cell_clip:
            raise ExportError("an LSTM with cell_clip has no ONNX operator (ONNX's clip bounds the gates' inputs, "
                              "not the cell state); counting and the NumPy forward still work")
        return super().onnx(a, ins, out, b)

    def step(self, a, w, d, xw, state, b_rec, ops):
        np, h = ops.np, a.units
        hid, cell = state
        g = xw + ops.matmul(hid, w["recurrent_kernel"][d])
        if b_rec is not None:
            g += b_rec
        i, o, f = _sigmoid(np, g[:, :h]), _sigmoid(np, g[:, h:2 * h]), _sigmoid(np, g[:, 2 * h:3 * h])
        cell = f * cell + i * np.tanh(g[:, 3 * h:])
        if a.cell_clip:
            cell = np.clip(cell, -a.cell_clip, a.cell_clip)
        hid = o * np.tanh(cell)
        if a.proj_size:
            hid = ops.matmul(hid, w["projection"][d])
        return hid, cell


@register
class GRU(Recurrent):
    name, gates, onnx_op = "gru", 3, "GRU"
    doc = ("gated recurrent unit over (T, C) (ONNX's GRU; gates z, r, h); mults per step and direction "
           "3h(C + h), times T, times directions; a stack is one layer each")
    args = {**COMMON_ARGS, "reset_after": Arg("bool", True, doc=(
        "the reset gate after the recurrent product (PyTorch, Keras' default, ONNX linear_before_reset=1); "
        "false: the original GRU"))}
    mults_rule = "T x dirs x 3h x (C + h)"
    flops_rule = (f"T x dirs x (2 per MAC + 3h per bias vector (pytorch 2, keras 1, keras with reset_after 2) + "
                  f"{2 * SIGMOID + TANH + 5}h: 2 sigmoid x {SIGMOID} + tanh x {TANH} + 5 for r·, 1 - z, two ·, +)")
    saves_rule = ("its input when its weights train, and per step and direction the 3h gate activations, the "
                  "state h_t (h) and the reset operand (h: h R_h + Rb_h with reset_after, else r ⊙ h_{t-1})")

    def bias_vectors(self, a):
        return 2 if a.bias and a.bias_layout == "keras" and a.reset_after else super().bias_vectors(a)

    def pointwise(self, a):
        return 2 * SIGMOID + TANH + 5

    def kept(self, a, h, h_out):
        return 3 * h + h + h

    def onnx_attrs(self, a, dirs):
        return {"linear_before_reset": int(a.reset_after)}

    def step(self, a, w, d, xw, state, b_rec, ops):
        np, h = ops.np, a.units
        hid = state[0]
        r_k = w["recurrent_kernel"][d]
        if a.reset_after:
            rec = ops.matmul(hid, r_k)
            if b_rec is not None:
                rec += b_rec
            zr = _sigmoid(np, xw[:, :2 * h] + rec[:, :2 * h])
            cand = np.tanh(xw[:, 2 * h:] + zr[:, h:] * rec[:, 2 * h:])
        else:
            zr = xw[:, :2 * h] + ops.matmul(hid, r_k[:, :2 * h])
            if b_rec is not None:
                zr += b_rec[:2 * h]
            zr = _sigmoid(np, zr)
            cand = xw[:, 2 * h:] + ops.matmul(zr[:, h:] * hid, r_k[:, 2 * h:])
            if b_rec is not None:
                cand += b_rec[2 * h:]
            cand = np.tanh(cand)
        z = zr[:, :h]
        return (1.0 - z) * cand + z * hid, state[1]


@register
class RNN(Recurrent):
    name, gates, onnx_op = "rnn", 1, "RNN"
    doc = ("plain (Elman) recurrent layer over (T, C) (ONNX's RNN, PyTorch's RNN, Keras' SimpleRNN); "
           "mults per step and direction h(C + h), times T, times directions; a stack is one layer each")
    args = {**COMMON_ARGS, "activation": Arg("choice", "tanh", choices=("tanh", "relu"))}
    mults_rule = "T x dirs x h x (C + h)"
    flops_rule = (f"T x dirs x (2 per MAC + h per bias vector (pytorch 2, keras 1) + the activation's h "
                  f"(tanh {TANH}, relu {FUNCTIONS['relu'][0]} per element))")
    saves_rule = "its input when its weights train, and per step and direction the state h_t (h)"

    def pointwise(self, a):
        return FUNCTIONS[a.activation][0]

    def kept(self, a, h, h_out):
        return h

    def onnx_attrs(self, a, dirs):
        return {"activations": [a.activation.capitalize()] * dirs}

    def step(self, a, w, d, xw, state, b_rec, ops):
        g = xw + ops.matmul(state[0], w["recurrent_kernel"][d])
        if b_rec is not None:
            g += b_rec
        return FUNCTIONS[a.activation][1](ops.np, g, None), state[1]
