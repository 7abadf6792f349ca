"""`cnncost formula`: exact expressions of the free sizes (issue 37). The expressions'
arithmetic against Python's integers (hypothesis), every bundled architecture with a size
variable evaluated at random sizes inside its domain against `report` counted there, an
ONNX file with dynamic axes, a layer that keeps no expression, and sweeps from the formula
equal to sweeps counted cell by cell."""
from __future__ import annotations

import json
import os
import random

import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

import cnncost
from cnncost import api
from cnncost.cli import cli
from cnncost.formula.expr import Poly, floor_of
from cnncost.formula.source import spec_variables
from cnncost.spec.loader import load_spec

FIELDS = ("params", "mults", "flops", "activations", "bytes_read", "bytes_written", "peak_activations",
          "peak_activation_bytes")


# ---- the expressions' arithmetic ----------------------------------------------------------
def _poly(draw, depth=0):
    H, W = Poly.var("H"), Poly.var("W")
    p = H.scale(draw(st.integers(-3, 3))) + W.scale(draw(st.integers(-3, 3))) + Poly.const(draw(st.integers(-9, 9)))
    if depth < 2 and draw(st.booleans()):
        p = p + floor_of(_poly(draw, depth + 1), draw(st.integers(1, 7))).scale(draw(st.integers(-2, 2)))
    if depth < 1 and draw(st.booleans()):
        p = p * _poly(draw, depth + 1)
    return p


@st.composite
def polys(draw):
    return _poly(draw)


@settings(max_examples=300, deadline=None)
@given(polys(), st.integers(1, 9), st.integers(1, 200), st.integers(1, 200))
def test_floors_and_their_normal_forms_are_python_integer_arithmetic(p, d, h, w):
    """floor_of's normal forms (a common factor out, multiples out, a floor of a floor one
    floor, a floor plus a constant one floor) against Python's //, and the printed form
    read back by Python."""
    env = {"H": h, "W": w}
    q = floor_of(p, d)
    assert q.value(env) == p.value(env) // d
    assert eval(q.python(), {}, env) == q.value(env)
    assert eval((q + Poly.const(3)).python(), {}, env) == q.value(env) + 3
    assert eval((q.scale(-2) * p).python(), {}, env) == -2 * q.value(env) * p.value(env)


def test_an_output_size_stays_one_floor():
    H = Poly.var("H")
    size = floor_of(H + Poly.const(2 - 3), 2) + Poly.const(1)             # (H + 2p - k) // s + 1
    assert size.python() == "((H + 1) // 2)"
    assert (floor_of(size + Poly.const(-1), 2) + Poly.const(1)).python() == "((H + 3) // 4)"
    assert (size * size).scale(96).readable() == "96·(⌊(H + 1)/2⌋)²"


# ---- every bundled architecture with a size variable ------------------------------------------
def _sized():
    names = [row[0] for row in api.bundled().rows]
    return [n for n in names if spec_variables(load_spec(n))]


