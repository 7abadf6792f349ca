"""The spec language: variables, expressions, blocks, repeat, when, inputs, freezing."""
import re

import pytest

import cnncost
from cnncost.errors import SpecError

from conftest import analyze_text


def names(rep):
    return [r.name for r in rep.layers]


def test_variables_defaults_and_overrides():
    body = """
        vars: {width: 8, res: 32, half: "width // 2"}
        input: [$res, res, 3]
        layers:
          - {name: c, kind: conv, filters: half, kernel: 3, padding: same}
    """
    assert analyze_text(body).layers[0].output_shape == [32, 32, 4]
    rep = analyze_text(body, overrides=["width=16", "res=20"])
    assert rep.layers[0].output_shape == [20, 20, 8]
    assert rep.vars == {"width": 16, "res": 20, "half": 8}


def test_unknown_override_is_an_error():
    with pytest.raises(SpecError, match="no variable 'depth'.*variables: width"):
        analyze_text("vars: {width: 1}\ninput: [4, 4, 1]\nlayers: [{kind: relu}]",
                     overrides={"depth": 3})


def test_width_multiplier_expressions():
    rep = analyze_text("""
        vars: {alpha: 0.75}
        input: [8, 8, 3]
        layers:
          - {name: a, kind: conv, filters: "int(64 * alpha)", kernel: 1}
          - {name: b, kind: conv, filters: "make_divisible(32 * alpha, 8)", kernel: 1}
          - {name: c, kind: conv, filters: "max(8, round(10 * alpha))", kernel: 1}
    """)
    assert [r.output_shape[-1] for r in rep.layers] == [48, 24, 8]


def test_repeat_with_index_dependent_stride_and_projection():
    rep = analyze_text("""
        input: [16, 16, 8]
        layers:
          - {name: stage, use: basic_block, repeat: 3, filters: 16, stride: "2 if i == 0 else 1"}
    """)
    assert "stage.block1.shortcut.conv" in names(rep)        # first repetition projects
    assert "stage.block2.shortcut.conv" not in names(rep)    # the others are identity blocks
    add2 = next(r for r in rep.layers if r.name == "stage.block2.add")
    assert add2.inputs == ["stage.block2.bn2", "stage.block1.relu"]
    assert rep.layers[-1].output_shape == [8, 8, 16]


def test_block_reads_input_shape_se_width_and_v2_skip():
    rep = analyze_text("""
        input: [8, 8, 64]
        layers:
          - {name: se, use: se_block, ratio: 16}
          - {name: ir1, use: inverted_residual, filters: 64}
          - {name: ir2, use: inverted_residual, filters: 32}
    """)
    rows = {r.name: r for r in rep.layers}
    assert rows["se.fc1"].output_shape == [4]          # 64 / 16
    assert rows["ir1.expand"].output_shape == [8, 8, 384]
    assert "ir1.add" in rows and "ir2.add" not in rows  # skip only when C_in == C_out


def test_inception_module_four_branches_concat():
    rep = analyze_text("""
        input: [28, 28, 192]
        layers:
          - {name: m, use: inception, c1: 64, c3r: 96, c3: 128, c5r: 16, c5: 32, pool_proj: 32, bn: false}
    """)
    concat = rep.layers[-1]
    assert concat.name == "m.concat" and concat.output_shape == [28, 28, 256]
    assert concat.inputs == ["m.branch1.act", "m.branch2.conv.act", "m.branch3.conv.act",
                             "m.branch4.proj.act"]


def test_repeat_joining_its_input_densenet_style():
    rep = analyze_text("""
        input: [8, 8, 16]
        blocks:
          dense_layer:
            params: {growth: 12}
            layers:
              - {name: conv, kind: conv, filters: growth, kernel: 3, padding: 1}
              - {name: cat, kind: concat, inputs: [input, conv]}
        layers:
          - {name: dense, use: dense_layer, repeat: 4}
    """)
    assert rep.layers[-1].output_shape == [8, 8, 16 + 4 * 12]


def test_inline_group_repeat_and_names():
    rep = analyze_text("""
        input: [8, 8, 3]
        layers:
          - name: stage
            repeat: 2
            repeat_name: "unit{i}"
            layers:
              - {name: conv, kind: conv, filters: 4, kernel: 3, padding: same}
              - {kind: relu}
    """)
    assert names(rep) == ["stage.unit0.conv", "stage.unit0.relu1", "stage.unit1.conv", "stage.unit1.relu1"]


def test_when_and_dotted_references():
    rep = analyze_text("""
        vars: {extra: false}
        input: [4, 4, 2]
        layers:
          - {name: g, layers: [{name: a, kind: relu}, {name: b, kind: relu6}]}
          - {name: opt, kind: sigmoid, when: extra}
          - {name: s, kind: add, inputs: [g.a, g.b, input]}
    """)
    assert names(rep) == ["g.a", "g.b", "s"]


def test_trainable_false_freezes_a_whole_block():
    rep = analyze_text("""
        input: [8, 8, 3]
        layers:
          - {name: base, trainable: false, layers: [
              {name: conv, kind: conv, filters: 4, kernel: 3},
              {name: bn, kind: batch_norm}]}
          - {name: head, kind: dense, units: 2}
    """)
    t = rep.totals
    assert t["frozen_params"] == 3 * 3 * 3 * 4 + 4 + 8
    assert t["trainable_params"] == 4 * 2 + 2
    assert t["non_trainable_params"] == 8
    assert t["params"] == t["frozen_params"] + t["trainable_params"]


def test_yaml_merge_keys_and_anchors_work_without_duplicate_errors():
    rep = analyze_text("""
        input: [4, 4, 2]
        layers:
          - &c {name: a, kind: conv, filters: 2, kernel: 1}
          - {<<: *c, name: b}
    """)
    assert names(rep) == ["a", "b"]


