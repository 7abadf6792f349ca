"""Regenerate the Caffe fixtures the Caffe reader is tested on (tests/test_caffe.py). Run in
a venv with torch and onnx (cnncost never needs them; there is no Caffe to install here):

    /work/venv-torch/bin/python tests/caffe_files/make_caffe_files.py

It writes:
- googlenet.prototxt, resnet50.prototxt, mobilenet.prototxt: whole deploy nets written the
  way their public files are (BVLC's bvlc_googlenet, KaimingHe's ResNet-50-deploy,
  shicai's MobileNet-Caffe), layer for layer; bvlc_alexnet_v1.prototxt,
  bvlc_reference_caffenet.prototxt and squeezenet_v1.0.prototxt are the public files
  themselves (README.md says where from);
- onnx/NAME.onnx: the same nets built in PyTorch and exported to ONNX, with every weight's
  data dropped (its dims kept): what cnncost counts of an export, at a few kB a net;
- tiny.prototxt (every layer type the reader maps) and tiny_v1.prototxt (the old `layers`
  with V1 enum types) with a .caffemodel each, written here byte by byte in Caffe's binary
  layout (caffe.proto's field numbers) from seeded random weights, and NAME.expect.npz: an
  input and what the same network computes in PyTorch with the same weights.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from caffe_wire import blob, caffemodel  # noqa: E402 - tests/caffe_wire.py, beside this folder
rng = np.random.default_rng(0)


# ---- prototxt writers ----------------------------------------------------------------------
def layer(name, kind, bottoms, tops, body="", indent="  "):
    lines = [f"layer {{", f'{indent}name: "{name}"', f'{indent}type: "{kind}"']
    lines += [f'{indent}bottom: "{b}"' for b in bottoms] + [f'{indent}top: "{t}"' for t in tops]
    if body:
        lines += [indent + line for line in body.strip("\n").split("\n")]
    return "\n".join(lines) + "\n}\n"


def conv_param(n, k, s=1, p=0, bias=True, group=1, extra=""):
    return ("convolution_param {\n" + f"  num_output: {n}\n" + ("  bias_term: false\n" if not bias else "")
            + (f"  pad: {p}\n" if p else "") + f"  kernel_size: {k}\n" + (f"  group: {group}\n" if group > 1 else "")
            + (f"  stride: {s}\n" if s > 1 else "") + extra + "}")


def pool_param(method, k=None, s=None, p=0, glob=False):
    if glob:
        return f"pooling_param {{\n  pool: {method}\n  global_pooling: true\n}}"
    return f"pooling_param {{\n  pool: {method}\n  kernel_size: {k}\n  stride: {s}\n" + (f"  pad: {p}\n" if p else "") + "}"


LRN_PARAM = "lrn_param {\n  local_size: 5\n  alpha: 0.0001\n  beta: 0.75\n}"
INCEPTIONS = [("3a", 64, 96, 128, 16, 32, 32), ("3b", 128, 128, 192, 32, 96, 64), ("4a", 192, 96, 208, 16, 48, 64),
              ("4b", 160, 112, 224, 24, 64, 64), ("4c", 128, 128, 256, 24, 64, 64), ("4d", 112, 144, 288, 32, 64, 64),
              ("4e", 256, 160, 320, 32, 128, 128), ("5a", 256, 160, 320, 32, 128, 128),
              ("5b", 384, 192, 384, 48, 128, 128)]


def googlenet_text():
    """bvlc_googlenet/deploy.prototxt's layers (the main classifier; no auxiliary heads)."""
    t = 'name: "GoogleNet"\nlayer {\n  name: "data"\n  type: "Input"\n  top: "data"\n' \
        '  input_param { shape: { dim: 10 dim: 3 dim: 224 dim: 224 } }\n}\n'

    def cr(name, bottom, n, k, s=1, p=0):
        nonlocal t
        t += layer(name, "Convolution", [bottom], [name], conv_param(n, k, s, p))
        t += layer(name.rsplit("/", 1)[0] + "/relu_" + name.rsplit("/", 1)[1], "ReLU", [name], [name])
    cr("conv1/7x7_s2", "data", 64, 7, 2, 3)
    t += layer("pool1/3x3_s2", "Pooling", ["conv1/7x7_s2"], ["pool1/3x3_s2"], pool_param("MAX", 3, 2))
    t += layer("pool1/norm1", "LRN", ["pool1/3x3_s2"], ["pool1/norm1"], LRN_PARAM)
    cr("conv2/3x3_reduce", "pool1/norm1", 64, 1)
    cr("conv2/3x3", "conv2/3x3_reduce", 192, 3, 1, 1)
    t += layer("conv2/norm2", "LRN", ["conv2/3x3"], ["conv2/norm2"], LRN_PARAM)
    t += layer("pool2/3x3_s2", "Pooling", ["conv2/norm2"], ["pool2/3x3_s2"], pool_param("MAX", 3, 2))
    x = "pool2/3x3_s2"
    for name, c1, r3, c3, r5, c5, pp in INCEPTIONS:
        i = f"inception_{name}"
        cr(f"{i}/1x1", x, c1, 1)
        cr(f"{i}/3x3_reduce", x, r3, 1)
        cr(f"{i}/3x3", f"{i}/3x3_reduce", c3, 3, 1, 1)
        cr(f"{i}/5x5_reduce", x, r5, 1)
        cr(f"{i}/5x5", f"{i}/5x5_reduce", c5, 5, 1, 2)
        t += layer(f"{i}/pool", "Pooling", [x], [f"{i}/pool"], pool_param("MAX", 3, 1, 1))
        cr(f"{i}/pool_proj", f"{i}/pool", pp, 1)
        t += layer(f"{i}/output", "Concat", [f"{i}/1x1", f"{i}/3x3", f"{i}/5x5", f"{i}/pool_proj"], [f"{i}/output"])
        x = f"{i}/output"
        if name in ("3b", "4e"):
            p = "pool3/3x3_s2" if name == "3b" else "pool4/3x3_s2"
            t += layer(p, "Pooling", [x], [p], pool_param("MAX", 3, 2))
            x = p
    t += layer("pool5/7x7_s1", "Pooling", [x], ["pool5/7x7_s1"], pool_param("AVE", 7, 1))
    t += layer("pool5/drop_7x7_s1", "Dropout", ["pool5/7x7_s1"], ["pool5/7x7_s1"],
               "dropout_param {\n  dropout_ratio: 0.4\n}")
    t += layer("loss3/classifier", "InnerProduct", ["pool5/7x7_s1"], ["loss3/classifier"],
               "inner_product_param {\n  num_output: 1000\n}")
    t += layer("prob", "Softmax", ["loss3/classifier"], ["prob"])
    return t


