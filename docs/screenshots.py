"""Regenerate the README's pictures of the HTML page (docs/page-resnet50.png,
docs/page-compare.png) in headless Chromium: python docs/screenshots.py"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

import cnncost
from cnncost.render import render

DOCS = Path(__file__).resolve().parent


def ready(driver):
    while driver.execute_script("return document.documentElement.getAttribute('data-ready')") != "true":
        time.sleep(0.02)


def main():
    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                "--force-prefers-reduced-motion"):
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    tmp = Path(tempfile.mkdtemp())
    try:
        page = tmp / "resnet50.html"
        page.write_text(render(cnncost.report("resnet50"), "html"), encoding="utf-8")
        driver.get(page.as_uri())
        ready(driver)
        driver.find_element(By.CSS_SELECTOR, '[data-layer="layer2"]').click()
        driver.find_element(By.CSS_SELECTOR, '[data-layer="layer2.block1"]').click()
        driver.execute_script("document.querySelector('.graph').scrollTop = 330")
        driver.save_screenshot(str(DOCS / "page-resnet50.png"))
        page = tmp / "compare.html"
        page.write_text(render(cnncost.compare(["resnet50", "mobilenet_v2", "vgg16"]), "html"), encoding="utf-8")
        driver.get(page.as_uri())
        ready(driver)
        driver.find_element(By.CSS_SELECTOR, 'button[data-view="charts"]').click()
        driver.save_screenshot(str(DOCS / "page-compare.png"))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
