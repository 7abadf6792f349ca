"""Optional (skipped without torch): a module read by running it once on meta tensors
(interop/torch_trace) counts exactly what torch.onnx.export's graph counts, runs as the
module runs, and hands what it cannot write down to the exporter, saying so."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
torchvision = pytest.importorskip("torchvision")

import cnncost  # noqa: E402
from cnncost.interop.torch import trace as torch_trace  # noqa: E402

TRACED = "traced on meta tensors"


def exported(module, shape, monkeypatch):
    """The same module through torch.onnx.export (the tracer made to step aside)."""
    def refuse(*_, **__):
        raise torch_trace.Untraceable("asked to export")
    with monkeypatch.context() as m:
        m.setattr(torch_trace, "trace", refuse)
        return cnncost.report(module, input_shape=shape).report


@pytest.mark.parametrize("name, size", [("resnet18", 64), ("mobilenet_v3_small", 64), ("convnext_tiny", 64),
                                        ("densenet121", 64), ("efficientnet_b0", 64), ("vit_b_16", 224),
                                        ("shufflenet_v2_x0_5", 64), ("inception_v3", 96)])
def test_traced_counts_are_the_exported_graphs(name, size, monkeypatch):
    module = torchvision.models.get_model(name, weights=None).eval()
    shape = (1, 3, size, size)
    rep = cnncost.report(module, input_shape=shape).report
    assert TRACED in rep.source
    ref = exported(module, shape, monkeypatch)
    assert "torch.onnx.export" in ref.source
    assert rep.totals["mults"] == ref.totals["mults"]
    assert rep.totals["mults_by_class"] == ref.totals["mults_by_class"]
    # every parameter the forward uses, as the module holds it, by both readers (the export
    # is unfolded: no BatchNorm fused into its conv; Inception's auxiliary head does not run)
    assert rep.totals["params"] == ref.totals["params"] == used_params(module, shape)


@pytest.mark.parametrize("family, name", [("torchvision", "maxvit_t"), ("torchvision", "swin_t"),
                                          ("timm", "levit_128s"), ("timm", "efficientformer_l1"),
                                          ("timm", "coatnet_0_rw_224")])
def test_a_learned_bias_table_read_at_positions_counts_as_the_table(family, name):
    """Attention biases gathered from a learned table at a buffer of positions: the params
    are the table's, as the module holds them (MaxViT and the timm models are traced; Swin's
    roll goes to the exporter, unfolded), and the positions are buffers, not weights (every
    buffer but BatchNorm's step counters, where traced)."""
    lib = pytest.importorskip(family)
    module = (lib.models.get_model(name, weights=None) if family == "torchvision"
              else lib.create_model(name, pretrained=False)).eval()
    rep = cnncost.report(module, input_shape=(1, 3, 224, 224)).report
    assert rep.totals["params"] == sum(p.numel() for p in module.parameters())
    if TRACED in rep.source:      # (Swin's export computes its shift masks: constants of the graph, also buffers)
        tracked = sum(b.numel() for n, b in module.named_buffers() if n.endswith("num_batches_tracked"))
        assert rep.totals["non_trainable_params"] == sum(b.numel() for b in module.buffers()) - tracked


def used_params(module, shape) -> int:
    ran = []
    handles = [m.register_forward_hook(lambda m, i, o: ran.append(m)) for m in module.modules()]
    with torch.no_grad():
        module(torch.zeros(shape))
    for h in handles:
        h.remove()
    # a module its parent calls functionally (attention's out_proj) uses its weights unhooked
    parent = {id(c): m for m in module.modules() for c in m.children()}
    ran = {id(m) for m in ran}
    return sum(p.numel() for m in module.modules() if id(m) in ran or id(parent.get(id(m))) in ran
               for p in m.parameters(recurse=False))


def test_a_traced_model_runs_as_the_module_does(tmp_path):
    module = torchvision.models.mobilenet_v3_small(weights=None).eval()
    x = np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = cnncost.run(module, str(tmp_path / "x.npy"), input_shape=(1, 3, 64, 64))
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out.output, want, rtol=1e-4, atol=1e-5)
    assert cnncost.verify(module, input_shape=(1, 3, 64, 64), engine="onnxruntime").ok


