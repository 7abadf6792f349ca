"""The HTML page: size, time to write (against the JSON report of the same result, measured
in the same run) and time to interactive in headless Chromium (Debian's chromium and
chromium-driver, with selenium), for ResNet-152, a 2,000-layer network and a comparison.

Goals (issue: a report you can look at): ResNet-152 interactive within 2 s of opening,
under 3 MB; a 2,000-layer network still usable; writing the page costs no more than the
JSON report plus the template.

Run: python benchmarks/bench_html.py
"""
from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cnncost
from cnncost.render import render
from cnncost.spec import parse_spec
from cnncost.timing import times


def sequential(n: int):
    lines = ["name: deep2000", "input: [32, 32, 16]", "layers:"]
    for i in range(n // 2):
        lines.append(f"  - {{name: s{i // 10}.c{i % 10}, kind: conv, filters: 16, kernel: 3, padding: same}}")
        lines.append(f"  - {{name: s{i // 10}.r{i % 10}, kind: relu}}")
    return parse_spec("\n".join(lines) + "\n", "deep2000.yaml")


def median_seconds(fn, runs=5):
    return statistics.median(times(fn, runs, warmup=0))


def interactive(driver, path: Path) -> float:
    t0 = time.perf_counter()
    driver.get(path.as_uri())
    while driver.execute_script("return document.documentElement.getAttribute('data-ready')") != "true":
        time.sleep(0.005)
    driver.execute_script("document.getElementById('expand-all').click()")     # every layer drawn
    driver.execute_script("return document.querySelectorAll('g.node').length")
    return time.perf_counter() - t0


def main():
    results = {"resnet152": cnncost.report("resnet152"), "2,000 layers": cnncost.report(sequential(2000)),
               "compare resnet50 mobilenet_v2 vgg16": cnncost.compare(["resnet50", "mobilenet_v2", "vgg16"])}
    tmp = Path(tempfile.mkdtemp())
    pages = {}
    from cnncost.render.html import _template

    def template_read():                  # the page's own fixed cost: its template, read cold
        _template.cache_clear()
        _template()
    template = median_seconds(template_read, 21)
    print(f"{'page':40s} {'size':>9s} {'write ms':>9s} {'json ms':>8s} {'write / (json + template)':>26s}")
    for label, result in results.items():
        text = render(result, "html")
        write = median_seconds(lambda: render(result, "html"), 21)
        js = median_seconds(lambda: render(result, "json"), 21)
        pages[label] = tmp / (label.replace(" ", "_").replace(",", "") + ".html")
        pages[label].write_text(text, encoding="utf-8")
        # a comparison's JSON holds totals only; its page every network's rows: no goal there
        ratio = f"{write / (js + template):26.2f}" if label in ("resnet152", "2,000 layers") else f"{'-':>26s}"
        print(f"{label:40s} {len(text.encode()) / 1e6:7.2f}MB {write * 1000:9.1f} {js * 1000:8.1f} {ratio}")
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        print("no chromium/chromedriver: time to interactive not measured")
        return
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.binary_location = chromium
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        for label, path in pages.items():
            times = [interactive(driver, path) for _ in range(5)]
            print(f"{label:40s} interactive, every node drawn: {statistics.median(times):.2f} s (median of 5)")
    finally:
        driver.quit()
    print(f"cnncost {cnncost.__version__}, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
