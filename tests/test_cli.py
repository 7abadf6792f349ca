"""The command line: formats, options, exit codes, check, budgets, baselines, JUnit."""
import csv
import io
import json
import xml.etree.ElementTree as ET

from click.testing import CliRunner

from cnncost.cli import cli


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_report_table_has_totals_and_conventions():
    r = run("report", "resnet18")
    assert r.exit_code == 0
    assert "11,689,512" in r.output and "1,814,073,344" in r.output
    assert "conventions" in r.output and "MACs" in r.output


def test_report_json_is_stable_and_documented_fields():
    r = run("report", "separable_example", "--format", "json")
    data = json.loads(r.output)
    assert set(data) >= {"name", "input_shape", "conventions", "layers", "totals"}
    assert set(data["layers"][0]) >= {"name", "kind", "output_shape", "params", "mults", "flops", "activations"}
    assert set(data["totals"]) >= {"params", "trainable_params", "non_trainable_params", "frozen_params",
                                   "mults", "flops", "activations"}
    assert [l["mults"] for l in data["layers"]] == [432, 240]


def test_depth_batch_and_set():
    r = run("report", "resnet50", "--depth", "1", "--format", "json", "--batch", "2",
            "--set", "resolution=112")
    data = json.loads(r.output)
    assert [l["name"] for l in data["layers"]][:5] == ["conv1", "bn1", "relu", "maxpool", "layer1"]
    assert len(data["layers"]) == 11 and data["batch"] == 2
    assert data["input_shape"] == [112, 112, 3]


def test_csv_and_markdown_formats():
    csv_out = run("report", "fnn_example", "--format", "csv").output
    assert "TOTAL" not in csv_out and not any(l.startswith("#") for l in csv_out.splitlines())
    assert "TOTAL,,1000,10001000" in run("report", "fnn_example", "--format", "csv", "--totals").output
    md = run("report", "fnn_example", "--format", "markdown").output
    assert "| fc | dense | 1000 | 10,001,000 | 10,000,000 |" in md and "Conventions" in md


def test_output_file_written_atomically(tmp_path):
    out = tmp_path / "r.json"
    r = run("report", "lenet5", "--format", "json", "--output", str(out))
    assert r.exit_code == 0 and r.output == ""
    assert json.loads(out.read_text())["totals"]["params"] == 61706
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_bad_output_path_is_exit_2(tmp_path):
    r = run("report", "lenet5", "--format", "json", "--output", str(tmp_path / "no" / "r.json"))
    assert r.exit_code == 2 and "does not exist" in r.output


def test_list_and_kinds():
    assert "resnet152" in run("list").output
    out = run("kinds").output
    assert "depthwise_conv" in out and "2 per MAC" in out


def test_check_all_bundled_passes_and_junit(tmp_path):
    junit = tmp_path / "check.xml"
    r = run("check", "--junit", str(junit))
    assert r.exit_code == 0, r.output
    suite = ET.parse(junit).getroot()
    assert int(suite.get("tests")) >= 24 and suite.get("failures") == "0"


def test_breaking_a_number_fails_check_with_a_readable_diff(tmp_path):
    from importlib import resources
    text = resources.files("cnncost.architectures").joinpath("resnet18.yaml").read_text()
    broken = text.replace("kernel: 7, stride: 2", "kernel: 5, stride: 2")
    assert broken != text
    path = tmp_path / "resnet18_broken.yaml"
    path.write_text(broken)
    r = run("check", str(path))
    assert r.exit_code == 1
    assert "FAIL" in r.output and "1,814,073,344" in r.output and "+176,470,720" in r.output and "-4,608" in r.output
    data = json.loads(run("check", str(path), "--format", "json").output)
    assert data["ok"] is False


def test_budgets_with_si_suffixes():
    assert run("check", "mobilenet_v1", "--max-mults", "600M", "--max-params", "5M").exit_code == 0
    r = run("check", "mobilenet_v1", "--max-mults", "500M")
    assert r.exit_code == 1 and "budget mults" in r.output
    r = run("check", "mobilenet_v1", "--max-mults", "lots")
    assert r.exit_code == 2 and "expected a number" in r.output


