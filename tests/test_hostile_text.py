"""Text from a file reaches terminals, spreadsheets and Markdown as text: control characters
escaped, no formula cell, no extra column or row (issue: names and producer strings carrying
ESC/OSC sequences, BEL, \\r, `=`, `|`)."""
import csv
import io
import json

import pytest
from click.testing import CliRunner

from cnncost.cli import cli

ESC = "\x1b]0;pwned\x07\x1b[2J"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def spec(tmp_path, name="net", layer="conv"):
    path = tmp_path / "net.yaml"
    path.write_text(json.dumps({"name": name, "input": [8, 8, 3],
                                "layers": [{"name": layer, "kind": "conv", "filters": 4, "kernel": 3}]}))
    return path


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "dot", "mermaid", "json"])
def test_a_spec_name_with_escape_sequences_is_shown_escaped(tmp_path, fmt):
    r = run("report", spec(tmp_path, name=f"net{ESC}\rtail"), "--format", fmt)
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.output and "\x07" not in r.output and "\r" not in r.output


def test_a_layer_name_with_control_characters_is_refused(tmp_path):
    r = run("report", spec(tmp_path, layer=f"conv{ESC}"))
    assert r.exit_code == 2 and "control characters" in r.output and "\x1b" not in r.output


def test_onnx_producer_name_is_escaped(tmp_path):
    onnx = pytest.importorskip("onnx")
    path = tmp_path / "lenet.onnx"
    assert run("export", "lenet5", "-o", path).exit_code == 0
    model = onnx.load(str(path))
    model.producer_name = f"evil{ESC}"
    onnx.save(model, str(path))
    for fmt in ("table", "markdown", "csv"):
        r = run("report", path, "--format", fmt)
        assert r.exit_code == 0 and "\x1b" not in r.output and "\x07" not in r.output


@pytest.mark.parametrize("name", ["=HYPERLINK(1)", "+1+2", "-2+3", "@SUM(A1)"])
def test_csv_cells_that_would_be_formulas_are_neutralised(tmp_path, name):
    r = run("report", spec(tmp_path, layer=name), "--format", "csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.reader(io.StringIO(r.output)))
    assert rows[1][0] == "'" + name
    r = run("compare", spec(tmp_path, layer=name), "--format", "csv")
    assert all(not cell.startswith(("=", "+", "@")) for row in csv.reader(io.StringIO(r.output)) for cell in row)


def test_a_pipe_in_a_name_adds_no_markdown_column(tmp_path):
    r = run("report", spec(tmp_path, name="a|b", layer="c|d"), "--format", "markdown")
    assert r.exit_code == 0
    row = next(line for line in r.output.splitlines() if "c\\|d" in line)
    assert row.count("|") - row.count("\\|") == 8          # the table's own 7 columns


def test_baseline_layer_names_are_escaped(tmp_path):
    base = json.loads(run("report", "lenet5", "--format", "json").output)
    base["layers"][0]["name"] = f"c1{ESC}"
    base["layers"][0]["params"] += 1
    path = tmp_path / "base.json"
    path.write_text(json.dumps(base))
    r = run("check", "lenet5", "--baseline", path)
    assert "c1\\x1b]0;pwned\\x07" in r.output          # named, escaped
    assert "\x1b" not in r.output and "\x07" not in r.output


# ---- writes ------------------------------------------------------------------------------
def test_a_read_only_output_is_refused_not_replaced(tmp_path):
    import os
    import stat

    target = tmp_path / "r.json"
    target.write_text("keep")
    os.chmod(target, 0o444)
    r = run("report", "lenet5", "--format", "json", "-o", target)
    assert r.exit_code == 2 and "read-only" in r.output
    assert target.read_text() == "keep" and stat.S_IMODE(os.stat(target).st_mode) == 0o444


def test_a_fifo_with_no_reader_is_refused_within_seconds(tmp_path, monkeypatch):
    import os
    import time

    from cnncost import files

    monkeypatch.setattr(files, "FIFO_WAIT_SECONDS", 0.5)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    start = time.monotonic()
    r = run("report", "lenet5", "-o", fifo)
    assert r.exit_code == 2 and "no process reads this FIFO" in r.output
    assert time.monotonic() - start < 5


def test_import_writes_the_spec_and_its_weights_or_neither(tmp_path):
    pytest.importorskip("onnx")
    model = tmp_path / "lenet.onnx"
    assert run("export", "lenet5", "-o", model).exit_code == 0
    spec_out, weights_out = tmp_path / "out.yaml", tmp_path / "missing" / "out.npz"
    r = run("import", model, "-o", spec_out, "--weights-out", weights_out)
    assert r.exit_code == 2 and "does not exist" in r.output
    assert not spec_out.exists() and not list(tmp_path.glob(".out.yaml.*"))
    assert run("import", model, "-o", spec_out, "--weights-out", tmp_path / "out.npz").exit_code == 0
    assert spec_out.exists() and (tmp_path / "out.npz").exists()


def test_a_hyphenated_layer_name_is_a_name_not_arithmetic(tmp_path):
    """Keras names layers `data-augmentation`; an input naming one was read as a - b."""
    path = tmp_path / "hy.yaml"
    path.write_text("input: [8, 8, 3]\nlayers:\n  - {name: data-augmentation, kind: relu}\n"
                    "  - {name: conv, kind: conv, filters: 4, kernel: 3, inputs: data-augmentation}\n")
    r = run("report", path, "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["layers"][1]["inputs"] == ["data-augmentation"]


def test_a_refusal_quoting_a_huge_text_is_cut(tmp_path):
    equation = "a" * 100_000 + "->a"
    path = tmp_path / "eq.yaml"
    path.write_text(json.dumps({"input": [4, 4], "layers": [{"kind": "einsum", "equation": equation}]}))
    r = run("report", path)
    assert r.exit_code == 2 and len(r.output) < 3000 and "more characters not shown" in r.output