RESNET_STAGES = [("2", 3, 64, 256, 1), ("3", 4, 128, 512, 2), ("4", 6, 256, 1024, 2), ("5", 3, 512, 2048, 2)]


def resnet50_text():
    """KaimingHe/deep-residual-networks' ResNet-50-deploy.prototxt: tabs, bottom-first."""
    t = 'name: "ResNet-50"\ninput: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 224\ninput_dim: 224\n\n'

    def block(body):
        return "layer {\n" + "".join(f"\t{line}\n" for line in body) + "}\n\n"

    def conv(bottom, top, n, k, p, s, bias=False):
        lines = [f'bottom: "{bottom}"', f'top: "{top}"', f'name: "{top}"', 'type: "Convolution"',
                 "convolution_param {", f"\tnum_output: {n}", f"\tkernel_size: {k}", f"\tpad: {p}", f"\tstride: {s}"]
        return block(lines + (["\tbias_term: false"] if not bias else []) + ["}"])

    def bn_scale(blob, suffix):
        return (block([f'bottom: "{blob}"', f'top: "{blob}"', f'name: "bn{suffix}"', 'type: "BatchNorm"',
                       "batch_norm_param {", "\tuse_global_stats: true", "}"])
                + block([f'bottom: "{blob}"', f'top: "{blob}"', f'name: "scale{suffix}"', 'type: "Scale"',
                         "scale_param {", "\tbias_term: true", "}"]))

    def relu(blob):
        return block([f'bottom: "{blob}"', f'top: "{blob}"', f'name: "{blob}_relu"', 'type: "ReLU"'])
    t += conv("data", "conv1", 64, 7, 3, 2, bias=True) + bn_scale("conv1", "_conv1") + relu("conv1")
    t += block(['bottom: "conv1"', 'top: "pool1"', 'name: "pool1"', 'type: "Pooling"', "pooling_param {",
                "\tkernel_size: 3", "\tstride: 2", "\tpool: MAX", "}"])
    x = "pool1"
    for stage, blocks, mid, out, stride in RESNET_STAGES:
        for b in range(blocks):
            tag = f"{stage}{chr(ord('a') + b)}"
            s = stride if b == 0 else 1
            if b == 0:
                t += conv(x, f"res{tag}_branch1", out, 1, 0, s) + bn_scale(f"res{tag}_branch1", f"{tag}_branch1")
            t += conv(x, f"res{tag}_branch2a", mid, 1, 0, s) + bn_scale(f"res{tag}_branch2a", f"{tag}_branch2a")
            t += relu(f"res{tag}_branch2a")
            t += conv(f"res{tag}_branch2a", f"res{tag}_branch2b", mid, 3, 1, 1)
            t += bn_scale(f"res{tag}_branch2b", f"{tag}_branch2b") + relu(f"res{tag}_branch2b")
            t += conv(f"res{tag}_branch2b", f"res{tag}_branch2c", out, 1, 0, 1)
            t += bn_scale(f"res{tag}_branch2c", f"{tag}_branch2c")
            short = f"res{tag}_branch1" if b == 0 else x
            t += block([f'bottom: "{short}"', f'bottom: "res{tag}_branch2c"', f'top: "res{tag}"', f'name: "res{tag}"',
                        'type: "Eltwise"'])
            t += relu(f"res{tag}")
            x = f"res{tag}"
    t += block([f'bottom: "{x}"', 'top: "pool5"', 'name: "pool5"', 'type: "Pooling"', "pooling_param {",
                "\tkernel_size: 7", "\tstride: 1", "\tpool: AVE", "}"])
    t += block(['bottom: "pool5"', 'top: "fc1000"', 'name: "fc1000"', 'type: "InnerProduct"',
                "inner_product_param {", "\tnum_output: 1000", "}"])
    t += block(['bottom: "fc1000"', 'top: "prob"', 'name: "prob"', 'type: "Softmax"'])
    return t


