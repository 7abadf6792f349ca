"""Optional cross-checks against PyTorch (skipped when torch is not installed):
conv / grouped / depthwise / pooling incl. ceil mode / LRN outputs agree to 1e-4."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cnncost.runtime import executor  # noqa: E402

from conftest import analyze_text  # noqa: E402


def ours(shape, layer, x_nhwc, weights):
    rep = analyze_text(f"input: {list(shape)}\nlayers:\n  - {{name: x, {layer}}}\n")
    return executor.run(rep.graph, x_nhwc, {f"x/{k}": v for k, v in weights.items()}).output


def nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


RNG = np.random.default_rng(0)


@pytest.mark.parametrize("c,f,k,s,p,d,g", [
    (3, 8, 3, 1, 1, 1, 1), (4, 6, 5, 2, 2, 1, 2), (6, 6, 3, 2, 1, 1, 3), (8, 8, 3, 1, 2, 2, 4),
    (3, 5, 7, 3, 0, 1, 1), (16, 16, 1, 2, 0, 1, 1),
])
def test_conv_and_grouped_conv(c, f, k, s, p, d, g):
    x = RNG.standard_normal((2, 11, 13, c)).astype(np.float32)
    conv = torch.nn.Conv2d(c, f, k, stride=s, padding=p, dilation=d, groups=g)
    kernel = conv.weight.detach().numpy().transpose(2, 3, 1, 0)   # OIHW -> HWIO
    y = ours((11, 13, c), f"kind: conv, filters: {f}, kernel: {k}, stride: {s}, padding: {p}, "
                          f"dilation: {d}, groups: {g}", x, {"kernel": kernel, "bias": conv.bias.detach().numpy()})
    np.testing.assert_allclose(y, nhwc(conv(nchw(x))), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("c,m,k,s", [(4, 1, 3, 1), (3, 2, 3, 2), (5, 3, 5, 1)])
def test_depthwise_with_multiplier(c, m, k, s):
    x = RNG.standard_normal((1, 10, 9, c)).astype(np.float32)
    conv = torch.nn.Conv2d(c, c * m, k, stride=s, padding=k // 2, groups=c, bias=False)
    kernel = conv.weight.detach().numpy().reshape(c, m, k, k).transpose(2, 3, 0, 1)   # -> (k, k, C, m)
    y = ours((10, 9, c), f"kind: depthwise_conv, kernel: {k}, stride: {s}, padding: {k // 2}, "
                         f"depth_multiplier: {m}, bias: false", x, {"kernel": kernel})
    np.testing.assert_allclose(y, nhwc(conv(nchw(x))), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind,k,s,p,ceil", [
    ("max", 3, 2, 0, True), ("max", 3, 2, 1, False), ("max", 2, 2, 1, True), ("avg", 3, 2, 1, True),
    ("avg", 2, 2, 0, True), ("avg", 3, 1, 1, False),
])
def test_pooling_incl_ceil_mode(kind, k, s, p, ceil):
    x = RNG.standard_normal((2, 12, 11, 3)).astype(np.float32)
    pool = (torch.nn.MaxPool2d if kind == "max" else torch.nn.AvgPool2d)(k, s, p, ceil_mode=ceil)
    y = ours((12, 11, 3), f"kind: {kind}_pool, kernel: {k}, stride: {s}, padding: {p}, "
                          f"ceil_mode: {str(ceil).lower()}", x, {})
    np.testing.assert_allclose(y, nhwc(pool(nchw(x))), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("size", [3, 5])
def test_lrn(size):
    x = RNG.standard_normal((2, 6, 6, 16)).astype(np.float32)
    lrn = torch.nn.LocalResponseNorm(size, alpha=1e-2, beta=0.75, k=2.0)
    y = ours((6, 6, 16), f"kind: lrn, size: {size}, alpha: 0.01, beta: 0.75, k: 2", x, {})
    np.testing.assert_allclose(y, nhwc(lrn(nchw(x))), rtol=1e-4, atol=1e-4)


def test_adaptive_avg_pool():
    x = RNG.standard_normal((1, 10, 7, 3)).astype(np.float32)
    y = ours((10, 7, 3), "kind: adaptive_avg_pool, output_size: [4, 3]", x, {})
    np.testing.assert_allclose(y, nhwc(torch.nn.AdaptiveAvgPool2d((4, 3))(nchw(x))), rtol=1e-4, atol=1e-5)


def test_upsample_nearest_follows_f_interpolate_at_every_small_ratio():
    """Every (in <= 40, out < 100) pair: PyTorch's float32 source rows, not the exact ones."""
    bad = []
    for size in range(1, 41):
        x = np.arange(size, dtype=np.float32).reshape(1, size, 1, 1)
        for out in range(1, 100):
            want = torch.nn.functional.interpolate(nchw(x), size=(out, 1), mode="nearest")
            got = ours((size, 1, 1), f"kind: upsample, mode: nearest, size: [{out}, 1]", x, {})
            if not np.array_equal(got, nhwc(want)):
                bad.append((size, out))
    assert not bad, bad[:10]


@pytest.mark.parametrize("size,out,align", [(5, 1, False), (5, 1, True), (7, 3, False), (3, 7, True), (9, 4, False)])
def test_upsample_bilinear_follows_f_interpolate_including_size_one(size, out, align):
    x = RNG.standard_normal((1, size, 6, 2)).astype(np.float32)
    want = torch.nn.functional.interpolate(nchw(x), size=(out, 4), mode="bilinear", align_corners=align)
    got = ours((size, 6, 2), f"kind: upsample, mode: bilinear, size: [{out}, 4], align_corners: {str(align).lower()}",
               x, {})
    np.testing.assert_allclose(got, nhwc(want), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("scale", [2, 3, 5, 25])
def test_upsample_scale_factor_follows_nn_upsample(scale):
    x = np.arange(7, dtype=np.float32).reshape(1, 7, 1, 1)
    want = torch.nn.Upsample(scale_factor=(scale, 1), mode="nearest")(nchw(x))
    got = ours((7, 1, 1), f"kind: upsample, mode: nearest, scale: [{scale}, 1]", x, {})
    assert np.array_equal(got, nhwc(want))
