"""compare, sweep, explain, what-if rewrites, receptive fields, memory, transfer learning
and training cost -- reproduced through the CLI where the course states a number."""
import json
import shutil
import subprocess

import pytest
from click.testing import CliRunner

import cnncost
from cnncost.cli import cli
from cnncost.analyses.whatif import savings

from conftest import analyze_text


def run(*args):
    r = CliRunner().invoke(cli, list(args))
    return r


def test_compare_reproduces_mobilenet_table4():
    r = run("compare", "mobilenet_v1_conv", "mobilenet_v1", "--format", "json")
    assert r.exit_code == 0
    data = json.loads(r.output)
    mults = data["metrics"]["mults"]["values"]
    assert mults == [4_867_293_184, 568_740_352]          # paper: 4866M vs 569M
    assert round(mults[0] / 1e6) == 4867 and round(mults[1] / 1e6) == 569
    assert data["metrics"]["mults"]["ratio_to_first"][1] == pytest.approx(568_740_352 / 4_867_293_184)
    params = data["metrics"]["params"]["values"]
    assert round(params[0] / 1e5) == 293 and round(params[1] / 1e5) == 42   # 29.3M vs 4.2M
    shares = {k: v["values"][1] for k, v in data["metrics"].items() if k.startswith("share_")}
    assert shares["share_pointwise"] == pytest.approx(0.95, abs=0.005)     # paper Table 2: 95%
    assert set(data["metrics"]) >= {"flops", "activations", "peak_activation_bytes", "param_bytes",
                                    "weighted_depth"}


def test_compare_variants_and_formats():
    r = run("compare", "mobilenet_v1", "mobilenet_v1@alpha=0.5,resolution=160", "--format", "csv")
    assert r.exit_code == 0
    assert "mults,568740352,76524800," in r.output
    md = run("compare", "resnet18", "resnet34", "--format", "markdown").output
    assert "| mults (MACs) | 1,814,073,344 | 3,663,761,408 (2.02x) |" in md
    table = run("compare", "resnet18", "resnet50").output
    assert "weighted depth" in table and "18" in table and "50" in table
    r = run("compare", "resnet18@nonsense=1")
    assert r.exit_code == 2 and "no variable 'nonsense'" in r.output


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sweep_reproduces_mobilenet_tables_6_and_7(jobs):
    r = run("sweep", "mobilenet_v1", "--set", "alpha=1,0.75,0.5,0.25", "--set",
            "resolution=224,192,160,128", "--format", "json", "--jobs", jobs)
    assert r.exit_code == 0
    cells = {(c["alpha"], c["resolution"]): c["mults"] for c in json.loads(r.stdout)["cells"]}
    assert "sweeping 16 cell(s) with " + ("1" if jobs == "1" else "2") + " worker(s)" in r.stderr
    # the paper's Table 6 (width) and Table 7 (resolution), in millions
    assert round(cells[(1, 224)] / 1e6) == 569 and round(cells[(0.75, 224)] / 1e6) == 325
    assert round(cells[(0.5, 224)] / 1e6) == 149 and round(cells[(0.25, 224)] / 1e6) == 41
    assert [round(cells[(1, r)] / 1e6) for r in (192, 160, 128)] == [418, 291, 186]
    assert cells[(0.5, 128)] == 49_160_192


def test_sweep_table_and_metric():
    r = run("sweep", "mobilenet_v1", "--set", "alpha=1,0.5", "--set", "resolution=224,128", "--metric", "params")
    assert r.exit_code == 0 and "4,231,976" in r.output
    r = run("sweep", "mobilenet_v1", "--set", "alpha")
    assert r.exit_code == 2 and "expected NAME=V1,V2" in r.output


def test_explain_calculator_reproduces_the_course_example():
    r = run("explain", "conv", "--input", "6x6x3", "--filters", "5", "--kernel", "3", "--separable")
    assert r.exit_code == 0
    out = r.output
    assert "H_out = floor((6 + 0 + 0 - 3) / 1) + 1 = 4" in out
    assert "4 x 4 x 5 x 3 x 3 x 3 = 2,160" in out
    assert "= 432" in out and "= 240" in out
    assert "432 + 240 = 672" in out and "1/5 + 1/9 = 0.3111" in out