MOBILENET = [("2_1", 32, 64, 1), ("2_2", 64, 128, 2), ("3_1", 128, 128, 1), ("3_2", 128, 256, 2),
             ("4_1", 256, 256, 1), ("4_2", 256, 512, 2)] + [(f"5_{i}", 512, 512, 1) for i in range(1, 6)] + \
            [("5_6", 512, 1024, 2), ("6", 1024, 1024, 1)]
BN_PARAMS = "param {\n  lr_mult: 0\n  decay_mult: 0\n}\n" * 3
SCALE_PARAM = "scale_param {\n  filler {\n    value: 1\n  }\n  bias_term: true\n  bias_filler {\n    value: 0\n  }\n}"


def mobilenet_text():
    """shicai/MobileNet-Caffe's mobilenet_deploy.prototxt: depthwise convolutions as grouped
    Convolution layers (group = channels, engine: CAFFE)."""
    t = 'name: "MOBILENET"\ninput: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 224\ninput_dim: 224\n'
    msra = "  weight_filler {\n    type: \"msra\"\n  }\n"

    def unit(name, bottom, n, k, s, group, relu):
        nonlocal t
        extra = (f"  engine: CAFFE\n" if group > 1 else "") + msra
        t += layer(name, "Convolution", [bottom], [name], "param {\n  lr_mult: 1\n  decay_mult: 1\n}\n"
                   + conv_param(n, k, s, 1 if k == 3 else 0, bias=False, group=group, extra=extra))
        t += layer(f"{name}/bn", "BatchNorm", [name], [f"{name}/bn"], BN_PARAMS)
        t += layer(f"{name}/scale", "Scale", [f"{name}/bn"], [f"{name}/bn"], SCALE_PARAM)
        t += layer(relu, "ReLU", [f"{name}/bn"], [f"{name}/bn"])
        return f"{name}/bn"
    x = unit("conv1", "data", 32, 3, 2, 1, "relu1")
    for tag, cin, cout, s in MOBILENET:
        x = unit(f"conv{tag}/dw", x, cin, 3, s, cin, f"relu{tag}/dw")
        x = unit(f"conv{tag}/sep", x, cout, 1, 1, 1, f"relu{tag}/sep")
    t += layer("pool6", "Pooling", [x], ["pool6"], pool_param("AVE", glob=True))
    t += layer("fc7", "Convolution", ["pool6"], ["fc7"], "param {\n  lr_mult: 1\n  decay_mult: 1\n}\n"
               "param {\n  lr_mult: 2\n  decay_mult: 0\n}\n" + conv_param(1000, 1, extra=msra))
    return t


