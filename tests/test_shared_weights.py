"""Shared weights: a tensor is a parameter once, where it is first used; later uses name
the owner (`shares`), add no params and still do their multiplications. The peers count
every use (ptflops#106, DeepSpeed#7256, torchinfo#322)."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

import cnncost
from cnncost.cli import cli
from conftest import analyze_text

THRICE = """
name: thrice
input: [16, 16, 8]
layers:
  - {name: conv_a, kind: conv, filters: 8, kernel: 3, padding: same}
  - {name: relu_a, kind: relu}
  - {name: conv_b, kind: conv, filters: 8, kernel: 3, padding: same, shares: conv_a}
  - {name: relu_b, kind: relu}
  - {name: conv_c, kind: conv, filters: 8, kernel: 3, padding: same, shares: conv_b}
  - {name: flat, kind: flatten, inputs: conv_c}
  - {name: head, kind: dense, units: 4}
"""


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_a_tensor_used_three_times_is_counted_once_and_multiplied_three_times():
    rep = analyze_text(THRICE)
    rows = {r.name: r for r in rep.layers}
    conv = 3 * 3 * 8 * 8 + 8
    assert rows["conv_a"].params == conv and rows["conv_b"].params == rows["conv_c"].params == 0
    assert rows["conv_a"].mults == rows["conv_b"].mults == rows["conv_c"].mults == 16 * 16 * 8 * 9 * 8
    # a chain of shares ends at the first use
    assert rows["conv_c"].shares == {"kernel": "conv_a/kernel", "bias": "conv_a/bias"}
    assert rep.totals["params"] == conv + 16 * 16 * 8 * 4 + 4
    assert rep.totals["shared_params"] == 2 * conv
    assert rep.totals["param_bytes"] == rep.totals["params"] * 4


def test_the_owner_is_named_in_the_table_and_the_json(tmp_path):
    path = tmp_path / "thrice.yaml"
    path.write_text(THRICE)
    table = run("report", path).output
    assert "conv, shares conv_a" in table and "shared: 1,168 more elements" in table
    data = json.loads(run("report", path, "--format", "json").output)
    rows = {r["name"]: r for r in data["layers"]}
    assert rows["conv_b"]["shares"] == {"kernel": "conv_a/kernel", "bias": "conv_a/bias"}
    assert "shares" not in rows["conv_a"] and "counted once" in data["conventions"]["params"]


@pytest.mark.parametrize("line, message", [
    ("{kind: conv, filters: 8, kernel: 3, shares: nowhere}", "unknown input 'nowhere'"),
    ("{kind: conv, filters: 4, kernel: 3, shares: conv_a}", "not one tensor"),
    ("{kind: relu, shares: conv_a}", "this layer has none"),
    ("{kind: conv, filters: 8, kernel: 3, shares: {gamma: conv_a}}", "no weight 'gamma'"),
    ("{kind: conv, filters: 8, kernel: 3, shares: {kernel: conv_a/beta}}", "has no weight 'beta'"),
    ("{layers: [{kind: relu}], shares: conv_a}", "not to a block or a group"),
])
def test_a_wrong_shares_is_one_line_naming_the_layer(tmp_path, line, message):
    path = tmp_path / "bad.yaml"
    path.write_text("input: [8, 8, 8]\nlayers:\n  - {name: conv_a, kind: conv, filters: 8, kernel: 3}\n"
                    f"  - {line}\n")
    r = run("report", path)
    assert r.exit_code == 2 and message in r.output and "bad.yaml:4" in r.output
    assert "Traceback" not in r.output


def test_a_frozen_owner_and_training_count_one_gradient(tmp_path):
    rep = analyze_text(THRICE, training=True)
    assert rep.totals["training"]["gradient_bytes"] == rep.totals["trainable_params"] * 4


def test_export_writes_the_tensor_once_and_reads_back_exact(tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    path = tmp_path / "thrice.yaml"
    path.write_text(THRICE)
    out = tmp_path / "thrice.onnx"
    assert run("export", path, "-o", out).exit_code == 0
    model = onnx.load(str(out))
    assert len(model.graph.initializer) == 4          # conv kernel + bias, dense kernel + bias
    back = cnncost.report(str(out)).report
    mine = analyze_text(THRICE)
    assert back.totals["params"] == mine.totals["params"] and back.totals["mults"] == mine.totals["mults"]
    assert "counted once at their first use" in back.source
    assert run("verify", path, "--engine", "onnxruntime").exit_code == 0
    assert run("verify", out, "--engine", "onnxruntime").exit_code == 0


def test_an_onnx_initializer_feeding_two_nodes_is_one_tensor(tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((16, 16)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "b")
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="/fc/Gemm", transB=1),
             helper.make_node("Relu", ["h"], ["r"], name="/relu"),
             helper.make_node("Gemm", ["r", "w", "b"], ["y"], name="/fc_again/Gemm", transB=1)]
    g = helper.make_graph(nodes, "twice", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])], [w, b])
    path = tmp_path / "twice.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    rep = cnncost.report(str(path)).report
    assert rep.totals["params"] == 16 * 16 + 16 and rep.totals["mults"] == 2 * 16 * 16
    assert [r.params for r in rep.layers if r.kind == "dense"] == [272, 0]
    assert run("verify", path, "--engine", "onnxruntime").exit_code == 0
    yaml_out, npz_out = tmp_path / "twice.yaml", tmp_path / "twice.npz"
    assert run("import", path, "-o", yaml_out, "--weights-out", npz_out).exit_code == 0
    assert "shares:" in yaml_out.read_text()
    assert cnncost.report(str(yaml_out)).totals["params"] == 272


def _torch_modules(torch):
    nn = torch.nn

    class Thrice(nn.Module):           # one Sequential called three times
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 32, 3)
            self.block = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1), nn.ReLU())
            self.head = nn.Linear(32, 10)

        def forward(self, x):
            x = self.block(self.block(self.block(self.stem(x))))
            return self.head(x.mean((2, 3)))

    class Twice(nn.Module):            # one Linear called twice
        def __init__(self):
            super().__init__()
            self.fc, self.out = nn.Linear(16, 16), nn.Linear(16, 8)

        def forward(self, x):
            return self.out(self.fc(torch.relu(self.fc(x))))
    return [(Thrice(), (1, 3, 20, 20)), (Twice(), (1, 16))]


def test_a_live_module_calling_a_submodule_again_has_its_own_params():
    torch = pytest.importorskip("torch")
    for module, shape in _torch_modules(torch):
        rep = cnncost.report(module, input_shape=shape).report
        assert rep.totals["params"] == sum(p.numel() for p in module.parameters())
        assert rep.totals["shared_params"] > 0


def test_a_class_token_read_twice_is_one_tensor():
    """timm's cait_xxs24_224: the class token is concatenated and added (ClassAttn's residual);
    the tracer wrote each read-out as a new initializer, 192 params over."""
    timm = pytest.importorskip("timm")
    module = timm.create_model("cait_xxs24_224", pretrained=False)
    rep = cnncost.report(module, input_shape=(1, 3, 224, 224)).report
    assert rep.totals["params"] == sum(p.numel() for p in module.parameters()) == 11_956_264


def test_batch_norms_fed_one_statistics_tensor_share_it(tmp_path):
    """torch.onnx.export merges equal-valued tensors: two batch norms' running means of zeros
    become one initializer. It is read (was refused: 'no weight moving_mean') and counted once."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    init = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in (
        ("g1", 1 + 0.1 * rng.standard_normal(4)), ("b1", rng.standard_normal(4)), ("g2", rng.standard_normal(4)),
        ("b2", rng.standard_normal(4)), ("zeros", np.zeros(4)), ("v1", rng.uniform(0.5, 1.5, 4)),
        ("v2", rng.uniform(0.5, 1.5, 4)))]
    nodes = [helper.make_node("BatchNormalization", ["x", "g1", "b1", "zeros", "v1"], ["h"], name="/bn1/BN"),
             helper.make_node("BatchNormalization", ["h", "g2", "b2", "zeros", "v2"], ["y"], name="/bn2/BN")]
    g = helper.make_graph(nodes, "bns", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 3, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 3, 3])], init)
    path = tmp_path / "bns.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    rep = cnncost.report(str(path)).report
    assert rep.totals["params"] == 16 and rep.totals["non_trainable_params"] == 4 + 4 + 4
    assert rep.layers[1].shares == {"moving_mean": f"{rep.layers[0].name}/moving_mean"}
    assert run("verify", path, "--engine", "onnxruntime").exit_code == 0


