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
    # without a common one, only the named metrics are gated (test_named_tolerances_gate_only_those)
    assert run(*grow, "--max-increase", "mults=50%").exit_code == 0


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
    for bad, needle in (("macs=5%", "unknown metric 'macs'"), ("mults=5%%", "--max-increase mults=5%%:"),
                        ("mults=-5%", "--max-increase mults=-5%: the allowed growth cannot be negative"),
                        ("5%%", "--max-increase 5%%: expected a number")):
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


def test_named_tolerances_gate_only_those_and_say_so(tmp_path):
    """`--max-increase mults=5%` alone means "gate the MACs": params growing +248% (alpha 2)
    is shown, not failed; with a tolerance for every metric too, every metric is gated."""
    base = _baseline(tmp_path)
    grow = ("check", "mobilenet_v1", "--baseline", base, "--allow-different", "--set", "alpha=2")
    r = run(*grow, "--max-increase", "mults=500%")
    assert r.exit_code == 0, r.output
    assert "FAIL" not in r.output
    note = next(line for line in r.output.splitlines() if "gating" in line)
    assert "gating mults only" in note and "not gated: params 4,231,976 -> 14,742,120 (+248.4%)" in note
    assert "flops" in note and "activations" in note
    data = json.loads(run(*grow, "--max-increase", "mults=500%", "--format", "json").output)
    assert [c["check"] for c in data["architectures"][0]["checks"]] == ["baseline mults"]
    assert any("gating mults only" in n for n in data["architectures"][0]["notes"])
    r = run(*grow, "--max-increase", "mults=500%", "--max-increase", "flops=500%")
    assert r.exit_code == 0 and "gating mults, flops only, as --max-increase names them" in r.output
    r = run(*grow, "--max-increase", "mults=10%")            # the gated metric itself still fails
    assert r.exit_code == 1 and "FAIL baseline mults" in r.output
    r = run(*grow, "--max-increase", "mults=500%", "--max-increase", "0")
    assert r.exit_code == 1 and "FAIL baseline params" in r.output and "gating" not in r.output
    assert run(*grow).exit_code == 1                          # nothing named: every metric, at 0


def test_a_negative_or_doubled_tolerance_speaks_of_what_was_typed(tmp_path):
    base = _baseline(tmp_path)
    r = run("check", "mobilenet_v1", "--baseline", base, "--max-increase", "-5%")
    assert r.exit_code == 2 and r.output == ("error: --max-increase -5%: the allowed growth cannot be negative "
                                             "(a decrease always passes; say --max-increase 5% to allow that "
                                             "much growth)\n"), r.output
    r = run("check", "mobilenet_v1", "--baseline", base, "--max-increase", "mults=-5%")
    assert "say --max-increase mults=5%" in r.output and "params" not in r.output
    r = run("check", "mobilenet_v1", "--baseline", base, "--max-increase", "5%", "--max-increase", "10%")
    assert r.exit_code == 2 and "a tolerance for every metric given twice (5% and 10%)" in r.output
    r = run("check", "mobilenet_v1", "--baseline", base, "--max-increase", "mult=5%")
    assert r.exit_code == 2 and "unknown metric 'mult' (did you mean 'mults'?)" in r.output
    # an expect: tolerance cannot be negative either
    spec = tmp_path / "t.yaml"
    spec.write_text("name: t\ninput: [8, 8, 3]\nlayers: [{kind: conv, filters: 4, kernel: 3}]\n"
                    "expect: {params: {value: 112, tolerance: -1%}}\n")
    r = run("check", spec)
    assert r.exit_code == 2 and "tolerance: a tolerance cannot be negative, received '-1%'" in r.output, r.output


def test_a_baseline_at_batch_8_or_int8_is_checked_at_that_setting(tmp_path):
    for args in (("--batch", 8), ("--dtype", "int8"), ("--batch", 2, "--dtype", "float16")):
        base = _baseline(tmp_path, *args)
        assert run("check", "mobilenet_v1", "--baseline", base).exit_code == 2       # another setting
        r = run("check", "mobilenet_v1", "--baseline", base, *args)
        assert r.exit_code == 0, (args, r.output)
        # the expect: block (per image, float32) still holds, checked where its numbers are
        assert "expect: checked at batch 1, float32" in r.output
        data = json.loads(run("check", "mobilenet_v1", "--baseline", base, *args, "--format", "json").output)
        checks = [c["check"] for c in data["architectures"][0]["checks"] if c["ok"]]
        assert checks == ["params", "mults", "output_shape", "baseline params", "baseline mults",
                          "baseline flops", "baseline activations"]
    base = _baseline(tmp_path, "--batch", 8)
    data = json.loads(run("check", "mobilenet_v1", "--baseline", base, "--batch", 8, "--format", "json").output)
    checks = {c["check"]: c for c in data["architectures"][0]["checks"]}
    assert checks["mults"]["actual"] == 568_740_352 and checks["mults"]["ok"]              # per image
    assert checks["baseline mults"]["actual"] == 8 * 568_740_352                           # at batch 8
    # budgets are at the setting too: the weights in int8 are a quarter of float32's
    r = run("check", "mobilenet_v1", "--dtype", "int8", "--max-weight-bytes", "4.3MB")
    assert r.exit_code == 0, r.output
    assert run("check", "mobilenet_v1", "--max-weight-bytes", "4.3MB").exit_code == 1
    assert run("check", "mobilenet_v1", "--batch", 8, "--max-mults", "1G").exit_code == 1


def test_a_folder_as_baseline_or_junit_is_one_line(tmp_path):
    for args, message in ((("--baseline", tmp_path), f"error: baseline {tmp_path}: is a folder\n"),
                          (("--baseline", tmp_path / "none.json"), f"error: baseline {tmp_path / 'none.json'}: "
                                                                   "no such file\n"),
                          (("--max-params", "5M", "--junit", tmp_path), f"error: cannot write {tmp_path}: it is a "
                                                                         "folder\n")):
        r = run("check", "mobilenet_v1", *args)
        assert r.exit_code == 2 and r.output == message, r.output
