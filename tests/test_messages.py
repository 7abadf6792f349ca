"""Names and messages a user reaches for first: imported module paths as dotted names,
run's input layout, dropped columns, conventions that differ across a comparison, and the
student's explain, kinds, worked examples and activation totals."""
import io
import json

import numpy as np
import pytest
from click.testing import CliRunner

import cnncost
from cnncost.cli import cli
from cnncost.render.report import capture, print_table


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def pytorch_named(tmp_path):
    """A small model with the node names torch.onnx.export writes (scopes and ops)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)

    def w(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.2).astype(np.float32), name)

    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], name="/layer1/layer1.0/conv1/Conv", pads=[1] * 4,
                              kernel_shape=[3, 3]),
             helper.make_node("Relu", ["a"], ["b"], name="/layer1/layer1.0/relu/Relu"),
             helper.make_node("Conv", ["b", "w2"], ["c"], name="/layer1/layer1.1/conv1/Conv", pads=[1] * 4,
                              kernel_shape=[3, 3]),
             helper.make_node("Add", ["c", "b"], ["d"], name="/layer1/layer1.1/Add"),
             helper.make_node("GlobalAveragePool", ["d"], ["e"], name="/avgpool/GlobalAveragePool"),
             helper.make_node("Flatten", ["e"], ["f"], name="/Flatten"),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="/fc/Gemm", transB=1)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])],
                          [w("w1", 4, 3, 3, 3), w("w2", 4, 4, 3, 3), w("fw", 5, 4), w("fb", 5)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path = tmp_path / "named.onnx"
    onnx.save(m, str(path))
    return path


def test_an_import_keeps_the_module_hierarchy_as_dotted_names(pytorch_named, tmp_path):
    names = [r.name for r in cnncost.analyze(str(pytorch_named)).layers]
    assert names[:4] == ["layer1.0.conv1", "layer1.0.relu", "layer1.1.conv1", "layer1.1"]
    assert "flatten" in names and "fc" in names and all(n == n.lower() for n in names)
    folded = json.loads(run("report", pytorch_named, "--depth", "1", "--format", "json").output)["layers"]
    assert [r["name"] for r in folded] == ["layer1", "avgpool", "flatten", "fc"]
    # the written spec reads back with the same names, and its dotted inputs resolve
    assert run("import", pytorch_named, "-o", tmp_path / "named.yaml").exit_code == 0
    again = [r.name for r in cnncost.analyze(str(tmp_path / "named.yaml")).layers]
    assert again == names


def test_explain_takes_the_onnx_node_path(pytorch_named):
    r = run("explain", pytorch_named, "/layer1/layer1.0/conv1/Conv")
    assert r.exit_code == 0 and "layer1.0.conv1: conv" in r.output
    r = run("explain", pytorch_named, "layer1")
    assert r.exit_code == 0 and "a block of 4 layers" in r.output


def test_run_reads_an_onnx_models_own_nchw_input(pytorch_named, tmp_path):
    x = np.random.default_rng(3).standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.save(tmp_path / "nchw.npy", x)
    np.save(tmp_path / "nhwc.npy", x.transpose(0, 2, 3, 1))
    a = run("run", pytorch_named, "--input", tmp_path / "nchw.npy", "--output", tmp_path / "a.npy")
    b = run("run", pytorch_named, "--input", tmp_path / "nhwc.npy", "--output", tmp_path / "b.npy")
    assert a.exit_code == 0 and b.exit_code == 0
    assert "read as NCHW" in a.stderr and "NCHW" not in b.stderr
    np.testing.assert_allclose(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"), rtol=1e-6)
    data = json.loads(run("run", pytorch_named, "--input", tmp_path / "nchw.npy", "--format", "json").stdout)
    assert data["input_layout"] == "NCHW" and data["weights"] == "file"


def test_run_and_verify_help_say_what_weights_and_seed_are():
    run_help = " ".join(run("run", "--help").output.split())
    assert "file's own weights" in run_help and "the input is --input" in run_help
    assert "random input" in " ".join(run("verify", "--help").output.split())


def test_a_narrow_table_says_which_columns_it_left_out():
    text = capture(lambda: print_table(cnncost.analyze("resnet18")), terminal=True, width=90)
    assert "left out to fit 90 columns: RF" in text
    wide = capture(lambda: print_table(cnncost.analyze("resnet18")), terminal=True, width=250)
    assert "left out" not in wide


def test_compare_says_when_columns_count_params_differently(pytorch_named):
    r = run("compare", pytorch_named, "lenet5")
    assert r.exit_code == 0 and "count params differently" in r.output and "tensors as the file holds them" in r.output
    assert "differently" not in run("compare", "lenet5", "resnet18").output


def test_explain_separable_and_bottleneck_for_the_student():
    r = run("explain", "conv", "--input", "6x6x3", "--filters", "5", "--kernel", "3", "--separable", "--no-bias")
    assert r.exit_code == 0
    assert "N = 5, the number of filters" in r.output and "f = 3, the kernel's height and width" in r.output
    assert "672 mults, 42 params (normal: 2,160 mults, 135 params)" in r.output
    r = run("explain", "conv", "--input", "6x6x3", "--filters", "5", "--kernel", "3", "--separable")
    assert "672 mults, 47 params (normal: 2,160 mults, 140 params)" in r.output
    r = run("explain", "conv", "--input", "28x28x192", "--filters", "32", "--kernel", "5", "--padding", "same",
            "--bottleneck", "12")
    assert r.exit_code == 0 and "2,408,448 + 10,035,200 = 12,443,648 mults" in r.output
    assert "C_in / R = 16 channels" in r.output
    r = run("explain", "conv", "--input", "28x28x190", "--filters", "32", "--kernel", "5", "--bottleneck", "12")
    assert "rounded down" in r.output


def test_explain_counts_the_bias_as_a_spec_does_and_shows_it():
    """The course's quiz: a 3x3 conv of 10 filters on 32x32x3 has 280 params, a dense
    400 -> 120 has 48,120; the bias term is shown, and --no-bias says it is left out."""
    r = run("explain", "conv", "--input", "32x32x3", "--filters", "10", "--kernel", "3")
    assert r.exit_code == 0 and "params = kernel 3x3x3x10 + bias 10 = 280" in r.output
    r = run("explain", "dense", "--input", "400", "--units", "120")
    assert r.exit_code == 0 and "params = kernel 400x120 + bias 120 = 48,120" in r.output
    r = run("explain", "dense", "--input", "400", "--units", "120", "--no-bias")
    assert r.exit_code == 0 and "params = kernel 400x120 = 48,000 (no bias)" in r.output


def test_explain_a_block_sums_it():
    r = run("explain", "mobilenet_v2", "stage2.block1")
    rows = cnncost.analyze("mobilenet_v2").layers
    mults = sum(x.mults for x in rows if x.name.startswith("stage2.block1."))
    assert r.exit_code == 0 and f"{mults:,}" in r.output.splitlines()[-2]


def test_a_dense_on_a_map_warns_naming_the_layer(tmp_path):
    spec = tmp_path / "w.yaml"
    spec.write_text("input: [8, 8, 3]\nlayers:\n  - {kind: conv, filters: 4, kernel: 3}\n  - {name: fc, kind: dense, units: 10}\n")
    r = run("report", spec, "--format", "json")
    assert r.exit_code == 0 and "w.yaml:4:5: layer 'fc' (dense): dense on a 6x6x4 feature map" in r.stderr
    json.loads(r.stdout)
    spec.write_text(spec.read_text().replace("units: 10}", "units: 10, per_position: true}"))
    assert "warning" not in run("report", spec).stderr
    assert "warning" not in run("report", "convnext_tiny").stderr


def test_rewrite_bottleneck_says_when_channels_were_rounded():
    out = run("report", "resnet18", "--rewrite", "bottleneck=5").output
    assert "conv1: C_in/R = 3/5 = 0.6 is not a whole number of channels: the reduction keeps 1" in out
    notes = [l for l in run("report", "resnet18", "--rewrite", "bottleneck=4").output.splitlines() if "C_in/R" in l]
    assert len(notes) == 1 and notes[0].startswith("conv1: C_in/R = 3/4")      # 64, 128, ... divide by 4


def test_kinds_shows_one_kind_and_wraps():
    r = run("kinds", "upsample")
    assert r.exit_code == 0 and r.output.startswith("upsample ") and "conv " not in r.output
    assert all(len(line) <= 100 for line in r.output.splitlines())
    assert "activation" in run("kinds", "relu").output          # an alias shows its kind
    bad = run("kinds", "convv")
    assert bad.exit_code == 2 and "did you mean 'conv'" in bad.output


def test_worked_examples_compare_their_two_ways():
    out = json.loads(run("compare", "separable_example", "--format", "json").output)
    assert out["metrics"]["mults"]["values"] == [2160, 672]
    out = json.loads(run("compare", "inception_bottleneck_example", "--format", "json").output)
    assert out["metrics"]["mults"]["values"] == [120_422_400, 12_443_648]
    assert cnncost.analyze("separable_example").totals["mults"] == 672     # one way, not both added
    assert "cnncost compare separable_example" in run("report", "separable_example").output


def test_activation_totals_say_whether_the_input_is_counted():
    out = run("report", "separable_example").output
    assert "(layer outputs; the input not counted)" in out and "(the input counted while read)" in out


def test_the_report_table_is_rich_s_table_byte_for_byte():
    """The report table is drawn without rich (its layout took most of a report's time);
    in a pipe it is the table rich draws from the same columns, for every bundled network
    and row grouping."""
    from rich.console import Console
    from rich.table import Table

    from cnncost.render.report import shape_str, table_columns, table_text
    from cnncost.spec import bundled_names

    for name in bundled_names():
        rep = cnncost.analyze(name)
        for kw in ({}, {"depth": 1}, {"by_kind": True}):
            title = f"{rep.name}  (input {shape_str(rep.input_shape)}, batch {rep.batch})"
            table = Table(title=title + ("  by kind" if kw.get("by_kind") else ""), title_justify="left",
                          show_footer=True, header_style="bold")
            cols = table_columns(rep, **kw)
            for header, justify, footer, _ in cols:
                table.add_column(header, justify=justify, footer=footer, overflow="fold",
                                 no_wrap=header not in ("layer", "kind (multiplication)"))
            for i in range(len(cols[0][3])):
                table.add_row(*[c[3][i] for c in cols])
            buf = io.StringIO()
            Console(file=buf, width=100_000, color_system=None).print(table)
            assert buf.getvalue() in table_text(rep, **kw), (name, kw)


def test_a_narrow_terminal_folds_names_and_never_cuts_numbers():
    import re

    text = capture(lambda: print_table(cnncost.analyze("resnet152")), terminal=True, width=64)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()
    table = [l for l in plain if l[:1] in "┏┃┡│├└"]
    assert table and all(len(l) <= 64 for l in table)
    assert any("4,089" in l or "11,5" in l for l in table)          # the totals are whole
    assert "layer4.block3.conv3" not in text                        # a long name folded
    assert "\x1b[1m" in text                                        # the header is bold on a terminal


def test_input_shape_on_a_yaml_spec_is_refused_with_the_way_that_works():
    """--input-shape fixes a model file's axes; on a spec it was ignored without a word
    (resnet18 at 1x3x200x180 reported 224x224x3)."""
    import cnncost

    r = run("report", "resnet18", "--input-shape", "1x3x200x180")
    assert r.exit_code == 2 and "--set resolution=200" in r.output and "input: [200, 180" in r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1
    r = run("report", "alexnet", "--input-shape", "1x3x200x200")
    assert r.exit_code == 2 and "its input is fixed" in r.output
    with pytest.raises(cnncost.CnnCostError, match="--set resolution=160"):
        cnncost.report("mobilenet_v1", input_shape=(1, 3, 160, 160))
    for command in (["compare", "resnet18", "alexnet"], ["check", "resnet18"],
                    ["sweep", "resnet18", "--set", "resolution=160,224"]):
        r = run(*command, "--input-shape", "1x3x200x200")
        assert r.exit_code == 2 and "--set resolution=200" in r.output, command


def test_input_shape_with_a_model_file_beside_a_spec_applies_to_the_file(tmp_path):
    """compare SPEC MODEL --input-shape: the shape is the model file's; the spec keeps its own."""
    pytest.importorskip("onnx")
    onnx_file = tmp_path / "lenet.onnx"
    assert run("export", "lenet5", "-o", onnx_file).exit_code == 0
    r = run("compare", "lenet5", onnx_file, "--input-shape", "1x1x32x32", "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["columns"] == ["lenet5", str(onnx_file)]
    mults = data["metrics"]["mults"]["values"]
    assert mults[0] == mults[1] > 0


def test_explain_block_suggests_a_command_that_runs(tmp_path):
    """The suggestion names the SPEC as typed, not the spec's `name:` (which named no file)."""
    import re
    import shlex

    text = (cnncost_architectures() / "resnet18.yaml").read_text().replace("name: resnet18", "name: tiny_resnet")
    path = tmp_path / "c_resnet.yaml"
    path.write_text(text)
    r = run("explain", str(path), "layer2")
    assert r.exit_code == 0
    suggested = shlex.split(re.search(r"`cnncost (explain [^`]+)`", r.output).group(1))
    assert suggested[1] == str(path)
    again = run(*suggested)
    assert again.exit_code == 0 and "layer2.block1.conv1" in again.output


def cnncost_architectures():
    from pathlib import Path

    from cnncost.spec.loader import _architectures

    return Path(_architectures())


def test_compare_names_a_module_as_the_user_gave_it():
    """A module's column was named by the temporary path it was read into."""
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
    r = cnncost.compare(["lenet5", net], input_shape=(1, 3, 16, 16))
    assert r.to_dict()["columns"] == ["lenet5", "PyTorch module Sequential"]
    checked = cnncost.check([net], input_shape=(1, 3, 16, 16), budgets={"params": "1M"})
    assert [a.spec for a in checked.results] == ["PyTorch module Sequential"]     # the JUnit case's name
