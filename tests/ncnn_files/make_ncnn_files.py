"""Regenerate the ncnn fixtures of tests/test_ncnn.py (run from this folder, in a venv with
pnnx, ncnn, torch and torchvision: python -m venv /work/venv-ncnn;
/work/venv-ncnn/bin/pip install pnnx ncnn onnx torch==2.14.1 torchvision==0.29.1):

    /work/venv-ncnn/bin/python make_ncnn_files.py

ops.ncnn.*    a small CNN of most layer types, converted by pnnx (float32 weights, fp16=False)
rows.ncnn.*   grouped transposed conv, pools, a channel shuffle, Gemm, LayerNorm, Reduction,
              converted by pnnx with its default float16 weights
seq.ncnn.*    two inputs: Conv1d, a depthwise Conv1d, MaxPool1d; Conv3d, MaxPool3d
hand.ncnn.*   what pnnx does not write (Eltwise, Scale, SAME pads, pad modes, Permute,
              Crop by offsets, Interp bicubic ...), the .param written here and its .bin
              with every storage tag (float32, float16, bfloat16, a quantized table)
*.expect.npz  the input (ncnn's c, h, w) and every output of ncnn's own inference (float32,
              one thread: run_ncnn.py)
It writes each pnnx model's ONNX export to the temporary folder, to count beside (the tests
pin the numbers cnncost reads from it)."""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