def test_a_use_of_a_frozen_tensor_does_not_train_it():
    """One tensor, one trainable flag: a later use of a frozen owner's tensor computes no weight
    gradient (its row had the MACs of one while the gradient memory left it out)."""
    rep = analyze_text(THRICE, training=True, trainable_from="relu_b")
    rows = {r.name: r.training for r in rep.layers}
    assert rows["conv_c"]["weight_grad_mults"] == 0          # conv_a's tensor, frozen
    assert rows["head"]["weight_grad_mults"] == 16 * 16 * 8 * 4
    assert rep.totals["training"]["gradient_bytes"] == rep.totals["trainable_params"] * 4


def test_the_memory_guard_holds_a_shared_tensor_once():
    from cnncost.runtime.executor import estimate_peak_bytes

    rep = analyze_text(THRICE)
    assert estimate_peak_bytes(rep.graph, 1)["weights"] == rep.totals["params"] * 4


def test_export_and_a_factory_s_arguments_from_python():
    """export takes a module's input shape; a name in a factory's arguments is said plainly."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import tempfile

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))
    with tempfile.TemporaryDirectory() as tmp:
        r = cnncost.export(net, f"{tmp}/m.onnx", input_shape=(1, 3, 8, 8))
        assert r.nodes >= 1
    with pytest.raises(cnncost.CnnCostError, match="no literal") as info:
        cnncost.report("torchvision.models:resnet18(num_classes=n)", allow_code=True, input_shape=(1, 3, 32, 32))
    assert "ast." not in str(info.value)