class Summed(torch.nn.Module):
    """torch.cumsum is not in the tracer's table: the exporter reads it."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        return torch.cumsum(self.conv(x), dim=2)


class WriteThroughAView(torch.nn.Module):
    """An in-place write that another view of the tensor sees: not traced, never miscounted."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        part = y[:, :2]
        y.relu_()                       # part sees it too
        return part * 2


def test_an_in_place_write_another_view_sees_is_refused_not_misread():
    """torch.onnx.export's graph of it reads the old values (checked: its output differs
    from the module's), so neither reader is used: one line saying how to write it."""
    with pytest.raises(cnncost.CnnCostError, match=r"WriteThroughAView: .*in-place write .* out of place"):
        cnncost.report(WriteThroughAView().eval(), input_shape=(1, 3, 16, 16))


@pytest.mark.parametrize("make, why", [(Summed, "aten.cumsum")])
def test_what_the_tracer_does_not_write_goes_to_the_exporter(make, why, tmp_path):
    module = make().eval()
    rep = cnncost.report(module, input_shape=(1, 3, 16, 16)).report
    assert "torch.onnx.export" in rep.source and why in rep.source
    assert rep.totals["mults"] == 16 * 16 * 4 * 27
    x = np.random.default_rng(2).standard_normal((1, 3, 16, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = cnncost.run(module, str(tmp_path / "x.npy"), input_shape=(1, 3, 16, 16)).output
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    if out.shape != want.shape:              # a map comes out as ours, NHWC
        out = out.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)


def test_tracing_leaves_mixed_training_flags_and_every_tensor_alone():
    module = torchvision.models.resnet18(weights=None)
    module.train()
    module.layer1.eval()                # a frozen part, as fine-tuning code leaves it
    flags = [m.training for m in module.modules()]
    state = {k: v.clone() for k, v in module.state_dict().items()}
    cnncost.report(module, input_shape=(2, 3, 32, 32))
    assert [m.training for m in module.modules()] == flags
    after = module.state_dict()
    assert state.keys() == after.keys() and all(torch.equal(state[k], after[k]) for k in state)
    assert not torch.nn.modules.module._global_forward_hooks and not torch.nn.modules.module._global_forward_pre_hooks


def test_a_module_sweeps_over_batch_and_resolution():
    from click.testing import CliRunner

    from cnncost.cli import cli

    module = torchvision.models.mobilenet_v2(weights=None)
    grid = cnncost.sweep(module, ["resolution=64,96", "batch=1,3"], input_shape=(1, 3, 224, 224)).grid
    for (res, batch), cell in grid.cells.items():
        one = cnncost.report(module, input_shape=(1, 3, res, res)).totals
        assert cell["mults"] == batch * one["mults"] and cell["params"] == one["params"]
    with pytest.raises(cnncost.CnnCostError, match="batch and resolution"):
        cnncost.sweep(module, ["alpha=1"], input_shape=(1, 3, 224, 224))
    r = CliRunner().invoke(cli, ["sweep", "torchvision:resnet18", "--allow-code", "--input-shape", "1x3x224x224",
                                 "--set", "resolution=128,224", "--format", "json"])
    assert r.exit_code == 0, r.output
    import json
    cells = {c["resolution"]: c["mults"] for c in json.loads(r.stdout)["cells"]}
    assert cells == {128: 592_695_296, 224: 1_814_073_344}


def test_a_detector_with_its_anchor_grid_traces_exactly(monkeypatch):
    """YOLOv8n (built from its yaml, no weights): anchors and strides made in forward from
    shapes alone are numbers of the graph, not parameters."""
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    ultralytics = pytest.importorskip("ultralytics")
    module = ultralytics.YOLO("yolov8n.yaml").model.eval()
    shape = (1, 3, 320, 320)
    rep = cnncost.report(module, input_shape=shape).report
    assert TRACED in rep.source
    assert rep.totals["params"] == sum(p.numel() for p in module.parameters())
    assert rep.totals["mults"] == exported(module, shape, monkeypatch).totals["mults"]
    with torch.no_grad():                # the anchors it caches were put back: it still runs for real
        module(torch.zeros(shape))


class Windowed(torch.nn.Module):
    """A linear layer on windows of a token map (Twins' locally grouped attention): torch
    runs it as a bmm of the weight broadcast over the windows."""

    def __init__(self):
        super().__init__()
        self.qkv = torch.nn.Linear(8, 24)

    def forward(self, x):                     # (B, 16, 8): tokens of a 4 x 4 map, read in 2 x 2 windows
        return self.qkv(x.view(x.shape[0], 2, 2, 2, 2, 8).transpose(2, 3))


def test_a_weight_broadcast_for_a_bmm_is_the_weight_once(tmp_path):
    module = Windowed().eval()
    rep = cnncost.report(module, input_shape=(1, 16, 8)).report
    assert TRACED in rep.source
    assert rep.totals["params"] == 8 * 24 + 24                # was 1,560: the broadcast copy as a weight
    assert "the module's own tensors" in rep.source           # not a file's folded ones
    assert rep.totals["mults"] == 16 * 8 * 24
    x = np.random.default_rng(4).standard_normal((1, 16, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = cnncost.run(module, str(tmp_path / "x.npy"), input_shape=(1, 16, 8)).output
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out.reshape(want.shape), want, rtol=1e-4, atol=1e-5)


def test_data_dependent_control_flow_is_refused_not_counted_at_random():
    """`return self.d(y) if y.mean() > 0 else y`: the exporter traced one branch, chosen by the
    random input: 55,296 or 202,752 MACs from run to run, without a word."""
    torch = pytest.importorskip("torch")

    class DataDep(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c, self.d = torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 8, 3, padding=1)

        def forward(self, x):
            y = self.c(x)
            return self.d(y) if y.mean() > 0 else y

    with pytest.raises(cnncost.CnnCostError, match="data-dependent control flow"):
        cnncost.report(DataDep(), input_shape=(1, 3, 16, 16))


# ---- sequences and volumes ------------------------------------------------------------------
def _out_of(module, x):
    with torch.no_grad():
        y = module(torch.from_numpy(x))
    return (y[0] if isinstance(y, tuple) else y).numpy()


@pytest.mark.parametrize("make, shape, params", [
    (lambda: torch.nn.Sequential(torch.nn.Conv1d(4, 8, 3), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                                 torch.nn.MaxPool1d(2), torch.nn.AvgPool1d(3, 1, 1), torch.nn.AdaptiveAvgPool1d(5),
                                 torch.nn.InstanceNorm1d(8), torch.nn.AdaptiveAvgPool1d(1)), (1, 4, 32), 120),
    (lambda: torch.nn.Sequential(torch.nn.Conv3d(3, 8, 3), torch.nn.BatchNorm3d(8), torch.nn.ReLU(),
                                 torch.nn.MaxPool3d(2), torch.nn.AvgPool3d(2, ceil_mode=True),
                                 torch.nn.AdaptiveAvgPool3d((1, 2, 2)), torch.nn.AdaptiveAvgPool3d(1)),
     (1, 3, 8, 16, 16), 672),
])
def test_1d_and_3d_maps_are_traced_not_exported(make, shape, params, tmp_path):
    module = make().eval()
    rep = cnncost.report(module, input_shape=shape).report
    assert TRACED in rep.source
    assert rep.totals["params"] == params == sum(p.numel() for p in module.parameters())
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = cnncost.run(module, str(tmp_path / "x.npy"), input_shape=shape).output
    want = _out_of(module, x)
    np.testing.assert_allclose(out.reshape(want.shape), want, rtol=1e-4, atol=1e-5)


class SensorGRU(torch.nn.Module):
    """Conv1d features, a batch-first GRU, the last layer's h_n[-1] classified."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Sequential(torch.nn.Conv1d(6, 8, 5, padding=2), torch.nn.ReLU())
        self.gru = torch.nn.GRU(8, 12, num_layers=2, batch_first=True)
        self.fc = torch.nn.Linear(12, 3)

    def forward(self, x):
        _, h = self.gru(self.conv(x).transpose(1, 2))
        return self.fc(h[-1])


class Wrapped(torch.nn.Module):
    """An LSTM whose output alone is returned (c_n left unread)."""

    def __init__(self, **kw):
        super().__init__()
        self.lstm = torch.nn.LSTM(**kw)

    def forward(self, x):
        y, _ = self.lstm(x)
        return y


@pytest.mark.parametrize("make, shape, params, mults", [
    # GRU 3h(C + h) per step: (8 -> 12) and (12 -> 12) on T = 16, conv 16 x 8 x 30, fc 12 x 3
    (SensorGRU, (1, 6, 16), 248 + 792 + 936 + 39, 16 * 36 * 20 + 16 * 36 * 24 + 16 * 8 * 30 + 36),
    # a bare time-first nn.GRU returning (output, h_n): h_n sliced out of the output
    (lambda: torch.nn.GRU(8, 16, num_layers=2, bidirectional=True), (5, 1, 8), 7296,
     5 * 2 * 48 * 24 + 5 * 2 * 48 * 48),
    (lambda: torch.nn.RNN(8, 16, nonlinearity="relu", batch_first=True), (2, 5, 8), 416, 5 * 16 * 24),
    (lambda: Wrapped(input_size=8, hidden_size=6, num_layers=2, bidirectional=True, batch_first=True), (1, 7, 8),
     2 * (24 * 8 + 24 * 6 + 48) + 2 * (24 * 12 + 24 * 6 + 48), 7 * 2 * 24 * 14 + 7 * 2 * 24 * 18),
])
def test_recurrent_modules_are_traced_with_gates_in_onnx_order(make, shape, params, mults, tmp_path):
    torch.manual_seed(0)
    module = make().eval()
    rep = cnncost.report(module, input_shape=shape).report
    assert TRACED in rep.source
    assert rep.totals["params"] == params == sum(p.numel() for p in module.parameters())
    batch = shape[1] if isinstance(module, torch.nn.GRU) else shape[0]
    assert rep.totals["mults"] == batch * mults
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = cnncost.run(module, str(tmp_path / "x.npy"), input_shape=shape).output
    want = _out_of(module, x)
    if isinstance(module, torch.nn.GRU):       # time-first: ours batch first
        want = want.swapaxes(0, 1)
    np.testing.assert_allclose(out.reshape(want.shape), want, rtol=1e-4, atol=1e-5)
    assert cnncost.verify(module, input_shape=shape, engine="onnxruntime").ok


def test_a_bare_lstm_returns_c_n_refused_with_the_way_out():
    with pytest.raises(cnncost.CnnCostError) as exc:
        cnncost.report(torch.nn.LSTM(8, 16, num_layers=2), input_shape=(5, 1, 8))
    msg = str(exc.value)
    assert "\n" not in msg and "c_n" in msg and "wrap it" in msg


def test_an_lstm_with_a_projection_refused_naming_the_spec():
    """ONNX's LSTM has no projection: neither reader writes it; the lstm kind counts it."""
    with pytest.raises(cnncost.CnnCostError, match="proj_size=4.*kind lstm with units 16 and proj_size 4"):
        cnncost.report(torch.nn.LSTM(8, 16, proj_size=4, batch_first=True), input_shape=(1, 5, 8))


def test_a_text_model_beginning_with_an_embedding_is_given_token_ids():
    """nn.Embedding reads integer ids: a module that begins with one is traced on ids below
    its table's size, not on real values (which nn.Embedding refuses)."""
    import torch
    from torch import nn

    import cnncost

    class Text(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.gru, self.fc = nn.Embedding(40, 6), nn.GRU(6, 5, batch_first=True), nn.Linear(5, 2)

        def forward(self, ids):
            y, _ = self.gru(self.emb(ids))
            return self.fc(y[:, -1])

    m = Text().eval()
    rep = cnncost.analyze(m, input_shape=(1, 11))
    assert rep.totals["params"] == sum(p.numel() for p in m.parameters())
    assert rep.totals["mults"] == 11 * 15 * (6 + 5) + 10 and rep.layers[0].kind == "embedding"
