"""The buyer's progress page on a phone, in a real headless Chromium: a return on its way
back shows its step, readable without sideways scrolling, and switches to English.

The hub is a real HTTP server (werkzeug, in a thread). Needs Debian's ``chromium`` and
``chromium-driver`` (``/usr/bin/chromium``, ``/usr/bin/chromedriver``); skipped without
them, as ``test_console_browser``. Selenium Manager never runs (``SE_OFFLINE``). Set
``HUB_E2E_SCREENSHOTS=<dir>`` to keep a screenshot.
"""
from __future__ import annotations

import dataclasses
import os
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from hub.core.db import utcnow
from hub.domain import fulfilment as flow
from hub.web.app import create_app
from tests import factories as f
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    apply, courier_id, fake_connectors, fulfilments, order_values, return_values, the_case,
    tracking_values, world,
)

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PHONE = (390, 844)  # CSS pixels of a common phone
WAIT_S = 30  # an upper bound for the page to arrive, never a measured duration

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("needs /usr/bin/chromium and /usr/bin/chromedriver "
                "(apt-get install chromium chromium-driver)", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@pytest.fixture
def hub_url(settings, database):
    app = create_app(settings, database)
    http = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=http.serve_forever, daemon=True, name="hub-http")
    thread.start()
    yield f"http://127.0.0.1:{http.port}"
    http.shutdown()
    http.server_close()
    thread.join(timeout=5)


@pytest.fixture
def phone(tmp_path, monkeypatch):
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    options.add_experimental_option("mobileEmulation", {"deviceMetrics": {
        "width": PHONE[0], "height": PHONE[1], "pixelRatio": 3.0, "touch": True}})
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


def a_return_on_its_way(database) -> str:
    with database.session() as s:
        w = world(s)
    apply(database, w["shop_id"], order_values())
    with database.session() as s:
        [x] = fulfilments(s, w["merchant_id"])
        flow.submit_tracking(s, x, "sf", "SF1234567890123", "supplier:1", None)
    apply(database, w["shop_id"], dataclasses.replace(
        return_values(kind="return_refund", status="awaiting_return",
                      updated=f.T0 + timedelta(hours=2)),
        return_carrier="sf", return_tracking_number="SFRET1"))
    with database.session(readonly=True) as s:
        courier = courier_id(s, w["merchant_id"])
        token = the_case(s, w["merchant_id"]).public_token
    apply(database, courier, tracking_values("SFRET1", status="in_transit", at=utcnow()))
    return token


def test_the_buyer_sees_the_step_on_a_phone(hub_url, phone, database,
                                            fake_connectors):  # noqa: F811
    token = a_return_on_its_way(database)
    phone.get(f"{hub_url}/r/{token}")  # a phone set to Chinese
    now = WebDriverWait(phone, WAIT_S).until(ec.visibility_of_element_located((By.ID, "now")))
    assert "寄回途中" in now.text
    current = phone.find_element(By.CSS_SELECTOR, "li.current")
    assert current.is_displayed() and current.text == "寄回途中"
    assert phone.find_element(By.CSS_SELECTOR, "dd.tracking").text == "SFRET1"
    width = phone.execute_script("return window.innerWidth")
    assert width == PHONE[0]
    assert phone.execute_script("return document.documentElement.scrollWidth") <= width
    assert current.rect["x"] + current.rect["width"] <= width  # no sideways scrolling
    if os.environ.get("HUB_E2E_SCREENSHOTS"):
        Path(os.environ["HUB_E2E_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
        phone.save_screenshot(str(Path(os.environ["HUB_E2E_SCREENSHOTS"]) / "buyer-page.png"))
    phone.find_element(By.CSS_SELECTOR, "a.lang").click()
    english = WebDriverWait(phone, WAIT_S).until(
        ec.text_to_be_present_in_element((By.ID, "now"), "On its way"))
    assert english
