"""A studio page in headless Chromium: seconds to its first render and bytes transferred before any scrolling
(the pages' targets: <= 1 s, <= 1 MB at 15,000 images)."""

from __future__ import annotations

import shutil
import time

CHROMIUM, DRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver")


def first_render(url: str, ready: str) -> tuple[float, int] | None:
    """(seconds until the script `ready` returns true, bytes transferred 2 s later); None without a browser."""
    try:
        from selenium import webdriver
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        return None
    if DRIVER is None:
        return None
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=DRIVER))
    try:
        driver.get(url)
        WebDriverWait(driver, 60, poll_frequency=0.02).until(lambda d: d.execute_script(ready))
        rendered = driver.execute_script("return performance.now() / 1000")
        time.sleep(2)  # whatever loads without scrolling
        sent = driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "return n.transferSize + performance.getEntriesByType('resource').reduce((a, r) => a + r.transferSize, 0)")
        return float(rendered), int(sent)
    finally:
        driver.quit()
