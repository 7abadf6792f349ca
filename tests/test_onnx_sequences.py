"""The ONNX reader on sequences and volumes: LSTM, GRU and RNN operators as exporters write
them (read as lstm, gru, rnn), and Conv, pools and BatchNorm on 3-D (N, C, T) and 5-D
(N, C, D, H, W) tensors (read as 1-D and 3-D maps). Small graphs built with onnx.helper
for each operator and attribute, and fixtures PyTorch exported
(tests/onnx_files/make_sequence_files.py): counts pinned, our executor on the file's
weights checked against onnxruntime on the file, refusals in one line naming the node."""
from __future__ import annotations

import os

import numpy as np
import pytest

import cnncost
from cnncost.errors import ModelFileError

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

FILES = os.path.join(os.path.dirname(__file__), "onnx_files")
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _file_params(path) -> int:
    """Every float tensor the file holds (its weights, as the exporter wrote them)."""
    m = onnx.load(path)
    return sum(int(np.prod(t.dims)) for t in m.graph.initializer if t.data_type == TensorProto.FLOAT)


def _max_error(path) -> float:
    v = cnncost.verify(path, engine="onnxruntime").verification.engine
    assert all(layer.ok for layer in v.layers if layer.judged), v.layers
    return max(layer.max_abs_diff for layer in v.layers)


# ---- fixtures exported by PyTorch ----------------------------------------------------
# name: (params (the file's tensors), torch numel, mults, kinds)
EXPORTED = {
    # nn.LSTM(6, 5, num_layers=2, bidirectional, batch_first) on T = 7: 7 x 2 x 4*5 x (6 + 5), then (10 + 5)
    "lstm_bidir2_bf": (1200, 1200, 7 * 2 * 20 * 11 + 7 * 2 * 20 * 15, ["lstm", "lstm"]),
    # nn.GRU(6, 4, num_layers=2), sequence-first inside a batch-first model, T = 5
    "gru_2layer_sf": (264, 264, 5 * 12 * 10 + 5 * 12 * 8, ["gru", "gru"]),
    # bidirectional nn.GRU(3, 4), h_n[-1] (the reverse direction's final state), T = 6
    "gru_bidir_last": (216, 216, 6 * 2 * 12 * 7, ["gru", "slice"]),
    # nn.RNN(4, 3, nonlinearity='relu', bidirectional), T = 6
    "rnn_relu_bidir": (54, 54, 6 * 2 * 3 * 7, ["rnn"]),
    # M5-like: Conv1d(1, 8, 20, stride 4) on 400 samples -> 97, pools, Conv1d 3, grouped dilated Conv1d, Linear;
    # the exporter folds each BatchNorm1d into its conv (params as the file holds them)
    "m5_tiny": (661, 693, 97 * 8 * 20 + 24 * 8 * 3 * 8 + 12 * 16 * 3 * 4 + 16 * 5,
                ["conv", "conv", "conv", "dense"]),
    # R(2+1)D-like on 4 x 16 x 16 frames: (1,3,3) stride (1,2,2), (3,1,1), a 3x3x3 and a (3,1,1) residual block
    "r2plus1d_tiny": (2292, 2306, 256 * 6 * 9 * 3 + 256 * 8 * 3 * 6 + 256 * 8 * 27 * 8 + 256 * 8 * 3 * 8 + 8 * 4,
                      ["conv", "conv", "conv", "conv", "dense"]),
    # nn.LSTM(4, 3, num_layers=2), h_n[-1]: both layers' Y_h concatenated, the last row gathered;
    # the first layer's Y and Y_h are read (Y_h unused past the Concat), T = 5
    "lstm_last": (204, 204, 5 * 12 * 7 + 5 * 12 * 6, ["lstm", "lstm"]),
    # a bare nn.GRU(4, 3, num_layers=2, bidirectional) on its own time-first (5, 1, 4) input,
    # returning (output, h_n): h_n's 4 rows are the steps each direction ends on, sliced out of Y
    "gru_bare_tf": (360, 360, 5 * 2 * 9 * 7 + 5 * 2 * 9 * 9, ["gru", "gru"] + ["slice"] * 4),
    # CRNN: Conv2d to height 1, permuted (2, 0, 1) to (W, N, C), bidirectional LSTM(6, 5), a
    # Linear on each of the 6 steps of the time-first output
    "crnn_tiny": (695, 695, 8 * 12 * 4 * 9 + 6 * 6 * 4 * 4 + 6 * 2 * 20 * 11 + 6 * 10 * 3,
                  ["conv", "conv", "lstm", "dense"]),
    # crnn.pytorch's head: then the steps flattened into the batch for the Linear, unflattened,
    # a second bidirectional LSTM(3, 4) and Linear(8, 2)
    # a seq-first nn.LSTM(4, 5, num_layers=2) on (6, 1, 4), y[-1] (a Gather of the last step), Linear(5, 3)
    "lstm_sf_last": (478, 478, 6 * 20 * 9 + 6 * 20 * 10 + 15, ["lstm", "lstm", "dense"]),
    # nn.Embedding(30, 6) of int64 ids (the file's Gather of its table by the input), a
    # bidirectional LSTM(6, 4) over 9 steps, Linear(8, 2) on the last step
    "text_bilstm": (582, 582, 9 * 2 * 16 * 10 + 16, ["lstm", "dense"]),
    "crnn2_tiny": (1001, 1001, 8 * 12 * 4 * 9 + 6 * 6 * 4 * 4 + 6 * 2 * 20 * 11 + 6 * 10 * 3 + 6 * 2 * 16 * 7 + 6 * 8 * 2,
                   ["conv", "conv", "lstm", "dense", "lstm", "dense"]),
}


