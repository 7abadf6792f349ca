"""The CI gate says what CI means: a tolerance per metric, growth stated against the
baseline, a version difference as a warning, changed layers as numbers, JUnit cases named
by file with their time, errors counted as errors."""
import json
import xml.etree.ElementTree as ET

from click.testing import CliRunner

from cnncost.cli import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _baseline(tmp_path, *args):
    base = tmp_path / "base.json"
    assert run("report", "mobilenet_v1", "--format", "json", "-o", base, *args).exit_code == 0
    return base


def test_a_tolerance_per_metric(tmp_path):
    base = _baseline(tmp_path)
    # alpha 1.05 grows mults by ~10%, params by ~10%
    grow = ("check", "mobilenet_v1", "--baseline", base, "--allow-different", "--set", "alpha=1.05")
    r = run(*grow, "--max-increase", "mults=15%", "--max-increase", "params=15%", "--max-increase", "20%")
    assert r.exit_code == 0, r.output
    r = run(*grow, "--max-increase", "mults=5%", "--max-increase", "20%")
    assert r.exit_code == 1
    assert "baseline mults" in r.output and "FAIL baseline mults" in r.output
    assert "FAIL baseline params" not in r.output
    data = json.loads(run(*grow, "--max-increase", "mults=5%", "--max-increase", "20%", "--format", "json").output)
    checks = {c["check"]: c for c in data["architectures"][0]["checks"]}
    assert checks["baseline mults"]["tolerance"] == "5%" and checks["baseline params"]["tolerance"] == "20%"
    assert not checks["baseline mults"]["ok"] and checks["baseline flops"]["ok"]
    # without a common one, unnamed metrics allow nothing
    assert run(*grow, "--max-increase", "mults=50%").exit_code == 1


def test_growth_is_stated_against_the_baseline_and_limits_are_integers(tmp_path):
    base = _baseline(tmp_path)
    r = run("check", "mobilenet_v1", "--baseline", base, "--allow-different", "--set", "alpha=1.05",
            "--max-increase", "5%")
    assert r.exit_code == 1
    line = next(l for l in r.output.splitlines() if "FAIL baseline mults" in l)
    old = json.loads(base.read_text())["totals"]["mults"]
    assert f"mults +" in line and "over the baseline" in line and "(allowed 5%" in line.replace("allowed 5%:", "(allowed 5%")
    assert f"{old:,} ->" in line and f"at most {old * 105 // 100:,}" in line
    assert "." not in line.split("at most")[1].split(")")[0].replace(",", "")    # a whole number


def test_a_bad_per_metric_tolerance_is_exit_2(tmp_path):
    base = _baseline(tmp_path)
    for bad, needle in (("macs=5%", "unknown metric 'macs'"), ("mults=5%%", "--max-increase mults"),
                        ("mults=-5%", "--max-increase mults: expected a number")):
        r = run("check", "mobilenet_v1", "--baseline", base, "--max-increase", bad)
        assert r.exit_code == 2 and needle in r.output, (bad, r.output)


def test_another_version_is_a_warning_and_another_network_still_exit_2(tmp_path):
    base = _baseline(tmp_path)
    data = json.loads(base.read_text())
    data["provenance"]["cnncost_version"] = "0.0.1"
    base.write_text(json.dumps(data))
    r = run("check", "mobilenet_v1", "--baseline", base)
    assert r.exit_code == 0 and "warning: made by cnncost \"0.0.1\"" in r.output
    r = run("check", "resnet18", "--baseline", base)
    assert r.exit_code == 2 and "measured something else" in r.output


def test_changed_layers_are_the_ones_that_changed_capped_and_numbers_in_json(tmp_path):
    base = _baseline(tmp_path)
    args = ("check", "mobilenet_v1", "--baseline", base, "--allow-different", "--set", "alpha=0.5")
    r = run(*args)
    assert r.exit_code == 0 or r.exit_code == 1
    shown = [l for l in r.output.splitlines() if l.startswith("  ~ ")]
    assert len(shown) == 12 and "... and" in r.output and "more (all of them in --format json)" in r.output
    assert not any("relu" in l for l in shown)            # no params, no mults: never listed
    data = json.loads(run(*args, "--format", "json").output)
    changed = data["architectures"][0]["changed_layers"]
    assert len(changed) > 12 and all(isinstance(c["mults_after"], int) for c in changed)
    first = changed[0]
    assert set(first) >= {"layer", "change", "params_before", "params_after", "mults_before", "mults_after"}
    assert first["change"] == "changed" and first["mults_after"] < first["mults_before"]


def test_junit_cases_are_named_by_file_and_timed(tmp_path):
    a, b = tmp_path / "a" / "net.yaml", tmp_path / "b" / "net.yaml"
    for p, filters in ((a, 4), (b, 8)):
        p.parent.mkdir()
        p.write_text(f"name: same\ninput: [8, 8, 3]\nlayers: [{{kind: conv, filters: {filters}, kernel: 3}}]\n")
    out = tmp_path / "j.xml"
    r = run("check", a, b, "--max-params", "200", "--junit", out)
    cases = list(ET.fromstring(out.read_bytes()).iter("testcase"))
    assert [c.get("name") for c in cases] == [str(a), str(b)]
    assert all(float(c.get("time")) >= 0 for c in cases)
    assert r.exit_code == 1 and "1 passed, 1 failed" in r.output


def test_the_summary_counts_errors_as_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [4, 4, 1]\nlayers: [{kind: nope}]\n")
    r = run("check", bad, "resnet18")
    assert r.exit_code == 2 and "1 passed, 0 failed, 1 error" in r.output and "(error)" in r.output