def test_tolerance_in_expect(tmp_path):
    spec = tmp_path / "t.yaml"
    spec.write_text("input: [6, 6, 3]\nlayers: [{kind: conv, filters: 5, kernel: 3}]\n"
                    "expect: {mults: {value: 2.2k, tolerance: 2%}, params: {value: 141, tolerance: 1}}\n")
    assert run("check", str(spec)).exit_code == 0
    spec.write_text(spec.read_text().replace("2%", "1%"))
    assert run("check", str(spec)).exit_code == 1


def test_baseline_detects_growth_and_names_changed_layers(tmp_path):
    base = tmp_path / "base.json"
    run("report", "mobilenet_v1", "--format", "json", "--output", str(base))
    assert run("check", "mobilenet_v1", "--baseline", str(base)).exit_code == 0
    r = run("check", "mobilenet_v1", "--set", "resolution=256", "--baseline", str(base),
            "--max-increase", "1%")
    assert r.exit_code == 2 and "measured something else" in r.output and "[224, 224, 3] vs [256, 256, 3]" in r.output
    r = run("check", "mobilenet_v1", "--set", "resolution=256", "--baseline", str(base),
            "--max-increase", "1%", "--allow-different")
    assert r.exit_code == 1
    assert "baseline mults" in r.output and "~ conv1.conv" in r.output and "baseline differs: input_shape" in r.output
    r = run("check", "mobilenet_v1", "--set", "resolution=256", "--baseline", str(base),
            "--max-increase", "50%", "--allow-different")
    assert r.exit_code == 0


def test_a_changed_spec_is_what_a_baseline_measures(tmp_path):
    """The spec's digest may differ (the model changed); the growth is reported."""
    from cnncost.spec import read_spec
    spec = tmp_path / "net.yaml"
    spec.write_bytes(read_spec("resnet18")[1])
    base = tmp_path / "base.json"
    assert run("report", str(spec), "--format", "json", "-o", str(base)).exit_code == 0
    assert json.loads(base.read_text())["provenance"]["spec_sha256"]
    spec.write_text(spec.read_text().replace("kernel: 7", "kernel: 9", 1))
    r = run("check", str(spec), "--baseline", str(base))
    assert r.exit_code == 1 and "spec changed (sha256" in r.output and "~ conv1" in r.output


def test_baselines_of_another_batch_dtype_or_network_are_refused(tmp_path):
    base = tmp_path / "base.json"
    run("report", "resnet18", "--format", "json", "--batch", "2", "--dtype", "float16", "-o", str(base))
    r = run("check", "resnet18", "--baseline", str(base))
    assert r.exit_code == 2 and "batch 2 vs 1" in r.output and '"float16" vs "float32"' in r.output
    r = run("check", "resnet34", "--baseline", str(base), "--allow-different")
    assert r.exit_code == 1 and 'network "resnet18" vs "resnet34"' in r.output
    data = json.loads(base.read_text())
    del data["provenance"]
    base.write_text(json.dumps(data))
    r = run("check", "resnet18", "--baseline", str(base))
    assert r.exit_code == 2 and "records no provenance" in r.output


def test_check_never_passes_by_accident(tmp_path):
    r = run("check", "resnet18", "--max-increase", "5%")
    assert r.exit_code == 2 and "--max-increase needs --baseline" in r.output
    r = run("check", "resnet18", "--set", "resolution=112")
    assert r.exit_code == 2 and "nothing to check" in r.output and "expect: skipped: --set resolution=112" in r.output
    r = run("check", "resnet18", "--set", "resolution=112", "--max-params", "20M")
    assert r.exit_code == 0 and "skipped" in r.output
    r = run("check", "resnet18", "--set", "resolution=112", "--max-params", "20M", "--strict")
    assert r.exit_code == 1
    plain = tmp_path / "plain.yaml"
    plain.write_text("input: [4, 4, 1]\nlayers: [{kind: relu}]\n")
    assert run("check", str(plain)).exit_code == 2


