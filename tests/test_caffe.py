"""The Caffe reader on deploy nets (tests/caffe_files; make_caffe_files.py regenerates
them): params and mults pinned and equal to the same nets' PyTorch ONNX exports read by
cnncost, `run` against PyTorch with the same weights, Caffe's pooling rule, the layouts
(in-place layers, V1 layers, flattening in C, H, W order), and every refusal in one line."""
from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner

from cnncost import api
from cnncost.cli import cli
from cnncost.interop.caffe.windows import caffe_pooled
from cnncost.runtime import executor
from cnncost.sources import open_source

HERE = os.path.join(os.path.dirname(__file__), "caffe_files")

# name: (params, mults, BN statistics) per example, as Caffe holds the blobs
PINNED = {
    "bvlc_alexnet_v1": (60_965_224, 724_406_816, 0),
    "bvlc_reference_caffenet": (60_965_224, 724_406_816, 0),
    "squeezenet_v1.0": (1_248_424, 861_339_936, 0),       # conv10's pad 1: a 15 x 15 output
    "googlenet": (6_998_552, 1_582_671_872, 0),
    # torchvision's 25,557,032 + Caffe conv1's 64 biases; every blob of its .caffemodel, statistics and
    # the 53 BatchNorm factors too, is 25,610,269 (the count of tools that sum all blobs)
    "resnet50": (25_557_096, 3_857_973_248, 53_120),
    "mobilenet": (4_231_976, 568_740_352, 21_888),        # Keras' MobileNet: 4,231,976 trainable + 21,888
    "tiny": (7_428, 221_282, 16),
    "tiny_v1": (215, 6_508, 0),
}
# the ONNX export holds BatchNormalization's scale and bias where Caffe's BatchNorm has none:
# tiny's one BatchNorm (8 channels, its Scale after it) is 16 more params there
ONNX_EXTRA = {"tiny": 16}