@pytest.mark.parametrize("name", sorted(EXPORTED))
def test_exported_counts_and_onnxruntime(name):
    path = os.path.join(FILES, f"{name}.onnx")
    params, torch_params, mults, kinds = EXPORTED[name]
    r = cnncost.analyze(path)
    assert r.totals["params"] == params == _file_params(path)
    assert r.totals["mults"] == mults
    counted = [layer.kind for layer in r.layers if layer.mults or layer.kind == "slice"]
    assert counted == kinds
    assert _max_error(path) < 1e-5
    if params != torch_params:          # BatchNorm folded by the exporter: gamma and beta gone, conv biases added
        assert name in ("m5_tiny", "r2plus1d_tiny")


def test_time_first_outputs_compare_with_the_batch_second():
    """A time-first output and h_n keep the batch on ONNX's axis 1: marked so, and read back
    that way by what runs the file (onnxruntime above), ours batch first."""
    from cnncost.interop.onnx.reader import import_onnx

    imp = import_onnx(os.path.join(FILES, "gru_bare_tf.onnx"))
    assert imp.input_shape == (5, 4) and imp.input_layouts == {"input": "batch_second"}
    assert sorted(imp.output_layouts.values()) == ["batch_second", "batch_second"]
    r = cnncost.analyze(os.path.join(FILES, "gru_bare_tf.onnx"))
    assert sorted(lay.output_shape for lay in r.layers if lay.name in imp.document["outputs"]) == [[4, 3], [5, 6]]


# ---- graphs built with onnx.helper ---------------------------------------------------
def _save(tmp_path, nodes, inputs, outputs, inits, name="m"):
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = str(tmp_path / f"{name}.onnx")
    onnx.save(model, path)
    return path