def test_dead_layers_warn_and_can_fail(tmp_path):
    spec = tmp_path / "dead.yaml"
    spec.write_text("input: [6, 6, 3]\nlayers:\n  - {name: normal, kind: conv, filters: 5, kernel: 3}\n"
                    "  - {name: other, inputs: input, kind: conv, filters: 5, kernel: 3}\nexpect: {mults: 4320}\n")
    r = run("check", str(spec))
    assert r.exit_code == 0 and "the output of normal is never read" in r.output
    r = run("check", str(spec), "--no-dead-layers")
    assert r.exit_code == 1 and "never read: normal" in r.output
    data = json.loads(run("report", str(spec), "--format", "json").output)
    assert data["dead_layers"] == ["normal"]


def test_budget_failures_say_by_how_much_and_take_byte_units():
    r = run("check", "resnet18", "--max-params", "5Mi")
    assert r.exit_code == 1
    assert "params 11,689,512 exceeds the limit 5,242,880 by 6,446,632 (+123.0%)" in r.output
    for ok in ("4.1G", "1e9", "20M", "12_000_000"):
        assert run("check", "resnet18", "--max-params", ok).exit_code in (0, 1), ok
    # a byte unit on a count is ambiguous: refused with the two spellings that are meant
    for bad in ("5MB", "5 MiB"):
        r = run("check", "resnet18", "--max-params", bad)
        assert r.exit_code == 2 and "--max-params 5M for params" in r.output and f"--max-weight-bytes {bad}" in r.output
    r = run("check", "resnet18", "--max-weight-bytes", "20MB")
    assert r.exit_code == 1 and "weight_bytes 46,796,448 exceeds the limit 20,000,000" in r.output
    assert run("check", "resnet18", "--max-weight-bytes", "50MB").exit_code == 0
    assert run("check", "resnet18", "--max-mults", "1.9G").exit_code == 0
    assert run("check", "resnet18", "--max-mults", "5 parsecs").exit_code == 2


def test_junit_is_valid_xml_for_hostile_names(tmp_path):
    spec = tmp_path / "x.yaml"
    spec.write_text('name: "a<b & \\"c\\" \\x01\\x1b[2J"\ninput: [4, 4, 1]\nlayers: [{kind: relu}]\n')
    out = tmp_path / "j.xml"
    run("check", str(spec), "resnet18", "--max-params", "1k", "--junit", str(out))
    root = ET.fromstring(out.read_bytes())
    assert {c.get("name") for c in root.iter("testcase")} >= {"resnet18"}
    assert root.get("tests") == "2"


def test_check_bad_spec_is_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [4, 4, 1]\nlayers: [{kind: nope}]\n")
    r = run("check", str(bad), "resnet18")
    assert r.exit_code == 2 and "unknown layer kind" in r.output


def test_python_module_entry_point():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "cnncost", "report", "fnn_example", "--format", "csv"],
                         capture_output=True, text=True, check=True).stdout
    assert "10001000" in out


def test_infinite_expectation_is_a_spec_error(tmp_path):
    spec = tmp_path / "t.yaml"
    spec.write_text("input: [4, 4, 1]\nlayers: [{kind: relu}]\nexpect: {params: .inf}\n")
    r = run("check", str(spec))
    assert r.exit_code == 2 and "expected a finite number" in r.output


def test_limit_option():
    r = run("--limit", "max_layers=10", "report", "resnet18")
    assert r.exit_code == 2 and "expands to more than 10 layers" in r.output
    assert "in block 'basic_block' used at resnet18.yaml:" in r.output
    r = run("--limit", "layers=1000000", "report", "resnet18", "--format", "csv")
    assert r.exit_code == 0
    r = run("--limit", "nonsense=3", "report", "resnet18")
    assert r.exit_code == 2 and "bad --limit" in r.output


