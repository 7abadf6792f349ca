"""Convolutions and pools over 1-D maps (T x C) and 3-D maps (D x H x W x C): arrays worked
by hand, and the executor against onnxruntime through cnncost's own ONNX export."""
import shutil
import subprocess
import textwrap

import numpy as np
import pytest

import cnncost
from cnncost.runtime import executor

from conftest import analyze_text


def run(body, x, weights):
    graph = analyze_text(body).graph
    return executor.run(graph, np.asarray(x, np.float32)[None], weights).output[0]


def test_conv1d_by_hand():
    """x0 = 1 2 3 4 5, x1 = 10 0 10 0 10; the filter takes x0[t] - x0[t+2] + x1[t+1], + 0.5:
    -2 + 0 + .5, -2 + 10 + .5, -2 + 0 + .5."""
    x = np.array([[1, 10], [2, 0], [3, 10], [4, 0], [5, 10]])
    kernel = np.zeros((3, 2, 1), np.float32)          # (k, C_in, filters), as Keras' Conv1D
    kernel[:, 0, 0], kernel[:, 1, 0] = [1, 0, -1], [0, 1, 0]
    w = {"c/kernel": kernel, "c/bias": np.array([0.5], np.float32)}
    y = run("input: [5, 2]\nlayers:\n  - {name: c, kind: conv1d, filters: 1, kernel: 3}\n", x, w)
    assert y[:, 0].tolist() == [-1.5, 8.5, -1.5]
    # dilation 2, 'same' padding (total 4, 2 each side), stride 2: outputs at t = 0, 2, 4 read
    # t-2, t, t+2 of x0 with weights 1, 0, -1 (zeros outside): 0 - 3, 1 - 5, 3 - 0
    kernel[:, 1, 0] = 0
    y = run("input: [5, 2]\nlayers:\n  - {name: c, kind: conv, filters: 1, kernel: 3, dilation: 2, stride: 2, "
            "padding: same}\n", x, w)
    assert y[:, 0].tolist() == [-2.5, -3.5, 3.5]


def test_conv3d_by_hand():
    """x[d, h, w] = 4d + 2h + w on a 2 x 2 x 2 volume. A temporal [2, 1, 1] kernel (1, -1)
    gives x[0] - x[1] = -4 everywhere; a spatial [1, 2, 2] kernel of ones with padding
    [0, 0, 0, 0, 0, 1] (per side) sums the 2 x 2 plane, then the right column alone."""
    x = np.arange(8, dtype=np.float32).reshape(2, 2, 2, 1)
    w = {"t/kernel": np.array([1, -1], np.float32).reshape(2, 1, 1, 1, 1)}
    y = run("input: [2, 2, 2, 1]\nlayers:\n  - {name: t, kind: conv, filters: 1, kernel: [2, 1, 1], bias: false}\n",
            x, w)
    assert y.shape == (1, 2, 2, 1) and (y == -4).all()
    w = {"s/kernel": np.ones((1, 2, 2, 1, 1), np.float32)}
    y = run("input: [2, 2, 2, 1]\nlayers:\n  - {name: s, kind: conv3d, filters: 1, kernel: [1, 2, 2], bias: false, "
            "padding: [0, 0, 0, 0, 0, 1]}\n", x, w)
    # depth 0: plane 0 1 / 2 3 -> 6, right column 1 + 3 = 4; depth 1: +16 and +8
    assert y[..., 0].tolist() == [[[6, 4]], [[22, 12]]]


def test_depthwise_conv3d_by_hand():
    """Two channels, a [1, 1, 2] kernel per channel (multiplier 1): channel 0 adds its two
    columns, channel 1 takes their difference."""
    x = np.stack([np.arange(8).reshape(2, 2, 2), np.ones((2, 2, 2))], -1).astype(np.float32)
    kernel = np.array([[1, 1], [1, -1]], np.float32).T.reshape(1, 1, 2, 2, 1)   # (kd, kh, kw, C, m)
    y = run("input: [2, 2, 2, 2]\nlayers:\n  - {name: d, kind: depthwise_conv, kernel: [1, 1, 2], bias: false}\n",
            x, {"d/kernel": kernel})
    assert y[..., 0, 0].tolist() == [[1, 5], [9, 13]] and (y[..., 1] == 0).all()


