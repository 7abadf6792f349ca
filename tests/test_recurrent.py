"""Recurrent kinds (lstm, gru, rnn) and embedding: steps by hand, the forward against
onnxruntime through our export, against PyTorch's modules with their weights copied
(skipped without torch: run this file with /work/venv-torch/bin/python), and the guards."""
from pathlib import Path
import math
import time

import numpy as np
import pytest

import cnncost
from cnncost.errors import CnnCostError, ExportError, LimitError, ShapeError, SpecError
from cnncost.runtime import executor

from conftest import analyze_text, one_layer, spec_text


def sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def run_one(input_shape, layer, weights, x):
    g = analyze_text(f"input: {list(input_shape)}\nlayers:\n  - {{name: r, {layer}}}\n").graph
    return executor.run(g, np.asarray(x, np.float32), {f"r/{k}": np.asarray(v, np.float32)
                                                       for k, v in weights.items()}).output


def test_lstm_steps_by_hand():
    """h = 1, C = 2, two steps; gates in ONNX's order i, o, f, c; both biases (pytorch layout)."""
    kernel = [[[0.5, -0.3, 0.8, 0.2], [0.1, 0.4, -0.6, 0.7]]]        # (dirs, C, 4h)
    recurrent = [[[0.3, -0.2, 0.5, -0.4]]]                              # (dirs, h, 4h)
    bias = [[0.1, 0.0, 0.2, -0.1, 0.05, 0.1, -0.1, 0.0]]               # [input | recurrent]
    xs = [[1.0, 2.0], [-0.5, 0.25]]
    h = c = 0.0
    want = []
    for x0, x1 in xs:
        g = [x0 * kernel[0][0][k] + x1 * kernel[0][1][k] + h * recurrent[0][0][k] + bias[0][k] + bias[0][4 + k]
             for k in range(4)]
        i, o, f, cand = sig(g[0]), sig(g[1]), sig(g[2]), math.tanh(g[3])
        c = f * c + i * cand
        h = o * math.tanh(c)
        want.append(h)
    w = {"kernel": kernel, "recurrent_kernel": recurrent, "bias": bias}
    got = run_one((2, 2), "kind: lstm, units: 1", w, [xs])
    np.testing.assert_allclose(got.ravel(), want, rtol=1e-6)
    last = run_one((2, 2), "kind: lstm, units: 1, return_sequences: false", w, [xs])
    np.testing.assert_allclose(last.ravel(), want[-1:], rtol=1e-6)


def test_lstm_cell_clip_bounds_the_cell_state():
    """TFLite's cell_clip: c_t clipped to [-clip, clip] after its update, before o * tanh(c_t)."""
    kernel, recurrent, bias = [[[1.0, 1.0, 1.0, 2.0]]], [[[0.0, 0.0, 0.0, 0.0]]], [[0.0, 0.0, 3.0, 0.0]]
    xs = [[2.0], [2.0], [2.0]]
    c, want = 0.0, []
    for (x,) in xs:
        i, o, f, cand = sig(x), sig(x), sig(x + 3.0), math.tanh(2 * x)
        c = min(0.8, f * c + i * cand)
        want.append(o * math.tanh(c))
    w = {"kernel": kernel, "recurrent_kernel": recurrent, "bias": bias}
    got = run_one((3, 1), "kind: lstm, units: 1, bias_layout: keras, cell_clip: 0.8", w, [xs])
    np.testing.assert_allclose(got.ravel(), want, rtol=1e-6)
    free = run_one((3, 1), "kind: lstm, units: 1, bias_layout: keras", w, [xs])
    assert free.ravel()[-1] > got.ravel()[-1] + 0.05          # the bound was reached


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_steps_by_hand(reset_after):
    """h = 1, C = 1, two steps; gates z, r, h; the reset gate on the recurrent product plus
    its bias (reset_after) or on the state before the product (the original GRU)."""
    kernel, recurrent = [[[0.7, -0.4, 0.9]]], [[[0.6, 0.8, -1.1]]]
    wb, rb = [0.1, -0.2, 0.3], [0.2, 0.1, -0.5]
    xs = [0.8, -1.5]
    h = 0.0
    want = []
    for x in xs:
        z = sig(x * kernel[0][0][0] + h * recurrent[0][0][0] + wb[0] + rb[0])
        r = sig(x * kernel[0][0][1] + h * recurrent[0][0][1] + wb[1] + rb[1])
        if reset_after:
            cand = math.tanh(x * kernel[0][0][2] + wb[2] + r * (h * recurrent[0][0][2] + rb[2]))
        else:
            cand = math.tanh(x * kernel[0][0][2] + (r * h) * recurrent[0][0][2] + wb[2] + rb[2])
        h = (1 - z) * cand + z * h
        want.append(h)
    got = run_one((2, 1), f"kind: gru, units: 1, reset_after: {str(reset_after).lower()}",
                  {"kernel": kernel, "recurrent_kernel": recurrent, "bias": [wb + rb]}, [[[v] for v in xs]])
    np.testing.assert_allclose(got.ravel(), want, rtol=1e-6)


