"""The HTML page in a real browser: headless Chromium (Debian's chromium and
chromium-driver, driven by selenium). No console error; one row per layer; sorting by
mults puts the largest layer first; clicking a node selects its row and a row its node;
folding a block hides its children; the compare page names every network. A screenshot
of each page is kept in tests/artifacts/. Skipped, with the reason, where there is no
browser (`.ci/run` installs it)."""
import os
import shutil
import time
from pathlib import Path

import pytest

import cnncost
from cnncost.render import render

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.webdriver.common.by import By  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="no chromium and chromedriver on this machine")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def open_page(browser, tmp_path, result, name):
    path = tmp_path / f"{name}.html"
    path.write_text(render(result, "html"), encoding="utf-8")
    browser.get(path.as_uri())
    deadline = time.monotonic() + 30
    while browser.execute_script("return document.documentElement.getAttribute('data-ready')") != "true":
        assert time.monotonic() < deadline, "the page never became ready"
        time.sleep(0.02)
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
    return path


def keep(browser, name):
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def test_report_page_rows_sorting_and_selection(browser, tmp_path):
    result = cnncost.report("resnet50")
    layers = result.report.layers
    open_page(browser, tmp_path, result, "resnet50")
    keep(browser, "resnet50-graph")
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr[data-row]")) == len(layers)
    browser.find_element(By.CSS_SELECTOR, 'button[data-view="table"]').click()
    browser.find_element(By.CSS_SELECTOR, 'th[data-sort="mults"]').click()
    first = browser.find_element(By.CSS_SELECTOR, "tbody tr[data-row]").get_attribute("data-row")
    assert first == max(layers, key=lambda r: r.mults).name
    keep(browser, "resnet50-table")
    fc = browser.find_element(By.CSS_SELECTOR, 'tr[data-row="fc"]').get_attribute("textContent")
    assert "global" in fc and "2,049,000" in fc          # the CSV's cells, as the CSV writes them
    # a row selects its node (unfolding its blocks), and a node its row
    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-row="layer3.block2.conv2"]')
    row.click()
    node = browser.find_element(By.CSS_SELECTOR, '[data-layer="layer3.block2.conv2"]')
    assert "selected" in node.get_attribute("class")
    browser.find_element(By.CSS_SELECTOR, '[data-layer="layer3.block2.conv1"]').click()
    selected = browser.find_elements(By.CSS_SELECTOR, "tr.selected")
    assert [r.get_attribute("data-row") for r in selected] == ["layer3.block2.conv1"]
    browser.find_element(By.CSS_SELECTOR, 'button[data-view="charts"]').click()
    assert browser.find_elements(By.CSS_SELECTOR, '[data-chart="live"] circle[data-peak]')
    keep(browser, "resnet50-charts")


def test_folding_a_block_hides_its_children(browser, tmp_path):
    open_page(browser, tmp_path, cnncost.report("resnet18"), "resnet18")
    browser.find_element(By.ID, "fold-all").click()
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-layer^="layer2."]')
    browser.find_element(By.CSS_SELECTOR, '[data-layer="layer2"]').click()
    children = browser.find_elements(By.CSS_SELECTOR, '[data-layer^="layer2."]')
    assert children and not browser.find_elements(By.CSS_SELECTOR, 'g[data-layer="layer2"]')
    browser.find_element(By.CSS_SELECTOR, '[data-fold="layer2"]').click()
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-layer^="layer2."]')
    assert browser.find_elements(By.CSS_SELECTOR, 'g[data-layer="layer2"]')


def test_filter_and_keyboard(browser, tmp_path):
    from selenium.webdriver.common.keys import Keys

    open_page(browser, tmp_path, cnncost.report("resnet18"), "resnet18-keys")
    browser.find_element(By.ID, "fold-all").click()
    block = browser.find_element(By.CSS_SELECTOR, 'g[data-layer="layer1"]')
    browser.execute_script("arguments[0].focus()", block)
    block.send_keys(Keys.ENTER)
    assert browser.find_elements(By.CSS_SELECTOR, '[data-layer^="layer1."]')
    browser.find_element(By.CSS_SELECTOR, 'button[data-view="table"]').click()
    box = browser.find_element(By.ID, "filter")
    box.send_keys("add")
    shown = [r for r in browser.find_elements(By.CSS_SELECTOR, "tr[data-row]") if r.is_displayed()]
    assert shown and all("add" in r.get_attribute("data-row") or "add" in r.get_attribute("data-kind")
                         for r in shown)


