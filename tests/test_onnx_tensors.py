"""ONNX graphs that leave the map world, built with onnx.helper (no torch): attention, the
unbind of q, k and v, a batch folded into other axes, reductions, scans, einsum, folded
masks, several inputs and outputs. Each is imported, counted against its closed form, and
run by our executor against onnxruntime on the file itself (every output)."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import cnncost  # noqa: E402
from cnncost.errors import SpecError  # noqa: E402

RNG = np.random.default_rng(3)
T, D, HEADS = 5, 8, 2          # tokens, features, heads of the attention graphs


def w(*shape):
    return (RNG.standard_normal(shape) * 0.3).astype(np.float32)


def i64(*values):
    return np.array(values, np.int64)


def n(op, ins, outs, **attrs):
    outs = outs if isinstance(outs, list) else [outs]
    return helper.make_node(op, ins, outs, name=f"/{op.lower()}_{outs[0]}/{op}", **attrs)


def save(tmp_path, nodes, inits, inputs=(("x", (1, T, D)),), outputs=("y",)):
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(s)) for k, s in inputs],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    return str(path)


def agrees(path, **kw):
    """Our count, and our executor against onnxruntime on the file (every output)."""
    rep = cnncost.report(path, **kw)
    v = cnncost.verify(path, engine="onnxruntime", **kw)
    assert v.ok, v.failures()
    files = [r for r in v.to_dict()["engine"]["layers"] if "(the file, end to end)" in r["name"]]
    assert files and all(r["ok"] for r in files)
    return rep


def attention(prefix="a", unbind="split"):
    """Multi-head self-attention as timm exports it: qkv, reshape, permute(2,0,3,1,4),
    unbind, q.k^T scaled, softmax, .v, back to tokens, projection."""
    hd = D // HEADS
    nodes = [helper.make_node("Constant", [], ["scale"], name="/scale/Constant", value_float=hd ** -0.5),
             n("MatMul", ["x", "wqkv"], "qkv"),
             n("Reshape", ["qkv", "s5"], "qkv5"),
             n("Transpose", ["qkv5"], "perm", perm=[2, 0, 3, 1, 4])]
    if unbind == "split":
        nodes += [n("Split", ["perm", "ones"], ["q3", "k3", "v3"], axis=0)]
        nodes += [n("Squeeze", [f"{t}3", "zero"], t) for t in "qkv"]
    else:
        nodes += [n("Gather", ["perm", f"i{k}"], t, axis=0) for k, t in enumerate("qkv")]
    nodes += [n("Transpose", ["k"], "kt", perm=[0, 1, 3, 2]),
              n("MatMul", ["q", "kt"], "s"), n("Mul", ["s", "scale"], "ss"),
              n("Softmax", ["ss"], "p", axis=-1), n("MatMul", ["p", "v"], "o"),
              n("Transpose", ["o"], "ot", perm=[0, 2, 1, 3]), n("Reshape", ["ot", "s3"], "o3"),
              n("MatMul", ["o3", "wproj"], "y")]
    inits = {"wqkv": w(D, 3 * D), "s5": i64(1, T, 3, HEADS, hd), "ones": i64(1, 1, 1), "zero": i64(0),
             "s3": i64(1, T, D), "wproj": w(D, D),
             "i0": np.array(0, np.int64), "i1": np.array(1, np.int64), "i2": np.array(2, np.int64)}
    return nodes, inits


@pytest.mark.parametrize("unbind", ["split", "gather"])
def test_attention_as_timm_exports_it(tmp_path, unbind):
    rep = agrees(save(tmp_path, *attention(unbind=unbind)))
    hd = D // HEADS
    t = rep.to_dict()["totals"]
    dense = T * D * 3 * D + T * D * D
    products = 2 * HEADS * T * T * hd           # q.k^T and p.v
    assert t["mults"] == dense + products
    assert t["mults_by_class"]["attention"] == products and t["mults_by_class"]["dense"] == dense
    assert t["params"] == D * 3 * D + D * D      # the scale is a Constant node's: no weight of the file
    rows = {r.kind for r in rep.report.layers}
    assert {"matmul", "softmax", "gather", "transpose", "reshape", "dense"} <= rows


def test_a_batch_folded_into_other_axes_is_read_as_one_example(tmp_path):
    """MobileViT's unfold: the batch merged into the first axis, back at the end."""
    c, h = 4, 4
    nodes = [n("Reshape", ["x", "fold"], "f"), n("Transpose", ["f"], "ft", perm=[0, 2, 1, 3]),
             n("Reshape", ["ft", "tok"], "tokens"), n("MatMul", ["tokens", "wt"], "m"),
             n("Reshape", ["m", "back"], "b"), n("Conv", ["b", "k"], "y", kernel_shape=[1, 1])]
    inits = {"fold": i64(-1, 2, 2, 2), "tok": i64(-1, 4, 2), "wt": w(2, 2), "back": i64(-1, c, h, h),
             "k": w(3, c, 1, 1)}
    rep = agrees(save(tmp_path, nodes, inits, inputs=(("x", (1, c, h, h)),)))
    assert rep.to_dict()["totals"]["mults"] == c * 2 * 4 * 2 * 2 + h * h * 3 * c
    with pytest.raises(SpecError, match="reads such a model at batch 1"):
        cnncost.report(save(tmp_path, nodes, inits, inputs=(("x", (2, c, h, h)),)))


