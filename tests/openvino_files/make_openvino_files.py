"""Regenerate the small OpenVINO IR files the OpenVINO reader is tested on, with OpenVINO's
own converter (cnncost never needs it). Two steps, each in its own venv:

    /work/venv-torch/bin/python tests/openvino_files/make_openvino_files.py export [BIG_DIR]
    /work/venv-openvino/bin/python tests/openvino_files/make_openvino_files.py convert [BIG_DIR]

`export` (torch, torchvision) writes each model's ONNX export (opset 17); `convert`
(pip install openvino) turns each into NAME_fp32.xml/.bin and NAME_fp16.xml/.bin
(openvino.convert_model, then openvino.save_model with compress_to_fp16 False / True) and
writes NAME.expect.npz: a random input and what OpenVINO's CPU runtime gives for it
(Core().compile_model(...)). The tiny models land here (committed); torchvision's
mobilenet_v3_small and resnet18 at 64x64 in BIG_DIR (default /tmp/ovbig; not committed:
tests/test_openvino.py checks them only when they are there)."""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


# ---- step 1: the models, exported to ONNX (venv with torch) ------------------------------
def _tiny_cnn():
    """One of each operator a hand-written CNN converts to: conv + BN + ReLU, depthwise
    conv, SE block (global mean, hard sigmoid, multiply), max pool (ceil), average pool
    (padded, pad excluded), transposed conv, resizes, concat, a channel shuffle, the
    activations, flatten and a dense head with softmax."""
    import torch
    from torch import nn
    import torch.nn.functional as F

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(8)
            self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
            self.se_fc1 = nn.Conv2d(8, 4, 1)
            self.se_fc2 = nn.Conv2d(4, 8, 1)
            self.pw = nn.Conv2d(8, 8, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(8)
            self.prelu = nn.PReLU(8)
            self.down = nn.Conv2d(16, 12, 3, stride=2)
            self.up = nn.ConvTranspose2d(12, 6, 3, stride=2, padding=1, output_padding=1)
            self.fc = nn.Linear(6 * 4 * 4, 10)

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)))                          # 16x16x8
            y = F.hardswish(self.dw(x))
            s = y.mean((2, 3), keepdim=True)
            s = F.hardsigmoid(self.se_fc2(F.relu(self.se_fc1(s))))
            y = self.prelu(self.bn2(self.pw(y * s)))
            x = x + y
            n, c, h, w = x.shape                                         # channel shuffle, groups 2
            x = x.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)
            a = F.max_pool2d(x, 3, 2, ceil_mode=True)                     # 8x8x8
            m = F.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False)  # 8x8x8
            x = torch.cat([a, F.silu(m)], 1)                             # 8x8x16
            x = F.relu6(self.down(x))                                    # 3x3x12
            x = F.gelu(self.up(x))                                       # 6x6x6
            x = F.interpolate(x, scale_factor=2, mode="nearest")         # 12x12x6
            x = torch.tanh(F.leaky_relu(x, 0.1))
            x = F.interpolate(x, size=(4, 4), mode="bilinear", align_corners=False)
            x = torch.sigmoid(F.elu(x))
            x = x.flatten(1)
            return F.softmax(self.fc(x), dim=1)

    torch.manual_seed(0)
    model = Tiny().eval()
    with torch.no_grad():
        for bn in (model.bn1, model.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 1.5)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    return model, (1, 3, 16, 16)


