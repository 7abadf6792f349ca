"""The Keras reader on sequences and volumes (tests/keras_files, made by
make_sequence_files.py with Keras 3 and tf.keras 2, each saved as .keras and legacy .h5):
Conv1D / Conv3D and their pools, LSTM, GRU, SimpleRNN, Bidirectional, TimeDistributed and
Embedding. Keras' own parameter split, the MACs by closed form, `run` on the file's weights
equal to Keras' predict, and what no kind holds refused by name in one line."""
from __future__ import annotations

import json
import os
import zipfile

import pytest
from conftest import KERAS_FILES, keras_expect, keras_predict_error, keras_split

from cnncost import api
from cnncost.errors import CnnCostError

MODELS = ("audio", "volume", "text", "moves1d", "moves3d")
FILES = [f"{m}_{v}.{ext}" for m in MODELS for v in ("k3", "k2") for ext in ("keras", "h5")]

# MACs by closed form, layer by layer (output positions x filters x taps x channels per group;
# recurrent: T x directions x gates x h x (C + h))
T = 10
MULTS = {
    "audio": (32 * 8 * 5 * 4                  # front: Conv1D(8, 5, strides 2, same) on 64x4 -> 32x8
              + 16 * 8 * 3 * 8 // 2           # causal: Conv1D(8, 3, dilation 2, groups 2) -> 16x8
              + 16 * 16 * 3                   # dw: DepthwiseConv1D(3, multiplier 2) -> 16x16
              + 14 * 16 * 3 + 14 * 6 * 16     # sep: depthwise then pointwise -> 14x6
              + 6 * 6 * 2 * 6                 # plain: Conv1D(6, 2) on 7x6 -> 6x6
              + 12 * 3),                      # head
    "volume": (6 * 8 * 8 * 4 * 27 * 2         # conv_a: Conv3D(4, 3, same) on 6x8x8x2
               + 3 * 4 * 4 * 6 * 3 * 4        # conv_t: Conv3D(6, (3, 1, 1), strides (2, 1, 1)) -> 3x4x4x6
               + 2 * 3 * 3 * 5 * 4 * 6        # dil: Conv3D(5, (1, 2, 2), dilation 2) -> 2x3x3x5
               + 5 * 2),                      # head
    "text": (T * 4 * 6 * (8 + 6)              # lstm(6) on 8
             + T * 2 * 3 * 5 * (6 + 5)        # bigru(5) on 6
             + T * 3 * 4 * (10 + 4)           # gru_v1(4) on 10
             + T * 4 * 5                      # td: Dense(5) at each step
             + T * 2 * 3 * (5 + 3)            # birnn(3) on 5
             + T * 2 * 4 * 4 * (6 + 4)        # bilstm(4) on 6
             + T * 3 * (5 + 3)                # rnn(3) on 5
             + T * 4 * 2 * (5 + 2)            # back: LSTM(2) on 5
             + 13 * 2),                       # head
    # transposed: every input position times every tap (C_in x F x k x T_in)
    "moves1d": (3 * 4 * 3 * 12                # up_a: Conv1DTranspose(4, 3, strides 2, same) on 12x3 -> 24x4
                + 4 * 2 * 4 * 48              # up_b: Conv1DTranspose(2, 4, strides 3, output_padding 1) on 48x4
                + 2 * 2),                     # head
    "moves3d": (2 * 3 * 18 * 3 * 4 * 4        # up: Conv3DTranspose(3, (2, 3, 3), strides (1, 2, 2)) on 3x4x4x2
                + 2 * 3 * 3 * 2 * 27 * 3      # down: Conv3D(2, 3, strides 2) on 6x8x8x3 -> 2x3x3x2
                + 2 * 2),                     # head
}


def path(name):
    return os.path.join(KERAS_FILES, name)


@pytest.mark.parametrize("name", FILES)
def test_params_are_keras_count_params(name):
    pytest.importorskip("h5py")
    assert keras_split(path(name)) == tuple(int(v) for v in keras_expect(name)["params"])


@pytest.mark.parametrize("name", FILES)
def test_mults_by_closed_form(name):
    pytest.importorskip("h5py")
    assert api.analyze(path(name)).totals["mults"] == MULTS[name.split("_")[0]]


@pytest.mark.parametrize("name", FILES)
def test_run_on_the_files_weights_is_keras_predict(name):
    pytest.importorskip("h5py")
    assert keras_predict_error(path(name), keras_expect(name)) <= 1e-4


def test_layers_map_onto_the_kinds_of_their_rank():
    kinds = {r.name: r.kind for r in api.analyze(path("text_k3.keras")).layers}
    assert (kinds["embed"], kinds["lstm"], kinds["bigru"], kinds["birnn"], kinds["td"]) == \
        ("embedding", "lstm", "gru", "rnn", "dense")
    rows = {r.name: r for r in api.analyze(path("audio_k3.keras")).layers}
    assert rows["causal"].kind == "conv" and rows["sep.depthwise"].kind == "depthwise_conv"
    assert rows["gap"].kind == "global_avg_pool" and rows["pool"].kind == "max_pool"


def _edited(tmp_path, name, edit):
    """text_k3's config with one layer's config edited, as a model.to_json() (counting only)."""
    cfg = json.loads(zipfile.ZipFile(path("text_k3.keras")).read("config.json"))
    layer = next(entry for entry in cfg["config"]["layers"] if entry["config"]["name"] == name)
    edit(layer)
    out = tmp_path / "edited.json"
    out.write_text(json.dumps(cfg))
    return str(out)


def _set(key, value, inner=None):
    def edit(layer):
        target = layer["config"][inner]["config"] if inner else layer["config"]
        target[key] = value
    return edit


def _wrap(cls):
    def edit(layer):
        layer["config"]["layer"] = {"class_name": cls, "config": {"name": "inner"}}
    return edit


@pytest.mark.parametrize("name, edit, words", [
    ("bilstm", _set("merge_mode", "sum"), "Bidirectional x1 (first: layer 'bilstm'; merge_mode 'sum' (concat is read))"),
    ("lstm", _set("return_state", True), "LSTM x1 (first: layer 'lstm'; return_state=True"),
    ("gru_v1", _set("stateful", True), "GRU x1 (first: layer 'gru_v1'; stateful=True"),
    ("lstm", _set("go_backwards", True), "LSTM x1 (first: layer 'lstm'; go_backwards=True with return_sequences=True"),
    ("lstm", _set("recurrent_activation", "hard_sigmoid"), "recurrent_activation 'hard_sigmoid'"),
    ("bigru", _set("go_backwards", True, inner="layer"), "go_backwards on a Bidirectional's forward layer"),
    ("embed", _set("mask_zero", True), "Embedding x1 (first: layer 'embed'; mask_zero=True"),
    ("td", _wrap("MaxPooling2D"), "TimeDistributed(MaxPooling2D) x1 (first: layer 'td'; TimeDistributed of "
                                  "MaxPooling2D"),
])
def test_what_no_kind_holds_is_refused_by_name_in_one_line(tmp_path, name, edit, words):
    with pytest.raises(CnnCostError) as err:
        api.analyze(_edited(tmp_path, name, edit))
    message = str(err.value)
    assert words in message and "\n" not in message


def test_go_backwards_with_the_last_state_is_the_reverse_direction():
    rows = {r.name: r for r in api.analyze(path("text_k3.keras")).layers}
    assert rows["back"].kind == "lstm" and rows["back"].mults == T * 4 * 2 * (5 + 2)