def test_rnn_reverse_and_keras_bias_by_hand():
    """A reverse RNN reads the last step first; its output stays in input time order."""
    xs = [1.0, -2.0, 0.5]
    h, want = 0.0, [0.0] * 3
    for t in (2, 1, 0):
        h = max(0.0, 0.9 * xs[t] - 0.5 * h + 0.25)
        want[t] = h
    w = {"kernel": [[[0.9]]], "recurrent_kernel": [[[-0.5]]], "bias": [[0.25]]}
    layer = "kind: rnn, units: 1, direction: reverse, activation: relu, bias_layout: keras"
    np.testing.assert_allclose(run_one((3, 1), layer, w, [[[v] for v in xs]]).ravel(), want, rtol=1e-6)
    last = run_one((3, 1), layer + ", return_sequences: false", w, [[[v] for v in xs]])
    assert last.ravel().tolist() == pytest.approx([want[0]])      # the state after step 0, its last


def write(tmp_path, body, name="net.yaml"):
    path = tmp_path / name
    path.write_text(spec_text(body))
    return str(path)


def agree(path, batch=2):
    result = cnncost.verify(path, engine="onnxruntime", batch=batch)
    assert result.ok, result.failures()
    return result.to_dict()["engine"]["max_rel_error"]


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("sequences", [True, False])
def test_forward_agrees_with_onnxruntime(tmp_path, kind, direction, sequences):
    pytest.importorskip("onnxruntime")
    path = write(tmp_path, f"""
        input: [6, 5]
        layers:
          - {{name: r1, kind: {kind}, units: 4, direction: {direction}}}
          - {{name: r2, kind: {kind}, units: 3, direction: {direction}, return_sequences: {str(sequences).lower()}}}
    """)
    assert agree(path) < 1e-5


@pytest.mark.parametrize("layer", [
    "kind: lstm, units: 5, bias_layout: keras, direction: bidirectional",
    "kind: lstm, units: 5, bias: false",
    "kind: gru, units: 5, reset_after: false, direction: bidirectional",
    "kind: gru, units: 5, reset_after: false, bias_layout: keras",
    "kind: gru, units: 5, bias_layout: keras, direction: reverse",
    "kind: gru, units: 5, bias: false, return_sequences: false",
    "kind: rnn, units: 5, activation: relu, direction: bidirectional",
    "kind: rnn, units: 5, bias_layout: keras, return_sequences: false",
])
def test_options_agree_with_onnxruntime(tmp_path, layer):
    pytest.importorskip("onnxruntime")
    assert agree(write(tmp_path, f"input: [7, 3]\nlayers:\n  - {{name: r, {layer}}}\n")) < 1e-5