def _rnn_file(tmp_path, op="LSTM", layout=0, direction="forward", t=5, c=3, h=4, bias=True, last=False,
              attrs=None, extra_inputs=None, name="rnn", seed=0):
    """One recurrent node between the transposes and reshapes an exporter writes."""
    rng = np.random.default_rng(seed)
    g, dirs = GATES[op], 2 if direction == "bidirectional" else 1
    inits = [numpy_helper.from_array(rng.normal(0, 0.4, (dirs, g * h, c)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.normal(0, 0.4, (dirs, g * h, h)).astype(np.float32), "R")]
    args = ["x" if layout == 0 else "input", "W", "R"]
    if bias:
        inits.append(numpy_helper.from_array(rng.normal(0, 0.2, (dirs, 2 * g * h)).astype(np.float32), "B"))
        args.append("B")
    else:
        args.append("")
    for k, (key, arr) in enumerate((extra_inputs or {}).items()):
        inits.append(numpy_helper.from_array(arr, key))
    slots = {"sequence_lens": 4, "initial_h": 5, "initial_c": 6, "P": 7}
    for key in sorted(extra_inputs or {}, key=slots.get):
        args += [""] * (slots[key] - len(args)) + [key]
    nodes = []
    if layout == 0:
        nodes.append(helper.make_node("Transpose", ["input"], ["x"], perm=[1, 0, 2], name="to_time_first"))
    outs = ["y", "y_h"] + (["y_c"] if op == "LSTM" else [])
    if last:
        outs[0] = ""
    else:
        outs[1] = ""
    if op == "LSTM":
        outs[2] = ""
    nodes.append(helper.make_node(op, args, outs, hidden_size=h, direction=direction, name=f"the_{op.lower()}",
                                  **({"layout": layout} if layout else {}), **(attrs or {})))
    inits.append(numpy_helper.from_array(np.array([0, 0, -1] if not last else [0, -1], np.int64), "shape"))
    if last:
        src = "y_h"
        if layout == 0:
            nodes.append(helper.make_node("Transpose", ["y_h"], ["y_h_bf"], perm=[1, 0, 2]))
            src = "y_h_bf"
        nodes.append(helper.make_node("Reshape", [src, "shape"], ["out"]))
        out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, dirs * h])
    else:
        src = "y"
        if layout == 0:
            nodes.append(helper.make_node("Transpose", ["y"], ["y_bf"], perm=[2, 0, 1, 3]))
            src = "y_bf"
        nodes.append(helper.make_node("Reshape", [src, "shape"], ["out"]))
        out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, t, dirs * h])
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, t, c])
    return _save(tmp_path, nodes, [x], [out], inits, name)


def _per_step(op, c, h):
    return GATES[op] * h * (c + h)


CASES = [dict(op=op, layout=layout, direction=d, last=last)
         for op in ("LSTM", "GRU", "RNN") for layout in (0, 1) for d in ("forward", "reverse", "bidirectional")
         for last in (False, True) if not (layout == 1 and d == "reverse")]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_helper_recurrent(tmp_path, case):
    t, c, h = 5, 3, 4
    dirs = 2 if case["direction"] == "bidirectional" else 1
    path = _rnn_file(tmp_path, t=t, c=c, h=h, **case)
    r = cnncost.analyze(path)
    (layer,) = [lay for lay in r.layers if lay.mults]
    assert layer.kind == case["op"].lower()
    assert layer.output_shape == ([dirs * h] if case["last"] else [t, dirs * h])
    g = GATES[case["op"]]
    assert r.totals["params"] == dirs * (g * h * (c + h) + 2 * g * h) == _file_params(path)
    assert r.totals["mults"] == t * dirs * _per_step(case["op"], c, h)
    if case["layout"] == 0:
        assert _max_error(path) < 1e-5
    else:       # onnxruntime runs no batch-first (layout 1) recurrence: read as its time-first twin is
        from cnncost.interop.onnx.reader import import_onnx

        twin = _rnn_file(tmp_path, t=t, c=c, h=h, **{**case, "layout": 0}, name="twin")
        a, b = import_onnx(path), import_onnx(twin)
        assert [lay["kind"] for lay in a.document["layers"]] == [lay["kind"] for lay in b.document["layers"]]
        ours = {k.split("/")[1]: v for k, v in a.weights.items()}
        theirs = {k.split("/")[1]: v for k, v in b.weights.items()}
        assert ours.keys() == theirs.keys() and all(np.array_equal(ours[k], theirs[k]) for k in ours)