def _tiny_ops():
    """The plumbing around convolutions: split, slice, reflect pad, pixel shuffle, a product
    of two activations with a softmax (attention), a batch norm on no conv (scale and shift),
    a 1-D convolution and pooling over a reshaped map, max and min."""
    import torch
    from torch import nn
    import torch.nn.functional as F

    class Ops(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 8, 3, padding=1)
            self.bn = nn.BatchNorm2d(8)
            self.shuffle = nn.Conv2d(4, 16, 1)
            self.conv1d = nn.Conv1d(8, 6, 3, stride=2)
            self.fc = nn.Linear(6, 5)

        def forward(self, x):                                        # 1x4x12x12
            a, b = torch.chunk(x, 2, dim=1)                          # Split
            b = b[:, :, 1:-1, 1:-1]                                  # Slice
            b = F.pad(b, (1, 1, 1, 1), mode="reflect")               # Pad
            x = torch.cat([torch.maximum(a, b), torch.minimum(a, b)], 1)
            y = self.bn(torch.cat([self.conv(x)[:, :4], x], 1))      # BN of no conv: scale and shift
            up = F.pixel_shuffle(self.shuffle(x), 2)                 # DepthToSpace: 24x24x4
            up = F.avg_pool2d(up, 2)                                 # 12x12x4
            t = torch.cat([y[:, :4], up], 1).flatten(2)              # 1x8x144 tokens
            att = torch.softmax(t.transpose(1, 2) @ t / 8.0, dim=-1)  # 144x144
            t = t @ att                                              # 8x144
            s = self.conv1d(t)                                       # 6x71
            return self.fc(F.relu(s).mean(-1))

    torch.manual_seed(0)
    model = Ops().eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 1.5)
    return model, (1, 4, 12, 12)


def _torchvision(name):
    """Its BatchNorms' statistics and its biases made up: a bias the exporter folds out of
    them is then not all zero (the converter drops an all-zero bias)."""
    import torch
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, name)().eval()
    with torch.no_grad():
        for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.1, 0.1)
            bn.running_var.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.1, 0.1)
        for m in model.modules():            # torchvision starts some biases at zero: the converter drops those
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and m.bias is not None:
                m.bias.uniform_(-0.1, 0.1)
    return model, (1, 3, 64, 64)


def export(big):
    import torch

    models = {HERE: {"tiny_cnn": _tiny_cnn, "tiny_ops": _tiny_ops},
              big: {"mobilenet_v3_small": lambda: _torchvision("mobilenet_v3_small"),
                    "resnet18": lambda: _torchvision("resnet18")}}
    for folder, makers in models.items():
        os.makedirs(folder, exist_ok=True)
        for name, make in makers.items():
            model, shape = make()
            # a dynamic batch: the converter keeps the shape arithmetic (ShapeOf) of a view
            torch.onnx.export(model, torch.randn(*shape), os.path.join(folder, name + ".onnx"), dynamo=False,
                              opset_version=17, input_names=["image"], output_names=["out"],
                              dynamic_axes={"image": {0: "n"}, "out": {0: "n"}})
            print("exported", name)


# ---- step 2: converted by OpenVINO, and its runtime's outputs (venv with openvino) -------
def _int8(model, shape, rng):
    """NNCF's post-training quantization (pip install nncf) on 8 random inputs: int8 weights
    (Const i8 -> Convert -> Multiply) and FakeQuantize on activations; None without NNCF."""
    try:
        import nncf
    except ImportError:
        return None
    data = [rng.standard_normal(shape).astype("float32") for _ in range(8)]
    return nncf.quantize(model, nncf.Dataset(data), subset_size=8)


def convert(big):
    import numpy as np
    import openvino as ov

    core = ov.Core()
    rng = np.random.default_rng(0)
    for folder in (HERE, big):
        for onnx_file in sorted(f for f in os.listdir(folder) if f.endswith(".onnx")):
            name = onnx_file[:-5]
            model = ov.convert_model(os.path.join(folder, onnx_file))
            shape = [d.get_length() if d.is_static else 1 for d in model.inputs[0].get_partial_shape()]
            x = rng.standard_normal(shape).astype(np.float32)
            expect = {"input": x}
            for precision, half in (("fp32", False), ("fp16", True), ("int8", False)):
                saved = model if precision != "int8" else _int8(model, shape, rng)
                if saved is None:
                    continue
                xml = os.path.join(folder, f"{name}_{precision}.xml")
                ov.save_model(saved, xml, compress_to_fp16=half)
                compiled = core.compile_model(xml, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
                expect[f"{precision}_output0"] = compiled(x)[0]
                print("converted", xml)
            np.savez(os.path.join(folder, name + ".expect.npz"), **expect)


if __name__ == "__main__":
    step, big = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "/tmp/ovbig"
    {"export": export, "convert": convert}[step](big)
