"""The kinds of today's CNNs run by the executor against arrays computed by hand."""
import numpy as np
import pytest

from cnncost.runtime import executor

from conftest import analyze_text


def run(shape, layer, x, weights=None):
    g = analyze_text(f"input: {list(shape)}\nlayers:\n  - {{name: k, {layer}}}\n").graph
    return executor.run(g, np.asarray(x, np.float32).reshape((1,) + tuple(shape)),
                        {f"k/{n}": np.asarray(v, np.float32) for n, v in (weights or {}).items()}).output[0]


def test_conv_transpose_scatters_each_input_times_the_kernel():
    x = [[1, 2], [3, 4]]
    ones = np.ones((2, 2, 1, 1))
    # stride 1: overlapping 2x2 patches of ones
    y = run((2, 2, 1), "kind: conv_transpose, filters: 1, kernel: 2, bias: false", x, {"kernel": ones})
    assert y[:, :, 0].tolist() == [[1, 3, 2], [4, 10, 6], [3, 7, 4]]
    # stride 2: each input fills its own 2x2 block
    y = run((2, 2, 1), "kind: conv_transpose, filters: 1, kernel: 2, stride: 2, bias: false", x, {"kernel": ones})
    assert y[:, :, 0].tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    # one input pixel stamps 2 x the kernel into a 3x3 map; output_padding 1 makes it 4x4
    # (a zero row and column at the end), padding 1 crops one row and column each side:
    # rows 1-2, columns 1-2 of [[2 4 6 0] [8 10 12 0] [14 16 18 0] [0 0 0 0]], plus the bias
    k = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], np.float32).reshape(3, 3, 1, 1)
    y = run((1, 1, 1), "kind: conv_transpose, filters: 1, kernel: 3, padding: 1, stride: 2, output_padding: 1",
            [[2]], {"kernel": k, "bias": [0.5]})
    assert y[:, :, 0].tolist() == [[10.5, 12.5], [16.5, 18.5]]
    y = run((1, 1, 1), "kind: conv_transpose, filters: 1, kernel: 3, stride: 2, output_padding: 1",
            [[2]], {"kernel": k, "bias": [0.5]})
    assert y[:, :, 0].tolist() == [[2.5, 4.5, 6.5, 0.5], [8.5, 10.5, 12.5, 0.5], [14.5, 16.5, 18.5, 0.5],
                                   [0.5, 0.5, 0.5, 0.5]]     # the output_padding row holds the bias


def test_pixel_shuffle_places_channel_c_r2_plus_i_r_plus_j():
    x = np.arange(8).reshape(1, 1, 8)            # C = 2 x 2^2
    y = run((1, 1, 8), "kind: pixel_shuffle, factor: 2", x)
    assert y[:, :, 0].tolist() == [[0, 1], [2, 3]] and y[:, :, 1].tolist() == [[4, 5], [6, 7]]


def test_layer_group_and_instance_norm_by_hand():
    eps = 1e-5
    x = [1.0, 2.0, 3.0, 4.0]                       # one position, four channels
    want = (np.array(x) - 2.5) / np.sqrt(1.25 + eps)
    y = run((1, 1, 4), "kind: layer_norm", x, {"gamma": [1, 1, 1, 1], "beta": [0, 0, 0, 0]})
    np.testing.assert_allclose(y.ravel(), want, rtol=1e-6)
    y = run((1, 1, 4), "kind: layer_norm", x, {"gamma": [2, 2, 2, 2], "beta": [1, 1, 1, 1]})
    np.testing.assert_allclose(y.ravel(), 2 * want + 1, rtol=1e-6)
    # group norm, 2 groups of 2 channels over 2 positions: group 0 = [1, 2, 5, 6]
    x2 = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.float32).reshape(1, 2, 4)
    y = run((1, 2, 4), "kind: group_norm, groups: 2", x2, {"gamma": [1] * 4, "beta": [0] * 4})
    g0 = np.array([1, 2, 5, 6.0])
    np.testing.assert_allclose(y[0, :, :2].ravel(), (g0 - g0.mean()) / np.sqrt(g0.var() + eps), rtol=1e-6)
    # instance norm: per channel over the two positions, [1, 5]: mean 3, variance 4
    y = run((1, 2, 4), "kind: instance_norm", x2)
    np.testing.assert_allclose(y[0, :, 0], [-2 / np.sqrt(4 + eps), 2 / np.sqrt(4 + eps)], rtol=1e-6)


def test_prelu_scale_subtract_slice_by_hand():
    x = [[-2.0, 3.0]]                                # one position, two channels
    assert run((1, 1, 2), "kind: prelu", x, {"slope": [0.5, 0.1]}).ravel().tolist() == [-1.0, 3.0]
    assert run((1, 1, 2), "kind: scale", x, {"gamma": [3, -1]}).ravel().tolist() == [-6.0, -3.0]
    assert run((1, 1, 2), "kind: slice, start: 1, stop: 2", x).ravel().tolist() == [3.0]
    g = analyze_text("input: [1, 2, 2]\nlayers:\n  - {name: m, kind: global_avg_pool}\n"
                     "  - {name: d, kind: subtract, inputs: [input, m]}\n").graph
    out = executor.run(g, np.array([1, 10, 3, 20], np.float32).reshape(1, 1, 2, 2), {}).output
    assert out.ravel().tolist() == [-1.0, -5.0, 1.0, 5.0]


@pytest.mark.parametrize("bad", ["kind: upsample, size: [0, 4]", "kind: crop, size: [9, 9]",
                                 "kind: slice, stop: 9", "kind: group_norm, groups: 3",
                                 "kind: conv_transpose, filters: 2, kernel: 3, output_padding: -1",
                                 "kind: conv_transpose, filters: 2, kernel: 3, stride: 2, output_padding: 2"])
def test_bad_arguments_of_the_new_kinds_are_located(bad):
    from click.testing import CliRunner
    import tempfile
    from cnncost.cli import cli
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        fh.write(f"input: [4, 4, 4]\nlayers:\n  - {{name: bad_layer, {bad}}}\n")
    r = CliRunner().invoke(cli, ["report", fh.name])
    assert r.exit_code == 2 and f"{fh.name}:3:" in r.output and "layer 'bad_layer'" in r.output, r.output