@pytest.mark.parametrize("name", _sized())
def test_the_formula_equals_report_at_random_sizes(name):
    f = api.formula(name)
    # DS-CNN's average pool has a kernel of frames // 2: counted per size (its own test below)
    assert not f.fallbacks or name == "ds_cnn", f.fallbacks
    rng = random.Random(name)
    probe = f.variables
    tried = 0
    while tried < 3:
        point = {v: (n if v == "N" and rng.random() < 0.5 else
                     max(f.domain.bounds[v][0], rng.randint(n // 2, 2 * n))) for v, n in probe.items()}
        if "N" in point:
            point["N"] = rng.randint(1, 9)
        for v, (period, allowed) in f.domain.residues.items():
            point[v] += (min(allowed) - point[v]) % period
        if f.holds_at(point) is not None:
            continue
        tried += 1
        want = api.analyze(name, overrides={k: v for k, v in point.items() if k != "N"}, batch=point["N"]).totals
        got = f.evaluate(point)
        for field in FIELDS:
            assert got[field] is None or got[field] == want.get(field, 0), (name, point, field)


def test_onnx_dynamic_axes_give_h_and_w(tmp_path):
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w")
    fc = numpy_helper.from_array(rng.standard_normal((5, 8)).astype(np.float32), "fc")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], strides=[2, 2], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("GlobalAveragePool", ["p"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "fc"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "dyn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, fc])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = str(tmp_path / "dyn.onnx")
    onnx.save(model, path)
    f = api.formula(path, input_shape="1x3x64x48")
    assert set(f.variables) == {"H", "W", "N"} and not f.fallbacks
    # conv: (H + 2 - 3) // 2 + 1 = (H + 1) // 2 rows, 8 x 27 MACs each position; dense 5 x 8
    assert f.totals["mults"].python() == "216*N*((H + 1) // 2)*((W + 1) // 2) + 40*N"
    for h, wd, n in ((33, 17, 3), (224, 224, 1), (7, 100, 2)):
        want = api.analyze(path, input_shape=f"{n}x3x{h}x{wd}").totals
        assert f.evaluate({"H": h, "W": wd, "N": n})["mults"] == want["mults"]


def test_layers_whose_form_changes_with_the_size_are_found_and_named(tmp_path):
    """A pool whose kernel is a size (DS-CNN's frames // 2: at 3 frames its output has two
    rows), and an adaptive pool's FLOPs (even windows where the size divides): no
    expression, named; every other count equal to report at every size 1..200 inside the
    domain."""
    spec = tmp_path / "k.yaml"
    spec.write_text("vars: {resolution: 128}\ninput: [$resolution, $resolution, 3]\nlayers:\n"
                    "  - {name: c, kind: conv, filters: 'resolution // 8', kernel: 3, padding: 1}\n"
                    "  - {name: p, kind: avg_pool, kernel: 'resolution // 16'}\n"
                    "  - {name: ada, inputs: c, kind: adaptive_avg_pool, output_size: 7}\n")
    f = api.formula(str(spec))
    assert {"p", "ada"} <= set(f.fallbacks)
    for r in range(1, 201):
        point = {"resolution": r, "N": 2}
        if f.holds_at(point) is None:
            want = api.analyze(str(spec), overrides={"resolution": r}, batch=2).totals
            assert all(v == want.get(k, 0) for k, v in f.evaluate(point).items() if v is not None), r
    ds = api.formula("ds_cnn")
    assert "avgpool" in ds.fallbacks and ds.totals["mults"] is None


def test_a_layer_that_leaves_the_integers_is_counted_per_size_and_named(tmp_path):
    """An adaptive pool's windows are summed with a gcd: its FLOPs have no expression, said
    by name; its other counts and the network's MACs keep theirs."""
    spec = tmp_path / "ada.yaml"
    spec.write_text("vars: {size: 30}\ninput: [$size, $size, 4]\nlayers:\n"
                    "  - {name: c, kind: conv, filters: 8, kernel: 3}\n"
                    "  - {name: ada, kind: adaptive_avg_pool, output_size: 7}\n")
    f = api.formula(str(spec))
    assert "ada" in f.fallbacks and "flops" in f.fallbacks["ada"]
    assert f.totals["flops"] is None and f.totals["mults"].python() == "288*N*size**2 - 1152*N*size + 1152*N"


def test_the_cli_table_json_and_at(tmp_path):
    r = CliRunner().invoke(cli, ["formula", "resnet18", "--at", "resolution=512,N=4"])
    assert r.exit_code == 0, r.output
    want = api.analyze("resnet18", overrides={"resolution": 512}, batch=4).totals["mults"]
    assert f"mults (MACs)" in r.output and f"{want:,}" in r.output
    js = json.loads(CliRunner().invoke(cli, ["formula", "resnet18", "--format", "json"]).output)
    assert eval(js["totals"]["mults"], {"max": max}, {"resolution": 320, "N": 2}) == \
        api.analyze("resnet18", overrides={"resolution": 320}, batch=2).totals["mults"]
    bad = CliRunner().invoke(cli, ["formula", "yolov8n", "--at", "resolution=100"])
    assert bad.exit_code == 2 and "resolution = 100 is not a multiple of 32" in bad.output
    for wrong in ("resolution=abc", "resolution=224.9", "resolution=224,320", "resolution=224,resolution=320"):
        r = CliRunner().invoke(cli, ["formula", "resnet18", "--at", wrong])
        assert r.exit_code == 2 and "--at" in r.output and "Traceback" not in r.output, wrong
    by_batch = CliRunner().invoke(cli, ["formula", "resnet18", "--at", "batch=4"])
    assert by_batch.exit_code == 0 and "N=4" in by_batch.output
    assert "Traceback" not in bad.output


def test_a_sweep_from_the_formula_equals_one_counted_cell_by_cell():
    axes = {"resolution": [96, 127, 224], "batch": [1, 3]}
    grid = api.sweep("mobilenet_v2", axes, metric="mults").grid
    assert hasattr(grid, "csv_text")                                  # evaluated from the formula
    for (r, n), vals in grid.cells.items():
        t = api.analyze("mobilenet_v2", overrides={"resolution": r}, batch=n).totals
        assert vals == {k: t[k] for k in vals}


def test_a_batch_axis_on_a_spec_that_is_not_a_size_sweep_counts_each_cell():
    grid = api.sweep("mobilenet_v2", {"alpha": [0.5, 1.0], "batch": [1, 2]}, metric="mults").grid
    assert not hasattr(grid, "csv_text")
    assert grid.cells[(0.5, 2)]["mults"] == 2 * grid.cells[(0.5, 1)]["mults"]


def test_a_million_cells_are_refused_only_above_the_formula_limit():
    r = CliRunner().invoke(cli, ["sweep", "mobilenet_v2", "--set", "alpha=0.5,0.75", "--set", "resolution=1..10000"])
    assert r.exit_code == 2 and "max_sweep_cells" in r.output


def test_a_keras_model_of_any_length_gives_t(tmp_path):
    """audio_k3's config with its time axis left free (batch_shape [None, None, 4]), as a
    model.to_json(): a formula in T and N; 'same' and causal paddings and strides exact."""
    import zipfile

    cfg = json.loads(zipfile.ZipFile(os.path.join(os.path.dirname(__file__), "keras_files", "audio_k3.keras"))
                     .read("config.json"))
    cfg["config"]["layers"][0]["config"]["batch_shape"] = [None, None, 4]
    path = tmp_path / "audio.json"
    path.write_text(json.dumps(cfg))
    f = api.formula(str(path), input_shape="1x64x4")
    assert set(f.variables) == {"T", "N"} and not f.fallbacks and len(f.checked) >= 20
    for t, n in ((64, 1), (97, 3), (1000, 2)):
        want = api.analyze(str(path), input_shape=f"{n}x{t}x4").totals
        got = f.evaluate({"T": t, "N": n})
        assert all(got[k] == want[k] for k in ("mults", "flops", "activations")), t


def test_a_sweep_over_a_size_plots_the_metric_against_it(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "curve.png"
    r = CliRunner().invoke(cli, ["sweep", "mobilenet_v2", "--set", "resolution=96..320:16", "--set", "batch=1,8",
                                 "--plot", str(out)])
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"