def test_explain_layer_mode_substitutes_values():
    r = run("explain", "resnet50", "layer3.block2.conv2")
    assert r.exit_code == 0
    assert "14 x 14 x 256 x 3 x 3 x 256 = 115,605,504" in r.output
    assert "params = kernel 3x3x256x256 = 589,824" in r.output
    r = run("explain", "resnet50", "layer3.block2.conv9")
    assert r.exit_code == 2 and "no layer 'layer3.block2.conv9'" in r.output


def test_separable_rewrite_matches_the_analytic_ratio_per_layer():
    _, rewritten, rows = savings("vgg16", "separable")
    assert len(rows) == 13
    for s in rows:
        assert s.ratio == pytest.approx(s.analytic, rel=1e-12)   # exactly 1/N + 1/f^2
    assert rewritten.totals["mults"] < 0.13 * 15_470_264_320


def test_bottleneck_rewrite_matches_its_formula():
    original, rewritten, rows = savings("inception_bottleneck_example", "bottleneck=12", overrides={"way": "naive"})
    naive = next(s for s in rows if s.name == "naive")
    # 192 -> 16 channels: 2,408,448 + 10,035,200, the course's bottleneck example
    assert naive.rewritten_mults == 12_443_648
    assert naive.ratio == pytest.approx(naive.analytic, rel=1e-12)


def test_report_rewrite_cli():
    r = run("report", "resnet18", "--rewrite", "separable", "--format", "json")
    data = json.loads(r.output)
    assert r.exit_code == 0 and data["savings"]["rewrite"] == "separable"
    assert data["totals"]["mults"] == data["savings"]["rewritten_totals"]["mults"]
    assert run("report", "resnet18", "--rewrite", "winograd").exit_code == 2


def test_receptive_fields():
    rows = {r.name: r for r in cnncost.analyze("vgg16").layers}
    assert rows["stage5.pool"].receptive_field == [212, 212] and rows["stage5.pool"].rf_stride == [32, 32]
    assert {r.name: r for r in cnncost.analyze("alexnet").layers}["pool5"].receptive_field == [195, 195]
    rep = analyze_text("""
        input: [32, 32, 3]
        layers:
          - {name: a, kind: conv, filters: 4, kernel: 3, stride: 2, padding: 1}
          - {name: b, kind: conv, filters: 4, kernel: 3, dilation: 2, padding: 2}
          - {name: c, kind: max_pool, kernel: 2}
          - {name: d, inputs: a, kind: conv, filters: 4, kernel: 1}
    """)
    f = {r.name: (r.receptive_field, r.rf_stride, r.rf_start) for r in rep.layers}
    assert f["a"] == ([3, 3], [2, 2], [-1, -1])
    assert f["b"] == ([3 + 2 * 2 * 2] * 2, [2, 2], [-1 - 2 * 2] * 2)      # 11, start -5
    assert f["c"] == ([11 + 1 * 2] * 2, [4, 4], [-5, -5])
    assert f["d"] == ([3, 3], [2, 2], [-1, -1])


def test_dtype_memory():
    f32 = cnncost.analyze("resnet18").totals
    f16 = cnncost.analyze("resnet18", dtype="float16").totals
    i8 = cnncost.analyze("resnet18", dtype="int8").totals
    assert f32["peak_activation_bytes"] == 2 * f16["peak_activation_bytes"] == 4 * i8["peak_activation_bytes"]
    assert f32["param_bytes"] == 4 * (11_689_512 + 9_600)
    assert run("report", "resnet18", "--dtype", "int4").exit_code == 2


SMALL = """
    input: [8, 8, 3]
    layers:
      - {name: a, kind: conv, filters: 4, kernel: 3}
      - {name: r, kind: relu}
      - {name: b, kind: conv, filters: 2, kernel: 1, bias: false}
      - {name: f, kind: flatten}
      - {name: d, kind: dense, units: 5}
"""


