"""OpenVINO layer types the converter's fixtures do not hold, each in an IR of one layer
written here (an input, the layer with its constants, an output): what it reads as, its
output shape and, where a NumPy one-liner says what the layer computes, its values."""
from __future__ import annotations


import numpy as np
import pytest

from cnncost import api
from cnncost.runtime import executor
from cnncost.sources import open_source
from openvino_irs import one_layer_ir

def read(tmp_path, xml, weights, x=None):
    (tmp_path / "m.xml").write_text(xml)
    (tmp_path / "m.bin").write_bytes(weights)
    file = str(tmp_path / "m.xml")
    report = api.analyze(file)
    if x is None:
        return report, None
    out = executor.run(report.graph, x, executor.weights_for(report.graph, open_source(file, with_weights=True)))
    return report, list(out.outputs.values())


X = np.random.default_rng(3).standard_normal((1, 4, 6, 6)).astype(np.float32)     # NCHW


def nchw(y):
    return y.transpose(0, 3, 1, 2) if y.ndim == 4 else y


CASES = [
    # type, data, consts, out dims, version, expected kinds, reference (NCHW in, NCHW out)
    ("ShuffleChannels", 'axis="1" group="2"', [], (1, 4, 6, 6), "opset3", ["channel_shuffle"],
     lambda x: x.reshape(1, 2, 2, 6, 6).transpose(0, 2, 1, 3, 4).reshape(1, 4, 6, 6)),
    ("StridedSlice", 'begin_mask="1,1,0,0" end_mask="1,1,0,1" new_axis_mask="" shrink_axis_mask="" ellipsis_mask=""',
     [("i64", (4,), [0, 0, 1, 2]), ("i64", (4,), [0, 0, 5, 0]), ("i64", (4,), [1, 1, 2, 1])], (1, 4, 2, 4), "opset1",
     ["slice", "slice"], lambda x: x[:, :, 1:5:2, 2:]),
    ("Interpolate", 'mode="nearest" shape_calculation_mode="scales" coordinate_transformation_mode="asymmetric" '
     'nearest_mode="floor" antialias="false" pads_begin="0,0,0,0" pads_end="0,0,0,0" cube_coeff="-0.75"',
     [("i32", (2,), [12, 12]), ("f32", (2,), [2.0, 2.0]), ("i64", (2,), [2, 3])], (1, 4, 12, 12), "opset4",
     ["upsample"], lambda x: x.repeat(2, 2).repeat(2, 3)),
    ("BatchNormInference", 'epsilon="0.001"', [("f32", (4,), [1, 2, 3, 4]), ("f32", (4,), [0, 1, 0, 1]),
                                               ("f32", (4,), [0.5] * 4), ("f32", (4,), [2.0] * 4)],
     (1, 4, 6, 6), "opset5", ["batch_norm"],
     lambda x: (x - 0.5) / np.sqrt(2.001) * np.arange(1, 5).reshape(1, 4, 1, 1)
     + np.array([0, 1, 0, 1]).reshape(1, 4, 1, 1)),
    ("Pad", 'pad_mode="edge"', [("i64", (4,), [0, 0, 1, 2]), ("i64", (4,), [0, 0, 1, 0])], (1, 4, 8, 8), "opset12",
     ["pad"], lambda x: np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 0)), mode="edge")),
    ("ReduceMax", 'keep_dims="true"', [("i64", (2,), [2, 3])], (1, 4, 1, 1), "opset1", ["global_max_pool"],
     lambda x: x.max((2, 3), keepdims=True)),
    ("MaxPool", 'strides="2,2" pads_begin="0,0" pads_end="0,0" kernel="3,3" rounding_type="ceil_torch" '
     'auto_pad="explicit" dilations="1,1"', [], (1, 4, 3, 3), "opset14", ["max_pool"], None),
    ("AvgPool", 'strides="1,1" pads_begin="1,1" pads_end="1,1" kernel="3,3" rounding_type="floor" auto_pad="explicit" '
     'exclude-pad="false"', [], (1, 4, 6, 6), "opset1", ["avg_pool"], None),
    ("Clamp", 'min="-1" max="1"', [], (1, 4, 6, 6), "opset1", ["hard_tanh"], lambda x: np.clip(x, -1, 1)),
    ("Clamp", 'min="-2" max="5"', [], (1, 4, 6, 6), "opset1", ["binary", "binary"], lambda x: np.clip(x, -2, 5)),
    ("HSigmoid", "", [], (1, 4, 6, 6), "opset5", ["hard_sigmoid"], lambda x: np.clip(x / 6 + 0.5, 0, 1)),
    ("Mish", "", [], (1, 4, 6, 6), "opset4", ["mish"], lambda x: x * np.tanh(np.log1p(np.exp(x)))),
    ("DepthToSpace", 'block_size="2" mode="depth_first"', [], (1, 1, 12, 12), "opset1", ["pixel_shuffle"],
     lambda x: x.reshape(1, 1, 2, 2, 6, 6).transpose(0, 1, 4, 2, 5, 3).reshape(1, 1, 12, 12)),
]


