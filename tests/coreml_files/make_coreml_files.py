"""Regenerate the Core ML fixtures: a small CNN written here, converted by coremltools into
an ML Program (.mlpackage, float32 and float16) and a NeuralNetwork (.mlmodel, float32 and
float16 weights), its ONNX export (the reference the tests pin counts against) and its
PyTorch output on a fixed input (what `run` on the file's own weights must reproduce).

    python3.11 -m venv /work/venv-coreml
    /work/venv-coreml/bin/pip install coremltools torch==2.14.1 onnx
    /work/venv-coreml/bin/python tests/coreml_files/make_coreml_files.py

`--large` converts torchvision's mobilenet_v3_small and resnet18 at 64 x 64 into /tmp (not
committed) and prints their counts beside their ONNX exports'."""
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


class Tiny(nn.Module):
    """Convolutions (grouped, transposed), BatchNorm (one the converter folds into its conv,
    one it keeps), pools, a concat, an upsample and the common activations."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.bn2 = nn.BatchNorm2d(8)
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.c3 = nn.Conv2d(12, 8, 1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        y = torch.relu(self.bn1(self.c1(x)))                  # 16 x 16 x 8
        z = self.bn2(F.silu(self.dw(y)))                      # 8 x 8 x 8, a BN after an activation
        z = F.hardtanh(z, 0.0, 6.0)
        u = torch.sigmoid(self.up(z))                         # 16 x 16 x 4
        y = torch.cat([y, u], 1)
        y = torch.tanh(self.c3(y)) + y[:, :8] * 0.5
        y = F.max_pool2d(y, 2)                                # 8 x 8
        y = F.interpolate(y, scale_factor=2.0, mode="nearest")
        y = F.avg_pool2d(y, 2)
        y = F.gelu(y).mean((2, 3))
        return self.fc(y).softmax(-1)


def tiny():
    torch.manual_seed(0)
    m = Tiny().eval()
    with torch.no_grad():                        # statistics that are not the identity
        for bn in (m.bn1, m.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    return m


def convert(module, shape, folder, name, *, nn_too=True):
    import coremltools as ct
    from coremltools.models.neural_network import quantization_utils

    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    traced = torch.jit.trace(module, x)
    inputs = [ct.TensorType(name="input", shape=x.shape)]
    paths = []
    for precision, suffix in ((ct.precision.FLOAT32, "fp32"), (ct.precision.FLOAT16, "fp16")):
        path = os.path.join(folder, f"{name}_{suffix}.mlpackage")
        shutil.rmtree(path, ignore_errors=True)
        ct.convert(traced, inputs=inputs, convert_to="mlprogram", compute_precision=precision).save(path)
        paths.append(path)
    if nn_too:
        net = ct.convert(traced, inputs=inputs, convert_to="neuralnetwork")
        net.save(os.path.join(folder, f"{name}_nn_fp32.mlmodel"))
        half = quantization_utils.quantize_weights(net, nbits=16)
        half.save(os.path.join(folder, f"{name}_nn_fp16.mlmodel"))
    torch.onnx.export(module, (x,), os.path.join(folder, f"{name}.onnx"), dynamo=False, opset_version=17,
                      input_names=["input"])
    with torch.no_grad():
        np.savez(os.path.join(folder, f"{name}.expect.npz"), input=x.numpy(), output=module(x).numpy())
    return paths


if __name__ == "__main__":
    if "--large" in sys.argv:
        import torchvision

        for arch in ("mobilenet_v3_small", "resnet18"):
            convert(getattr(torchvision.models, arch)(weights=None).eval(), (1, 3, 64, 64), "/tmp", arch)
    else:
        convert(tiny(), (1, 3, 16, 16), HERE, "tiny")
