"""What the browser tests share: Debian's headless Chromium driven by Selenium, the hub as a
real HTTP server on loopback, screenshots, and axe-core run in the page.

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (``apt-get install chromium
chromium-driver``); ``require()`` skips the calling module without them. Selenium Manager
never runs (the driver path is given, ``SE_OFFLINE`` forbids downloads). Set
``HUB_E2E_SCREENSHOTS=<dir>`` to keep the screenshots.

axe-core 4.14.1 (``vendor/``, MPL-2.0) checks a page against WCAG 2.1 A and AA: labels,
names, contrast, landmarks, keyboard reachability (``accessibility_problems``).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_S = 30  # an upper bound for pages to arrive, never a measured duration
AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
AXE_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
  .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))))
  .catch(e => done([{id: 'axe-error', help: String(e)}]));
"""


def require():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs /usr/bin/chromium and /usr/bin/chromedriver "
                    "(apt-get install chromium chromium-driver)", allow_module_level=True)
    pytest.importorskip("selenium.webdriver", reason="selenium is not installed")


class Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@contextmanager
def served(app):
    """``app`` on a loopback port, its ``public_url`` set to it; yields the base URL."""
    http = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    base = f"http://127.0.0.1:{http.port}"
    ctx = app.extensions["hub"]
    ctx.settings = dataclasses.replace(ctx.settings, public_url=base)
    thread = threading.Thread(target=http.serve_forever, daemon=True, name="hub-http")
    thread.start()
    try:
        yield base
    finally:
        http.shutdown()
        http.server_close()
        thread.join(timeout=5)


@contextmanager
def chromium(profile: Path, lang: str = "en-US", size=(1280, 960)):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--lang={lang}", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                f"--window-size={size[0]},{size[1]}", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_S)
    driver.set_script_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(960, int(height) + 140))  # the whole page
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 960)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get("HUB_E2E_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


def accessibility_problems(driver) -> list[dict]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now."""
    driver.execute_script(AXE.read_text("utf-8"))
    return driver.execute_async_script(AXE_RUN)