def path(name: str) -> str:
    return os.path.join(HERE, name + ".prototxt")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def refused(r, *needles, code=2):
    assert r.exit_code == code, r.output
    lines = [line for line in r.output.splitlines() if line.strip() and not line.startswith("note:")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.output, r.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("name", list(PINNED))
def test_counts_are_pinned_and_equal_to_the_onnx_export(name):
    caffe = api.analyze(path(name), batch=1).totals
    onnx = api.analyze(os.path.join(HERE, "onnx", name + ".onnx"), batch=1).totals
    params, mults, stats = PINNED[name]
    assert (caffe["params"], caffe["mults"], caffe["non_trainable_params"]) == (params, mults, stats)
    assert onnx["mults"] == mults
    assert onnx["params"] == params + ONNX_EXTRA.get(name, 0)


def test_the_file_batch_is_the_report_batch_and_per_example_counts_scale():
    report = api.analyze(path("bvlc_alexnet_v1"))          # input_dim: 10
    assert report.batch == 10 and report.totals["mults"] == 10 * PINNED["bvlc_alexnet_v1"][1]


@pytest.mark.parametrize("name", ["tiny", "tiny_v1"])
def test_run_matches_pytorch_with_the_same_weights(name):
    e = np.load(os.path.join(HERE, name + ".expect.npz"))
    source = open_source(path(name), with_weights=True)
    graph = api.analyze(path(name)).graph
    outs = executor.run(graph, e["input"].transpose(0, 2, 3, 1), executor.weights_for(graph, source)).outputs
    for key in e.files:
        if key == "input":
            continue
        ours = outs[key].transpose(0, 3, 1, 2) if outs[key].ndim == 4 else outs[key]
        assert np.max(np.abs(ours - e[key])) <= 1e-5 * max(1.0, float(np.max(np.abs(e[key])))), key


def test_run_and_verify_from_the_command_line(tmp_path):
    e = np.load(os.path.join(HERE, "tiny.expect.npz"))
    np.save(tmp_path / "x.npy", e["input"])
    r = run("run", path("tiny"), "--input", tmp_path / "x.npy", "--output", tmp_path / "out.npz")
    assert r.exit_code == 0, r.output
    got = np.load(tmp_path / "out.npz")
    assert np.allclose(got["prob"], e["prob"], atol=1e-5)
    assert run("verify", path("tiny")).exit_code == 0


def test_layers_as_the_file_names_them():
    report = api.analyze(path("tiny"))
    rows = {row.name: row for row in report.layers}
    assert rows["conv2.dw"].kind == "conv" and rows["conv2.dw"].mult_class == "depthwise"   # DepthwiseConvolution
    assert rows["up"].kind == "conv_transpose"
    assert rows["scale1"].kind == "scale" and rows["scale1.bias"].kind == "shift"            # Scale with bias_term
    assert rows["bn1"].kind == "batch_norm" and rows["bn1"].params == 0                      # statistics only
    assert rows["fc_a.flatten"].kind == "flatten"                                           # InnerProduct flattens
    assert report.batch == 2 and "1 here" in report.params_as
    google = {row.name for row in api.analyze(path("googlenet")).layers}
    assert {"inception_3a.1x1", "inception_3a.output"} <= google                              # slashes are blocks


def test_caffe_pooling_rounds_up_and_clips_the_window_that_starts_in_the_padding():
    """pooling_layer.cpp: out = ceil((in + 2 pad - k) / s) + 1, less one when the last window
    would start in the padding; against windows laid out by hand."""
    for size in range(1, 30):
        for k in range(1, 6):
            for s in range(1, 5):
                for pad in range(0, k):
                    if size + 2 * pad < k:
                        continue
                    starts = list(range(-pad, size + pad - k + s, s))      # ceil: a last partial window
                    keep = [st for st in starts if not (pad and st >= size)]
                    assert caffe_pooled(size, k, s, pad, True) == len(keep), (size, k, s, pad)
    # GoogLeNet's pool1 on 112: 56 windows, one more than floor rounding
    assert caffe_pooled(112, 3, 2, 0, True) == 56 and caffe_pooled(112, 3, 2, 0, False) == 55


def test_input_shape_reshapes_a_caffe_net():
    big = api.analyze(path("mobilenet"), input_shape="1x3x448x448").totals
    fc = 1024 * 1000                         # after the global pool: the one count that does not grow
    assert big["params"] == PINNED["mobilenet"][0]
    assert big["mults"] == 4 * (PINNED["mobilenet"][1] - fc) + fc
    refused(run("--input-shape", "1x3x224", "report", path("resnet50")), "rank 4")
    # ResNet-50's 7 x 7 average pool on a 4 x 4 map: Caffe cannot make it either
    refused(run("--input-shape", "1x3x112x112", "report", path("resnet50")), "resnet50.prototxt:",
            "layer 'pool5' (Pooling)", "larger than the height 4")


def test_v1_net_and_its_v1_caffemodel_with_legacy_dims():
    report = api.analyze(path("tiny_v1"))
    assert [row.kind for row in report.layers] == ["conv", "relu", "avg_pool", "flatten", "dense", "softmax"]
    assert "V1 layers" in report.source


# ---- refusals -------------------------------------------------------------------------------
NET = 'input: "data"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'


def write(tmp_path, text, name="net"):
    p = tmp_path / f"{name}.prototxt"
    p.write_text(NET + text)
    return p


@pytest.mark.parametrize("text, needles", [
    ('layer { name: "p" type: "Python" bottom: "data" top: "p" }\n'
     'layer { name: "q" type: "Python" bottom: "p" top: "q" }',
     ("2 layer(s) not read", "Python x2", "first: 'p' at line 3", "Python layer")),
    ('layer { name: "d" type: "Data" top: "data2" }', ("Data reads a database", "deploy net")),
    ('layer { name: "l" type: "SoftmaxWithLoss" bottom: "data" bottom: "data" top: "l" }', ("training loss",)),
    ('layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { pool: STOCHASTIC kernel_size: 2 } }',
     ("stochastic",)),
    ('layer { name: "n" type: "LRN" bottom: "data" top: "n" lrn_param { norm_region: WITHIN_CHANNEL } }',
     ("within each channel",)),
    ('layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { kernel_size: 1 stride: 3 } }',
     ("starts past the input",)),
    ('layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { kernel_size: 3 pad: 2 } }',
     ("at most half the kernel",)),
    ('layer { name: "c" type: "Concat" bottom: "data" bottom: "data" top: "c" concat_param { axis: 0 } }',
     ("batch axis",)),
    ('layer { name: "x" type: "Permute" bottom: "data" top: "x" }', ("Permute: a permutation",)),
])
def test_what_is_not_read_is_refused_by_type(tmp_path, text, needles):
    refused(run("report", write(tmp_path, text)), *needles)


@pytest.mark.parametrize("text, needles", [
    ('layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { kernel_size: 3 } }',
     ("net.prototxt:3:", "layer 'c' (Convolution)", "no num_output")),
    ('layer { name: "c" type: "Convolution" bottom: "nothing" top: "c" convolution_param { num_output: 1 kernel_size: 1 } }',
     ("bottom 'nothing' is made by no earlier layer",)),
    ('layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 4 kernel_size: 3 '
     'kernel_h: 3 kernel_w: 3 } }', ("give one or the other",)),
    ('layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 4 group: 2 kernel_size: 1 } }',
     ("group 2 does not divide",)),
    ('layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 4 kernel_size: 9 } }',
     ("kernel",)),
    ('layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: four kernel_size: 1 } }',
     ("net.prototxt:3:", "is not an integer")),
    ('layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 1 num_output: 2 kernel_size: 1 } }',
     ("given 2 times",)),
    ('layer { name: "c" type: "ReLU" bottom: "data" top: "c" ', ("never closed",)),
    ('layers { name: "c" type: RELU bottom: "data" top: "c" } layer { name: "d" type: "ReLU" bottom: "c" top: "d" }',
     ("both `layer` and the old `layers`",)),
    ('layer { name: "c" type: "Eltwise" bottom: "data" bottom: "data" top: "c" eltwise_param { operation: PROD coeff: 2 '
     'coeff: 1 } }', ("coeff",)),
])
def test_a_damaged_net_is_one_line_naming_where(tmp_path, text, needles):
    refused(run("report", write(tmp_path, text)), *needles)


def test_a_solver_or_a_train_net_is_told_apart(tmp_path):
    solver = tmp_path / "solver.prototxt"
    solver.write_text('net: "train_val.prototxt"\nbase_lr: 0.01\n')
    refused(run("report", solver), "a solver definition")
    train = tmp_path / "train_val.prototxt"
    train.write_text('layer { name: "data" type: "Data" top: "data" include { phase: TRAIN } }\n'
                     'layer { name: "data" type: "Input" top: "data" include { phase: TEST } '
                     'input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n'
                     'layer { name: "r" type: "ReLU" bottom: "data" top: "r" }\n')
    assert api.analyze(str(train)).totals["activations"] == 192        # the TRAIN data layer left out


def test_in_place_layers_and_outputs(tmp_path):
    p = write(tmp_path, 'layer { name: "a" type: "ReLU" bottom: "data" top: "data" }\n'
                        'layer { name: "b" type: "Sigmoid" bottom: "data" top: "data" }\n'
                        'layer { name: "c" type: "Split" bottom: "data" top: "x" top: "y" }\n'
                        'layer { name: "d" type: "TanH" bottom: "x" top: "x" }\n')
    report = api.analyze(str(p))
    assert [row.name for row in report.layers] == ["a", "b", "d"]
    assert set(report.outputs) == {"b", "d"}                          # y is b's blob, never read again


def test_a_flattened_output_is_given_in_caffes_order(tmp_path):
    """A Flatten whose blob is an output: ours flattens H, W, C; Caffe's order is C, H, W."""
    p = write(tmp_path, 'layer { name: "f" type: "Flatten" bottom: "data" top: "f" }\n')
    graph = api.analyze(str(p)).graph
    x = np.arange(192, dtype=np.float32).reshape(1, 3, 8, 8)
    out = executor.run(graph, x.transpose(0, 2, 3, 1), executor.init_weights(graph, 0)).output
    assert np.array_equal(out, x.reshape(1, -1))


# ---- weights ----------------------------------------------------------------------------------
def _copy(tmp_path, name="tiny", weights=True):
    text = open(path(name)).read()
    (tmp_path / f"{name}.prototxt").write_text(text)
    if weights:
        (tmp_path / f"{name}.caffemodel").write_bytes(open(os.path.join(HERE, name + ".caffemodel"), "rb").read())
    return tmp_path / f"{name}.prototxt"


def test_weights_missing_outside_or_damaged_are_one_line(tmp_path):
    p = _copy(tmp_path, weights=False)
    refused(run("verify", p), "tiny.caffemodel in the same folder")
    assert run("report", p).exit_code == 0                          # counting needs none
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "w.caffemodel").write_bytes(open(os.path.join(HERE, "tiny.caffemodel"), "rb").read())
    (tmp_path / "tiny.caffemodel").symlink_to(outside / "w.caffemodel")
    sub = tmp_path / "net"
    sub.mkdir()
    (sub / "tiny.prototxt").write_text(p.read_text())
    (sub / "tiny.caffemodel").symlink_to(outside / "w.caffemodel")
    refused(run("verify", sub / "tiny.prototxt"), "outside the model's folder")
    raw = open(os.path.join(HERE, "tiny.caffemodel"), "rb").read()
    (tmp_path / "tiny.caffemodel").unlink()
    for cut in (raw[:len(raw) // 2], raw[:7], b"\xff" * 40, b""):
        (tmp_path / "tiny.caffemodel").write_bytes(cut)
        refused(run("verify", p), "tiny.caffemodel")


def test_weights_that_do_not_fit_the_net_are_one_line(tmp_path):
    p = _copy(tmp_path)
    text = p.read_text()
    p.write_text(text.replace('num_output: 16 kernel_size: 1', 'num_output: 16 kernel_size: 1 bias_term: false'))
    refused(run("verify", p), "layer 'conv2/sep' holds 2 blob(s)")
    p.write_text(text.replace('name: "conv3b"', 'name: "conv3c"'))
    refused(run("verify", p), "no weights for layer 'conv3c'")
    p.write_text(text.replace("num_output: 16 kernel_size: 1", "num_output: 16 kernel_size: 1 group: 2"))
    refused(run("verify", p), "layer 'conv2/sep' blob 0 is 16x8x1x1")


def _softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_blobs_moved_between_layouts_keep_caffes_element_order(tmp_path):
    """Reshape, Slice, Concat and Softmax along axes other than the channels, against NumPy
    on Caffe's N x C x H x W blobs: our maps are channels last, so these are where an axis
    or an order could slip."""
    p = tmp_path / "moves.prototxt"
    p.write_text('input: "data"\ninput_shape { dim: 1 dim: 3 dim: 4 dim: 6 }\n'
                 'layer { name: "r" type: "Reshape" bottom: "data" top: "r" reshape_param { shape { dim: 0 dim: 6 dim: 2 dim: -1 } } }\n'
                 'layer { name: "sm" type: "Softmax" bottom: "r" top: "sm" softmax_param { axis: 2 } }\n'
                 'layer { name: "f" type: "Flatten" bottom: "sm" top: "f" }\n'
                 'layer { name: "cat" type: "Concat" bottom: "data" bottom: "data" top: "cat" concat_param { axis: 3 } }\n'
                 'layer { name: "cut" type: "Slice" bottom: "cat" top: "top1" top: "top2" slice_param { axis: 2 slice_point: 1 } }\n'
                 'layer { name: "v" type: "Reshape" bottom: "data" top: "v" reshape_param { shape { dim: 0 dim: 2 dim: 36 } } }\n'
                 'layer { name: "smv" type: "Softmax" bottom: "v" top: "smv" softmax_param { axis: -1 } }\n'
                 'layer { name: "ip" type: "InnerProduct" bottom: "cat" top: "ip" inner_product_param { num_output: 2 bias_term: false } }\n')
    graph = api.analyze(str(p)).graph
    x = np.random.default_rng(1).standard_normal((1, 3, 4, 6)).astype(np.float32)
    weights = executor.init_weights(graph, 0)
    outs = executor.run(graph, x.transpose(0, 2, 3, 1), weights).outputs
    nchw = {k: (v.transpose(0, 3, 1, 2) if v.ndim == 4 else v) for k, v in outs.items()}
    assert np.allclose(nchw["f.flat"], _softmax(x.reshape(1, 6, 2, 6), 2).reshape(1, -1), atol=1e-6)
    cat = np.concatenate([x, x], 3)
    assert np.allclose(nchw["top1"], cat[:, :, :1]) and np.allclose(nchw["top2"], cat[:, :, 1:])
    assert np.allclose(nchw["smv"], _softmax(x.reshape(1, 2, 36), 2), atol=1e-6)
    # the InnerProduct's rows are ours (H, W, C); Caffe's would be C, H, W: the same product
    kernel = weights["ip/kernel"].reshape(4, 12, 3, 2).transpose(2, 0, 1, 3).reshape(-1, 2)
    assert np.allclose(nchw["ip"], cat.reshape(1, -1) @ kernel, atol=1e-4)


def test_window_forms_and_vector_nets(tmp_path):
    p = tmp_path / "forms.prototxt"
    p.write_text('input: "data"\ninput_shape { dim: 1 dim: 2 dim: 9 dim: 10 }\ninput: "v"\ninput_shape { dim: 1 dim: 5 }\n'
                 'layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 4 '
                 'kernel_size: 3 kernel_size: 5 stride: 2 stride: 1 pad: 1 pad: 2 } }\n'
                 'layer { name: "p" type: "Pooling" bottom: "c" top: "p" pooling_param { pool: AVE kernel_h: 2 kernel_w: 3 '
                 'stride_h: 2 stride_w: 3 round_mode: FLOOR } }\n'
                 'layer { name: "fc" type: "InnerProduct" bottom: "v" top: "fc" inner_product_param { num_output: 3 } }\n'
                 'layer { name: "bn" type: "BatchNorm" bottom: "fc" top: "fc" }\n')
    report = api.analyze(str(p))
    rows = {row.name: row for row in report.layers}
    assert rows["c"].output_shape == [5, 10, 4] and rows["c"].mults == 5 * 10 * 4 * 2 * 15
    assert rows["p"].output_shape == [2, 3, 4]                     # floor: (5 - 2) // 2 + 1, (10 - 3) // 3 + 1
    assert rows["fc"].mults == 15 and rows["bn"].non_trainable_params == 6
    assert report.inputs == {"data": [9, 10, 2], "v": [5]}
    shaped = api.analyze(str(p), input_shape="data=1x2x19x20,v=1x5").layers
    assert shaped[0].output_shape == [10, 20, 4]
    refused(run("--input-shape", "1x2x19x20", "report", p), "several inputs")
