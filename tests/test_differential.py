"""The differential suite: random valid networks over every kind and option, each run by
onnxruntime and by our executor with the same weights and input; every layer's shape,
values and executed multiplications must agree. CNNCOST_DIFF_SEEDS=N runs more seeds;
`python tests/differential.py --seed S` reruns one."""
import os

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import differential  # noqa: E402

SEEDS = int(os.environ.get("CNNCOST_DIFF_SEEDS", "300"))


@pytest.mark.parametrize("seed", range(SEEDS))
def test_random_network_agrees_with_onnxruntime(seed):
    text, comparison, run = differential.check(seed)
    assert comparison.ok and run.ok, differential.explain_failure(seed, text, comparison, run)


def test_the_generator_covers_every_kind_and_option():
    """The first 300 networks draw every kind, and the hard options, at least once."""
    from cnncost.layers import KINDS

    texts = [differential.network(seed) for seed in range(300)]
    blob = "\n".join(texts)
    for name in KINDS:
        assert f"kind: {name}" in blob or f"use: se_block" in blob and name in ("multiply",), name
    for option in ("ceil_mode: true", "count_include_pad: false", "padding: same", "dilation: 2", "gelu",
                   "output_padding: 1", "pixel_shuffle", "pixel_unshuffle", "mode: bilinear",
                   "align_corners: true", "layer_norm", "group_norm", "instance_norm", "prelu",
                   "kind: scale", "kind: shift", "shared: true", "subtract", "kind: divide", "kind: crop", "kind: slice",
                   "approximate: tanh", "leaky_relu", "elu", "mish", "silu", "hard_tanh", "softplus",
                   "depth_multiplier: 2", "keepdims: true", "groups: 2", "fn: softmax", "kind: relu6",
                   "inputs: [input"):
        assert option in blob, option
    assert sum(t.startswith("name: random\ninput: [") and t.split("\n")[1].count(",") == 0 for t in texts) > 5


def test_the_1d_and_3d_stream_covers_its_kinds_on_both_ranks():
    """The networks of 1-D and 3-D maps among the first 600 seeds draw every kind of that
    stream on sequences and on volumes (the suite runs CNNCOST_DIFF_SEEDS of them)."""
    import random
    seeds = [s for s in range(600) if random.Random(s + 2_000_029).random() >= differential.SEQUENCES
             and random.Random(s + 4_000_037).random() < differential.ND_MAPS]
    texts = [differential.network(seed) for seed in seeds]
    for rank in (1, 3):
        blob = "\n".join(t for t in texts if f"rank: {rank}," in t)
        for kind in ("kind: conv,", "depthwise_conv", "separable_conv", "conv_transpose", "max_pool", "avg_pool",
                     "adaptive_avg_pool", "global_", "batch_norm", "instance_norm", "group_norm", "zero_pad",
                     "mode: reflect", "mode: edge", "kind: crop", "mode: linear", "mode: nearest"):
            assert kind in blob, (rank, kind)