def test_spec_file_is_never_modified(tmp_path):
    from importlib import resources
    text = resources.files("cnncost.architectures").joinpath("googlenet.yaml").read_bytes()
    path = tmp_path / "g.yaml"
    path.write_bytes(text)
    for args in (["report", str(path), "--format", "json", "--output", str(tmp_path / "o.json")],
                 ["check", str(path)], ["verify", str(path), "--set", "num_classes=10"]):
        assert run(*args).exit_code == 0
    assert path.read_bytes() == text


def test_bundled_names_work_from_any_directory(tmp_path):
    """The console script finds bundled specs inside the installed package, not a checkout."""
    import shutil
    import subprocess
    exe = shutil.which("cnncost")
    if exe is None:
        import pytest
        pytest.skip("the cnncost console script is not on PATH")
    out = subprocess.run([exe, "report", "resnet18", "--format", "csv"], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    assert "\nfc,dense,1000,513000," in out


def test_every_report_format_shows_savings_and_roofline(tmp_path):
    """One shape for every command: the extras asked for reach every format."""
    profile = tmp_path / "p.yaml"
    profile.write_text("name: testdev\npeak_flops: 5e10\nbandwidth: 1e10\n")
    for fmt in ("table", "json", "csv", "markdown", "dot", "mermaid"):
        r = run("report", "resnet18", "--rewrite", "separable", "--profile", str(profile), "--format", fmt)
        assert r.exit_code == 0, (fmt, r.output)
        if fmt == "json":
            data = json.loads(r.output)
            assert data["savings"]["rewrite"] == "separable" and len(data["savings"]["layers"]) == 17   # conv1 + 16 block 3x3s
            assert data["roofline"]["profile"]["name"] == "testdev"
            continue
        if fmt == "csv":     # the same rows, with more columns: no comments, no totals
            rows = list(csv.DictReader(io.StringIO(r.output)))
            first = next(row for row in rows if row["name"] == "layer4.block2.conv2.depthwise")
            assert first["rewrite_of"] == "layer4.block2.conv2" and first["original_mults"] == "115605504"
            assert all(float(row["est_seconds"]) >= 0 and row["bound"] for row in rows)
            continue
        assert "layer4.block2.conv2" in r.output and "1/512 + 1/9" in r.output, fmt
        assert "testdev" in r.output, fmt


def test_library_api_matches_the_cli():
    from cnncost import api
    res = api.report("resnet18", depth=1)
    assert res.totals["mults"] == 1814073344 and res.to_dict()["depth"] == 1
    assert api.check(["resnet18"]).exit_code == 0
    kinds = api.kinds()
    conv = next(k for k in kinds.kinds if k.name == "conv")
    assert ("groups", "int", "1", "") in conv.args and "kh x kw" in conv.mults
    assert "groups (int, default 1)" in run("kinds").output


def test_the_api_is_strictly_typed_and_ships_py_typed():
    import subprocess
    import sys
    from importlib import resources

    import pytest
    assert resources.files("cnncost").joinpath("py.typed").is_file()
    pytest.importorskip("mypy")
    import pathlib
    api = pathlib.Path(__file__).resolve().parents[1] / "cnncost" / "api.py"
    p = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(api)], capture_output=True, text=True,
                       cwd=api.parents[1])
    assert p.returncode == 0, p.stdout + p.stderr


def test_table_shows_flops_and_by_kind_groups_the_multiplications():
    r = run("report", "lenet5")
    assert "flops" in r.output and "239,904" in r.output
    r = run("report", "mobilenet_v1", "--by-kind", "--format", "json")
    rows = {row["name"]: row for row in json.loads(r.output)["by_kind"]}
    assert rows["conv (pointwise)"]["mults"] == 540_516_352 and rows["depthwise_conv (depthwise)"]["mults"] == 17_385_984
    assert sum(row["mults"] for row in rows.values()) == 568_740_352
    assert "conv (pointwise)" in run("report", "mobilenet_v1", "--by-kind").output
    csv_rows = list(csv.DictReader(io.StringIO(run("report", "mobilenet_v1", "--by-kind", "--format", "csv").output)))
    assert csv_rows[0]["name"] == "conv (pointwise)"


