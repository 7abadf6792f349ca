"""The TFLite reader on convolutions over time and volume and on recurrent layers (issue 36),
files made by tests/tflite_files/make_sequence_files.py: params equal to the Keras model's
count_params(), MACs to closed forms, outputs to the TFLite interpreter's; a WHILE loop and
what the recurrent kinds cannot compute refused in one line by name."""
from __future__ import annotations

import os
import struct

import numpy as np
import pytest
from click.testing import CliRunner

from cnncost import api
from cnncost.cli import cli
from cnncost.interop.tflite.flatbuf import Buffer
from cnncost.runtime import executor
from cnncost.sources import open_source

HERE = os.path.join(os.path.dirname(__file__), "tflite_files")

# name -> (params: Keras' count_params() of the model the file was converted from, MACs)
COUNTS = {
    # dil: the interpreter computes 64 positions of the 63 it keeps (SPACE_TO_BATCH_ND pads 63 to
    # a multiple of the dilation, BATCH_TO_SPACE_ND crops one): 64 x 8 x 3 x 3; stride 32 x 8 x 5 x 8;
    # causal 16 x 12 x 3 x 8; separable 16 x 12 x 3 + 16 x 12 x 12; dense 12 x 4
    "conv1d_float32": (952, 64 * 72 + 32 * 320 + 16 * 288 + 16 * 36 + 16 * 144 + 48),
    "conv1d_int8": (952, 64 * 72 + 32 * 320 + 16 * 288 + 16 * 36 + 16 * 144 + 48),
    # 6x8x8 x 4 x 27 x 2; 6x4x4 x 6 x 9 x 4; 4x2x2 x 6 x 27 x 6; dense 6 x 3
    "conv3d_float32": (1441, 384 * 4 * 54 + 96 * 6 * 36 + 16 * 6 * 162 + 18),
    "conv3d_int8": (1441, 384 * 4 * 54 + 96 * 6 * 36 + 16 * 6 * 162 + 18),
    # transposed: C_in x F x taps x input positions: 2 x 4 x 27 x 48; 4 x 3 x 18 x 384; dense 3 x 2
    "conv3d_transpose_float32": (447, 2 * 4 * 27 * 48 + 4 * 3 * 18 * 384 + 6),
    # conv 6x6 x 4 x 27; dense 5 x 4; dense 8 x 2
    "two_inputs_float32": (154, 36 * 4 * 27 + 20 + 16),
    # LSTM per step 4h(C + h): 12 x 4 x 8 x (5 + 8); 12 x 4 x 6 x (8 + 6); dense 6 x 3
    "lstm_float32": (829, 12 * 32 * 13 + 12 * 24 * 14 + 18),
    # Embedding(40, 8) of int32 ids (a GATHER of the table: no MACs); LSTM 10 x 4 x 6 x (8 + 6); dense 6 x 2
    "text_lstm_float32": (694, 10 * 24 * 14 + 12),
    # two directions each: 10 x 4 x 6 x (4 + 6); 10 x 4 x 4 x (12 + 4); dense 8 x 2
    "bilstm_float32": (1090, 2 * 10 * 24 * 10 + 2 * 10 * 16 * 16 + 16),
    # conv 30 x 8 x 3 x 4; LSTM 15 x 4 x 6 x (8 + 6); dense 6 x 3
    "crnn_float32": (485, 30 * 8 * 12 + 15 * 24 * 14 + 18),
    # RNN per step h(C + h): 9 x 7 x (5 + 7); 9 x 4 x (7 + 4)
    "rnn_fused_float32": (139, 9 * 7 * 12 + 9 * 4 * 11),
    "bilstm_fused_float32": (400, 2 * 9 * 20 * 9),
    "birnn_fused_float32": (90, 2 * 8 * 5 * 8),
}


def path(name):
    return os.path.join(HERE, name + ".tflite")