def test_compare_page_names_every_network(browser, tmp_path):
    labels = ["resnet50", "mobilenet_v2", "separable_example@way=normal"]
    open_page(browser, tmp_path, cnncost.compare(labels), "compare")
    keep(browser, "compare-totals")
    header = browser.find_element(By.ID, "header").text
    assert all(label in header for label in labels)
    browser.find_element(By.CSS_SELECTOR, 'button[data-view="graph"]').click()
    graphs = browser.find_elements(By.CSS_SELECTOR, ".graph[data-network]")
    assert [g.get_attribute("data-network") for g in graphs] == labels
    browser.find_element(By.CSS_SELECTOR, 'button[data-view="charts"]').click()
    keep(browser, "compare-charts")


def graph_box(browser, css=".graph"):
    return browser.execute_script(
        "var b = document.querySelector(arguments[0]), s = b.querySelector('svg.dag');"
        "var r = b.getBoundingClientRect();"
        "return {left: r.left, top: r.top, width: r.width, svg: s.getBoundingClientRect().width,"
        "        columns: Number(s.getAttribute('data-columns')), window: window.innerWidth,"
        "        scrolls: b.scrollHeight > b.clientHeight + 1};", css)


def test_the_graph_fills_the_window(browser, tmp_path):
    """A network too long for one column runs on in the next, as a newspaper's: ResNet-50
    opens with its sixteen bottlenecks across the window and nothing to scroll (it was one
    column of its top-level blocks, 280 px of 1,400, scrolled through)."""
    open_page(browser, tmp_path, cnncost.report("resnet50"), "resnet50-fill")
    box = graph_box(browser)
    assert box["columns"] >= 3 and box["svg"] >= 0.6 * box["window"], box
    assert not box["scrolls"], box
    assert browser.find_elements(By.CSS_SELECTOR, 'g[data-layer="layer3.block6"]')   # opened as deep as fits
    keep(browser, "resnet50-columns")
    browser.find_element(By.ID, "expand-all").click()           # every layer: longer columns, as wide
    box = graph_box(browser)
    assert box["svg"] >= 0.5 * box["window"] and box["svg"] <= box["width"], box
    overlapping = browser.execute_script(
        "var r = Array.prototype.map.call(document.querySelectorAll('g.node rect'), function (e) {"
        "  var b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; }), bad = 0;"
        "for (var i = 0; i < r.length; i++) for (var j = i + 1; j < r.length; j++)"
        "  if (r[i][0] < r[j][2] && r[j][0] < r[i][2] && r[i][1] < r[j][3] && r[j][1] < r[i][3]) bad++;"
        "return bad;")
    assert overlapping == 0


def test_compare_graphs_stand_side_by_side(browser, tmp_path):
    labels = ["resnet50", "mobilenet_v2", "vgg16"]
    open_page(browser, tmp_path, cnncost.compare(labels), "compare-side")
    browser.find_element(By.CSS_SELECTOR, 'button[data-view="graph"]').click()
    boxes = [graph_box(browser, f'.graph[data-network="{label}"]') for label in labels]
    assert len({round(b["top"]) for b in boxes}) == 1, boxes          # one row, not stacked
    assert boxes[0]["left"] < boxes[1]["left"] < boxes[2]["left"]
    assert boxes[2]["left"] + boxes[2]["width"] <= boxes[2]["window"]
    assert all(b["svg"] <= b["width"] for b in boxes), boxes          # each graph laid out in its own box
    keep(browser, "compare-graphs")


def node_texts(browser, path):
    return browser.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll("
        "'g[data-layer=\"' + arguments[0] + '\"] text'), function (t) { return t.textContent; });", path)