def test_pools_by_hand():
    x = np.array([3, 1, 4, 1, 5, 9, 2], np.float32)[:, None]
    body = "input: [7, 1]\nlayers:\n  - {name: p, kind: %s}\n"
    assert run(body % "max_pool, kernel: 3, stride: 2, ceil_mode: true", x, {})[:, 0].tolist() == [4, 5, 9]
    # padding 1 counted (PyTorch's default): windows (0 3 1) (1 4 1) (1 5 9) (9 2 0)
    got = run(body % "avg_pool, kernel: 3, stride: 2, padding: 1", x, {})[:, 0]
    np.testing.assert_allclose(got, [4 / 3, 2, 5, 11 / 3], rtol=1e-6)
    v = np.arange(16, dtype=np.float32).reshape(2, 2, 2, 2)     # (D, H, W, C)
    y = run("input: [2, 2, 2, 2]\nlayers:\n  - {name: p, kind: max_pool, kernel: [2, 1, 2]}\n", v, {})
    assert y[..., 0].tolist() == [[[10], [14]]]
    y = run("input: [2, 2, 2, 2]\nlayers:\n  - {name: p, kind: global_avg_pool}\n", v, {})
    assert y.tolist() == [7, 8]


SPECS = {
    "conv1d stack": """
        input: [32, 4]
        layers:
          - {name: a, kind: conv, filters: 6, kernel: 3, dilation: 2, padding: same}
          - {name: b, kind: conv1d, filters: 6, kernel: 5, stride: 2, groups: 2, padding: [1, 2]}
          - {name: c, kind: depthwise_conv, kernel: 3, depth_multiplier: 2, padding: 1}
          - {name: d, kind: conv, filters: 3, kernel: 1, dilation: 4}
          - {name: e, kind: conv1d, filters: 3, kernel: 3, dilation: 3, padding: [6, 0], groups: 3}
          - {name: f, kind: flatten}
          - {name: g, kind: dense, units: 5}
    """,
    "R(2+1)D block": """
        input: [6, 10, 10, 3]
        layers:
          - {name: spatial, kind: conv, filters: 4, kernel: [1, 3, 3], padding: [0, 1, 1], stride: [1, 2, 2]}
          - {name: temporal, kind: conv, filters: 4, kernel: [3, 1, 1], padding: same, stride: [2, 1, 1]}
          - {name: grouped, kind: conv3d, filters: 4, kernel: 3, groups: 2, dilation: [1, 2, 1],
             padding: [1, 1, 0, 1, 2, 0]}
          - {name: dw, kind: depthwise_conv, kernel: [3, 3, 3], padding: 1, depth_multiplier: 2}
          - {name: pw, kind: conv3d, filters: 2, kernel: 1}
          - {name: gap, kind: global_avg_pool}
    """,
    "pools 1-D": """
        input: [17, 4]
        layers:
          - {name: a, kind: max_pool, kernel: 3, stride: 2, padding: 1, ceil_mode: true}
          - {name: b, kind: avg_pool, kernel: 3, stride: 2, padding: 1}
          - {name: c, kind: avg_pool, kernel: 2, padding: same}
          - {name: d, kind: adaptive_avg_pool, output_size: 3}
          - {name: e, kind: global_max_pool, keepdims: true}
          - {name: f, inputs: b, kind: adaptive_avg_pool, output_size: 1}
    """,
    "pools 3-D": """
        input: [5, 9, 9, 2]
        layers:
          - {name: a, kind: max_pool, kernel: [1, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1], ceil_mode: true}
          - {name: b, kind: avg_pool, kernel: [3, 2, 2], stride: 2, padding: [1, 0, 0], ceil_mode: true}
          - {name: b2, kind: max_pool, kernel: 2, padding: same}
          - {name: c, kind: adaptive_avg_pool, output_size: [2, 1, 2]}
          - {name: c2, inputs: a, kind: adaptive_avg_pool, output_size: [5, 1, 5]}
          - {name: d, inputs: b, kind: global_avg_pool}
          - {name: e, inputs: a, kind: avg_pool, kernel: 3, padding: 1, count_include_pad: false}
    """,
    "moves 1-D": """
        input: [9, 3]
        layers:
          - {name: t, kind: conv_transpose, filters: 4, kernel: 4, stride: 2, padding: [1, 2], output_padding: 1}
          - {name: t2, kind: conv_transpose, filters: 4, kernel: 3, stride: 2, dilation: 3, output_padding: 2, groups: 2}
          - {name: z, kind: zero_pad, padding: [2, 1]}
          - {name: r, kind: pad, padding: [3, 2, 0, 0], mode: reflect}
          - {name: e, kind: pad, padding: [1, 4, 0, 0], mode: edge}
          - {name: c, kind: crop, size: 11}
          - {name: u, kind: upsample, scale: 3}
          - {name: l, inputs: c, kind: upsample, mode: linear, size: 17}
          - {name: a, inputs: c, kind: upsample, mode: linear, size: 7, align_corners: true}
    """,
    "moves 3-D": """
        input: [3, 5, 4, 2]
        layers:
          - {name: t, kind: conv_transpose, filters: 3, kernel: [2, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1]}
          - {name: z, kind: zero_pad, padding: [1, 0, 0, 1, 2, 2]}
          - {name: r, kind: pad, padding: [1, 1, 2, 0, 0, 3, 0, 0], mode: reflect}
          - {name: c, kind: crop, size: [3, 9, 7]}
          - {name: c2, inputs: c, kind: crop, size: 2}
          - {name: u, inputs: c, kind: upsample, scale: [2, 1, 2]}
          - {name: l, inputs: c, kind: upsample, mode: trilinear, size: [5, 11, 4]}
    """,
    "cubic 2-D": """
        input: [6, 5, 2]
        layers:
          - {name: b, kind: upsample, mode: cubic, scale: 2}
          - {name: s, inputs: input, kind: upsample, mode: cubic, size: [3, 13]}
          - {name: a, inputs: input, kind: upsample, mode: cubic, size: [11, 4], align_corners: true}
          - {name: e, inputs: input, kind: pad, padding: [2, 3, 1, 1, 0, 0], mode: edge}
          - {name: r, kind: pad, padding: [1, 1, 3, 0, 0, 0], mode: reflect}
          - {name: d, kind: upsample, mode: cubic, size: [4, 4]}
    """,
    "norms": """
        input: [3, 5, 5, 4]
        layers:
          - {name: c, kind: conv3d, filters: 4, kernel: 3, padding: 1}
          - {name: gn, kind: group_norm, groups: 2}
          - {name: inn, kind: instance_norm, affine: true}
          - {name: bn, kind: batch_norm}
          - {name: r, kind: reshape, shape: [15, 20]}
          - {name: c1, kind: conv1d, filters: 4, kernel: 3}
          - {name: gn1, kind: group_norm, groups: 4}
          - {name: in1, kind: instance_norm}
          - {name: sep, kind: separable_conv, filters: 3, kernel: 3, padding: same}
    """,
}


