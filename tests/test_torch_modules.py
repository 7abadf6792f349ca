"""Optional (skipped without torch): live PyTorch modules go in without an export step.
mults equal the conv / transposed-conv / linear MACs forward hooks count; the module is
left as it was; a factory name works from the command line; assert_macs gates CI."""
import json

import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

import cnncost  # noqa: E402
from cnncost.cli import cli  # noqa: E402
from cnncost.testing import assert_macs  # noqa: E402
from test_torchvision_import import torch_macs  # noqa: E402

F = torch.nn.functional


class Hand(torch.nn.Module):
    """A functional residual, F.interpolate, a channel slice and a transposed conv."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.body = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU())
        self.up = torch.nn.ConvTranspose2d(4, 6, 2, stride=2)
        self.head = torch.nn.Linear(6 * 64 * 64, 10)

    def forward(self, x):
        y = self.stem(x)
        y = y + self.body(y)                       # a functional residual
        y = F.interpolate(y, scale_factor=0.5, mode="nearest")
        y = self.up(y[:, :4])                      # a channel slice
        return self.head(torch.flatten(y, 1))


def snapshot(module):
    return ({k: v.clone() for k, v in module.state_dict().items()}, module.training,
            [p.requires_grad for p in module.parameters()],
            [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in module.modules()])


def same(a, b):
    (sa, ta, ga, ha), (sb, tb, gb, hb) = a, b
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa) and (ta, ga, ha) == (tb, gb, hb)


@pytest.mark.parametrize("make", [Hand, lambda: __import__("torchvision").models.resnet18(),
                                  lambda: __import__("torchvision").models.mobilenet_v3_small()])
def test_a_module_counts_like_hooks_and_is_left_as_it_was(make):
    if make is not Hand:
        pytest.importorskip("torchvision")
    module = make()
    module.train()                                  # even in training mode, nothing changes
    before = snapshot(module)
    grad = torch.is_grad_enabled()
    rep = cnncost.report(module, input_shape=(1, 3, 64, 64)).report
    assert same(before, snapshot(module)) and torch.is_grad_enabled() == grad
    x = torch.randn(1, 3, 64, 64)
    module.eval()
    assert rep.totals["mults"] == torch_macs(module, x)
    assert rep.source.startswith("PyTorch module ")
    assert all("." in r.name or "_" in r.name or r.name.isidentifier() for r in rep.layers)


def test_verify_and_run_use_the_modules_own_weights(tmp_path):
    import numpy as np

    module = Hand().eval()
    v = cnncost.verify(module, input_shape=(1, 3, 64, 64))
    assert v.ok
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = cnncost.run(module, str(tmp_path / "x.npy"), input_shape=(1, 3, 64, 64))
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out.output, want, rtol=1e-4, atol=1e-4)
    assert not out.weights_random and out.input_layout == "NCHW"


def test_the_batch_and_several_shapes():
    module = Hand()
    assert cnncost.report(module, input_shape=(4, 3, 64, 64)).report.batch == 4
    assert cnncost.report(module, input_shape="2x3x64x64").report.batch == 2
    with pytest.raises(cnncost.CnnCostError, match="input shape"):
        cnncost.report(module)


def test_what_cannot_be_traced_is_one_line():
    class Branchy(torch.nn.Module):
        def forward(self, x):
            if x.sum() > 0:                         # data-dependent: the tracer cannot keep both
                return x * 2
            return x.nonzero()

    r = CliRunner().invoke(cli, ["report", "test_torch_modules:Branchy"])
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_a_factory_from_the_command_line():
    pytest.importorskip("torchvision")
    for spec in ("torchvision.models:resnet18", "torchvision:resnet18", "torchvision.models:resnet18(num_classes=10)"):
        r = CliRunner().invoke(cli, ["report", spec, "--allow-code", "--input-shape", "1x3x64x64", "--format", "json"])
        assert r.exit_code == 0, r.output
        assert "runs that package's code" in r.stderr
    r = CliRunner().invoke(cli, ["report", "torchvision.models:resnet18", "--allow-code"])
    assert r.exit_code == 2 and "input shape" in r.output
    r = CliRunner().invoke(cli, ["report", "torchvision.models:no_such_net", "--allow-code", "--input-shape", "1x3x64x64"])
    assert r.exit_code == 2 and "has no no_such_net" in r.output


def test_assert_macs():
    module = Hand()
    macs = assert_macs(module, (1, 3, 64, 64), at_most="10M")
    with pytest.raises(AssertionError, match=r"the layers that multiply most: body\.0 \(conv\) 2,359,296; stem"):
        assert_macs(module, (1, 3, 64, 64), at_most=macs - 1)


def test_a_transformer_counts_its_attention():
    """ViT-B/16 exports through MatMul and Softmax on tokens, read since attention counts:
    torchvision's own figures (num_params 86,567,656; GFLOPS 17.56, which are MACs), with
    the products of two activations apart."""
    pytest.importorskip("torchvision")
    r = CliRunner().invoke(cli, ["report", "torchvision:vit_b_16", "--allow-code", "--input-shape", "1x3x224x224", "--format", "json"])
    assert r.exit_code == 0, r.output
    t = json.loads(r.stdout)["totals"]
    assert t["params"] == 86_567_656 and t["mults"] == 17_563_828_224
    assert t["mults_by_class"]["attention"] == 12 * 2 * 12 * 197 * 197 * 64      # QK^T and AV, 12 heads, 12 blocks


class TwoInputs(torch.nn.Module):
    """An image and a mask: two inputs, gated by a product of two activations."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.b = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, image, mask):
        x = torch.relu(self.a(image)) * torch.sigmoid(self.b(mask))
        return self.fc(x.mean(dim=(2, 3)))


def test_a_module_of_two_inputs():
    module = TwoInputs().eval()
    keys = list(module.state_dict())
    shapes = ((1, 3, 32, 32), (1, 1, 32, 32))
    rep = cnncost.report(module, input_shape=shapes).report
    assert rep.totals["mults"] == 32 * 32 * 8 * 27 + 32 * 32 * 8 * 9 + 8 * 4
    assert rep.inputs == {"image": [32, 32, 3], "mask": [32, 32, 1]}       # forward()'s own names
    assert cnncost.verify(module, input_shape=shapes, engine="onnxruntime").ok
    assert list(module.state_dict()) == keys and not module.training


def test_a_named_input_shape_follows_forward_and_a_wrong_name_is_one_line():
    """It was a TypeError traceback from torch.randn (a new user's report)."""
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    good = cnncost.report(net, input_shape="input=1x3x16x16").totals["mults"]
    assert good == cnncost.report(net, input_shape=(1, 3, 16, 16)).totals["mults"]
    with pytest.raises(cnncost.CnnCostError, match=r"names x; the module's forward\(\) takes \(input\)"):
        cnncost.report(net, input_shape="x=1x3x16x16")


def test_two_modules_of_one_class_are_two_named_columns():
    a, b = (torch.nn.Sequential(torch.nn.Conv2d(3, c, 3)) for c in (4, 8))
    columns = cnncost.compare([a, b], input_shape=(1, 3, 16, 16)).to_dict()["columns"]
    assert columns == ["PyTorch module Sequential #1", "PyTorch module Sequential #2"]
