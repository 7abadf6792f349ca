"""Regenerate the README's pictures of the HTML page (docs/page-resnet50.png,
docs/page-compare.png) from the tool, in headless Chromium at 1,400 px, as a user's window
shows them: python docs/screenshots.py (needs Debian's chromium and chromium-driver, and
the test extras: selenium, and Pillow, which matplotlib brings, to keep the files small).

Each picture keeps what its page says in words (names, conventions, totals) in a PNG text
chunk; tests/test_html.py checks it against what the tool says now, so a picture that has
gone stale fails the suite instead of showing an old page."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import cnncost

DOCS = Path(__file__).resolve().parent
WINDOW = (1400, 1000)
PROFILE = "name: cpu\npeak_flops: 340G\nbandwidth: 26.7G\n"     # the README's example profile
KEY = "cnncost-page"


def results(tmp: Path) -> dict:
    """Each picture's page: the result it draws, and the tab it shows."""
    profile = tmp / "cpu.yaml"
    profile.write_text(PROFILE)
    return {"page-resnet50.png": (cnncost.report("resnet50", profile=str(profile)), "graph"),
            "page-compare.png": (cnncost.compare(["resnet50", "mobilenet_v2", "vgg16"]), "graph")}


def words(data: dict) -> str:
    """What a page's data says in words, as the picture shows it."""
    return json.dumps({"labels": data.get("labels"), "networks": [
        {k: n[k] for k in ("name", "source", "input", "batch", "dtype", "conventions", "totals", "roofline")}
        for n in data["networks"]]}, sort_keys=True)


def page_words(text: str) -> str:
    start = text.index('id="cnncost-data">') + len('id="cnncost-data">')
    return words(json.loads(text[start:text.index("</script>", start)]))


def main():
    import shutil
    import time

    from PIL import Image, PngImagePlugin
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    from cnncost.render import render

    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                "--force-prefers-reduced-motion", "--hide-scrollbars"):
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    tmp = Path(tempfile.mkdtemp())
    try:
        for name, (result, tab) in results(tmp).items():
            text = render(result, "html")
            page = tmp / (name + ".html")
            page.write_text(text, encoding="utf-8")
            driver.get(page.as_uri())
            while driver.execute_script("return document.documentElement.getAttribute('data-ready')") != "true":
                time.sleep(0.02)
            driver.find_element(By.CSS_SELECTOR, f'button[data-view="{tab}"]').click()
            path = DOCS / name
            driver.save_screenshot(str(path))
            # 256 colours: text and flat fills lose nothing, the file is a third
            info = PngImagePlugin.PngInfo()
            info.add_text(KEY, page_words(text))
            Image.open(path).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(
                path, optimize=True, pnginfo=info)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