def test_expect_block_and_source_are_kept():
    spec = cnncost.parse_spec("input: [4, 4, 1]\nlayers: [{kind: relu}]\nexpect: {params: 0, source: me}\n", "x.yaml")
    assert spec.expect == {"params": 0, "source": "me"}


def test_auto_names_count_per_kind():
    rep = analyze_text("input: [4, 4, 1]\nlayers: [{kind: relu}, {kind: relu}, {kind: tanh}]")
    assert names(rep) == ["relu1", "relu2", "tanh1"]


@pytest.mark.parametrize("layer, message", [
    ("{name: b, kind: nope, when: false}", "unknown layer kind 'nope'"),
    ("{name: b, kind: relu, slop: 3, when: false}", "unknown argument `slop`"),
    ("{name: b, use: se_block, ratoi: 3, when: false}", "did you mean 'ratio'?"),
    ("{name: b, layers: [{kind: conv, filter: 3}], when: false}", "did you mean `filters`?"),
])
def test_layers_switched_off_are_still_validated(layer, message):
    """`when: false` layers are not counted, but a typo in them is an error."""
    with pytest.raises(SpecError, match=re.escape(message)):
        analyze_text(f"input: [8, 8, 16]\nlayers:\n  - {{name: a, kind: relu}}\n  - {layer}\n")
    ok = analyze_text("input: [8, 8, 16]\nlayers:\n  - {name: a, kind: relu}\n"
                      "  - {name: b, kind: conv, filters: 3, kernel: 99, when: false}\n")
    assert ok.totals["layers"] == 1


def test_config_tables_index_lists_and_name_nested_indices():
    rep = analyze_text("""
        input: [32, 32, 3]
        vars: {widths: [16, 32, 64], depths: [1, 2, 1]}
        layers:
          - name: stage
            repeat: 3
            repeat_var: s
            layers:
              - {name: conv, kind: conv, filters: "widths[s]", kernel: 3, stride: "2 if i == 0 else 1",
                 padding: 1, repeat: "depths[s]"}
          - {name: head, kind: conv, kernel: 1, filters: "int(log2(256)) * int(sqrt(16)) + int(log(100, 10))"}
    """)
    assert [(r.name, r.output_shape) for r in rep.layers] == [
        ("stage.block1.conv.block1", [16, 16, 16]), ("stage.block2.conv.block1", [8, 8, 32]),
        ("stage.block2.conv.block2", [8, 8, 32]), ("stage.block3.conv.block1", [4, 4, 64]),
        ("head", [4, 4, 34])]


@pytest.mark.parametrize("expr, message", [
    ("widths[3]", "index 3 is out of range for a list of 3"),
    ("widths[1.5]", "a list index must be an integer"),
    ("depth[0]", "only a list can be indexed"),
    ("log(0)", "bad call"),
    ("widths[0:2]", "is not allowed in expressions"),
])
def test_bad_indexing_and_math_are_errors(expr, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        analyze_text(f'input: [8, 8, 3]\nvars: {{widths: [1, 2, 3], depth: 4}}\nlayers:\n'
                     f'  - {{name: c, kind: conv, kernel: 1, filters: "{expr}"}}\n')


def test_blocks_with_several_named_inputs_and_outputs():
    text = """
        input: [8, 8, 16]
        blocks:
          fuse:
            inputs: [x, skip]
            params: {filters: "skip_c"}
            layers:
              - {name: a, kind: conv, filters: filters, kernel: 1, inputs: x}
              - {name: b, kind: conv, filters: filters, kernel: 1, inputs: skip}
              - {name: half, kind: slice, stop: "filters // 2", inputs: a}
              - {name: sum, kind: add, inputs: [a, b]}
        layers:
          - {name: left, kind: conv, filters: 8, kernel: 3, padding: 1}
          - {name: f, use: fuse, inputs: [left, input]}
          - {name: tail, kind: concat, inputs: [f.sum, f.half]}
    """
    rep = analyze_text(text)
    rows = {r.name: r for r in rep.layers}
    assert rows["f.a"].inputs == ["left"] and rows["f.b"].inputs == ["input"]
    assert rows["f.b"].output_shape == [8, 8, 16] and rows["tail"].output_shape == [8, 8, 24]
    with pytest.raises(SpecError, match=re.escape("block 'fuse' takes 2 input(s) (x, skip), received 1")):
        analyze_text(text.replace("inputs: [left, input]}", "inputs: [left]}"))


def test_built_in_blocks_take_the_arguments_real_networks_need():
    rep = analyze_text("""
        input: [16, 16, 40]
        layers:
          - {name: c, use: conv_unit, filters: 40, kernel: [1, 7]}
          - {name: se, use: se_block, ratio: 4, gate: hard_sigmoid, divisor: 8}
          - {name: x, use: bottleneck, filters: 32, groups: 8, width: 128, dilation: 2}
    """)
    rows = {r.name: r for r in rep.layers}
    assert rows["c.conv"].output_shape == [16, 16, 40]            # padding [0, 3] from kernel // 2
    assert rows["se.fc1"].output_shape == [16]                    # make_divisible(40 / 4, 8) = 16
    assert rows["se.sigmoid"].kind == "hard_sigmoid"
    assert rows["x.conv2"].params == 3 * 3 * (128 // 8) * 128 and rows["x.conv2"].output_shape == [16, 16, 128]
    nonsquare = analyze_text("""
        input: [4, 4, 2]
        vars: {k: [1, 3]}
        layers:
          - {name: c, kind: conv, filters: 2, kernel: k, padding: "k // 2"}
    """)
    assert nonsquare.layers[0].output_shape == [4, 4, 2]      # element-wise [1, 3] // 2 = [0, 1]