def test_embedding_feeds_a_recurrent_stack_through_onnxruntime(tmp_path):
    pytest.importorskip("onnxruntime")
    path = write(tmp_path, """
        input: [9]
        layers:
          - {name: emb, kind: embedding, vocab: 50, dim: 8}
          - {name: enc, kind: lstm, units: 6, direction: bidirectional}
          - {name: last, kind: gru, units: 4, return_sequences: false}
          - {name: head, kind: dense, units: 3}
    """)
    assert agree(path, batch=3) < 1e-5
    graph = cnncost.analyze(path).graph
    ids = executor.random_inputs(graph, 4, np.random.default_rng(0))
    assert ids.shape == (4, 9) and set(np.unique(ids)) <= set(range(50)) and len(np.unique(ids)) > 5


def test_embedding_gathers_rows_and_refuses_bad_ids():
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    layer = "kind: embedding, vocab: 4, dim: 3"
    got = run_one((3,), layer, {"embeddings": table}, [[2, 0, 3]])
    assert got.tolist() == [[table[2].tolist(), table[0].tolist(), table[3].tolist()]]
    for bad, shown in (([1, 4, 0], "4"), ([0.5, 1, 2], "0.5"), ([-1, 0, 0], "-1")):
        with pytest.raises(CnnCostError, match=rf"layer 'r' \(embedding\): token ids must be integers in "
                                               rf"\[0, 4\); the input holds {shown}"):
            run_one((3,), layer, {"embeddings": table}, [bad])


def test_projection_runs_and_is_refused_by_name_on_export(tmp_path):
    pytest.importorskip("onnx")
    path = write(tmp_path, "input: [4, 3]\nlayers:\n  - {name: r, kind: lstm, units: 6, proj_size: 2}\n")
    result = cnncost.verify(path)                       # the NumPy forward: shapes and mults agree
    assert result.ok and result.to_dict()["layers"][0]["executed_shape"] == [4, 2]
    with pytest.raises(ExportError, match="proj_size has no ONNX operator") as info:
        cnncost.verify(path, engine="onnxruntime")
    assert "layer 'r'" in str(info.value)


@pytest.mark.parametrize("layer,message", [
    ("kind: lstm, units: 4, proj_size: 4", "Expected less than units (4), as PyTorch requires. Received proj_size=4."),
    ("kind: gru, units: 4, direction: backward", "Expected one of forward, reverse, bidirectional"),
    ("kind: rnn, units: 4, activation: sigmoid", "Expected one of tanh, relu"),
    ("kind: lstm, units: 0", "Expected an integer >= 1. Received units=0."),
    ("kind: gru, units: 4, bias_layout: tf", "Expected one of pytorch, keras"),
    ("kind: gru, units: 4, proj_size: 2", "unknown argument `proj_size` for kind 'gru'"),
])
def test_argument_errors(layer, message):
    with pytest.raises(SpecError) as info:
        one_layer((5, 4), layer)
    assert message in str(info.value)


def test_a_map_is_refused_with_the_rank_it_takes():
    with pytest.raises(ShapeError, match="expected an input of rank 2 .T x C: time steps x features., received 5x5x4"):
        one_layer((5, 5, 4), "kind: lstm, units: 3")


def test_a_billion_steps_count_at_once_and_the_executor_refuses(tmp_path):
    path = write(tmp_path, """
        input: [1000000000, 32]
        layers:
          - {name: r, kind: lstm, units: 64, direction: bidirectional}
          - {name: g, kind: gru, units: 8, return_sequences: false}
    """)
    t0 = time.perf_counter()
    rep = cnncost.analyze(path)
    assert time.perf_counter() - t0 < 5
    assert rep.layers[0].mults == 10**9 * 2 * 4 * 64 * (32 + 64)
    assert rep.layers[1].flops == 10**9 * (2 * 3 * 8 * (128 + 8) + 2 * 24 + 12 * 8)
    with pytest.raises(LimitError, match="takes 3,000,000,000 recurrent steps one after another .layer 'r'"):
        cnncost.verify(path)