def test_nodes_say_kernel_stride_and_channels_and_show_whole(browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains

    open_page(browser, tmp_path, cnncost.report("mobilenet_v2"), "mobilenet-labels")
    browser.find_element(By.ID, "expand-all").click()
    assert "conv 3×3/2, 32" in node_texts(browser, "conv1.conv")
    assert "depthwise_conv 3×3, 32, g32" in node_texts(browser, "stage1.block1.dw")
    assert "depthwise_conv 3×3/2, 96, g96" in node_texts(browser, "stage2.block1.dw")
    assert any(t.startswith("112x112x32") for t in node_texts(browser, "conv1.bn"))    # the shape whole
    # no text is cut off nor runs past its node's box
    cut = browser.execute_script(
        "var bad = [];"
        "document.querySelectorAll('g.node').forEach(function (g) {"
        "  var w = Number(g.querySelector('rect').getAttribute('width'));"
        "  g.querySelectorAll('text').forEach(function (t) {"
        "    if (t.textContent.indexOf('…') >= 0 || Number(t.getAttribute('x')) + t.getComputedTextLength() > w)"
        "      bad.push(g.getAttribute('data-layer') + ': ' + t.textContent);"
        "  });"
        "});"
        "return bad;")
    assert not cut, cut[:5]
    node = browser.find_element(By.CSS_SELECTOR, 'g[data-layer="stage2.block1.dw"]')
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", node)
    ActionChains(browser).move_to_element(node).perform()
    tip = browser.find_element(By.ID, "tip").text
    assert "kernel 3×3, stride 2, padding 1,1,1,1, dilation 1, groups 96, 96 output channels" in tip, tip


def test_a_network_of_several_inputs_draws_each(browser, tmp_path):
    """Each input is a node named as the spec names it, its shape on its edges (the page
    stopped at its first edge from `tokens`: it knew one input, `input`)."""
    spec = Path(__file__).resolve().parent / "specs" / "two_inputs_two_outputs.yaml"
    open_page(browser, tmp_path, cnncost.report(str(spec)), "two-inputs")
    assert node_texts(browser, "image") == ["image", "8x8x3", ""]
    assert node_texts(browser, "tokens") == ["tokens", "4x6", ""]
    assert len(browser.find_elements(By.CSS_SELECTOR, "g.node")) == 2 + 10


def test_a_profile_puts_the_estimate_in_the_header(browser, tmp_path):
    import math

    profile = tmp_path / "p.yaml"
    profile.write_text("name: laptop\npeak_flops: 1e11\nbandwidth: 2e10\n")
    result = cnncost.report("resnet50", profile=str(profile))
    open_page(browser, tmp_path, result, "resnet50-profile")
    header = {e.get_attribute("data-total"): e.text for e in browser.find_elements(By.CSS_SELECTOR, "#header .pair")}
    roof = result.roofline
    assert f"{roof.total_seconds * 1000:.2f} ms" in header["roofline-time"] and "laptop" in header["roofline-time"]
    assert f"{math.floor(roof.memory_share * 100 + 0.5)}% of it" in header["memory-share"]


def test_charts_have_scales_and_leave_out_rows_of_nothing(browser, tmp_path):
    result = cnncost.report("resnet50")
    open_page(browser, tmp_path, result, "resnet50-charts")
    browser.find_element(By.CSS_SELECTOR, 'button[data-view="charts"]').click()
    charts = browser.find_elements(By.CSS_SELECTOR, ".chart[data-chart]")
    assert len(charts) == 5
    for chart in charts:
        ticks = [t.text for t in chart.find_elements(By.CSS_SELECTOR, "svg text.tick")]
        assert len(ticks) >= 3 and ticks[0] in ("0", "0B"), (chart.get_attribute("data-chart"), ticks)
        values = [int(b.get_attribute("data-v")) for b in chart.find_elements(By.CSS_SELECTOR, "rect[data-v]")]
        assert all(values), chart.get_attribute("data-chart")           # no bar of nothing
    stages = result.report.stages(result.report.block_sums())
    mults = browser.find_element(By.CSS_SELECTOR, '[data-chart="block-mults"]')
    assert len(mults.find_elements(By.CSS_SELECTOR, "rect[data-v]")) == sum(1 for s in stages if s["mults"])
    note = mults.find_element(By.CSS_SELECTOR, ".note").text
    assert all(s["name"] in note for s in stages if not s["mults"]), note    # named, not drawn
    keep(browser, "resnet50-charts-scales")


def test_a_large_network_is_interactive(browser, tmp_path):
    """ResNet-152 with every row present; the time it took is printed, not asserted (the
    benchmark in benchmarks/bench_html.py reports it)."""
    t0 = time.monotonic()
    open_page(browser, tmp_path, cnncost.report("resnet152"), "resnet152")
    print(f"resnet152 page ready in {time.monotonic() - t0:.2f} s")
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr[data-row]")) == cnncost.report("resnet152").report.totals["layers"]
    browser.find_element(By.ID, "expand-all").click()
    assert len(browser.find_elements(By.CSS_SELECTOR, "g.node")) > 500


def test_the_page_s_si_prefixes_are_the_tables(browser):
    """The page prints a count as the tables do: 100,000 is 100k (its zeros are digits, not
    padding to strip), 1.1e15 is 1.1P, and a figure rounded to 1000 takes the next prefix."""
    from cnncost.render.report import si

    source = (Path(cnncost.__file__).parent / "render" / "assets" / "page.js").read_text(encoding="utf-8")
    start, end = source.index("  var SI_PREFIXES"), source.index("  function el(")
    values = [0, 5, 999, 1000, 100_000, 120_000, 10_000_000, 999_499, 999_500, 999_999, 25_557_032,
              4_089_184_256, 1.1e15, 1_226_755_276_800_000, 2.47e18, 1e21, 1e24, -1.5e15, 123.4]
    got = browser.execute_script(source[start:end] + "\nreturn arguments[0].map(si);", values)
    assert got == [si(v) for v in values]