@pytest.mark.parametrize("name,nodes,inits,mults", [
    ("reduce_and_cumsum", [n("ReduceMean", ["x"], "m", axes=[1], keepdims=1), n("Sub", ["x", "m"], "c"),
                           n("CumSum", ["c", "ax"], "s"), n("ReduceMax", ["s"], "y", axes=[2], keepdims=0)],
     {"ax": np.array(1, np.int64)}, 0),
    ("einsum_and_unary", [n("Einsum", ["x", "x"], "e", equation="bnd,bmd->bnm"), n("Erf", ["e"], "r"),
                          n("Exp", ["r"], "y")], {}, T * T * D),
    ("einsum_with_a_table", [n("Einsum", ["x", "tab"], "y", equation="bnd,dk->bnk")], {"tab": w(D, 3)}, T * D * 3),
    ("slices_and_concat", [n("Slice", ["x", "st", "en", "axs", "sp"], "a"), n("Concat", ["a", "a"], "y", axis=1)],
     {"st": i64(0, 1), "en": i64(5, 8), "axs": i64(1, 2), "sp": i64(2, 3)}, 0),
    ("class_token_and_positions", [n("Expand", ["cls", "shape"], "ce"), n("Concat", ["ce", "x"], "cat", axis=1),
                                   n("Add", ["cat", "pos"], "y")],
     {"cls": w(1, 1, D), "shape": i64(1, 1, D), "pos": w(1, T + 1, D)}, 0),
    ("layer_norm_and_gelu", [n("LayerNormalization", ["x", "g", "b"], "l", axis=-1, epsilon=1e-6),
                             n("Div", ["l", "sq2"], "d"), n("Erf", ["d"], "e"), n("Add", ["e", "one"], "a"),
                             n("Mul", ["l", "a"], "m"), n("Mul", ["m", "half"], "y")],
     {"g": w(D), "b": w(D), "sq2": np.array(2 ** 0.5, np.float32), "one": np.array(1, np.float32),
      "half": np.array(0.5, np.float32)}, 0),
    ("a_folded_mask", [n("Range", ["z", "t", "o"], "r"), n("Unsqueeze", ["r", "ax0"], "r2"),
                       n("ScatterND", ["zeros", "idx", "upd"], "mask"), n("Cast", ["mask"], "mf", to=TensorProto.FLOAT),
                       n("Add", ["x", "mf"], "y")],
     {"z": np.array(0, np.int64), "t": np.array(T, np.int64), "o": np.array(1, np.int64), "ax0": i64(0),
      "zeros": np.zeros((T, D), np.float32), "idx": i64(0, 2).reshape(2, 1), "upd": np.full((2, D), -100, np.float32)}, 0),
])
def test_tensor_operator_graphs_agree_with_onnxruntime(tmp_path, name, nodes, inits, mults):
    rep = agrees(save(tmp_path, nodes, inits))
    assert rep.to_dict()["totals"]["mults"] == mults, name


