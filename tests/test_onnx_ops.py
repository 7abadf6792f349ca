"""Every ONNX operator the import maps, in a small graph built with onnx.helper: the
imported spec counts what it should, and our executor on the file's own weights gives
what onnxruntime gives on the file (the independent engine is the judge of semantics)."""
import math

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cnncost.api import analyze  # noqa: E402
from cnncost.errors import SpecError  # noqa: E402
from cnncost.runtime import executor, onnxruntime_engine  # noqa: E402
from cnncost.sources import open_source

RNG = np.random.default_rng(0)
N, C, H, W = 1, 4, 6, 6


def w(*shape, lo=None):
    a = RNG.standard_normal(shape).astype(np.float32) * 0.5
    return np.abs(a) + lo if lo is not None else a


def i64(*values):
    return np.array(values, np.int64)


def node(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs if isinstance(outs, list) else [outs], name=f"{op}_{outs}", **attrs)


def model(nodes, inits, shape=(N, C, H, W), opset=17, out="y"):
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                          [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def agree(tmp_path, m, shape=(N, C, H, W)):
    """Import, count, run ours on the file's weights and onnxruntime on the file; compare."""
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    rep = analyze(str(path))
    x = RNG.standard_normal(shape).astype(np.float32)
    ours = executor.run(rep.graph, x.transpose(0, 2, 3, 1) if x.ndim == 4 else x,
                        executor.weights_for(rep.graph, open_source(str(path), with_weights=True))).output
    want = onnxruntime_engine.session(path.read_bytes()).run(None, {"x": x})[0]
    from cnncost.interop.onnx import reader as onnx_import   # a map output is NCHW there, a tensor's as ours
    from cnncost.interop.onnx import export as onnx_export
    held = onnx_import.import_onnx(str(path), with_weights=False).output_layouts
    want = onnx_export.to_nhwc(want, held[rep.graph.output.name])
    assert ours.shape == want.shape
    np.testing.assert_allclose(ours, want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max())))
    return rep


def kinds(rep):
    return [r.kind for r in rep.layers]