class Ops(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, stride=1, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.g = nn.Conv2d(8, 8, 3, padding=(1, 2), dilation=(1, 2), groups=2, bias=False)
        self.prelu = nn.PReLU(8)
        self.up = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
        self.bn2 = nn.BatchNorm2d(12)
        self.fc = nn.Linear(12 * 4 * 4, 10)

    def forward(self, x):
        y = F.relu(self.bn1(self.c1(x)))
        a = F.hardswish(self.dw(y))
        b = self.prelu(self.g(y))
        s = a + b * 0.5
        s = torch.sigmoid(s) * torch.tanh(s) - F.silu(s)
        s = F.max_pool2d(s, 3, 2, 1, ceil_mode=True)
        t = F.avg_pool2d(s, 2, 2, ceil_mode=True, count_include_pad=False)
        u = F.leaky_relu(self.up(t), 0.1)
        u = F.interpolate(u, size=(s.shape[2], s.shape[3]), mode="bilinear", align_corners=False)
        z = torch.cat([s, u], 1)
        z = self.bn2(z + 1.0)
        z = F.pad(z, (1, 0, 0, 1))
        z = z[:, :, 1:5, 0:4]
        z = F.hardsigmoid(z) + F.relu6(z) + F.gelu(z)
        z = torch.flatten(z, 1)
        z = F.dropout(self.fc(z), 0.5, self.training)
        return F.softmax(z, dim=1)


class Rows(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.up = nn.ConvTranspose2d(8, 8, 4, stride=2, padding=1, groups=2)
        self.c2 = nn.Conv2d(8, 16, 1)
        self.ln = nn.LayerNorm(16)
        self.fc = nn.Linear(16, 12)
        self.head = nn.Linear(12 * 9, 5)

    def forward(self, x):
        y = F.relu6(self.c1(x))
        y = F.leaky_relu(self.up(y), 0.2)
        y = F.avg_pool2d(y, 3, 2, 1, ceil_mode=True, count_include_pad=True)
        y = F.interpolate(y, scale_factor=2, mode="nearest")
        y = F.adaptive_avg_pool2d(y, (6, 6))
        b, c, h, w = y.shape
        y = y.view(b, 2, 4, h, w).transpose(1, 2).reshape(b, c, h, w)
        a, z = torch.chunk(y, 2, dim=1)
        y = torch.cat([z, a * 2.0], 1)
        y = self.c2(y)
        t = y.flatten(2).transpose(1, 2)
        t = F.softmax(self.fc(self.ln(t)), dim=1)
        return self.head(t.reshape(b, 4, 108).mean(1))


class Seq(nn.Module):
    """Two inputs: a 1-D map (Conv1d, depthwise, MaxPool1d) and a 3-D one (Conv3d, MaxPool3d)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(4, 8, 5, stride=2, padding=2)
        self.dw = nn.Conv1d(8, 8, 3, padding=1, groups=8)
        self.c3 = nn.Conv3d(2, 4, 3, padding=1)
        self.fc = nn.Linear(8 * 9 + 4 * 2 * 2 * 2, 6)

    def forward(self, x, v):
        y = F.max_pool1d(self.dw(F.relu(self.c1(x))), 3, 2, 1, ceil_mode=True)
        z = F.max_pool3d(F.relu(self.c3(v)), 2)
        return self.fc(torch.cat([y.flatten(1), z.flatten(1)], 1))


def convert(name, model, fp16, shapes=((1, 3, 16, 16),)):
    import pnnx

    torch.manual_seed(0)
    model = model.eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    xs = tuple(torch.rand(*shape) for shape in shapes)
    with tempfile.TemporaryDirectory() as tmp:
        pnnx.export(model, os.path.join(tmp, f"{name}.pt"), xs, fp16=fp16)
        for ext in ("param", "bin"):
            shutil.copy(os.path.join(tmp, f"{name}.ncnn.{ext}"), os.path.join(HERE, f"{name}.ncnn.{ext}"))
    # the same model as ONNX, to count with cnncost beside (the tests pin its params and mults)
    onnx_path = os.path.join(tempfile.gettempdir(), f"ncnn_fixture_{name}.onnx")
    torch.onnx.export(model, xs, onnx_path, dynamo=False, opset_version=17)
    print(f"ONNX export: cnncost report {onnx_path}")
    return xs[0][0].numpy() if len(xs) == 1 else {f"in{i}": x[0].numpy() for i, x in enumerate(xs)}


# ---- the hand-written model: its .bin in every storage ncnn reads --------------------------
def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def f32(a):
    return struct.pack("<I", 0) + np.asarray(a, "<f4").tobytes()


def f16(a):
    return struct.pack("<I", 0x01306B47) + _pad4(np.asarray(a, "<f2").tobytes())


def bf16(a):
    bits = (np.asarray(a, "<f4").view("<u4") >> 16).astype("<u2")
    return struct.pack("<I", 0x01348B83) + _pad4(bits.tobytes())


def table(a):
    """ncnn's quantized table: 256 float32 values, then a uint8 index a value."""
    levels = np.linspace(-0.5, 0.5, 256, dtype="<f4")
    idx = np.abs(np.asarray(a, "<f4")[:, None] - levels[None]).argmin(1).astype("u1")
    return struct.pack("<I", 0x00010001) + levels.tobytes() + _pad4(idx.tobytes())


def raw(a):
    return np.asarray(a, "<f4").tobytes()


HAND = """\
Input            data      0 1 data 0=9 1=7 2=3
Split            split0    1 2 data d1 d2
Convolution      same_up   1 1 d1 c1 0=4 1=4 3=2 4=-233 5=1 6=192
Convolution      same_lo   1 1 d2 c2 0=4 1=4 3=2 4=-234 5=0 6=192 9=2 -23310=1,0.1
Split            split1    1 3 c1 c1a c1b c1c
Split            split2    1 3 c2 c2a c2b c2c
Eltwise          prod      2 1 c1a c2a e0 0=0
Eltwise          emax      2 1 c1b c2b e1 0=2
Eltwise          esum      2 1 c1c c2c e2 0=1
Scale            scale     1 1 e0 s0 0=4 1=1
BatchNorm        bn        1 1 e1 b0 0=4 1=1.0e-3
Dropout          drop      1 1 e2 dr 0=1.0
Noop             noop      1 1 dr no
Concat           cat       3 1 s0 b0 no cat 0=0
ReLU             leaky     1 1 cat lk 0=0.1
Split            split3    1 4 lk l1 l2 l3 l4
Pooling          maxsame   1 1 l1 p1 0=0 1=3 2=2 5=2
Pooling          avglow    1 1 l2 p2 0=1 1=2 2=2 5=3 6=0
ConvolutionDepthWise dwm   1 1 l3 dm 0=24 1=3 4=1 5=1 6=216 7=12 9=6 -23310=2,0.1666667,0.5
Padding          reflect   1 1 l4 pr 0=1 1=1 2=1 3=1 4=2
Padding          chanpad   1 1 pr pc 7=1 8=2 5=0.5
Crop             crop      1 1 pc cr 0=1 1=1 3=4 4=3 5=-233
Interp           bicubic   1 1 cr ib 0=3 1=2.0 2=2.0
HardSigmoid      hsig      1 1 ib hs 0=0.16666667 1=0.5
Deconvolution    deconv    1 1 dm dc 0=6 1=3 3=2 4=-233 5=1 6=1296 20=8 21=8
Clip             tanhish   1 1 dc cl 0=-1.0 1=1.0
PReLU            prelu     1 1 cl pl 0=1
Permute          perm      1 1 p1 pm 0=3
Reshape          flat      1 1 pm rs 0=-1
InnerProduct     fc        1 1 rs fc 0=5 1=1 2=360
ELU              elu       1 1 fc out_fc 0=0.5
Softmax          sm        1 1 p2 out_sm 0=1 1=1
Sigmoid          sg        1 1 hs out_img
TanH             th        1 1 pl out_dc
"""


def hand():
    rng = np.random.default_rng(0)
    w = lambda n: rng.uniform(-0.5, 0.5, n).astype(np.float32)        # noqa: E731
    parts = [f16(w(192)), raw(w(4)),            # same_up: float16 kernel, its bias
             bf16(w(192)),                      # same_lo: bfloat16 kernel, no bias
             raw(w(4) + 1.0), raw(w(4)),        # scale, then its bias
             raw(w(4) + 1.0), raw(w(4)), raw(np.abs(w(4)) + 0.5), raw(w(4)),   # bn: slope, mean, var, bias
             f32(w(216)), raw(w(24)),           # dwm: depth multiplier 2, float32
             f32(w(1296)), raw(w(6)),           # deconv
             raw([0.2]),                        # prelu: one slope
             table(w(360)), raw(w(5))]          # fc: a quantized table
    lines = HAND.strip().splitlines()
    blobs = {b for line in lines for b in line.split()[4:4 + int(line.split()[2]) + int(line.split()[3])]}
    with open(os.path.join(HERE, "hand.ncnn.param"), "w") as fh:
        fh.write(f"7767517\n{len(lines)} {len(blobs)}\n" + "\n".join(lines) + "\n")
    with open(os.path.join(HERE, "hand.ncnn.bin"), "wb") as fh:
        fh.write(b"".join(parts))
    return rng.uniform(0, 1, (3, 7, 9)).astype(np.float32)


def expect(name, x):
    """ncnn's own outputs for x (a dict: one array an Input blob), beside the input, in
    NAME.expect.npz (its inputs under input, or input_BLOB)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.npz")
        xin = os.path.join(tmp, "x.npz" if isinstance(x, dict) else "x.npy")
        if isinstance(x, dict):
            np.savez(xin, **x)
        else:
            np.save(xin, x)
        subprocess.run([sys.executable, os.path.join(HERE, "run_ncnn.py"), os.path.join(HERE, f"{name}.ncnn.param"),
                        xin, out], check=True)
        outs = dict(np.load(out))
    given = {f"input_{k}": v for k, v in x.items()} if isinstance(x, dict) else {"input": x}
    np.savez(os.path.join(HERE, f"{name}.expect.npz"), **given, **outs)


if __name__ == "__main__":
    expect("ops", convert("ops", Ops(), fp16=False))
    expect("rows", convert("rows", Rows(), fp16=True))
    expect("hand", hand())
    expect("seq", convert("seq", Seq(), fp16=False, shapes=((1, 4, 32), (1, 2, 4, 4, 4))))
    for name in ("ops", "rows", "hand", "seq"):
        for ext in ("param", "bin", "expect.npz"):
            print(f"{name}.ncnn.{ext}" if ext != "expect.npz" else f"{name}.expect.npz",
                  os.path.getsize(os.path.join(HERE, f"{name}.ncnn.{ext}" if ext != "expect.npz"
                                               else f"{name}.expect.npz")))