def test_training_states_the_memory_a_step_holds():
    data = json.loads(run("report", "resnet18", "--training", "--format", "json").output)
    t = data["totals"]
    x = t["training"]
    # what autograd keeps (tests/test_training_memory.py): PyTorch's 44,398,080 bytes at batch 2
    # are 22,179,840 per example and 38,400 of BN statistics
    assert x["stored_activation_bytes"] == sum(r["training"]["saved_bytes"] for r in data["layers"]) == 22_218_240
    assert x["training_memory_bytes"] == t["param_bytes"] + 4 * t["trainable_params"] + x["stored_activation_bytes"]
    assert "training step memory" in run("report", "resnet18", "--training").output


def _terminal(cmd, columns):
    """Run cnncost in a pseudo-terminal of `columns` columns; the screen's text."""
    import os
    import re
    import shutil
    import subprocess
    import pytest
    exe, script = shutil.which("cnncost"), shutil.which("script")
    if exe is None or script is None:
        pytest.skip("needs the console script and script(1)")
    out = subprocess.run([script, "-qc", f"{exe} {cmd}", "/dev/null"], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": str(columns), "LINES": "50"}, timeout=60).stdout
    return re.sub(r"\x1b\[[0-9;]*m", "", out)


def test_narrow_terminals_drop_columns_but_never_cut_names_or_numbers():
    out = _terminal("report resnet50", 80)
    assert "layer4.block3.conv3" in out.replace("\n", "") or "layer4.block3.conv" in out
    assert "4,089,184,256" in out and "…" not in out
    assert max(len(l) for l in out.splitlines()) <= 80
    out = _terminal("check resnet18", 60)
    assert "ok" in out and "1,814,073,344" in out and "…" not in out


def test_a_pipe_gets_full_rows_and_ascii_when_it_cannot_take_unicode():
    import os
    import shutil
    import subprocess
    import pytest
    exe = shutil.which("cnncost")
    if exe is None:
        pytest.skip("the cnncost console script is not on PATH")
    out = subprocess.run([exe, "report", "resnet50"], capture_output=True, text=True, check=True).stdout
    assert "layer4.block3.conv3 " in out and "…" not in out
    p = subprocess.run([exe, "report", "lenet5"], capture_output=True,
                       env={**os.environ, "PYTHONIOENCODING": "ascii"})
    assert p.returncode == 0 and b"Traceback" not in p.stderr
    p.stdout.decode("ascii")                               # pure ASCII
    assert b"+---" in p.stdout and b"#" in p.stdout


def test_errors_name_inputs_and_suggest_names(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text("input: [8, 8, 4]\nlayers:\n  - {name: a, kind: conv, filters: 4, kernel: 3, stride: 2, "
                    "padding: same}\n  - {name: b, kind: add, inputs: [a, input]}\n")
    r = run("report", str(spec))
    assert r.exit_code == 2 and "(inputs: 'a' 4x4x4, 'input' 8x8x4)" in r.output
    spec.write_text("input: [8, 8, 16]\nlayers:\n  - {name: a, use: se_block, ratoi: 4}\n")
    r = run("report", str(spec))
    assert r.exit_code == 2 and "m.yaml:3:" in r.output and "did you mean 'ratio'?" in r.output
    spec.write_text("input: [8, 8, 16]\nlayers:\n  - {name: a, kind: convv, filters: 3}\n")
    assert "did you mean 'conv'?" in run("report", str(spec)).output
    r = run("report", "lenet5", "--limit", "max_layers=5")          # global option after the command
    assert r.exit_code == 2 and "more than 5 layers" in r.output