def test_a_recurrence_that_fits_in_memory_but_would_not_end_is_refused_in_one_line(tmp_path):
    """1.2 million steps of a 1-unit GRU need a few MB, and half a minute and more in the
    executor's Python loop over time: refused before running, exit code 2, one line; a
    shorter one runs."""
    from click.testing import CliRunner
    from cnncost.cli import cli as main

    path = write(tmp_path, """
        input: [600000, 1]
        layers:
          - {name: a, kind: gru, units: 1, direction: bidirectional}
    """)
    assert executor.estimate_peak_bytes(analyze_text(Path(path).read_text()).graph, 1)["total"] < 10**8
    result = CliRunner().invoke(main, ["verify", path])
    assert result.exit_code == 2 and "1,200,000 recurrent steps" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    short = write(tmp_path, "input: [300, 1]\nlayers:\n  - {name: a, kind: gru, units: 1, direction: bidirectional}\n")
    assert CliRunner().invoke(main, ["verify", short]).exit_code == 0


def test_backward_keeps_gates_and_states():
    """Per step and direction: LSTM 4h gates + c + h_out; GRU 3h gates + h + the reset
    operand; RNN h; the input only when the weights train."""
    from cnncost.layers import KINDS
    for kind, units, per_step in (("lstm", 5, 4 * 5 + 5 + 5), ("gru", 5, 5 * 5), ("rnn", 5, 5)):
        node = analyze_text(f"input: [7, 3]\nlayers:\n  - {{name: r, kind: {kind}, units: {units}, "
                            "direction: bidirectional}\n").graph.layers[0]
        saved = KINDS[kind].saved(node.args, node.in_shapes, node.out_shape, [True], True)
        assert (saved.inputs, saved.per_example) == ((0,), 7 * 2 * per_step)
        assert KINDS[kind].saved(node.args, node.in_shapes, node.out_shape, [True], False).inputs == ()


# ---- PyTorch (skipped without it) ------------------------------------------------------
ORDER = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "rnn": [0]}     # PyTorch's gate blocks in ONNX's order


def _from_torch(module, kind, dirs):
    """PyTorch's parameters in our layout: gate blocks permuted, matrices transposed."""
    h = module.hidden_size

    def gates(t):
        t = t.detach().numpy()
        return np.concatenate([t[k * h:(k + 1) * h] for k in ORDER[kind]])

    w = {}
    for d in range(dirs):
        sfx = "_l0" + ("_reverse" if d else "")
        w.setdefault("kernel", []).append(gates(getattr(module, "weight_ih" + sfx)).T)
        w.setdefault("recurrent_kernel", []).append(gates(getattr(module, "weight_hh" + sfx)).T)
        w.setdefault("bias", []).append(np.concatenate([gates(getattr(module, "bias_ih" + sfx)),
                                                        gates(getattr(module, "bias_hh" + sfx))]))
        if getattr(module, "proj_size", 0):
            w.setdefault("projection", []).append(getattr(module, "weight_hr" + sfx).detach().numpy().T)
    return {k: np.stack(v).astype(np.float32) for k, v in w.items()}


@pytest.mark.parametrize("kind,extra", [("lstm", ""), ("lstm", ", proj_size: 3"), ("gru", ""), ("rnn", ""),
                                        ("rnn", ", activation: relu")])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_forward_and_params_agree_with_pytorch(kind, extra, direction):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    dirs = 2 if direction == "bidirectional" else 1
    kw = {"proj_size": 3} if "proj" in extra else {"nonlinearity": "relu"} if "relu" in extra else {}
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind](
        5, 7, batch_first=True, bidirectional=dirs == 2, **kw)
    x = np.random.default_rng(1).standard_normal((3, 6, 5), dtype=np.float32)
    flip = direction == "reverse"        # PyTorch has no reverse-only layer: run it on the flipped sequence
    with torch.no_grad():
        y, state = module(torch.from_numpy(x[:, ::-1].copy() if flip else x))
    hn = (state[0] if kind == "lstm" else state).numpy()                 # (dirs, N, h_out)
    y = y.numpy()[:, ::-1] if flip else y.numpy()
    weights = _from_torch(module, kind, dirs)
    for sequences, want in ((True, y), (False, np.concatenate(list(hn), axis=-1))):
        layer = f"kind: {kind}, units: 7, direction: {direction}, return_sequences: {str(sequences).lower()}{extra}"
        row = one_layer((6, 5), layer)
        assert row.params == sum(p.numel() for p in module.parameters())
        got = run_one((6, 5), layer, weights, x)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6)


