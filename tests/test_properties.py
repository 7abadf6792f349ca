"""Property tests on random valid networks (random DAGs of convs with random kernel /
stride / padding / dilation / groups, pools with ceil mode, adds, concats, SE multiplies,
dense heads): the executor and the analysis must agree on every one."""
import csv
import io
import json

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cnncost.runtime import executor
from cnncost.render import report as render
from cnncost.api import analyze
from cnncost.errors import ShapeError, SpecError
from cnncost.spec import parse_spec

SETTINGS = settings(max_examples=300, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _yaml(shape, layers):
    return f"input: {list(shape)}\nlayers:\n" + "".join(f"  - {l}\n" for l in layers)


def _shapes(shape, layers):
    """Output shape of every layer so far, by name (uses the analysis to keep drawing valid layers)."""
    rep = analyze(parse_spec(_yaml(shape, layers), "random.yaml"))
    return {r.name: tuple(r.output_shape) for r in rep.layers}


@st.composite
def networks(draw):
    shape = (draw(st.integers(5, 12)), draw(st.integers(5, 12)), draw(st.sampled_from([1, 2, 3, 4, 6])))
    layers, shapes, order = [], {"input": shape}, ["input"]
    for i in range(draw(st.integers(1, 7))):
        cur = order[-1]
        h, w, c = shapes[cur] if len(shapes[cur]) == 3 else (0, 0, shapes[cur][-1])
        op = draw(st.sampled_from(["conv", "conv", "depthwise", "pool", "add", "concat", "se", "bn_act"]))
        name = f"l{i}"
        if h == 0:
            op = "dense_end"
        if op == "conv":
            groups = draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0]))
            layer = (f"{{name: {name}, kind: conv, filters: {groups * draw(st.integers(1, 3))}, "
                     f"kernel: {draw(st.sampled_from([1, 2, 3, [1, 3], [3, 2]]))}, "
                     f"stride: {draw(st.integers(1, 2))}, dilation: {draw(st.integers(1, 2))}, "
                     f"padding: {draw(st.sampled_from(['valid', 'same', 1, '[0, 1, 1, 0]']))}, "
                     f"groups: {groups}, bias: {draw(st.sampled_from(['true', 'false']))}}}")
        elif op == "depthwise":
            layer = (f"{{name: {name}, kind: depthwise_conv, kernel: {draw(st.integers(1, 3))}, "
                     f"stride: {draw(st.integers(1, 2))}, padding: {draw(st.sampled_from(['valid', 'same', 1]))}, "
                     f"depth_multiplier: {draw(st.integers(1, 2))}}}")
        elif op == "pool":
            k = draw(st.integers(1, 3))
            layer = (f"{{name: {name}, kind: {draw(st.sampled_from(['max_pool', 'avg_pool']))}, kernel: {k}, "
                     f"stride: {draw(st.integers(1, 3))}, padding: {draw(st.integers(0, k // 2))}, "
                     f"ceil_mode: {draw(st.sampled_from(['true', 'false']))}}}")
        elif op == "add":
            same = [n for n in order if shapes[n] == shapes[cur] and n != cur]
            assume(same)
            layer = f"{{name: {name}, kind: add, inputs: [{cur}, {draw(st.sampled_from(same))}]}}"
        elif op == "concat":
            same = [n for n in order if len(shapes[n]) == 3 and shapes[n][:2] == shapes[cur][:2]]
            layer = f"{{name: {name}, kind: concat, inputs: [{cur}, {draw(st.sampled_from(same))}]}}"
        elif op == "se":
            layer = f"{{name: {name}, use: se_block, ratio: {draw(st.sampled_from([1, 2]))}}}"
        elif op == "bn_act":
            layer = (f"{{name: {name}, layers: [{{kind: batch_norm}}, "
                     f"{{kind: {draw(st.sampled_from(['relu', 'relu6', 'sigmoid', 'hard_swish', 'tanh']))}}}]}}")
        else:
            break
        try:
            shapes = {"input": shape, **_shapes(shape, layers + [layer])}
        except (ShapeError, SpecError):
            continue   # e.g. the kernel outgrew the map, SE width 0: draw the next layer instead
        layers.append(layer)
        order.append(list(shapes)[-1])
    assume(layers)
    if draw(st.booleans()):
        layers += ["{name: head_pool, kind: global_avg_pool}", f"{{name: head, kind: dense, units: {draw(st.integers(1, 5))}}}"]
    return _yaml(shape, layers)


@SETTINGS
@given(text=networks(), batch=st.integers(1, 2))
def test_executor_agrees_with_analysis(text, batch):
    rep = analyze(parse_spec(text, "random.yaml"), batch=batch)
    g = rep.graph
    weights = executor.init_weights(g, seed=batch)
    x = np.random.default_rng(0).standard_normal((batch,) + tuple(g.nodes[0].out_shape)).astype(np.float32)
    result = executor.run(g, x, weights)
    for row in result.layers:
        assert row.executed_shape == row.output_shape, (row.name, text)
        assert row.executed_mults == row.mults, (row.name, text)
        assert row.finite, (row.name, text)
    # params == total size of the weight arrays the executor built
    stats = {"moving_mean", "moving_variance"}
    built = sum(a.size for k, a in weights.items() if k.rsplit("/", 1)[1] not in stats)
    built_stats = sum(a.size for k, a in weights.items() if k.rsplit("/", 1)[1] in stats)
    assert built == rep.totals["params"] and built_stats == rep.totals["non_trainable_params"]


@SETTINGS
@given(text=networks(), depth=st.sampled_from([None, 1, 2]))
def test_rows_sum_to_totals_in_every_format(text, depth):
    rep = analyze(parse_spec(text, "random.yaml"))
    data = json.loads(render.to_json(rep, depth))
    for field in ("params", "mults", "flops", "activations", "non_trainable_params"):
        assert sum(r[field] for r in data["layers"]) == data["totals"][field] == rep.totals[field]
    rows = list(csv.reader(io.StringIO(render.to_csv(rep, depth, totals=True))))
    header, body, total = rows[0], rows[1:-1], rows[-1]
    for field in ("params", "mults", "flops", "activations"):
        col = header.index(field)
        assert sum(int(r[col]) for r in body) == int(total[col]) == rep.totals[field]
    md = render.to_markdown(rep, depth)
    md_rows = [l for l in md.splitlines() if l.startswith("| ") and not l.startswith("| layer")
               and "**total**" not in l]
    assert sum(int(l.split("|")[5].strip().replace(",", "")) for l in md_rows) == rep.totals["mults"]