def test_training_cost_against_a_hand_derivation():
    # forward MACs: a 6*6*4*27 = 3888, b 6*6*2*4 = 288, d 72*5 = 360
    full = analyze_text(SMALL, training=True).totals["training"]
    # everything trains: weight grads = forward MACs of every layer; input grads for every
    # layer above the first trainable one (a's input is the image: no gradient needed)
    assert full["weight_grad_mults"] == 3888 + 288 + 360
    assert full["input_grad_mults"] == 288 + 360
    assert full["training_mults"] == 4536 + 4536 + 648
    head = analyze_text(SMALL, training=True, trainable_from="d").totals
    assert head["training"]["input_grad_mults"] == 0 and head["training"]["weight_grad_mults"] == 360
    assert head["training"]["training_mults"] == 4536 + 360
    top = analyze_text(SMALL, training=True, trainable_from="b").totals["training"]
    assert top["input_grad_mults"] == 360 and top["weight_grad_mults"] == 288 + 360
    rows = {r.name: r.training for r in analyze_text(SMALL, training=True).layers}
    assert rows["r"]["input_grad_flops"] == 144 and rows["r"]["input_grad_mults"] == 0
    assert rows["a"]["weight_grad_flops"] == 2 * 3888 + 144      # + bias gradient adds


def test_transfer_cut_and_cached_features():
    t = cnncost.analyze("resnet50", trainable_from="fc").totals
    assert t["trainable_params"] == 2048 * 1000 + 1000
    assert t["frozen_params"] == 25_557_032 - 2_049_000
    x = t["transfer"]
    assert x["cut_features"] == ["flatten"] and x["cached_feature_bytes_per_example"] == 2048 * 4
    assert x["frozen_forward_mults"] + x["trainable_forward_mults"] == 4_089_184_256
    frozen = cnncost.analyze("resnet50", freeze_until="layer3").totals
    assert frozen["transfer"]["cut_features"] == ["layer3.block6.relu"]
    assert frozen["transfer"]["cached_feature_bytes_per_example"] == 14 * 14 * 1024 * 4
    r = run("report", "resnet50", "--trainable-from", "layer9")
    assert r.exit_code == 2 and "no layer or block named 'layer9'" in r.output


def test_compare_train_head_vs_top_blocks_vs_everything():
    r = run("compare", "resnet50@trainable_from=fc", "resnet50@trainable_from=layer4.block2",
            "resnet50", "--training", "--format", "json")
    data = json.loads(r.output)["metrics"]
    assert data["training_mults"]["values"][0] < data["training_mults"]["values"][1] < data["training_mults"]["values"][2]
    assert data["cached_feature_bytes_per_example"]["values"][:2] == [8192, 7 * 7 * 2048 * 4]


def test_mermaid_and_dot_graphs():
    mer = run("report", "inception_bottleneck_example", "--format", "mermaid").output
    assert mer.startswith("flowchart TD") and 'subgraph b0["bottleneck"]' in mer and "n0 --> n1" in mer and "n1 --> n2" in mer
    dot = run("report", "googlenet", "--format", "dot").output
    assert 'subgraph "cluster_inception3a"' in dot and "n0 -> n1;" in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_dot_renders_with_graphviz(tmp_path):
    for name in ("googlenet", "resnet18", "separable_example"):
        src = tmp_path / f"{name}.dot"
        src.write_text(run("report", name, "--format", "dot").output)
        subprocess.run(["dot", "-Tsvg", str(src), "-o", str(tmp_path / f"{name}.svg")], check=True)
        assert (tmp_path / f"{name}.svg").stat().st_size > 1000


def test_plot_files(tmp_path):
    pytest.importorskip("matplotlib")
    for args in (["report", "resnet18", "--depth", "1"], ["compare", "vgg16", "mobilenet_v2"],
                 ["sweep", "mobilenet_v1", "--set", "alpha=1,0.5"]):
        out = tmp_path / f"{args[0]}.png"
        r = run(*args, "--plot", str(out), "--format", "json")
        assert r.exit_code == 0, r.output
        assert out.read_bytes()[:4] == b"\x89PNG"
    assert run("report", "resnet18", "--plot", str(tmp_path / "x.gif")).exit_code == 2