def test_helper_gru_original_and_no_bias(tmp_path):
    path = _rnn_file(tmp_path, op="GRU", attrs={"linear_before_reset": 0}, bias=False)
    from cnncost.interop.onnx.reader import import_onnx

    r = cnncost.analyze(path)
    assert r.totals["params"] == 3 * 4 * 7 == _file_params(path)
    assert _max_error(path) < 1e-5
    gru = [lay for lay in import_onnx(path).document["layers"] if lay.get("kind") == "gru"][0]
    assert gru["reset_after"] is False and gru["bias"] is False


def test_helper_default_inputs_accepted(tmp_path):
    """sequence_lens of the full length, zero initial states and peepholes, the default
    activations written out: the same layer."""
    ext = {"sequence_lens": np.full((1,), 5, np.int32), "initial_h": np.zeros((1, 1, 4), np.float32),
           "initial_c": np.zeros((1, 1, 4), np.float32), "P": np.zeros((1, 12), np.float32)}
    path = _rnn_file(tmp_path, extra_inputs=ext, attrs={"activations": ["Sigmoid", "Tanh", "Tanh"]})
    r = cnncost.analyze(path)
    assert r.totals["mults"] == 5 * _per_step("LSTM", 3, 4)
    assert _max_error(path) < 1e-5


REFUSED = [
    (dict(op="LSTM", attrs={"clip": 3.0}), "LSTM with clip=3.0"),
    (dict(op="LSTM", attrs={"input_forget": 1}), "input_forget=1"),
    (dict(op="LSTM", attrs={"activations": ["Sigmoid", "Relu", "Tanh"]}), "LSTM with activations ['Sigmoid', 'Relu', 'Tanh']"),
    (dict(op="GRU", attrs={"activations": ["HardSigmoid", "Tanh"]}), "GRU with activations ['HardSigmoid', 'Tanh']"),
    (dict(op="RNN", attrs={"activations": ["Sigmoid"]}), "RNN with activations ['Sigmoid']"),
    (dict(op="RNN", attrs={"activations": ["Tanh"], "activation_alpha": [0.5]}), "activation_alpha"),
    (dict(op="GRU", extra_inputs={"sequence_lens": np.array([3], np.int32)}), "sequence_lens other than the full length 5"),
    (dict(op="GRU", extra_inputs={"initial_h": np.ones((1, 1, 4), np.float32)}), "non-zero initial_h"),
    (dict(op="LSTM", extra_inputs={"initial_c": np.ones((1, 1, 4), np.float32)}), "non-zero initial_c"),
    (dict(op="LSTM", extra_inputs={"P": np.ones((1, 12), np.float32)}), "non-zero P (peepholes)"),
]


@pytest.mark.parametrize("kw,why", REFUSED, ids=[w for _, w in REFUSED])
def test_helper_refusals_name_the_node(tmp_path, kw, why):
    path = _rnn_file(tmp_path, **kw)
    with pytest.raises(ModelFileError) as exc:
        cnncost.analyze(path)
    msg = str(exc.value)
    assert "\n" not in msg and f"'the_{kw['op'].lower()}'" in msg and why in msg, msg


def _time_first_gru(tmp_path, outputs, nodes_after=(), out_info=None, op="GRU"):
    rng = np.random.default_rng(1)
    g = GATES[op]
    inits = [numpy_helper.from_array(rng.normal(size=(1, g * 4, 3)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.normal(size=(1, g * 4, 4)).astype(np.float32), "R"),
             numpy_helper.from_array(np.array([1], np.int64), "one")]
    nodes = [helper.make_node(op, ["input", "W", "R"], outputs, hidden_size=4, name="seq_first"), *nodes_after]
    return _save(tmp_path, nodes, [helper.make_tensor_value_info("input", TensorProto.FLOAT, [5, 2, 3])],
                 out_info, inits)


def test_time_first_model_input_read_with_its_batch_on_axis_1(tmp_path):
    """A model whose own input is (T, N, C), the X of a layout-0 GRU: ours (T, C), batch N = 2;
    Y squeezed to (T, N, h) and Y_h both outputs."""
    path = _time_first_gru(tmp_path, ["y", "y_h"], [helper.make_node("Squeeze", ["y", "one"], ["out"])],
                           [helper.make_tensor_value_info("out", TensorProto.FLOAT, [5, 2, 4]),
                            helper.make_tensor_value_info("y_h", TensorProto.FLOAT, [1, 2, 4])])
    r = cnncost.analyze(path)
    assert r.batch == 2 and r.totals["mults"] == 2 * 5 * 12 * 7 and r.totals["params"] == 12 * 7
    assert _max_error(path) < 1e-5


def test_time_first_input_read_by_another_operator_refused(tmp_path):
    path = _time_first_gru(tmp_path, ["y"], [helper.make_node("Relu", ["input"], ["r"])],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5, 1, 2, 4]),
                            helper.make_tensor_value_info("r", TensorProto.FLOAT, [5, 2, 3])])
    with pytest.raises(ModelFileError, match=r"'r'.*time-first input \(T, N, C\)"):
        cnncost.analyze(path)


