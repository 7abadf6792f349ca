"""Memory traffic, arithmetic intensity, device profiles, roofline estimates, latency."""
import json

import pytest
from click.testing import CliRunner

from cnncost.analyses import roofline
from cnncost.cli import cli

from conftest import analyze_text


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_traffic_and_intensity_by_hand():
    rep = analyze_text("input: [8, 8, 4]\nlayers:\n  - {name: c, kind: conv, filters: 2, kernel: 3, bias: false}\n"
                       "  - {name: r, kind: relu}\n", dtype="float16")
    c, r = rep.layers
    # conv reads 8*8*4 inputs + 3*3*4*2 weights, writes 6*6*2 outputs, 2 bytes each
    assert (c.bytes_read, c.bytes_written) == ((256 + 72) * 2, 72 * 2)
    assert c.intensity == pytest.approx(c.flops / ((256 + 72 + 72) * 2))
    assert c.flops == 2 * 6 * 6 * 2 * 36
    assert (r.bytes_read, r.bytes_written, r.flops) == (144, 144, 72)
    assert rep.totals["bytes_read"] == c.bytes_read + r.bytes_read


def test_roofline_estimate_bounds():
    profile = roofline.Profile("toy", peak_flops=1e9, bandwidth=1e8)   # ridge: 10 FLOP/B
    rep = analyze_text("input: [32, 32, 64]\nlayers:\n  - {name: c, kind: conv, filters: 64, kernel: 3, padding: same}\n"
                       "  - {name: r, kind: relu}\n")
    est = {e.name: e for e in roofline.estimate(rep, profile)}
    assert est["c"].bound == "compute" and est["c"].seconds == pytest.approx(est["c"].flops / 1e9)
    assert est["r"].bound == "memory" and est["r"].seconds == pytest.approx(est["r"].bytes / 1e8)
    assert profile.ridge == 10


def test_spearman():
    assert roofline.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1)
    assert roofline.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1)
    assert roofline.spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(0.8660254)


def test_profile_loading_and_errors(tmp_path):
    good = tmp_path / "cpu.yaml"
    good.write_text("name: box\npeak_flops: 100G\nbandwidth: 2.5e10\n")
    p = roofline.load_profile(str(good))
    assert (p.peak_flops, p.bandwidth) == (1e11, 2.5e10)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: box\npeak_flops: lots\nbandwidth: 1\n")
    r = run("report", "lenet5", "--profile", str(bad))
    assert r.exit_code == 2 and "bad.yaml:2:1: peak_flops: expected a number" in r.output
    bad.write_text("peak_flop: 1\n")
    r = run("report", "lenet5", "--profile", str(bad))
    assert r.exit_code == 2 and "unknown key 'peak_flop'" in r.output


def test_calibrate_measures_positive_numbers(tmp_path):
    p = roofline.calibrate(matmul_n=128, copy_mb=4, repeat=1)
    assert p.peak_flops > 1e6 and p.bandwidth > 1e6
    out = tmp_path / "cpu.yaml"
    assert run("calibrate", "--output", str(out)).exit_code == 0
    assert roofline.load_profile(str(out)).peak_flops > 0


@pytest.fixture
def profile_file(tmp_path):
    path = tmp_path / "cpu.yaml"
    path.write_text(roofline.profile_yaml(roofline.Profile("test", 5e10, 1e10, "fixed for tests")))
    return str(path)


def test_report_with_profile(profile_file):
    r = run("report", "lenet5", "--profile", profile_file, "--format", "json")
    data = json.loads(r.output)
    assert r.exit_code == 0 and data["roofline"]["profile"]["peak_flops"] == 5e10
    assert {l["bound"] for l in data["roofline"]["layers"]} <= {"compute", "memory", "-"}
    assert "roofline on test" in run("report", "lenet5", "--profile", profile_file).output


def test_latency_and_compare_with_measured_time(profile_file):
    r = run("latency", "lenet5", "--profile", profile_file, "--repeat", "2", "--format", "json")
    data = json.loads(r.output)
    assert r.exit_code == 0 and -1 <= data["spearman_rho"] <= 1
    assert all("measured_seconds" in l for l in data["layers"]) and data["measured_seconds"] > 0
    r = run("compare", "lenet5", "fashion_mnist_cnn", "--profile", profile_file, "--repeat", "2",
            "--format", "json")
    metrics = json.loads(r.output)["metrics"]
    assert {"estimated_seconds", "measured_seconds", "mults"} <= set(metrics)
    assert metrics["estimated_seconds"]["ratio_to_first"][1] > 1


def test_roofline_plot(tmp_path, profile_file):
    pytest.importorskip("matplotlib")
    out = tmp_path / "roof.png"
    r = run("latency", "lenet5", "--profile", profile_file, "--repeat", "1", "--plot", str(out))
    assert r.exit_code == 0 and out.read_bytes()[:4] == b"\x89PNG"


def test_profile_rows_fold_with_depth(profile_file):
    """`--profile --depth 1` folded the cost table but printed all ~150 roofline rows."""
    full = json.loads(run("report", "resnet50", "--profile", profile_file, "--format", "json").output)
    r = run("report", "resnet50", "--profile", profile_file, "--depth", "1", "--format", "json")
    folded = json.loads(r.output)
    names = [row["name"] for row in folded["layers"]]
    assert [e["name"] for e in folded["roofline"]["layers"]] == names
    layer3 = next(e for e in folded["roofline"]["layers"] if e["name"] == "layer3")
    members = [e for e in full["roofline"]["layers"] if e["name"].startswith("layer3.")]
    assert layer3["flops"] == sum(e["flops"] for e in members) and layer3["kind"] == "block"
    assert layer3["seconds"] == pytest.approx(sum(e["seconds"] for e in members))
    assert folded["roofline"]["total_seconds"] == pytest.approx(full["roofline"]["total_seconds"])
    table = run("report", "resnet50", "--profile", profile_file, "--depth", "1").output
    roof = table[table.index("roofline on"):]
    assert "layer3.block1" not in roof and "│ layer3 " in roof
    csv_text = run("report", "resnet50", "--profile", profile_file, "--depth", "1", "--format", "csv").output
    assert len(csv_text.splitlines()) == len(names) + 1