def test_a_text_classifier_reports_explains_and_checks():
    """tests/specs/text_classifier.yaml: embedding -> bidirectional LSTM -> GRU (last state)
    -> dense, its `expect:` pinned to PyTorch's parameter count and the MACs by hand."""
    from pathlib import Path

    from click.testing import CliRunner

    from cnncost.cli import cli
    spec = str(Path(__file__).parent / "specs" / "text_classifier.yaml")
    rows = {r.name: r for r in cnncost.analyze(spec).layers}
    assert [(rows[n].params, rows[n].mults, rows[n].flops) for n in ("emb", "enc", "last")] == [
        (32000, 0, 0), (50176, 491520, 1012480), (7008, 69120, 141120)]
    lines = cnncost.explain(spec, "enc").lines
    assert "mults = T x dirs x (4h x (C + h_out)) = 10 x 2 x (4 x 64 x (32 + 64)) = 491,520" in lines
    assert ("flops = T x dirs x (2 x step MACs + 2 bias x 4h + 15h gate arithmetic) = "
            "10 x 2 x (2 x 24,576 + 512 + 960) = 1,012,480") in lines
    assert lines[-1].startswith("receptive field n/a")
    r = CliRunner().invoke(cli, ["check", spec])
    assert r.exit_code == 0 and "1 passed, 0 failed" in r.output
    r = CliRunner().invoke(cli, ["kinds", "gru"])
    assert "T x dirs x 3h x (C + h)" in r.output and "12h: 2 sigmoid x 3 + tanh x 1" in r.output


@pytest.mark.parametrize("kind,extra", [("lstm", ""), ("lstm", ", proj_size: 16"), ("gru", ""), ("rnn", "")])
def test_mults_are_pytorch_flop_counter_s_matrix_products(kind, extra):
    """PyTorch's FlopCounterMode counts 2 per MAC of the matrix products its RNN kernels run
    (oneDNN off: its fused LSTM hides them); our mults are exactly half of that."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode
    kw = {"proj_size": 16} if extra else {}
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind](
        32, 64, batch_first=True, bidirectional=True, **kw)
    with torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as counter, torch.no_grad():
        module(torch.zeros(1, 10, 32))
    row = one_layer((10, 32), f"kind: {kind}, units: 64, direction: bidirectional{extra}")
    assert 2 * row.mults == counter.get_total_flops() > 0


def test_a_report_states_the_recurrent_convention_only_when_it_has_recurrent_layers():
    import cnncost

    here = Path(__file__).resolve().parent
    text = cnncost.to_text(cnncost.report(str(here / "specs" / "text_classifier.yaml")))
    assert "recurrent: mults per time step" in text and "embedding: params vocab x dim" in text
    assert "recurrent" not in cnncost.to_text(cnncost.report("resnet18"))


def test_training_counts_back_propagation_through_time_of_the_first_layer(tmp_path):
    """An LSTM reading the input (which needs no gradient) still sends each step's gate
    gradients back through its recurrent weights: T x 4h x h = 50 x 512 x 128 MACs, beside
    its weight gradients T x 4h x (C + h)."""
    path = write(tmp_path, """
        input: [50, 40]
        layers:
          - {name: lstm, kind: lstm, units: 128, return_sequences: false}
          - {name: fc, kind: dense, units: 10}
    """)
    rep = cnncost.analyze(path, training=True)
    lstm = rep.layers[0].training
    assert lstm["input_grad_mults"] == 50 * 512 * 128 and lstm["weight_grad_mults"] == 50 * 512 * (40 + 128)
    assert rep.totals["training"]["training_mults"] == 2 * 50 * 512 * 168 + 50 * 512 * 128 + 3 * 1280
