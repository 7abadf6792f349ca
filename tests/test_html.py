"""`--format html`: one self-contained page per report or comparison. The page itself is
checked here without a browser (offline, one row per layer, escaped names, size); its
behaviour in headless Chromium in test_html_browser.py."""
import json
import re

import pytest
from click.testing import CliRunner

import cnncost
from cnncost.cli import cli
from cnncost.render import render


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def page_data(text):
    """The page's data, its rows made objects again as the page's script makes them."""
    data = json.loads(re.search(r'<script type="application/json" id="cnncost-data">(.*?)</script>', text, re.S).group(1))
    for n in data["networks"]:
        n["rows"] = [dict(zip(n["row_fields"], v)) for v in n.pop("row_values")]
        n["formulas"] = {name: n["formula_texts"][i] for name, i in n["formula_of"].items()}
    return data


def test_a_report_page_is_self_contained(tmp_path):
    out = tmp_path / "r.html"
    r = run("report", "resnet50", "--format", "html", "-o", out)
    assert r.exit_code == 0
    text = out.read_text()
    assert text.startswith("<!doctype html>")
    # nothing is fetched: no linked scripts, styles, fonts or images
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", text)
    assert "@import" not in text and "url(" not in text
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text)


def test_one_row_per_layer_and_sortable_headers():
    from cnncost.render.report import ROW_FIELDS

    rep = cnncost.report("resnet50")
    text = render(rep, "html")
    data = page_data(text)["networks"][0]
    # the table the script draws: the CSV's columns, one row per layer
    assert data["columns"] == list(ROW_FIELDS) and len(data["rows"]) == rep.report.totals["layers"]
    assert data["rows"] == rep.report.to_dict()["layers"]          # the JSON report's rows
    assert [r["name"] for r in data["rows"]] == [r.name for r in rep.report.layers]
    assert data["totals"]["mults"] == 4_089_184_256
    # the numbers behind the charts are the report's
    assert data["cumulative_mults"][-1] == rep.report.totals["mults"]
    assert max(data["live_bytes"]) == data["peak_bytes"] == rep.report.totals["peak_activation_bytes"]
    assert data["block_sums"]["layer3"]["mults"] == sum(r.mults for r in rep.report.layers if r.name.startswith("layer3."))
    assert data["formulas"]["conv1"][-1].startswith("mults = ")


def test_compare_page_names_every_network():
    text = render(cnncost.compare(["resnet50", "mobilenet_v2", "resnet18@resolution=160"]), "html")
    data = page_data(text)
    assert data["labels"] == ["resnet50", "mobilenet_v2", "resnet18@resolution=160"]
    assert [n["name"] for n in data["networks"]] == ["resnet50", "mobilenet_v2", "resnet18"]
    assert "<th>mobilenet_v2</th>" in text and 'data-metric="mults"' in text


def test_names_cannot_break_out_of_the_page(tmp_path):
    spec = tmp_path / "x.yaml"
    spec.write_text('name: "</script><img src=x>"\ninput: [4, 4, 1]\nlayers:\n'
                    '  - {name: "a<b>&c", kind: relu}\n')
    text = render(cnncost.report(str(spec)), "html")
    assert "</script><img" not in text and "<b>&c" not in text and "<img" not in text
    assert page_data(text)["networks"][0]["rows"][0]["name"] == "a<b>&c"     # the script sets it as text


def test_resnet152_page_is_under_3_mb():
    text = render(cnncost.report("resnet152"), "html")
    assert len(text.encode()) < 3_000_000


def test_an_onnx_model_and_a_profile_go_in_too(tmp_path):
    pytest.importorskip("onnx")
    from test_onnx_import import torch_style_model
    model = torch_style_model(tmp_path / "tiny.onnx")
    out = tmp_path / "tiny.html"
    assert run("report", model, "--format", "html", "-o", out).exit_code == 0
    assert "ONNX model" in out.read_text()
    prof = tmp_path / "p.yaml"
    prof.write_text("name: toy\npeak_flops: 1e11\nbandwidth: 1e10\n")
    r = run("report", "lenet5", "--profile", prof, "--format", "html")
    assert r.exit_code == 0, r.output
    assert page_data(r.output)["networks"][0]["has_seconds"] is True


def test_the_page_carries_each_layer_s_window_and_the_roofline_totals(tmp_path):
    """What the nodes and the header show comes from the analysis: each windowed layer's
    kernel, stride, padding, groups and channels, and the roofline's total and memory-bound
    share (the script formats them, it does not compute them)."""
    prof = tmp_path / "p.yaml"
    prof.write_text("name: toy\npeak_flops: 1e11\nbandwidth: 1e10\n")
    result = cnncost.report("mobilenet_v2", profile=str(prof))
    net = page_data(render(result, "html"))["networks"][0]
    assert net["windows"] == result.report.windows()
    assert net["windows"]["conv1.conv"] == {"kernel": [3, 3], "stride": [2, 2], "dilation": [1, 1],
                                            "padding": [1, 1, 1, 1], "groups": 1, "channels": 32}
    dw = net["windows"]["stage2.block1.dw"]                      # depthwise: a group per input channel
    assert dw["groups"] == dw["channels"] == 96 and dw["stride"] == [2, 2]
    assert "stage2.block1.dw_bn" not in net["windows"]             # no window, no entry
    roof = net["roofline"]
    assert roof["total_seconds"] == result.roofline.total_seconds > 0
    assert roof["memory_share"] == result.roofline.memory_share and roof["profile"] == "toy"
    assert page_data(render(cnncost.report("mobilenet_v2"), "html"))["networks"][0]["roofline"] is None


def test_the_readme_s_pictures_show_what_the_tool_says_now(tmp_path):
    """docs/page-*.png are screenshots of the tool's pages (python docs/screenshots.py): each
    keeps its page's names, conventions and totals, which must be today's (page-compare.png
    showed a conventions line the tool no longer printed)."""
    import importlib.util
    from pathlib import Path

    Image = pytest.importorskip("PIL.Image")
    docs = Path(__file__).resolve().parent.parent / "docs"
    spec = importlib.util.spec_from_file_location("screenshots", docs / "screenshots.py")
    shots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shots)
    for name, (result, _) in shots.results(tmp_path).items():
        shown = Image.open(docs / name).text.get(shots.KEY)
        assert shown == shots.page_words(render(result, "html")), \
            f"docs/{name} shows another page than the tool writes now: run python docs/screenshots.py"
        assert Image.open(docs / name).size[0] == shots.WINDOW[0] and (docs / name).stat().st_size < 150_000