def test_several_inputs_and_outputs(tmp_path):
    nodes = [n("MatMul", ["x", "mem"], "s"), n("Softmax", ["s"], "p", axis=-1), n("Relu", ["p"], "y"),
             n("ReduceSum", ["s", "ax"], "z", keepdims=0)]
    path = save(tmp_path, nodes, {"ax": i64(2)}, inputs=(("x", (1, T, D)), ("mem", (1, "m", 3))),
                outputs=("y", "z"))
    with pytest.raises(SpecError, match=r"input 'mem' has dynamic dimensions.*--input-shape mem="):
        cnncost.report(path)
    shape = "x=1x5x8,mem=1x8x3"
    rep = agrees(path, input_shape=shape)
    assert rep.report.inputs == {"x": [T, D], "mem": [D, 3]} and len(rep.report.outputs) == 2
    assert rep.to_dict()["totals"]["mults_by_class"]["attention"] == T * 3 * D


@pytest.mark.parametrize("nodes,inits,message", [
    ([n("TopK", ["x", "k"], ["y", "i"], axis=-1)], {"k": i64(2)}, "TopK"),
    ([n("ArgMax", ["x"], "am", axis=2, keepdims=0), n("Gather", ["x", "am"], "y", axis=1)], {}, "ArgMax"),
    ([n("RandomNormalLike", ["x"], "y")], {}, "RandomNormalLike"),
    ([n("NonMaxSuppression", ["x", "x"], "y")], {}, "NMS is post-processing that depends on the data: export the model without it"),
])
def test_what_cannot_be_counted_ahead_is_one_line_naming_the_node(tmp_path, nodes, inits, message):
    with pytest.raises(SpecError) as info:
        cnncost.report(save(tmp_path, nodes, inits))
    text = str(info.value)
    assert message in text and "\n" not in text


def test_a_learned_table_read_out_at_positions_stays_the_table(tmp_path):
    """LeViT's attention biases as the tracer and an unfolded export write them:
    Gather(table [HEADS, 7], positions [T, T]) added to each head's scores. The params are
    the table's 14 values, not the read-out's HEADS x T x T; the positions are a buffer."""
    offsets = np.abs(np.arange(T)[:, None] - np.arange(T)[None, :]).astype(np.int64)      # [T, T] in 0..4
    nodes = [n("Reshape", ["x", "heads"], "xh"), n("Transpose", ["xh"], "xt", perm=[0, 2, 1, 3]),
             n("Transpose", ["xt"], "kt", perm=[0, 1, 3, 2]), n("MatMul", ["xt", "kt"], "s"),
             n("Gather", ["biases", "idx"], "b", axis=1), n("Add", ["s", "b"], "y")]
    inits = {"heads": i64(1, T, HEADS, D // HEADS), "biases": w(HEADS, 7), "idx": offsets}
    rep = agrees(save(tmp_path, nodes, inits))
    t = rep.to_dict()["totals"]
    assert t["params"] == HEADS * 7
    assert t["non_trainable_params"] == T * T
    assert t["mults"] == HEADS * T * T * (D // HEADS)


def test_many_positions_of_a_layer_output_are_read_from_a_buffer(tmp_path):
    """Swin-V2's bias: a table computed by the network, read at 4,096 positions (more than
    a spec's list holds)."""
    many = np.random.default_rng(5).integers(0, D, size=(64, 64)).astype(np.int64)
    nodes = [n("Gather", ["x", "idx"], "g", axis=2), n("ReduceMax", ["g"], "y", axes=[3], keepdims=0)]
    rep = agrees(save(tmp_path, nodes, {"idx": many}))
    (gather,) = [r for r in rep.report.layers if r.kind == "gather"]
    assert gather.output_shape == [T, 64, 64] and gather.params == 0
    assert rep.to_dict()["totals"]["non_trainable_params"] == 64 * 64     # the positions, a buffer