def run(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_params_are_keras_and_macs_the_closed_form(name):
    t = api.analyze(path(name)).totals
    assert (t["params"], t["mults"]) == COUNTS[name]


def _ours(name):
    """The expected outputs, and ours from the file's weights, the int8 inputs as fed."""
    e = np.load(os.path.join(HERE, name + ".expect.npz"))
    graph = api.analyze(path(name)).graph
    xs = {}
    for k, i in enumerate(graph.inputs):
        x, p = e[f"input{k}"], graph.nodes[i].precision
        if p is not None and p.scale:
            x = ((e[f"fed{k}"].astype(np.float32) - p.zero_point) * p.scale).astype(np.float32)
        xs[graph.nodes[i].name] = x
    weights = executor.weights_for(graph, open_source(path(name), with_weights=True))
    return e, list(executor.run(graph, xs if len(xs) > 1 else x, weights).outputs.values())


@pytest.mark.parametrize("name", [n for n in sorted(COUNTS) if "int8" not in n])
def test_float_files_match_the_interpreter(name):
    # measured: at most 3.6e-7 (rnn_fused); the LSTMs' cell_clip of 10 is never reached here
    e, outs = _ours(name)
    assert len(outs) == len([k for k in e.files if k.startswith("output")])
    for k, y in enumerate(outs):
        ref = e[f"output{k}"]
        assert y.shape == ref.shape
        assert np.max(np.abs(y - ref)) <= 1e-5 * max(1.0, float(np.max(np.abs(ref))))


@pytest.mark.parametrize("name", ["conv1d_int8", "conv3d_int8"])
def test_int8_files_within_one_step(name):
    e, outs = _ours(name)
    y, ref = outs[0], e["output0"].astype(np.int64)
    s, z = e["quantization0"]
    q = np.clip(np.floor(np.abs(y / s) + 0.5) * np.sign(y) + z, -128, 127)
    assert (np.abs(q - ref) <= 1).mean() >= 0.999        # measured: every value exact


def _layers(name):
    return open_source(path(name)).imported.document["layers"]


def test_one_dimensional_and_dilated_convolutions_are_ours():
    """Keras' Conv1D is the file's CONV_2D on a unit axis: read as a 1-D conv; a dilated one
    (SPACE_TO_BATCH_ND, CONV_2D, BATCH_TO_SPACE_ND, then the bias as an ADD) as one dilated conv
    of the padded map, its bias back, and the crop."""
    layers = _layers("conv1d_float32")
    convs = [(l["kind"], l["kernel"], l.get("dilation"), l["padding"], l["bias"]) for l in layers
             if l["kind"] in ("conv", "depthwise_conv")]
    assert convs == [("conv", [3], [2], [2, 3], True), ("conv", [5], [1], "same", True),
                     ("conv", [3], [4], [0, 0], True), ("depthwise_conv", [3], [2], [2, 2], False),
                     ("conv", [1], [1], "valid", True)]
    kinds = [l["kind"] for l in layers]
    assert {"max_pool", "avg_pool", "global_avg_pool", "pad", "slice"} <= set(kinds)
    assert "reshape" not in kinds and "shift" not in kinds
    assert [l["kernel"] for l in _layers("conv3d_float32") if l["kind"] == "conv"] == [[3, 3, 3], [1, 3, 3], [3, 3, 3]]


def test_recurrent_layers_are_ours():
    lstm = [l for l in _layers("lstm_float32") if l["kind"] == "lstm"]
    assert [(l["units"], l["bias_layout"], l["cell_clip"]) for l in lstm] == [(8, "keras", 10.0), (6, "keras", 10.0)]
    assert [l["direction"] for l in _layers("bilstm_fused_float32")] == ["bidirectional"]
    birnn = _layers("birnn_fused_float32")
    assert [(l.get("direction", "forward"), l["activation"]) for l in birnn] == [("forward", "relu"), ("reverse", "relu")]
    # Keras' go_backwards and Bidirectional: REVERSE_V2 is a slice that steps back
    assert any(l["kind"] == "slice" and l.get("step") == -1 for l in _layers("bilstm_float32"))


def test_an_imported_spec_counts_the_same(tmp_path):
    for name in ("conv1d_float32", "lstm_float32", "two_inputs_float32"):
        spec = tmp_path / f"{name}.yaml"
        assert run("import", path(name), "-o", str(spec)).exit_code == 0
        again, file = api.analyze(str(spec)).totals, api.analyze(path(name)).totals
        assert (again["params"], again["mults"], again["flops"]) == (file["params"], file["mults"], file["flops"])


def test_two_inputs_run_from_the_command_line(tmp_path):
    e = np.load(os.path.join(HERE, "two_inputs_float32.expect.npz"))
    graph = api.analyze(path("two_inputs_float32")).graph
    names = [graph.nodes[i].name for i in graph.inputs]
    assert names == ["extra", "image"]                    # the subgraph's order, Keras' names
    np.savez(tmp_path / "x.npz", **{n: e[f"input{k}"] for k, n in enumerate(names)})
    res = run("run", path("two_inputs_float32"), "--input", str(tmp_path / "x.npz"), "--output", str(tmp_path / "y.npy"))
    assert res.exit_code == 0, res.output
    assert np.max(np.abs(np.load(tmp_path / "y.npy") - e["output0"])) < 1e-5
    assert "give the batch with --batch" in run("report", path("two_inputs_float32"), "--input-shape", "2x5").output


# ---- refusals ------------------------------------------------------------------------------
def _refused(file, *needles):
    res = run("report", file)
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and "Traceback" not in res.output, res.output
    for needle in (file, *needles):
        assert needle in lines[0], lines[0]
    return lines[0]


def test_a_recurrence_the_converter_wrote_as_a_loop_is_refused_with_the_way_out():
    line = _refused(path("gru_while_float32"), "operator 1 (WHILE)", "tf_keras", "batch_size=1",
                    "UNIDIRECTIONAL_SEQUENCE_LSTM", "cnncost report model.keras")
    assert "not read" not in line                      # the loop, not the plumbing around it


def _op(raw: bytes, code: str):
    """The first operator of `code` (its table) and its index."""
    from tflite_surgery import first_op

    k = first_op(raw, code)
    return Buffer(raw, "x").root().tables(2)[0].tables(3)[k], k


def _write(tmp_path, name, data) -> str:
    out = tmp_path / f"{name}.tflite"
    out.write_bytes(bytes(data))
    return str(out)


def _with_options(tmp_path, name, code, fields) -> str:
    """The first operator of `code` given a new options table (fields in the schema's order)."""
    from tflite_surgery import append_table, point

    raw = open(path(name), "rb").read()
    op, _ = _op(raw, code)
    data = bytearray(raw)
    point(data, op._field(4), append_table(data, fields))
    return _write(tmp_path, f"{name}_options", data)


def _with_inputs(tmp_path, name, code, edit) -> str:
    from tflite_surgery import op_inputs

    raw = open(path(name), "rb").read()
    op, k = _op(raw, code)
    ins = op.numbers(1, "i")
    edit(ins)
    return _write(tmp_path, f"{name}_inputs", op_inputs(raw, k, ins))


LSTM = "UNIDIRECTIONAL_SEQUENCE_LSTM"


@pytest.mark.parametrize("fields,needle", [
    ([("b", 1), ("f", 10.0)], "activation relu: the lstm kind's is tanh"),
    ([("b", 4), ("f", 10.0), None, ("b", 1)], "time_major"),
    ([("b", 4), ("f", 10.0), ("f", 3.0)], "proj_clip 3.0"),
    ([("b", 4), ("f", 10.0), None, None, None, ("b", 1)], "diagonal recurrent weights"),
])
def test_lstm_options_the_kind_cannot_compute_are_refused(tmp_path, fields, needle):
    _refused(_with_options(tmp_path, "lstm_float32", LSTM, fields), f"{LSTM} x1 (first: operator 0, {needle}",
             "layer 'tfl_unidirectional_sequence_lstm'")


@pytest.mark.parametrize("slot,needle", [(9, "peephole"), (20, "layer normalisation"), (17, "a projection bias")])
def test_lstm_inputs_the_kind_cannot_compute_are_refused(tmp_path, slot, needle):
    def edit(ins):
        ins[slot] = ins[13]                      # a vector of h, as those inputs are
    _refused(_with_inputs(tmp_path, "lstm_float32", LSTM, edit), f"{LSTM} x1 (first: operator 0, {needle}")


def test_lstm_without_an_input_gate_or_with_a_state_fed_is_refused(tmp_path):
    def cifg(ins):
        ins[1] = ins[5] = -1
    _refused(_with_inputs(tmp_path, "lstm_float32", LSTM, cifg), "CIFG")

    def fed(ins):
        ins[18] = ins[0]                         # the model's input as the initial state
    _refused(_with_inputs(tmp_path, "lstm_float32", LSTM, fed), "output state comes from another operator")

    def short(ins):
        del ins[5:]
    _refused(_with_inputs(tmp_path, "lstm_float32", LSTM, short), f"operator 0 ({LSTM}): 5 inputs; it has 20 or 24")


def test_rnn_activation_other_than_tanh_or_relu_is_refused(tmp_path):
    _refused(_with_options(tmp_path, "rnn_fused_float32", "UNIDIRECTIONAL_SEQUENCE_RNN", [("b", 0), ("b", 3)]),
             "activation relu6: the rnn kind's is relu or tanh")


def test_moves_into_the_batch_outside_a_dilated_convolution_are_refused(tmp_path):
    """BATCH_TO_SPACE_ND's code made another operator's: SPACE_TO_BATCH_ND is then no dilated
    convolution, and is refused by name (what reads it is not counted again)."""
    from tflite_surgery import layout, put

    raw = open(path("conv1d_float32"), "rb").read()
    data = bytearray(raw)
    for code in layout(raw)["codes"]:
        if code["number"] == 37:                                 # BATCH_TO_SPACE_ND -> RELU
            put(data, code["builtin"], "i", 19)
            if code["deprecated"]:
                put(data, code["deprecated"], "b", 19)
    line = _refused(_write(tmp_path, "moved", data), "SPACE_TO_BATCH_ND x1 (first: operator 0, ",
                    "read only as a dilated convolution", "layer 'dil_1.convolution.SpaceToBatchND'")
    assert "RELU" not in line and "CONV_2D x" not in line          # what reads it is not refused again