def test_y_c_read_refused_with_the_way_out(tmp_path):
    """c_n is no part of what the lstm kind makes: refused in one line, saying how to count it."""
    path = _time_first_gru(tmp_path, ["", "", "y_c"], out_info=[helper.make_tensor_value_info(
        "y_c", TensorProto.FLOAT, [1, 2, 4])], op="LSTM")
    with pytest.raises(ModelFileError) as exc:
        cnncost.analyze(path)
    msg = str(exc.value)
    assert "\n" not in msg and "'seq_first'" in msg and "c_n" in msg and "wrap it" in msg


def test_raw_y_of_a_time_first_model_refused(tmp_path):
    """Y (T, dirs, N, h) itself as the output: no cnncost tensor holds it; refused by name."""
    path = _time_first_gru(tmp_path, ["y"], out_info=[helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                                                     [5, 1, 2, 4])])
    with pytest.raises(ModelFileError, match="GRU 'seq_first'.*axes TDNF"):
        cnncost.analyze(path)


def test_tile_of_an_activation(tmp_path):
    """Tile of a layer's output: the tile kind; repeating the batch axis reads the model at batch 1."""
    for repeats, shape in (([1, 2, 3], [1, 4, 6]), ([3, 1, 2], [3, 2, 6])):
        nodes = [helper.make_node("Relu", ["input"], ["r"], name="relu"),
                 helper.make_node("Tile", ["r", "reps"], ["out"], name="tile")]
        inits = [numpy_helper.from_array(np.array(repeats, np.int64), "reps")]
        path = _save(tmp_path, nodes, [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 2, 3])],
                     [helper.make_tensor_value_info("out", TensorProto.FLOAT, shape)], inits, name=f"tile{repeats[0]}")
        r = cnncost.analyze(path)
        (tile,) = [lay for lay in r.layers if lay.kind == "tile"]
        assert tile.mults == 0 and tile.flops == 0 and r.totals["params"] == 0
        assert _max_error(path) == 0.0


def test_y_read_in_its_own_layout_refused(tmp_path):
    """Y (T, dirs, N, h) as a graph output, not brought batch-first: refused by name."""
    path = _rnn_file(tmp_path, direction="bidirectional")
    m = onnx.load(path)
    del m.graph.node[-2:]
    m.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", TensorProto.FLOAT, [5, 2, 1, 4]))
    onnx.save(m, path)
    with pytest.raises(ModelFileError, match="LSTM 'the_lstm'.*axes TDNH"):
        cnncost.analyze(path)


# ---- 1-D and 3-D convolutions and pools ------------------------------------------------
def _conv_file(tmp_path, rank, nodes_spec, c=2, size=None, name="convnd"):
    """Input (1, c, *size), nodes_spec: list of (op, attrs, weight shape or None)."""
    rng = np.random.default_rng(2)
    size = size or ([20] if rank == 1 else [4, 6, 6])
    nodes, inits, cur = [], [], "input"
    for k, (op, attrs, wshape) in enumerate(nodes_spec):
        ins = [cur]
        if wshape is not None:
            inits.append(numpy_helper.from_array(rng.normal(0, 0.3, wshape).astype(np.float32), f"w{k}"))
            inits.append(numpy_helper.from_array(rng.normal(0, 0.1, (wshape[0],)).astype(np.float32), f"b{k}"))
            ins += [f"w{k}", f"b{k}"]
        nodes.append(helper.make_node(op, ins, [f"t{k}"], name=f"{op.lower()}{k}", **attrs))
        cur = f"t{k}"
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, c, *size])
    out = helper.make_tensor_value_info(cur, TensorProto.FLOAT, [f"d{i}" for i in range(rank + 2)])
    return _save(tmp_path, nodes, [x], [out], inits, name)