SQRT2 = np.array(math.sqrt(2), np.float32)
CASES = {
    # convolutions and dense
    "conv_grouped_dilated_no_bias": ([node("Conv", ["x", "k"], "y", group=2, dilations=[2, 2], pads=[2, 1, 2, 1],
                                           kernel_shape=[3, 3])], {"k": w(6, 2, 3, 3)}, ["conv"]),
    "conv_auto_pad_same_upper": ([node("Conv", ["x", "k", "b"], "y", strides=[2, 2], auto_pad="SAME_UPPER")],
                                 {"k": w(5, 4, 4, 4), "b": w(5)}, ["conv"]),
    "conv_transpose": ([node("ConvTranspose", ["x", "k", "b"], "y", strides=[2, 2], pads=[1, 1, 1, 1],
                             output_padding=[1, 1], group=2)], {"k": w(4, 3, 3, 3), "b": w(6)}, ["conv_transpose"]),
    "flatten_gemm": ([node("Flatten", ["x"], "f"), node("Gemm", ["f", "k", "b"], "y", transB=1)],
                     {"k": w(7, C * H * W), "b": w(7)}, ["flatten", "dense"]),
    "matmul_add_bias": ([node("Flatten", ["x"], "f"), node("MatMul", ["f", "k"], "m"), node("Add", ["m", "b"], "y")],
                        {"k": w(C * H * W, 5), "b": w(5)}, ["flatten", "dense"]),
    "channels_last_linear": ([node("Transpose", ["x"], "t", perm=[0, 2, 3, 1]), node("MatMul", ["t", "k"], "m"),
                              node("Add", ["b", "m"], "a"), node("Transpose", ["a"], "y", perm=[0, 3, 1, 2])],
                             {"k": w(C, 6), "b": w(6)}, ["dense"]),
    "view_flatten_shape_subgraph": ([node("Shape", ["x"], "s"), node("Gather", ["s", "zero"], "n", axis=0),
                                     node("Unsqueeze", ["n", "ax0"], "nu"), node("Concat", ["nu", "minus1"], "shape", axis=0),
                                     node("Reshape", ["x", "shape"], "r"), node("Gemm", ["r", "k"], "y", transB=1)],
                                    {"zero": np.array(0, np.int64), "ax0": i64(0), "minus1": i64(-1), "k": w(3, C * H * W)},
                                    ["flatten", "dense"]),
    # normalisation
    "batch_norm": ([node("BatchNormalization", ["x", "g", "b", "m", "v"], "y", epsilon=1e-3)],
                   {"g": w(C), "b": w(C), "m": w(C), "v": w(C, lo=0.5)}, ["batch_norm"]),
    "instance_norm_learned": ([node("InstanceNormalization", ["x", "g", "b"], "y")], {"g": w(C), "b": w(C)},
                              ["instance_norm"]),
    "group_norm_pattern": ([node("Reshape", ["x", "s3"], "r"), node("InstanceNormalization", ["r", "ones", "zeros"], "n"),
                            node("Shape", ["x"], "xs"), node("Reshape", ["n", "xs"], "r2"),
                            node("Mul", ["r2", "g"], "m"), node("Add", ["m", "b"], "y")],
                           {"s3": i64(0, 2, -1), "ones": np.ones(2, np.float32), "zeros": np.zeros(2, np.float32),
                            "g": w(C, 1, 1), "b": w(C, 1, 1)}, ["group_norm"]),
    "layer_norm_channels_last": ([node("Transpose", ["x"], "t", perm=[0, 2, 3, 1]),
                                  node("LayerNormalization", ["t", "g", "b"], "n", axis=-1, epsilon=1e-6),
                                  node("Transpose", ["n"], "y", perm=[0, 3, 1, 2])],
                                 {"g": w(C), "b": w(C)}, ["layer_norm"]),
    "lrn_odd": ([node("LRN", ["x"], "y", size=3, alpha=1e-3, beta=0.75, bias=2.0)], {}, ["lrn"]),
    # activations
    "relu_clip_leaky_elu": ([node("Relu", ["x"], "a"), node("Clip", ["a", "lo", "hi"], "b"),
                             node("LeakyRelu", ["b"], "c", alpha=0.2), node("Elu", ["c"], "y", alpha=0.5)],
                            {"lo": np.array(0, np.float32), "hi": np.array(6, np.float32)},
                            ["relu", "relu6", "leaky_relu", "elu"]),
    "sigmoid_tanh_softplus_hard": ([node("Sigmoid", ["x"], "a"), node("Tanh", ["a"], "b"), node("Softplus", ["b"], "c"),
                                    node("HardSigmoid", ["c"], "d", alpha=1 / 6, beta=0.5),
                                    node("HardSwish", ["d"], "y")], {}, ["sigmoid", "tanh", "softplus"]),
    "prelu_per_channel_and_shared": ([node("PRelu", ["x", "s"], "a"), node("PRelu", ["a", "one"], "y")],
                                     {"s": w(C, 1, 1), "one": np.array([0.25], np.float32)}, ["prelu", "prelu"]),
    "softmax_channels": ([node("Softmax", ["x"], "y", axis=1)], {}, ["softmax"]),
    "gelu_erf_torch_spelling": ([node("Div", ["x", "r2"], "d"), node("Erf", ["d"], "e"), node("Add", ["e", "one"], "a"),
                                 node("Mul", ["x", "a"], "m"), node("Mul", ["m", "half"], "y")],
                                {"r2": SQRT2, "one": np.array(1, np.float32), "half": np.array(0.5, np.float32)}, ["gelu"]),
    "silu_and_hard_swish_spelled": ([node("Sigmoid", ["x"], "s"), node("Mul", ["x", "s"], "a"),
                                     node("HardSigmoid", ["a"], "h", alpha=1 / 6, beta=0.5), node("Mul", ["a", "h"], "y")],
                                    {}, ["silu", "hard_swish"]),
    "mish_spelled": ([node("Softplus", ["x"], "s"), node("Tanh", ["s"], "t"), node("Mul", ["x", "t"], "y")], {}, ["mish"]),
    # element-wise with constants and tensors
    "constants_broadcast": ([node("Mul", ["x", "g"], "a"), node("Add", ["a", "s"], "b"), node("Sub", ["b", "c"], "c2"),
                             node("Div", ["c2", "d"], "y")],
                            {"g": w(C, 1, 1), "s": np.array(0.3, np.float32), "c": w(1, C, 1, 1),
                             "d": np.array([2.0], np.float32)}, ["scale", "shift", "shift", "scale"]),
    "tensors_add_sub_div_sum": ([node("Relu", ["x"], "r"), node("Sigmoid", ["x"], "s"), node("Add", ["x", "r"], "a"),
                                 node("Sub", ["a", "s"], "b"), node("Div", ["b", "s"], "c"),
                                 node("Sum", ["c", "x", "r"], "y")], {}, ["add", "subtract", "divide", "add"]),
    "squeeze_excitation": ([node("GlobalAveragePool", ["x"], "p"), node("Conv", ["p", "k1", "b1"], "c1"),
                            node("Relu", ["c1"], "r"), node("Conv", ["r", "k2", "b2"], "c2"),
                            node("Sigmoid", ["c2"], "g"), node("Mul", ["x", "g"], "y")],
                           {"k1": w(2, C, 1, 1), "b1": w(2), "k2": w(C, 2, 1, 1), "b2": w(C)}, ["multiply"]),
    "vector_unsqueezed_gate": ([node("ReduceMean", ["x"], "p", axes=[2, 3], keepdims=0), node("Sigmoid", ["p"], "g"),
                                node("Unsqueeze", ["g", "ax"], "u"), node("Mul", ["x", "u"], "y")],
                               {"ax": i64(2, 3)}, ["global_avg_pool", "multiply"]),
    # pooling
    "pools": ([node("MaxPool", ["x"], "a", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
               node("AveragePool", ["a"], "b", kernel_shape=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
               node("GlobalMaxPool", ["b"], "y")], {}, ["max_pool", "avg_pool", "global_max_pool"]),
    "global_average_then_squeeze": ([node("GlobalAveragePool", ["x"], "p"), node("Squeeze", ["p", "ax"], "y")],
                                    {"ax": i64(2, 3)}, ["global_avg_pool", "flatten"]),
    # moving data
    "concat_split_slice": ([node("Split", ["x", "sp"], ["a", "b"], axis=1), node("Concat", ["b", "a"], "c", axis=1),
                            node("Slice", ["c", "st", "en", "ax"], "y")],
                           {"sp": i64(1, 3), "st": i64(1), "en": i64(3), "ax": i64(1)}, ["slice", "slice", "concat"]),
    "centre_crop_slice": ([node("Slice", ["x", "st", "en", "ax"], "y")],
                          {"st": i64(1, 1), "en": i64(5, 5), "ax": i64(2, 3)}, ["crop"]),
    "channel_shuffle": ([node("Reshape", ["x", "s5"], "r"), node("Transpose", ["r"], "t", perm=[0, 2, 1, 3, 4]),
                         node("Reshape", ["t", "s4"], "y")], {"s5": i64(1, 2, 2, H, W), "s4": i64(1, -1, H, W)},
                        ["channel_shuffle"]),
    "pixel_shuffle_and_unshuffle": ([node("DepthToSpace", ["x"], "d", blocksize=2, mode="CRD"),
                                     node("Reshape", ["d", "s6"], "r"), node("Transpose", ["r"], "t", perm=[0, 1, 3, 5, 2, 4]),
                                     node("Reshape", ["t", "s4"], "y")],
                                    {"s6": i64(1, 1, H, 2, W, 2), "s4": i64(1, 4, H, W)},
                                    ["pixel_shuffle", "pixel_unshuffle"]),
    "pad_and_resize": ([node("Pad", ["x", "pads"], "p"),
                        node("Resize", ["p", "", "sc"], "a", mode="nearest", coordinate_transformation_mode="asymmetric",
                             nearest_mode="floor"),
                        node("Resize", ["a", "", "", "sz"], "b", mode="linear",
                             coordinate_transformation_mode="align_corners"),
                        node("Resize", ["b", "", "", "sz2"], "y", mode="linear",
                             coordinate_transformation_mode="pytorch_half_pixel")],
                       {"pads": i64(0, 0, 1, 0, 0, 0, 1, 2), "sc": np.array([1, 1, 2, 2], np.float32),
                        "sz": i64(1, C, 11, 9), "sz2": i64(1, C, 20, 20)}, ["zero_pad", "upsample", "upsample", "upsample"]),
    "dropout_identity_cast_expand": ([node("Dropout", ["x", "ratio"], "d"), node("Identity", ["d"], "i"),
                                      node("Cast", ["i"], "c", to=TensorProto.FLOAT), node("Expand", ["c", "shape"], "y")],
                                     {"ratio": np.array(0.2, np.float32), "shape": i64(1, 1, 1)}, ["dropout"]),
    "constant_nodes_fold": ([helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(w(3, C, 1, 1))),
                             helper.make_node("Constant", [], ["two"], value_float=2.0),
                             node("Conv", ["x", "k"], "c"), node("Mul", ["c", "two"], "y")], {}, ["conv", "binary"]),
    # beyond the map world's spellings: read as the operator it is, on the model's own order
    "transpose_any": ([node("Transpose", ["x"], "y", perm=[0, 1, 3, 2])], {}, ["transpose"]),
    "pow_scalar": ([node("Pow", ["x", "two"], "y")], {"two": np.array(2, np.float32)}, ["binary"]),
    "mul_full_constant": ([node("Mul", ["x", "full"], "y")], {"full": w(C, H, W)}, ["constant", "binary"]),
    # slices backwards (ONNX's clamping: a start past the end is the last position, an end
    # below -size is past position 0) and pads of any value, of any tensor
    "slice_channels_reversed": ([node("Slice", ["x", "st", "en", "ax", "sp"], "y")],
                                {"st": i64(-1), "en": i64(-(2**63)), "ax": i64(1), "sp": i64(-1)}, ["slice"]),
    "slice_rows_reversed_columns_every_other_back": (
        [node("Slice", ["x", "st", "en", "ax", "sp"], "y")],
        {"st": i64(100, 4), "en": i64(-100, 0), "ax": i64(2, 3), "sp": i64(-1, -2)}, ["slice"]),
    "slice_tensor_reversed": ([node("Reshape", ["x", "sh"], "t"), node("Slice", ["t", "st", "en", "ax", "sp"], "y")],
                              {"sh": i64(1, C, H * W), "st": i64(-2), "en": i64(3), "ax": i64(-1), "sp": i64(-3)},
                              ["slice"]),
    "pad_map_with_a_value_and_channels": ([node("Pad", ["x", "pads", "v"], "y")],
                                          {"pads": i64(0, 1, 1, 2, 0, 0, 2, 1), "v": np.array(0.5, np.float32)},
                                          ["pad"]),
    "pad_negative_crops_then_pads": ([node("Pad", ["x", "pads"], "y")], {"pads": i64(0, 0, -1, -1, 0, 0, 1, 1)},
                                     ["slice", "zero_pad"]),
    "pad_tensor_with_ones": ([node("Reshape", ["x", "sh"], "t"), node("Pad", ["t", "pads", "one"], "y")],
                             {"sh": i64(1, 2, 2, H * W), "pads": i64(0, 0, 0, 0, 0, 0, 1, 0),
                              "one": np.array(1, np.float32)}, ["pad"]),
    "pad_reflect_then_edge": ([node("Pad", ["x", "p1"], "t", mode="reflect"), node("Pad", ["t", "p2"], "y", mode="edge")],
                              {"p1": i64(0, 0, 2, 1, 0, 0, 3, 5), "p2": i64(0, 0, 4, 0, 0, 0, 1, 2)}, ["pad"]),
    "resize_cubic": ([node("Resize", ["x", "", "", "sz"], "y", mode="cubic", cubic_coeff_a=-0.75,
                           coordinate_transformation_mode="half_pixel")], {"sz": i64(N, C, 11, 4)}, ["upsample"]),
    "resize_cubic_align_corners": ([node("Resize", ["x", "", "sc"], "y", mode="cubic", cubic_coeff_a=-0.75,
                                         coordinate_transformation_mode="align_corners")],
                                   {"sc": np.array([1, 1, 2, 2], np.float32)}, ["upsample"]),
}

ND_CASES = {
    # 1-D and 3-D maps, channels first as exporters write them: (N, C, T) and (N, C, D, H, W)
    "conv_transpose_1d": ((N, C, 9), [node("ConvTranspose", ["x", "k", "b"], "y", strides=[2], pads=[1, 2],
                                           output_padding=[1], dilations=[2])], {"k": w(C, 3, 4), "b": w(3)},
                          ["conv_transpose"]),
    "reflect_pad_conv_1d": ((N, C, 9), [node("Pad", ["x", "p"], "t", mode="reflect"),
                                        node("Conv", ["t", "k"], "y", kernel_shape=[3])],
                            {"p": i64(0, 0, 2, 0, 0, 3), "k": w(5, C, 3)}, ["pad", "conv"]),
    "resize_linear_1d": ((N, C, 7), [node("Resize", ["x", "", "", "sz"], "y", mode="linear",
                                          coordinate_transformation_mode="half_pixel")], {"sz": i64(N, C, 17)},
                         ["upsample"]),
    "conv_transpose_3d_trilinear": ((N, 2, 3, 4, 5), [
        node("ConvTranspose", ["x", "k"], "t", strides=[1, 2, 2], pads=[0, 1, 1, 0, 1, 1]),
        node("Resize", ["t", "", "", "sz"], "y", mode="linear", coordinate_transformation_mode="pytorch_half_pixel")],
        {"k": w(2, 3, 2, 3, 3), "sz": i64(N, 3, 6, 5, 9)}, ["conv_transpose", "upsample"]),
    "edge_pad_3d": ((N, 2, 3, 4, 5), [node("Pad", ["x", "p"], "y", mode="edge")],
                    {"p": i64(0, 0, 1, 0, 2, 0, 0, 0, 1, 3)}, ["pad"]),
}


@pytest.mark.parametrize("case", ND_CASES)
def test_1d_and_3d_operators_agree_with_onnxruntime(case, tmp_path):
    shape, nodes, inits, want = ND_CASES[case]
    rep = agree(tmp_path, model(nodes, inits, shape=shape), shape=shape)
    assert all(k in kinds(rep) for k in want), kinds(rep)


@pytest.mark.parametrize("case", CASES)
def test_operator_agrees_with_onnxruntime(case, tmp_path):
    nodes, inits, want = CASES[case]
    rep = agree(tmp_path, model(nodes, inits))
    got = kinds(rep)
    for k in want:
        assert k in got, (k, got)


@pytest.mark.parametrize("opset", [13, 17, 18, 20])
def test_opsets_spell_the_same_network(opset, tmp_path):
    """Axes move from attributes to inputs (13, 18); Gelu and Mish become nodes (20, 18)."""
    axes = {"axes": [2, 3]} if opset < 18 else {}
    nodes = [node("ReduceMean", ["x"] + (["ax"] if opset >= 18 else []), "p", keepdims=1, **axes),
             node("Mul", ["x", "p"], "m")]
    if opset >= 20:
        nodes.append(node("Gelu", ["m"], "y"))
    elif opset >= 18:
        nodes.append(node("Mish", ["m"], "y"))
    else:
        nodes += [node("Mul", ["m", "inv"], "d"), node("Erf", ["d"], "e"), node("Add", ["one", "e"], "a"),
                  node("Mul", ["m", "half"], "h"), node("Mul", ["h", "a"], "y")]
    inits = {"ax": i64(2, 3), "inv": np.array(1 / math.sqrt(2), np.float32), "one": np.array(1, np.float32),
             "half": np.array(0.5, np.float32)}
    rep = agree(tmp_path, model(nodes, inits, opset=opset))
    assert kinds(rep)[-1] in ("gelu", "mish")


def test_layer_norm_spelled_before_opset_17(tmp_path):
    nodes = [node("Transpose", ["x"], "t", perm=[0, 2, 3, 1]), node("ReduceMean", ["t"], "mu", axes=[-1]),
             node("Sub", ["t", "mu"], "d"), node("Pow", ["d", "two"], "sq"), node("ReduceMean", ["sq"], "var", axes=[-1]),
             node("Add", ["var", "eps"], "ve"), node("Sqrt", ["ve"], "sd"), node("Div", ["d", "sd"], "n"),
             node("Mul", ["n", "g"], "ng"), node("Add", ["ng", "b"], "nb"), node("Transpose", ["nb"], "y", perm=[0, 3, 1, 2])]
    inits = {"two": np.array(2, np.float32), "eps": np.array(1e-6, np.float32), "g": w(C), "b": w(C)}
    rep = agree(tmp_path, model(nodes, inits, opset=13))
    assert kinds(rep) == ["layer_norm"] and rep.totals["params"] == 2 * C


def test_exact_counts_of_an_imported_block(tmp_path):
    """Closed form: conv 3x3 (4 -> 6, pad 1) on 6x6 = 36 x 6 x 36 MACs; its weights 6x4x3x3 + 6."""
    nodes = [node("Conv", ["x", "k", "b"], "c", pads=[1, 1, 1, 1], kernel_shape=[3, 3]), node("Relu", ["c"], "y")]
    rep = agree(tmp_path, model(nodes, {"k": w(6, 4, 3, 3), "b": w(6)}))
    assert rep.totals["mults"] == 36 * 6 * 36 and rep.totals["params"] == 6 * 4 * 9 + 6


def test_shared_initializers_are_counted_once_and_said(tmp_path):
    """Exporters deduplicate equal tensors through Identity: the file holds the bias once, the
    second conv shares it (its params are its own kernel alone)."""
    nodes = [node("Identity", ["b"], "b2"), node("Conv", ["x", "k", "b"], "c1", kernel_shape=[1, 1]),
             node("Conv", ["c1", "k2", "b2"], "y", kernel_shape=[1, 1])]
    rep = agree(tmp_path, model(nodes, {"k": w(4, 4, 1, 1), "k2": w(4, 4, 1, 1), "b": w(4)}))
    assert rep.totals["params"] == 16 + 4 + 16 and rep.totals["shared_params"] == 4
    assert [r.shares for r in rep.layers] == [{}, {"bias": f"{rep.layers[0].name}/bias"}]
    assert "1 tensors are used by several layers, counted once" in rep.source and "BatchNorm folded" in rep.source


@pytest.mark.parametrize("nodes, inits, message", [
    ([node("Resize", ["x", "", "sc"], "y", mode="cubic", cubic_coeff_a=-0.5)],
     {"sc": np.array([1, 1, 2, 2], np.float32)}, "cubic_coeff_a -0.5"),
    ([node("Pad", ["x", "pads"], "y", mode="wrap")], {"pads": i64(0, 0, 1, 1, 0, 0, 1, 1)}, "wrap padding"),
    ([node("Slice", ["x", "st", "en", "ax", "sp"], "y")],
     {"st": i64(-1), "en": i64(-100), "ax": i64(0), "sp": i64(-1)}, "is the batch"),
    ([node("Pad", ["x", "pads", "v"], "p"), node("Relu", ["p"], "y")],
     {"pads": i64(0, 0, 1, 1, 0, 0, 1, 1), "v": np.array(-np.inf, np.float32)}, "other than in front of max pools"),
    ([node("LRN", ["x"], "y", size=4)], {}, "even size 4"),
    ([node("MatMul", ["x", "vec"], "y")], {"vec": w(W)}, "1-D operand"),
    ([node("DepthToSpace", ["x"], "y", blocksize=2, mode="DCR")], {}, "DCR"),
])
def test_what_has_no_kind_is_refused_naming_the_node(nodes, inits, message, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(model(nodes, inits), str(path))
    with pytest.raises(SpecError, match="unsupported ONNX operators as used here") as info:
        analyze(str(path))
    assert message in str(info.value) and nodes[0].name in str(info.value)


def test_proto_reader_reads_what_onnx_reads(tmp_path):
    """Our reader against onnx.load on one model of every attribute and data form."""
    from cnncost.interop.onnx.proto import read_model

    t = helper.make_tensor("typed", TensorProto.FLOAT, [2, 3], [1.5, -2, 3, 4, 5, 6])   # float_data
    i = helper.make_tensor("ints", TensorProto.INT64, [3], [-1, 0, 2 ** 40])           # int64_data
    h = numpy_helper.from_array(np.array([0.5, -1], np.float16), "half")
    nodes = [node("Conv", ["x", "k"], "y", kernel_shape=[1, 1], pads=[0, 0, 0, 0], strides=[1, 1]),
             helper.make_node("Constant", [], ["c"], name="const", value_floats=[1.0, 2.5]),
             helper.make_node("Constant", [], ["s"], name="str", value_string="hello")]
    m = model(nodes, {"k": w(4, 4, 1, 1)})
    m.graph.initializer.extend([t, i, h])
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    ours, theirs = read_model(str(path)), onnx.load(str(path))
    assert ours.opsets == {"": 17} and ours.ir_version == theirs.ir_version
    for a, b in zip(ours.graph.nodes, theirs.graph.node):
        assert (a.op, a.name, a.inputs, a.outputs) == (b.op_type, b.name, list(b.input), list(b.output))
        for attr in b.attribute:
            v = helper.get_attribute_value(attr)
            v = v.decode() if isinstance(v, bytes) else v
            assert a.attrs[attr.name] == pytest.approx(v) if not isinstance(v, str) else a.attrs[attr.name] == v
    for tensor in theirs.graph.initializer:
        np.testing.assert_array_equal(ours.graph.initializers[tensor.name].value(), numpy_helper.to_array(tensor))
    assert ours.graph.inputs[0].dims == [N, C, H, W]


def test_external_data_is_read_only_when_running(tmp_path):
    k = w(4, 4, 1, 1)
    path = tmp_path / "m.onnx"
    onnx.save(model([node("Conv", ["x", "k"], "y", kernel_shape=[1, 1])], {"k": k}), str(path),
              save_as_external_data=True, location="m.data", size_threshold=0)
    rep = analyze(str(path))
    assert rep.totals["params"] == 16 and rep.totals["mults"] == 16 * H * W
    weights = executor.weights_for(rep.graph, open_source(str(path), with_weights=True))
    np.testing.assert_array_equal(next(iter(weights.values())), k.transpose(2, 3, 1, 0))
    (tmp_path / "m.data").unlink()
    assert analyze(str(path)).totals["mults"] == 16 * H * W          # counting needs no data
    with pytest.raises(SpecError, match="cannot read its external data"):
        executor.weights_for(rep.graph, open_source(str(path), with_weights=True))


def test_a_flattened_nchw_vector_keeps_its_feature_order_through_pointwise_layers(tmp_path):
    """Flatten of an NCHW map orders features C, H, W; ours H, W, C. Activations, dropout,
    per-feature constants and BatchNorm1d between the Flatten and the dense layer carry
    that order, and their weights are reordered like the dense layer's rows."""
    f = C * H * W
    nodes = [node("Flatten", ["x"], "f"), node("Relu", ["f"], "r"), node("Dropout", ["r"], "d"),
             node("Mul", ["d", "g"], "m"), node("BatchNormalization", ["m", "bg", "bb", "bm", "bv"], "n"),
             node("Gemm", ["n", "k", "b"], "y", transB=1)]
    inits = {"g": w(f), "bg": w(f), "bb": w(f), "bm": w(f), "bv": w(f, lo=0.5), "k": w(5, f), "b": w(5)}
    rep = agree(tmp_path, model(nodes, inits))
    assert kinds(rep) == ["flatten", "relu", "dropout", "scale", "batch_norm", "dense"]
    nodes = [node("Flatten", ["x"], "f"), node("Split", ["f"], ["a", "b"], axis=1, num_outputs=2),
             node("Add", ["a", "b"], "y")]
    path = tmp_path / "split.onnx"
    onnx.save(model(nodes, {}, opset=18), str(path))
    with pytest.raises(SpecError, match="C, H, W order"):
        analyze(str(path))


def test_a_pad_of_minus_infinity_before_a_max_pool_is_the_pools_padding(tmp_path):
    """timm's MaxPool2dSame (NASNet, PNASNet, TF ports) pads with -inf and pools unpadded:
    one max pool with that padding, no layer of its own."""
    nodes = [node("Pad", ["x", "pads", "v"], "p"),
             node("MaxPool", ["p"], "y", kernel_shape=[3, 3], strides=[2, 2])]
    rep = agree(tmp_path, model(nodes, {"pads": i64(0, 0, 0, 1, 0, 0, 1, 1), "v": np.array(-np.inf, np.float32)}))
    assert kinds(rep) == ["max_pool"]
    assert list(rep.layers[0].output_shape) == [3, 3, C]


def test_a_convolution_of_maps_folded_into_the_batch(tmp_path):
    """EfficientViT-M's attention: a 6x6 map cut into four 3x3 windows that the file folds
    into its batch axis (4 x C x 3 x 3 at batch 1), each convolved on its own: a conv, a batch
    norm, a ReLU and a depthwise 3x3 on a stack of four maps, MACs four times one window's."""
    f = 8
    nodes = [node("Reshape", ["x", "s6"], "a"), node("Transpose", ["a"], "b", perm=[0, 2, 4, 1, 3, 5]),
             node("Reshape", ["b", "s4"], "win"), node("Conv", ["win", "k", "kb"], "c"),
             node("BatchNormalization", ["c", "g", "be", "m", "v"], "n"), node("Relu", ["n"], "r"),
             node("Conv", ["r", "dk"], "d", group=f, pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
             node("Reshape", ["d", "back"], "y")]
    inits = {"s6": i64(1, C, 2, 3, 2, 3), "s4": i64(4, C, 3, 3), "k": w(f, C, 1, 1), "kb": w(f),
             "g": w(f, lo=0.5), "be": w(f), "m": w(f), "v": w(f, lo=0.5), "dk": w(f, 1, 3, 3),
             "back": i64(1, 4 * f * 9)}
    rep = agree(tmp_path, model(nodes, inits))
    convs = [r for r in rep.layers if r.kind == "conv"]
    assert [r.mults for r in convs] == [4 * 3 * 3 * f * C, 4 * 3 * 3 * f * 9]
    assert list(convs[0].output_shape) == [4, 3, 3, f]
    assert rep.totals["params"] == sum(a.size for k, a in inits.items() if k in ("k", "kb", "g", "be", "dk"))


def test_a_channel_shuffle_quantized_between_its_reshape_and_transpose(tmp_path):
    """onnxruntime's quantizer puts a Quantize/DequantizeLinear pair between the Reshape and
    the Transpose of ShuffleNet's channel shuffle: element-wise, they keep the grouped view
    (refused before: 'received a grouped tensor')."""
    nodes = [node("Reshape", ["x", "g"], "r"), node("QuantizeLinear", ["r", "s", "z"], "q"),
             node("DequantizeLinear", ["q", "s", "z"], "d"), node("Transpose", ["d"], "t", perm=[0, 2, 1, 3, 4]),
             node("Reshape", ["t", "back"], "y")]
    inits = {"g": i64(N, 2, C // 2, H, W), "back": i64(N, C, H, W), "s": np.array(0.02, np.float32),
             "z": np.array(0, np.int8)}
    rep = agree(tmp_path, model(nodes, inits))
    assert kinds(rep) == ["quantize", "quantize", "channel_shuffle"]
