"""Optional (skipped without torch): a live module at a batch above 1 counts that batch
exactly, batch times one example's, also where its forward folds the batch into another
axis (ViT's class token concatenated per example, an einsum over the batch letter, windows
of a map in the batch axis), and verify runs it against onnxruntime at that batch; and the
operators of real timm models the import reads (a colour flip, pads of any value)."""
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from cnncost import api  # noqa: E402


class Einsum(torch.nn.Module):
    """An einsum over the batch letter: its export reshapes (b, c, h, w) with the batch merged."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.w = torch.nn.Parameter(torch.randn(8, 16))

    def forward(self, x):
        return torch.einsum("bchw,cd->bdhw", self.conv(x), self.w)


class ClassToken(torch.nn.Module):
    """ViT's front: patches, a learned class token expanded to the batch and concatenated."""

    def __init__(self):
        super().__init__()
        self.patch = torch.nn.Conv2d(3, 16, 8, stride=8)
        self.token = torch.nn.Parameter(torch.randn(1, 1, 16))
        self.head = torch.nn.Linear(16, 4)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.token.expand(x.shape[0], -1, -1), t], dim=1)
        return self.head(t[:, 0])


class Windows(torch.nn.Module):
    """Windows of a map in the batch axis, each convolved (EfficientViT-M's attention)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 8, 3, padding=1, groups=4)

    def forward(self, x):
        b, c, h, w = x.shape
        win = x.view(b, c, 2, h // 2, 2, w // 2).permute(0, 2, 4, 1, 3, 5).reshape(b * 4, c, h // 2, w // 2)
        return self.conv(win).reshape(b, -1)


@pytest.mark.parametrize("module, shape", [(Einsum, (3, 16, 16)), (ClassToken, (3, 32, 32)), (Windows, (4, 8, 8))])
def test_a_batch_folded_into_other_axes_counts_batch_times_one_example(module, shape):
    torch.manual_seed(0)
    m = module()
    one = api.report(m, input_shape=(1, *shape)).totals
    two = api.report(m, input_shape=(2, *shape)).totals
    assert two["mults"] == 2 * one["mults"] and two["flops"] == 2 * one["flops"] and one["mults"] > 0
    assert two["params"] == one["params"] == sum(p.numel() for p in m.parameters())
    result = api.verify(m, input_shape=(2, *shape), engine="onnxruntime")
    assert result.ok and result.verification.report.batch == 2, \
        [r for r in result.verification.engine.layers if not r.ok][:2]


def test_vit_b_16_at_batch_2():
    torchvision = pytest.importorskip("torchvision")
    m = torchvision.models.vit_b_16(weights=None)
    one, two = (api.report(m, input_shape=(b, 3, 224, 224)).totals for b in (1, 2))
    assert two["mults"] == 2 * one["mults"] == 2 * 17_563_828_224
    assert two["params"] == 86_567_656


class Front(torch.nn.Module):
    """What timm models put in front of and inside a network: BGR from RGB (a slice of step
    -1), a pad of ones along a tensor axis (EfficientViT's linear attention), a shift by a
    negative and a positive pad (NASNet) and a pad of -inf before a max pool (MaxPool2dSame)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 6, 3)

    def forward(self, x):
        y = self.conv(x.flip(1))
        y = F.pad(y, (-1, 1, -1, 1))
        y = F.max_pool2d(F.pad(y, (0, 1, 0, 1), value=-float("inf")), 3, 2)
        v = F.pad(y.flatten(2), (0, 0, 0, 1), value=1.0)
        return v.flip(2)


F = torch.nn.functional


def test_timm_operators_trace_and_agree_with_onnxruntime():
    m = Front()
    result = api.verify(m, input_shape=(2, 3, 17, 17), engine="onnxruntime")
    assert result.ok, [r for r in result.verification.engine.layers if not r.ok][:2]
    kinds = [r.kind for r in result.verification.report.layers]
    assert "exported by torch.onnx.export" not in result.verification.report.source     # traced
    assert kinds.count("pad") == 1 and "max_pool" in kinds and kinds.count("slice") >= 3


@pytest.mark.parametrize("name, params", [("efficientvit_b0", 3_410_008), ("efficientvit_m0", 2_349_436)])
def test_efficientvit_reads_and_agrees_with_onnxruntime(name, params):
    timm = pytest.importorskip("timm")
    m = timm.create_model(name, pretrained=False)
    result = api.verify(m, input_shape=(1, 3, 224, 224), engine="onnxruntime")
    assert result.ok, [r for r in result.verification.engine.layers if not r.ok][:2]
    assert result.verification.report.totals["params"] == params == sum(p.numel() for p in m.parameters())


class Squeezed(torch.nn.Module):
    """x.squeeze() drops the batch axis at batch 1 only: this module reads at batch 2, not 1."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.conv(x), 1).squeeze())


def test_a_module_read_at_its_own_batch_stays_read_there():
    """One example is the fallback for a batch the importer cannot read, not the rule."""
    totals = api.report(Squeezed(), input_shape=(2, 3, 16, 16)).totals
    assert totals["mults"] == 2 * (14 * 14 * 8 * 27 + 8 * 4)


class Rolled(torch.nn.Module):
    """Swin's cyclic shift, torch.roll over two axes and over one."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return torch.roll(self.conv(x), shifts=(-2, 3), dims=(2, 3)).roll(1, 1)


def test_roll_is_traced_and_agrees_with_onnxruntime():
    result = api.verify(Rolled(), input_shape=(2, 3, 12, 12), engine="onnxruntime")
    assert result.ok and "traced on meta tensors" in result.verification.report.source