# ---- the same nets in PyTorch (for their ONNX exports) --------------------------------------
class LRNFn(torch.autograd.Function):
    """PyTorch's local_response_norm, exported as ONNX's one LRN node (PyTorch's own export
    spells it with an If)."""

    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        return F.local_response_norm(x, size, alpha, beta, k)

    @staticmethod
    def symbolic(g, x, size, alpha, beta, k):
        return g.op("LRN", x, size_i=size, alpha_f=alpha, beta_f=beta, bias_f=k)


class LocalResponseNorm(nn.Module):
    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.args = (size, alpha, beta, k)

    def forward(self, x):
        return LRNFn.apply(x, *self.args)


def lrn():
    return LocalResponseNorm()


def maxpool(k, s, p=0):
    return nn.MaxPool2d(k, s, p, ceil_mode=True)          # Caffe rounds a pool's output up


def alexnet(caffenet: bool):
    feats = [nn.Conv2d(3, 96, 11, 4), nn.ReLU()]
    feats += [maxpool(3, 2), lrn()] if caffenet else [lrn(), maxpool(3, 2)]
    feats += [nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU()]
    feats += [maxpool(3, 2), lrn()] if caffenet else [lrn(), maxpool(3, 2)]
    feats += [nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
              nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(), maxpool(3, 2), nn.Flatten(),
              nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(),
              nn.Linear(4096, 1000), nn.Softmax(1)]
    return nn.Sequential(*feats), (1, 3, 227, 227)


class Fire(nn.Module):
    def __init__(self, cin, s, e):
        super().__init__()
        self.s, self.e1, self.e3 = nn.Conv2d(cin, s, 1), nn.Conv2d(s, e, 1), nn.Conv2d(s, e, 3, padding=1)

    def forward(self, x):
        x = F.relu(self.s(x))
        return torch.cat([F.relu(self.e1(x)), F.relu(self.e3(x))], 1)


