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
