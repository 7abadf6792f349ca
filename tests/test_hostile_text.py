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