def squeezenet():
    """forresti's v1.0 deploy: conv10 has pad 1 (a 1x1 kernel: its output is 15x15)."""
    return nn.Sequential(nn.Conv2d(3, 96, 7, 2), nn.ReLU(), maxpool(3, 2), Fire(96, 16, 64), Fire(128, 16, 64),
                         Fire(128, 32, 128), maxpool(3, 2), Fire(256, 32, 128), Fire(256, 48, 192),
                         Fire(384, 48, 192), Fire(384, 64, 256), maxpool(3, 2), Fire(512, 64, 256), nn.Dropout(),
                         nn.Conv2d(512, 1000, 1, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Softmax(1)), (1, 3, 227, 227)


class Inception(nn.Module):
    def __init__(self, cin, c1, r3, c3, r5, c5, pp):
        super().__init__()
        self.b1 = nn.Conv2d(cin, c1, 1)
        self.b3 = nn.Sequential(nn.Conv2d(cin, r3, 1), nn.ReLU(), nn.Conv2d(r3, c3, 3, padding=1))
        self.b5 = nn.Sequential(nn.Conv2d(cin, r5, 1), nn.ReLU(), nn.Conv2d(r5, c5, 5, padding=2))
        self.bp = nn.Sequential(maxpool(3, 1, 1), nn.Conv2d(cin, pp, 1))
        self.out = c1 + c3 + c5 + pp

    def forward(self, x):
        return torch.cat([F.relu(b(x)) for b in (self.b1, self.b3, self.b5, self.bp)], 1)


def googlenet():
    layers, c = [nn.Conv2d(3, 64, 7, 2, 3), nn.ReLU(), maxpool(3, 2), lrn(), nn.Conv2d(64, 64, 1), nn.ReLU(),
                 nn.Conv2d(64, 192, 3, padding=1), nn.ReLU(), lrn(), maxpool(3, 2)], 192
    for name, *widths in INCEPTIONS:
        block = Inception(c, *widths)
        layers.append(block)
        c = block.out
        if name in ("3b", "4e"):
            layers.append(maxpool(3, 2))
    layers += [nn.AvgPool2d(7, 1), nn.Dropout(0.4), nn.Flatten(), nn.Linear(1024, 1000), nn.Softmax(1)]
    return nn.Sequential(*layers), (1, 3, 224, 224)


class Bottleneck(nn.Module):
    def __init__(self, cin, mid, out, s, project):
        super().__init__()
        self.a, self.an = nn.Conv2d(cin, mid, 1, s, bias=False), nn.BatchNorm2d(mid)
        self.b, self.bn = nn.Conv2d(mid, mid, 3, 1, 1, bias=False), nn.BatchNorm2d(mid)
        self.c, self.cn = nn.Conv2d(mid, out, 1, bias=False), nn.BatchNorm2d(out)
        self.p = nn.Sequential(nn.Conv2d(cin, out, 1, s, bias=False), nn.BatchNorm2d(out)) if project else None

    def forward(self, x):
        y = F.relu(self.an(self.a(x)))
        y = F.relu(self.bn(self.b(y)))
        y = self.cn(self.c(y))
        return F.relu(y + (self.p(x) if self.p is not None else x))


def resnet50():
    layers, c = [nn.Conv2d(3, 64, 7, 2, 3), nn.BatchNorm2d(64), nn.ReLU(), maxpool(3, 2)], 64
    for _, blocks, mid, out, stride in RESNET_STAGES:
        for b in range(blocks):
            layers.append(Bottleneck(c, mid, out, stride if b == 0 else 1, b == 0))
            c = out
    layers += [nn.AvgPool2d(7, 1), nn.Flatten(), nn.Linear(2048, 1000), nn.Softmax(1)]
    return nn.Sequential(*layers), (1, 3, 224, 224)


def mobilenet():
    def unit(cin, cout, k, s, group):
        return [nn.Conv2d(cin, cout, k, s, k // 2, groups=group, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    layers = unit(3, 32, 3, 2, 1)
    for _, cin, cout, s in MOBILENET:
        layers += unit(cin, cin, 3, s, cin) + unit(cin, cout, 1, 1, 1)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(1024, 1000, 1)]
    return nn.Sequential(*layers), (1, 3, 224, 224)


def export_counted(model: nn.Module, shape, path: str) -> None:
    """The model's ONNX export with every initializer's data dropped (dims kept): cnncost
    counts a net from its dims, and the file stays a few kB. BatchNorm stays a node of its
    own (eval mode would fold it into the conv before it: the same mults, other params)."""
    model.eval()
    with torch.no_grad():          # distinct values: an exporter merges equal tensors (fresh BNs' ones and zeros)
        for t in [*model.parameters(), *model.buffers()]:
            if t.is_floating_point():
                t.copy_(torch.rand_like(t) + 0.5)
    torch.onnx.export(model, torch.zeros(shape), path, input_names=["data"], opset_version=17, dynamo=False,
                      training=torch.onnx.TrainingMode.PRESERVE)        # BatchNorm kept, not folded
    m = onnx.load(path)
    for t in m.graph.initializer:
        if np.prod(t.dims) > 64:
            t.ClearField("raw_data")
            t.ClearField("float_data")
    onnx.save(m, path)


# ---- the tiny nets: every layer type, weights in a .caffemodel, PyTorch's outputs ----------------
TINY = '''name: "tiny"
input: "data"
input_shape { dim: 2 dim: 3 dim: 14 dim: 15 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 8 kernel_h: 3 kernel_w: 5 pad_h: 1 pad_w: 2 } }
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" batch_norm_param { use_global_stats: true eps: 0.001 } }
layer { name: "scale1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" relu_param { negative_slope: 0.1 } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "conv2/dw" type: "DepthwiseConvolution" bottom: "pool1" top: "conv2/dw"
  convolution_param { num_output: 8 group: 8 kernel_size: 3 pad: 1 bias_term: false } }
layer { name: "conv2/prelu" type: "PReLU" bottom: "conv2/dw" top: "conv2/dw" }
layer { name: "conv2/sep" type: "Convolution" bottom: "conv2/dw" top: "conv2/sep" convolution_param { num_output: 16 kernel_size: 1 } }
layer { name: "conv3a" type: "Convolution" bottom: "conv2/sep" top: "conv3a"
  convolution_param { num_output: 8 kernel_size: 3 pad: 2 dilation: 2 } }
layer { name: "sig3a" type: "Sigmoid" bottom: "conv3a" top: "conv3a" }
layer { name: "gate3a" type: "Pooling" bottom: "conv3a" top: "gate3a" pooling_param { pool: MAX global_pooling: true } }
layer { name: "se3a" type: "Scale" bottom: "conv3a" bottom: "gate3a" top: "se3a" scale_param { bias_term: true } }
layer { name: "conv3b" type: "Convolution" bottom: "conv2/sep" top: "conv3b"
  convolution_param { num_output: 8 kernel_size: 3 pad: 1 group: 2 } }
layer { name: "tanh3b" type: "TanH" bottom: "conv3b" top: "conv3b" }
layer { name: "norm3b" type: "LRN" bottom: "conv3b" top: "norm3b" lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 k: 2 } }
layer { name: "sum" type: "Eltwise" bottom: "se3a" bottom: "norm3b" top: "sum" eltwise_param { operation: SUM coeff: 0.5 coeff: -1.5 } }
layer { name: "prod" type: "Eltwise" bottom: "sum" bottom: "se3a" top: "prod" eltwise_param { operation: PROD } }
layer { name: "max" type: "Eltwise" bottom: "prod" bottom: "norm3b" top: "max" eltwise_param { operation: MAX } }
layer { name: "cat" type: "Concat" bottom: "max" bottom: "conv2/sep" top: "cat" }
layer { name: "slice" type: "Slice" bottom: "cat" top: "s1" top: "s2" slice_param { axis: 1 slice_point: 10 } }
layer { name: "split" type: "Split" bottom: "s1" top: "s1a" top: "s1b" }
layer { name: "up" type: "Deconvolution" bottom: "s1a" top: "up" convolution_param { num_output: 6 kernel_size: 4 stride: 2 pad: 1 } }
layer { name: "drop" type: "Dropout" bottom: "up" top: "up" dropout_param { dropout_ratio: 0.3 } }
layer { name: "pool2" type: "Pooling" bottom: "up" top: "pool2" pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "fc_a" type: "InnerProduct" bottom: "pool2" top: "fc_a" inner_product_param { num_output: 10 } }
layer { name: "bias_a" type: "Bias" bottom: "fc_a" top: "fc_a" }
layer { name: "gpool" type: "Pooling" bottom: "s2" top: "gpool" pooling_param { pool: AVE global_pooling: true } }
layer { name: "flat_g" type: "Flatten" bottom: "gpool" top: "flat_g" }
layer { name: "cat_fc" type: "Concat" bottom: "fc_a" bottom: "flat_g" top: "cat_fc" concat_param { axis: 1 } }
layer { name: "elu" type: "ELU" bottom: "cat_fc" top: "cat_fc" elu_param { alpha: 0.5 } }
layer { name: "grid" type: "Reshape" bottom: "cat_fc" top: "grid" reshape_param { shape { dim: 0 dim: 4 dim: 2 dim: 3 } } }
layer { name: "conv_r" type: "Convolution" bottom: "grid" top: "conv_r" convolution_param { num_output: 5 kernel_size: 1 } }
layer { name: "flat_r" type: "Flatten" bottom: "conv_r" top: "flat_r" }
layer { name: "fc_out" type: "InnerProduct" bottom: "flat_r" top: "fc_out" inner_product_param { num_output: 7 transpose: true } }
layer { name: "prob" type: "Softmax" bottom: "fc_out" top: "prob" }
'''
# layer -> the shapes of its blobs, as Caffe holds them
TINY_BLOBS = {"conv1": [(8, 3, 3, 5), (8,)], "bn1": [(8,), (8,), (1,)], "scale1": [(8,), (8,)],
              "conv2/dw": [(8, 1, 3, 3)], "conv2/prelu": [(8,)], "conv2/sep": [(16, 8, 1, 1), (16,)],
              "conv3a": [(8, 16, 3, 3), (8,)], "se3a": [(8,)], "conv3b": [(8, 8, 3, 3), (8,)],
              "up": [(10, 6, 4, 4), (6,)], "fc_a": [(10, 384), (10,)], "bias_a": [(10,)],
              "conv_r": [(5, 4, 1, 1), (5,)], "fc_out": [(30, 7), (7,)]}


def tiny_torch(w, x):
    """The tiny net in PyTorch, Caffe's semantics spelled out."""
    t = {k: [torch.from_numpy(a) for a in v] for k, v in w.items()}
    y = F.conv2d(x, t["conv1"][0], t["conv1"][1], padding=(1, 2))
    m, v, f = t["bn1"]
    y = F.batch_norm(y, m / f[0], v / f[0], eps=1e-3)
    y = y * t["scale1"][0].view(1, -1, 1, 1) + t["scale1"][1].view(1, -1, 1, 1)
    y = F.leaky_relu(y, 0.1)
    y = F.max_pool2d(y, 3, 2, ceil_mode=True)
    y = F.conv2d(y, t["conv2/dw"][0], None, padding=1, groups=8)
    y = F.prelu(y, t["conv2/prelu"][0])
    sep = F.conv2d(y, *t["conv2/sep"])
    a = torch.sigmoid(F.conv2d(sep, *t["conv3a"], padding=2, dilation=2))
    se = a * F.adaptive_max_pool2d(a, 1) + t["se3a"][0].view(1, -1, 1, 1)
    b = torch.tanh(F.conv2d(sep, *t["conv3b"], padding=1, groups=2))
    b = LRNFn.apply(b, 3, 0.5, 0.75, 2.0)
    s = 0.5 * se - 1.5 * b
    mx = torch.maximum(s * se, b)
    cat = torch.cat([mx, sep], 1)
    s1, s2 = cat[:, :10], cat[:, 10:]
    up = F.conv_transpose2d(s1, *t["up"], stride=2, padding=1)
    p2 = F.avg_pool2d(up, 3, 2, 1, ceil_mode=True, count_include_pad=True)
    fa = F.linear(p2.flatten(1), *t["fc_a"]) + t["bias_a"][0]
    g = F.adaptive_avg_pool2d(s2, 1).flatten(1)
    z = F.elu(torch.cat([fa, g], 1), 0.5)
    r = F.conv2d(z.reshape(-1, 4, 2, 3), *t["conv_r"])
    out = r.flatten(1) @ t["fc_out"][0] + t["fc_out"][1]
    return {"prob": torch.softmax(out, 1), "s1": s1}


TINY_V1 = '''name: "tiny_v1"
input: "data"
input_dim: 1
input_dim: 1
input_dim: 12
input_dim: 12
layers { name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1" blobs_lr: 1 blobs_lr: 2
  convolution_param { num_output: 4 kernel_size: 5 } }
layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }
layers { name: "pool1" type: POOLING bottom: "conv1" top: "pool1" pooling_param { pool: AVE kernel_size: 3 stride: 3 } }
layers { name: "fc1" type: INNER_PRODUCT bottom: "pool1" top: "fc1" inner_product_param { num_output: 3 } }
layers { name: "prob" type: SOFTMAX bottom: "fc1" top: "prob" }
'''
TINY_V1_BLOBS = {"conv1": [(4, 1, 5, 5), (4,)], "fc1": [(3, 36), (3,)]}


def tiny_v1_torch(w, x):
    t = {k: [torch.from_numpy(a) for a in v] for k, v in w.items()}
    y = F.avg_pool2d(F.relu(F.conv2d(x, *t["conv1"])), 3, 3, ceil_mode=True)
    return {"prob": torch.softmax(F.linear(y.flatten(1), *t["fc1"]), 1)}


# ---- Caffe's binary layout: tests/caffe_wire.py ---------------------------------------------
def weights_file(name: str, weights: dict, v1: bool) -> bytes:
    return caffemodel(name, {k: [blob(a.shape, a.astype("<f4").tobytes(), legacy=v1) for a in arrays]
                             for k, arrays in weights.items()}, v1)


def make_tiny(name, text, shapes, forward, v1):
    weights = {k: [rng.standard_normal(s).astype(np.float32) * 0.5 for s in v] for k, v in shapes.items()}
    if "bn1" in weights:
        weights["bn1"][1] = np.abs(weights["bn1"][1]) + 0.5        # variances
        weights["bn1"][2] = np.array([0.5], np.float32)             # the moving-average factor
    with open(os.path.join(HERE, f"{name}.prototxt"), "w") as fh:
        fh.write(text)
    with open(os.path.join(HERE, f"{name}.caffemodel"), "wb") as fh:
        fh.write(weights_file(name, weights, v1))
    first = text.split("input_shape { ")[1].split("}")[0] if "input_shape" in text else ""
    dims = [int(d) for d in first.replace("dim:", "").split()] if first else \
        [int(line.split(":")[1]) for line in text.splitlines() if line.startswith("input_dim")]
    x = rng.standard_normal(dims).astype(np.float32)
    with torch.no_grad():
        outs = forward(weights, torch.from_numpy(x))
    np.savez(os.path.join(HERE, f"{name}.expect.npz"), input=x, **{k: v.numpy() for k, v in outs.items()})

    class Net(nn.Module):                    # the same computation as an exportable module
        def forward(self, x):
            return tuple(forward(weights, x).values())
    return Net(), tuple(dims)


def main():
    os.makedirs(os.path.join(HERE, "onnx"), exist_ok=True)
    for name, text in (("googlenet", googlenet_text()), ("resnet50", resnet50_text()),
                       ("mobilenet", mobilenet_text())):
        with open(os.path.join(HERE, f"{name}.prototxt"), "w") as fh:
            fh.write(text)
    nets = {"bvlc_alexnet_v1": alexnet(False), "bvlc_reference_caffenet": alexnet(True),
            "squeezenet_v1.0": squeezenet(), "googlenet": googlenet(), "resnet50": resnet50(),
            "mobilenet": mobilenet(),
            "tiny": make_tiny("tiny", TINY, TINY_BLOBS, tiny_torch, False),
            "tiny_v1": make_tiny("tiny_v1", TINY_V1, TINY_V1_BLOBS, tiny_v1_torch, True)}
    torch.manual_seed(0)
    for name, (model, shape) in nets.items():
        export_counted(model, shape, os.path.join(HERE, "onnx", f"{name}.onnx"))


if __name__ == "__main__":
    main()
