"""Keras' recurrent layers (LSTM, GRU, SimpleRNN, Bidirectional), Embedding and
TimeDistributed onto cnncost's kinds (cnncost/layers/recurrent.py, embedding.py): their
mappers, registered in the one Keras table (keras/layers.py MAPPERS). Keras keeps a
recurrent layer's weights under `cell/` (a Bidirectional's under forward_layer/ and
backward_layer/) and its gates in the order i, f, c, o (LSTM) and z, r, h (GRU): each
weight says where it is kept and how its columns are reordered into ours (ONNX's order)."""
from __future__ import annotations

from cnncost.interop.keras.emit import Emit
from cnncost.interop.keras.layers import MAPPERS, _activation_name
from cnncost.interop.refusals import Refused

# Keras class -> (our kind, gate order: for each of our gates (ONNX's: LSTM i, o, f, c; GRU z, r,
# h), the Keras gate (LSTM i, f, c, o; GRU z, r, h) whose columns it takes)
RECURRENT = {"LSTM": ("lstm", (0, 3, 1, 2)), "GRU": ("gru", (0, 1, 2)), "SimpleRNN": ("rnn", (0,))}


def _recurrent_args(e: Emit, cls: str, cfg: dict, role: str = "alone") -> dict:
    """Our kind's arguments for a Keras LSTM / GRU / SimpleRNN config, a layer of its own or a
    Bidirectional's forward or backward layer (`role`); what no kind holds refused."""
    e.need(cls in RECURRENT, f"a recurrent layer of class {cls}")
    act = _activation_name(cfg.get("activation", "tanh"))
    e.need(act in (("tanh", "relu") if cls == "SimpleRNN" else ("tanh",)), f"activation '{act}'")
    if cls != "SimpleRNN":
        rec = _activation_name(cfg.get("recurrent_activation", "sigmoid"))
        e.need(rec == "sigmoid", f"recurrent_activation '{rec}' (sigmoid is read)")
    e.need(not cfg.get("return_state", False), "return_state=True (the states as extra outputs)")
    e.need(not cfg.get("stateful", False), "stateful=True (a state carried between batches)")
    e.need(not cfg.get("time_major", False), "time_major=True")
    seq = bool(cfg.get("return_sequences", False))
    back = bool(cfg.get("go_backwards", False))
    e.need(role != "forward" or not back, "go_backwards on a Bidirectional's forward layer")
    e.need(role != "alone" or not (back and seq), "go_backwards=True with return_sequences=True (Keras returns "
                                                  "the sequence in reversed time; the reverse direction keeps "
                                                  "input order)")
    args = {"units": cfg.get("units"), "return_sequences": seq, "bias": bool(cfg.get("use_bias", True)),
            "bias_layout": "keras", "direction": "reverse" if back else None}
    if cls == "GRU":
        args["reset_after"] = bool(cfg.get("reset_after", True))
    if cls == "SimpleRNN" and act == "relu":
        args["activation"] = "relu"
    return args


def _recurrent_weights(e: Emit, cls: str, args: dict, parts: list) -> None:
    """Keras' kernel (C, G*h), recurrent_kernel (h, G*h) and bias (G*h; a GRU with reset_after
    (2, 3h): input and recurrent rows) of each direction's layer (`parts`), permuted into our gate
    order and stacked on a leading directions axis."""
    order = RECURRENT[cls][1]
    h, name = args["units"], e.last
    two_rows = cls == "GRU" and args["reset_after"]

    def gates(a):
        return a.reshape(*a.shape[:-1], len(order), h)[..., list(order), :].reshape(a.shape)

    def stacked(arrays, full):
        import numpy as np

        return np.stack([gates(a).reshape(full[1:]) for a in arrays])

    weights = ["kernel", "recurrent_kernel"] + (["bias"] if args["bias"] else [])
    for w in weights:
        pieces = [f"{name}/{w}@{i}" for i in range(len(parts))]
        shape = ((lambda full: (2, full[1] // 2)) if w == "bias" and two_rows else (lambda full: full[1:]))
        e.derive(f"{name}/{w}", pieces, shape, stacked)
    for i, part in enumerate(parts):
        e.weights(*[(f"{w}@{i}", w) for w in weights], part=part)


@MAPPERS.on(*RECURRENT)
def recurrent(e: Emit):
    e.one_input()
    args = _recurrent_args(e, e.cls, e.cfg)
    e.layer(RECURRENT[e.cls][0], **args)
    _recurrent_weights(e, e.cls, args, [(("cell",), None)])


@MAPPERS.on("Bidirectional")
def bidirectional(e: Emit):
    """A recurrent layer both ways, concatenated: our kind with direction bidirectional. Keras
    keeps the two layers apart (`forward_layer`, `backward_layer`), each with its own weights."""
    e.one_input()
    inner, back = e.get("layer") or {}, e.get("backward_layer")
    cls, cfg = str(inner.get("class_name")), inner.get("config") or {}
    mode = e.get("merge_mode", "concat")
    e.need(mode == "concat", f"merge_mode '{mode}' (concat is read)")
    args = _recurrent_args(e, cls, cfg, "forward")
    if back is not None:
        bcfg = back.get("config") or {}
        e.need(back.get("class_name") == cls and bcfg.get("go_backwards", True)
               and all(_recurrent_args(e, cls, bcfg, "backward").get(k) == v
                       for k, v in args.items() if k != "direction"),
               "a backward_layer unlike its forward layer")
    base = str(cfg.get("name", cls.lower()))
    fname = base if base.startswith("forward_") else f"forward_{base}"
    bname = str((back or {}).get("config", {}).get("name") or base.removeprefix("forward_"))
    bname = bname if bname.startswith("backward_") else f"backward_{bname}"
    e.layer(RECURRENT[cls][0], **{**args, "direction": "bidirectional"})
    _recurrent_weights(e, cls, args, [(("forward_layer", "cell"), fname), (("backward_layer", "cell"), bname)])


@MAPPERS.on("Embedding")
def embedding(e: Emit):
    e.one_input()
    e.need(not e.get("mask_zero", False), "mask_zero=True (a mask that later layers would read)")
    e.layer("embedding", vocab=e.get("input_dim"), dim=e.get("output_dim"))
    e.weights("embeddings")


# what TimeDistributed can wrap: layers of ours that apply to every step alike as they stand
# (dense on the last axis; a 2-D conv on a stack of maps, T x H x W x C)
TIME_DISTRIBUTED = ("Dense", "Conv2D", "Convolution2D", "Activation", "Dropout")


@MAPPERS.on("TimeDistributed")
def time_distributed(e: Emit):
    inner = e.get("layer") or {}
    cls = str(inner.get("class_name"))
    if cls not in TIME_DISTRIBUTED:
        raise Refused(f"TimeDistributed of {cls} (read: {', '.join(TIME_DISTRIBUTED)})",
                      label=f"TimeDistributed({cls})")
    e.cfg, e.cls, e.part = inner.get("config") or {}, cls, (("layer",), None)
    MAPPERS.get(cls)(e)