@pytest.mark.parametrize("type_,data,consts,out_dims,version,kinds,reference", CASES, ids=[c[0] for c in CASES])
def test_one_layer(tmp_path, type_, data, consts, out_dims, version, kinds, reference):
    xml, weights = one_layer_ir(type_, data, (1, 4, 6, 6), consts, out_dims, version,
                                outputs=2 if type_ == "MaxPool" and version != "opset1" else 1)
    report, outs = read(tmp_path, xml, weights, X.transpose(0, 2, 3, 1))
    assert [r.kind for r in report.layers][:len(kinds)] == kinds
    assert tuple(report.graph.layers[-1].out_shape) == (out_dims[2], out_dims[3], out_dims[1])
    if reference is not None:
        np.testing.assert_allclose(nchw(outs[0]), reference(X), rtol=1e-5, atol=1e-5)


def test_matmul_of_two_activations_with_transpose_a(tmp_path):
    """transpose_a on an activation: a Transpose layer, then the product (attention's Q^T K)."""
    xml, weights = one_layer_ir("MatMul", 'transpose_a="true" transpose_b="false"', (1, 4, 6, 6),
                                [("f32", (6, 3), list(range(18)))], (1, 4, 6, 3))
    report, outs = read(tmp_path, xml, weights, X.transpose(0, 2, 3, 1))
    assert report.totals["mults"] == 4 * 6 * 6 * 3
    # a tensor, not a map: in its own order
    np.testing.assert_allclose(outs[0], np.swapaxes(X, -1, -2) @ np.arange(18.0).reshape(6, 3), rtol=1e-5)


@pytest.mark.parametrize("type_,data,version,needle", [
    ("Interpolate", 'mode="bilinear_pillow" shape_calculation_mode="sizes"', "opset11", "bilinear_pillow"),
    ("Interpolate", 'mode="nearest"', "opset1", "opset4 or 11"),
    ("Swish", "", "opset4", None),
])
def test_refused_layers_name_themselves(tmp_path, type_, data, version, needle):
    from click.testing import CliRunner

    from cnncost.cli import cli

    consts = [("i64", (2,), [12, 12])] if type_ == "Interpolate" else []
    xml, weights = one_layer_ir(type_, data, (1, 4, 6, 6), consts, (1, 4, 6, 6), version)
    (tmp_path / "m.xml").write_text(xml)
    (tmp_path / "m.bin").write_bytes(weights)
    res = CliRunner().invoke(cli, ["report", str(tmp_path / "m.xml")])
    if needle is None:
        assert res.exit_code == 0, res.output
        return
    assert res.exit_code == 2 and needle in res.output and len(res.output.strip().splitlines()) == 1, res.output