@pytest.mark.parametrize("name", SPECS)
def test_executor_agrees_with_onnxruntime(name, tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(textwrap.dedent(SPECS[name]))
    v = cnncost.verify(str(path), engine="onnxruntime")
    assert v.ok, v.failures()
    rows = v.to_dict()["engine"]["layers"]
    assert len(rows) >= 6 and all(r["ok"] and r["rel_error"] < 1e-5 for r in rows)


def test_a_rank_4_input_is_a_volume_unless_the_kernel_says_two_axes():
    """`kernel: 3` on D x H x W x C is 3 along every axis (PyTorch's Conv3d), for convolutions
    and pools alike; a 2-entry kernel convolves each 2-D map of a stack (EfficientViT)."""
    volume = analyze_text("input: [4, 5, 5, 2]\nlayers:\n  - {name: x, kind: conv, filters: 5, kernel: 3}\n")
    stack = analyze_text("input: [4, 5, 5, 2]\nlayers:\n  - {name: x, kind: conv, filters: 5, kernel: [3, 3]}\n")
    pool = analyze_text("input: [4, 5, 5, 2]\nlayers:\n  - {name: x, kind: max_pool, kernel: 2}\n")
    assert volume.layers[0].output_shape == [2, 3, 3, 5] and volume.layers[0].mults == 90 * 54
    assert stack.layers[0].output_shape == [4, 3, 3, 5] and stack.layers[0].mults == 4 * 45 * 18
    assert pool.layers[0].output_shape == [2, 2, 2, 2]


def test_shapes_and_explain_name_the_axes():
    rep = analyze_text("input: [16, 3]\nlayers:\n  - {name: x, kind: conv, filters: 4, kernel: 3}\n")
    node = rep.graph.layers[0]
    lines = node.kind.explain(node.args, node.in_shapes, node.out_shape)
    assert lines == ["T_out = floor((16 + 0 + 0 - 3) / 1) + 1 = 14",
                     "mults = T_out x C_out x kt x C_in = 14 x 4 x 3 x 3 = 504"]
    rep = analyze_text("input: [4, 6, 6, 3]\nlayers:\n  - {name: x, kind: conv3d, filters: 5, kernel: [3, 1, 1]}\n")
    node = rep.graph.layers[0]
    assert node.kind.explain(node.args, node.in_shapes, node.out_shape)[-1] == \
        "mults = D_out x H_out x W_out x C_out x kd x kh x kw x C_in = 2 x 6 x 6 x 5 x 3 x 1 x 1 x 3 = 3,240"
    assert node.kind.mult_class(node.args, node.in_shapes) == "standard"
    pw = analyze_text("input: [4, 6, 6, 3]\nlayers:\n  - {name: x, kind: conv, filters: 5, kernel: [1, 1, 1]}\n")
    node = pw.graph.layers[0]
    assert node.kind.mult_class(node.args, node.in_shapes) == "pointwise"


TORCH = "/work/venv-torch/bin/python"
TORCH_SCRIPT = r"""
import sys, numpy as np, torch
d = dict(np.load(sys.argv[1]))
torch.manual_seed(0)
def t(a): return torch.from_numpy(a)
# channels last -> first; Keras kernels (k..., C/g, F) -> torch (F, C/g, k...)
x1 = t(d["x1"]).permute(0, 2, 1)
y = torch.nn.functional.conv1d(x1, t(d["k1"]).permute(2, 1, 0), t(d["b1"]), stride=2, padding=2, dilation=2, groups=2)
x3 = t(d["x3"]).permute(0, 4, 1, 2, 3)
z = torch.nn.functional.conv3d(x3, t(d["k3"]).permute(4, 3, 0, 1, 2), t(d["b3"]), stride=(1, 2, 2), padding=(1, 0, 1))
z = torch.nn.functional.max_pool3d(z, (2, 3, 3), stride=2, padding=1, ceil_mode=True)
np.savez(sys.argv[2], y1=y.permute(0, 2, 1).numpy(), y3=z.permute(0, 2, 3, 4, 1).numpy())
"""


@pytest.mark.skipif(shutil.which(TORCH) is None, reason="no PyTorch environment")
def test_against_torch_conv1d_conv3d_maxpool3d(tmp_path):
    rng = np.random.default_rng(1)
    g1 = analyze_text("input: [21, 4]\nlayers:\n  - {name: c, kind: conv1d, filters: 6, kernel: 3, stride: 2, "
                      "padding: 2, dilation: 2, groups: 2}\n").graph
    g3 = analyze_text("input: [5, 9, 8, 3]\nlayers:\n  - {name: c, kind: conv3d, filters: 4, kernel: [3, 2, 3], "
                      "stride: [1, 2, 2], padding: [1, 0, 1]}\n"
                      "  - {name: p, kind: max_pool, kernel: [2, 3, 3], stride: 2, padding: 1, ceil_mode: true}\n").graph
    arrays = {"x1": rng.standard_normal((2, 21, 4)), "k1": rng.standard_normal((3, 2, 6)), "b1": rng.standard_normal(6),
              "x3": rng.standard_normal((2, 5, 9, 8, 3)), "k3": rng.standard_normal((3, 2, 3, 3, 4)),
              "b3": rng.standard_normal(4)}
    arrays = {k: v.astype(np.float32) for k, v in arrays.items()}
    np.savez(tmp_path / "in.npz", **arrays)
    script = tmp_path / "t.py"
    script.write_text(TORCH_SCRIPT)
    subprocess.run([TORCH, str(script), str(tmp_path / "in.npz"), str(tmp_path / "out.npz")], check=True,
                   timeout=300)
    want = np.load(tmp_path / "out.npz")
    y1 = executor.run(g1, arrays["x1"], {"c/kernel": arrays["k1"], "c/bias": arrays["b1"]}).output
    y3 = executor.run(g3, arrays["x3"], {"c/kernel": arrays["k3"], "c/bias": arrays["b3"]}).output
    assert y1.shape == want["y1"].shape and y3.shape == want["y3"].shape
    np.testing.assert_allclose(y1, want["y1"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y3, want["y3"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape,layer,analytic,formula", [
    # separable: 1/N + 1/f^d; a 1-D kernel of 5 taps, a 3-D kernel of 27
    ((32, 8), "kind: conv, filters: 16, kernel: 5, padding: same", 1 / 16 + 1 / 5, "1/N + 1/f^1 = 1/16 + 1/5"),
    ((4, 8, 8, 8), "kind: conv3d, filters: 16, kernel: 3, padding: same", 1 / 16 + 1 / 27,
     "1/N + 1/f^3 = 1/16 + 1/27"),
])
def test_whatif_separable_on_1d_and_3d(shape, layer, analytic, formula):
    from cnncost.analyses.whatif import savings
    from cnncost.spec import parse_spec

    spec = parse_spec(f"input: {list(shape)}\nlayers:\n  - {{name: x, {layer}}}\n", "t.yaml")
    original, rewritten, rows = savings(spec, "separable")
    (row,) = rows
    # 'same' with stride 1: the depthwise part keeps the map, so the measured ratio is the textbook one
    assert row.ratio == pytest.approx(analytic) and row.analytic == pytest.approx(analytic)
    assert row.formula == formula
    assert [r.kind for r in rewritten.layers] == ["depthwise_conv", "conv"]
    assert rewritten.layers[-1].output_shape == original.layers[0].output_shape
    _, _, (b,) = savings(spec, "bottleneck=4")
    assert b.ratio == pytest.approx(b.analytic)


def test_receptive_fields_per_axis():
    """In samples along time: a causal TCN's field is 1 + sum (k - 1) d (kernel 3, dilations
    1, 2, 4, 8: 31 samples), its stride 1, its first unit starting 30 samples before t = 0
    (the causal padding); per axis on a volume: a [3, 7, 7] stem strided [1, 2, 2] then a
    3 x 3 x 3 max pool strided 2."""
    body = "input: [64, 4]\nlayers:\n" + "".join(
        f"  - {{name: c{d}, kind: conv, filters: 4, kernel: 3, dilation: {d}, padding: [{2 * d}, 0]}}\n"
        for d in (1, 2, 4, 8))
    rows = analyze_text(body).layers
    assert [r.receptive_field for r in rows] == [[3], [7], [15], [31]]
    assert rows[-1].rf_stride == [1] and rows[-1].rf_start == [-30]
    assert rows[-1].output_shape == [64, 4]
    rep = analyze_text("input: [8, 32, 32, 3]\nlayers:\n"
                       "  - {name: stem, kind: conv, filters: 4, kernel: [3, 7, 7], stride: [1, 2, 2], padding: [1, 3, 3]}\n"
                       "  - {name: pool, kind: max_pool, kernel: 3, stride: 2, padding: 1}\n"
                       "  - {name: gap, kind: global_avg_pool}\n")
    stem, pool, gap = rep.layers
    assert (stem.receptive_field, stem.rf_stride, stem.rf_start) == ([3, 7, 7], [1, 2, 2], [-1, -3, -3])
    assert (pool.receptive_field, pool.rf_stride, pool.rf_start) == ([5, 11, 11], [2, 4, 4], [-2, -5, -5])
    # the pool's output is 4 x 8 x 8: the global pool's field covers all of it
    assert gap.receptive_field == [5 + 3 * 2, 11 + 7 * 4, 11 + 7 * 4]


TORCH_MOVES = r"""
import sys, numpy as np, torch
import torch.nn.functional as F
d = dict(np.load(sys.argv[1]))
def t(a): return torch.from_numpy(a)
x1 = t(d["x1"]).permute(0, 2, 1)
# our transposed kernel (k..., F/g, C_in) -> torch's (C_in, F/g, k...)
y1 = F.conv_transpose1d(x1, t(d["k1"]).permute(2, 1, 0), t(d["b1"]), stride=2, padding=1, output_padding=2,
                        dilation=3)
y1 = F.pad(F.pad(y1, (3, 2), mode="reflect"), (1, 4), mode="replicate")
x3 = t(d["x3"]).permute(0, 4, 1, 2, 3)
y3 = F.conv_transpose3d(x3, t(d["k3"]).permute(4, 3, 0, 1, 2), t(d["b3"]), stride=(1, 2, 2), padding=(0, 1, 1))
y3 = F.interpolate(y3, size=(5, 11, 4), mode="trilinear")
x2 = t(d["x2"]).permute(0, 3, 1, 2)
y2 = F.interpolate(F.pad(x2, (1, 1, 2, 3), mode="reflect"), size=(13, 6), mode="bicubic")
np.savez(sys.argv[2], y1=y1.permute(0, 2, 1).numpy(), y3=y3.permute(0, 2, 3, 4, 1).numpy(),
         y2=y2.permute(0, 2, 3, 1).numpy())
"""


@pytest.mark.skipif(shutil.which(TORCH) is None, reason="no PyTorch environment")
def test_against_torch_transposed_padded_and_resized(tmp_path):
    """ConvTranspose1d (output_padding below the dilation, above the stride) then reflect
    and replicate pads; ConvTranspose3d then trilinear; reflect pad then bicubic."""
    rng = np.random.default_rng(2)
    arrays = {"x1": rng.standard_normal((2, 9, 3)), "k1": rng.standard_normal((4, 5, 3)), "b1": rng.standard_normal(5),
              "x3": rng.standard_normal((2, 3, 5, 4, 2)), "k3": rng.standard_normal((2, 3, 3, 3, 2)),
              "b3": rng.standard_normal(3), "x2": rng.standard_normal((2, 6, 5, 2))}
    arrays = {k: v.astype(np.float32) for k, v in arrays.items()}
    np.savez(tmp_path / "in.npz", **arrays)
    script = tmp_path / "t.py"
    script.write_text(TORCH_MOVES)
    subprocess.run([TORCH, str(script), str(tmp_path / "in.npz"), str(tmp_path / "out.npz")], check=True, timeout=300)
    want = np.load(tmp_path / "out.npz")
    g1 = analyze_text("input: [9, 3]\nlayers:\n"
                      "  - {name: t, kind: conv_transpose, filters: 5, kernel: 4, stride: 2, padding: 1, "
                      "output_padding: 2, dilation: 3}\n"
                      "  - {name: r, kind: pad, padding: [3, 2, 0, 0], mode: reflect}\n"
                      "  - {name: e, kind: pad, padding: [1, 4, 0, 0], mode: edge}\n").graph
    g3 = analyze_text("input: [3, 5, 4, 2]\nlayers:\n"
                      "  - {name: t, kind: conv_transpose, filters: 3, kernel: [2, 3, 3], stride: [1, 2, 2], "
                      "padding: [0, 1, 1]}\n"
                      "  - {name: l, kind: upsample, mode: trilinear, size: [5, 11, 4]}\n").graph
    g2 = analyze_text("input: [6, 5, 2]\nlayers:\n"
                      "  - {name: r, kind: pad, padding: [2, 3, 1, 1, 0, 0], mode: reflect}\n"
                      "  - {name: b, kind: upsample, mode: cubic, size: [13, 6]}\n").graph
    y1 = executor.run(g1, arrays["x1"], {"t/kernel": arrays["k1"], "t/bias": arrays["b1"]}).output
    y3 = executor.run(g3, arrays["x3"], {"t/kernel": arrays["k3"], "t/bias": arrays["b3"]}).output
    y2 = executor.run(g2, arrays["x2"], {}).output
    for ours, name in ((y1, "y1"), (y3, "y3"), (y2, "y2")):
        assert ours.shape == want[name].shape, name
        np.testing.assert_allclose(ours, want[name], rtol=1e-5, atol=1e-5, err_msg=name)
