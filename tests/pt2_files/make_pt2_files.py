"""Regenerate the torch.export fixtures: small modules written here, exported with
torch.export.export and saved with torch.export.save (.pt2; the CNN also decomposed to core
ATen), each beside its ONNX export
(torch.onnx.export, unfolded: the reference the tests pin counts against) and its PyTorch
output on a fixed input (what `run` on the archive's own weights must reproduce).

    /work/venv-torch/bin/python tests/pt2_files/make_pt2_files.py

`--large` exports torchvision's resnet18 and mobilenet_v3_small at 64 x 64 into /tmp (not
committed)."""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


class TinyCNN(nn.Module):
    """Convolutions (grouped, transposed), BatchNorm, pools, a concat, an upsample, in-place
    activations and a residual add."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.c3 = nn.Conv2d(12, 8, 1)
        self.act = nn.Hardswish(inplace=True)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        y = F.relu(self.bn1(self.c1(x)), inplace=True)
        z = F.silu(self.dw(y))
        u = torch.sigmoid(self.up(z))
        y = self.act(self.c3(torch.cat([y, u], 1))) + y
        y = F.max_pool2d(y, 2)
        y = F.interpolate(y, scale_factor=2.0, mode="nearest")
        y = F.avg_pool2d(y, 2)
        y = F.adaptive_avg_pool2d(F.gelu(y), 1).flatten(1)
        return self.fc(y).softmax(-1)


class Conv1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(4, 8, 5, padding=2)
        self.bn = nn.BatchNorm1d(8)
        self.c2 = nn.Conv1d(8, 8, 3, stride=2)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        y = F.max_pool1d(torch.relu(self.bn(self.c1(x))), 2)
        return self.fc(F.adaptive_avg_pool1d(torch.tanh(self.c2(y)), 1).flatten(1))


class SmallLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 8, batch_first=True)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y[:, -1])


def _statistics(m):
    with torch.no_grad():                        # BatchNorm statistics that are not the identity
        for bn in (b for b in m.modules() if isinstance(b, nn.modules.batchnorm._BatchNorm)):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    return m


def save(module, shape, folder, name, core=False):
    """`core`: also the program decomposed to core ATen (run_decompositions: convolution,
    addmm, clamp ... in place of conv2d, linear, hardswish), as `{name}_core.pt2`."""
    module = _statistics(module).eval()
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    program = torch.export.export(module, (x,))
    torch.export.save(program, os.path.join(folder, f"{name}.pt2"))
    if core:
        torch.export.save(program.run_decompositions(), os.path.join(folder, f"{name}_core.pt2"))
    torch.onnx.export(module, (x,), os.path.join(folder, f"{name}.onnx"), dynamo=False, opset_version=17,
                      input_names=["input"], do_constant_folding=False)
    with torch.no_grad():
        np.savez(os.path.join(folder, f"{name}.expect.npz"), input=x.numpy(), output=module(x).numpy())


if __name__ == "__main__":
    torch.manual_seed(0)
    if "--large" in sys.argv:
        import torchvision

        for arch in ("resnet18", "mobilenet_v3_small"):
            save(getattr(torchvision.models, arch)(weights=None), (1, 3, 64, 64), "/tmp", f"{arch}_export")
    else:
        save(TinyCNN(), (1, 3, 16, 16), HERE, "tiny_cnn", core=True)
        save(Conv1d(), (1, 4, 32), HERE, "conv1d")
        save(SmallLSTM(), (1, 10, 6), HERE, "lstm")