def test_conv1d_pools(tmp_path):
    path = _conv_file(tmp_path, 1, [
        ("Conv", {"kernel_shape": [5], "strides": [2], "pads": [2, 1]}, (6, 2, 5)),       # 20 + 3 - 5 -> 10
        ("Relu", {}, None),
        ("Conv", {"kernel_shape": [3], "auto_pad": "SAME_UPPER", "group": 2}, (4, 3, 3)),
        ("MaxPool", {"kernel_shape": [2], "strides": [2]}, None),                          # 10 -> 5
        ("AveragePool", {"kernel_shape": [3], "pads": [1, 1], "count_include_pad": 1}, None),
        ("GlobalAveragePool", {}, None)])
    r = cnncost.analyze(path)
    kinds = [(lay.kind, lay.output_shape) for lay in r.layers if lay.kind != "transpose"]
    assert kinds == [("conv", [10, 6]), ("relu", [10, 6]), ("conv", [10, 4]), ("max_pool", [5, 4]),
                     ("avg_pool", [5, 4]), ("global_avg_pool", [1, 4])]
    assert r.totals["mults"] == 10 * 6 * 5 * 2 + 10 * 4 * 3 * 3
    assert r.totals["params"] == 6 * 2 * 5 + 6 + 4 * 3 * 3 + 4 == _file_params(path)
    assert _max_error(path) < 1e-5


def test_conv3d_pools(tmp_path):
    path = _conv_file(tmp_path, 3, [
        ("Conv", {"kernel_shape": [3, 3, 3], "pads": [1, 1, 1, 1, 1, 1]}, (5, 2, 3, 3, 3)),
        ("Conv", {"kernel_shape": [1, 3, 3], "strides": [1, 2, 2], "pads": [0, 1, 1, 0, 1, 1]}, (4, 5, 1, 3, 3)),
        ("MaxPool", {"kernel_shape": [2, 3, 3], "strides": [2, 1, 1], "pads": [0, 1, 1, 0, 1, 1]}, None),
        ("AveragePool", {"kernel_shape": [1, 2, 2], "strides": [1, 1, 1]}, None),
        ("GlobalAveragePool", {}, None)])
    r = cnncost.analyze(path)
    kinds = [(lay.kind, lay.output_shape) for lay in r.layers if lay.kind != "transpose"]
    assert kinds == [("conv", [4, 6, 6, 5]), ("conv", [4, 3, 3, 4]), ("max_pool", [2, 3, 3, 4]),
                     ("avg_pool", [2, 2, 2, 4]), ("global_avg_pool", [1, 1, 1, 4])]
    assert r.totals["mults"] == 144 * 5 * 27 * 2 + 36 * 4 * 9 * 5
    assert _max_error(path) < 1e-5


def test_conv_transpose_1d_reads_and_runs(tmp_path):
    """(C_in 2, C_out 2, k 3), stride 2, on T = 20 (more ConvTranspose cases in test_onnx_ops)."""
    path = _conv_file(tmp_path, 1, [("ConvTranspose", {"kernel_shape": [3], "strides": [2]}, (2, 2, 3))])
    rep = cnncost.analyze(path)
    assert "conv_transpose" in [r.kind for r in rep.layers]
    assert _max_error(path) < 1e-5


def test_window_of_the_wrong_rank_refused(tmp_path):
    path = _conv_file(tmp_path, 1, [("MaxPool", {"kernel_shape": [2, 2]}, None)])
    with pytest.raises(ModelFileError, match="'maxpool0'.*2-D window on a map of 1 spatial axes"):
        cnncost.analyze(path)
