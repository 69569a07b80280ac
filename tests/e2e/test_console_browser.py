"""A merchant links a sandbox shop from the console, in a real headless Chromium.

The sandbox platform and the hub are real HTTP servers (werkzeug, in threads; the hub's
``HUB_PUBLIC_URL`` points at its own port). The browser signs in as the merchant's admin,
fills "Link a Kuaishou shop" with the sandbox app's credentials, follows the redirect to
the platform's authorize endpoint (which approves at once and redirects back to the
callback), and lands on the shop's page: active, authorized, its poll streams listed.
The worker's poll job then runs the backfill and the page shows each stream done.

Needs Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``,
``/usr/bin/chromedriver``); the test is skipped without them. Selenium Manager never runs
(the driver path is given, and ``SE_OFFLINE`` forbids downloads). Set
``HUB_E2E_SCREENSHOTS=<dir>`` to keep the screenshots.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from hub.web.app import create_app
from hub.parties import linking
from hub.models import Account
from sandbox.kuaishou import serve as serve_sandbox
from tests import factories as f

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
MESSAGE_KEY = "AAECAwQFBgcICQoLDA0ODw=="
WAIT_S = 30  # an upper bound for pages to arrive, never a measured duration

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
def platform():
    server, base = serve_sandbox(port=0)
    yield server, base
    server.stop()


@pytest.fixture
def hub_server(settings, database):
    app = create_app(settings, database)
    http = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    base = f"http://127.0.0.1:{http.port}"
    app.extensions["hub"].settings = dataclasses.replace(settings, public_url=base)
    thread = threading.Thread(target=http.serve_forever, daemon=True, name="hub-http")
    thread.start()
    yield app, base
    http.shutdown()
    http.server_close()
    thread.join(timeout=5)


@pytest.fixture
def browser(tmp_path, monkeypatch):
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--lang=en-US", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1280,960",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


def screenshot(driver, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(960, int(height) + 140))  # the whole page
    driver.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get("HUB_E2E_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


def run_polls(app) -> None:
    """What the worker's ``poll`` job does every 5 s, until nothing is due."""
    from jobs import poll

    for _ in range(20):
        if poll.run(app, "e2e-worker") == 0:
            return
    raise AssertionError("the poll job kept finding due streams")


def test_merchant_links_a_sandbox_shop_from_the_console(platform, hub_server, browser,
                                                        database, session, tmp_path):
    sandbox, sandbox_url = platform
    app, hub_url = hub_server
    ctl = sandbox.app.test_client()  # the control API, in process
    sb_app = ctl.post("/_sandbox/apps", json={
        "messageKey": MESSAGE_KEY, "redirectUri": hub_url + linking.callback_path("kuaishou")}).get_json()
    seller = ctl.post("/_sandbox/shops", json={"shopName": "Sandbox tea"}).get_json()
    for _ in range(3):
        assert ctl.post("/_sandbox/orders", json={"sellerId": seller["sellerId"], "paid": True,
                                                  "push": False}).status_code == 201
    merchant = f.merchant(session, "Tea House")
    login = f.user(session, merchant.id)
    session.commit()
    wait = WebDriverWait(browser, WAIT_S)

    # sign in: the console sends a stranger to the sign-in page first
    browser.get(hub_url + "/console/shops")
    wait.until(ec.presence_of_element_located((By.ID, "login")))
    assert "/console/sign-in" in browser.current_url
    browser.find_element(By.ID, "login").send_keys(login)
    browser.find_element(By.ID, "password").send_keys(f.PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait.until(ec.title_contains("Shops"))
    assert "No shop is linked yet" in browser.find_element(By.TAG_NAME, "main").text

    # "Link a Kuaishou shop" with the sandbox app's credentials
    browser.find_element(By.LINK_TEXT, "Link a Kuaishou shop").click()
    wait.until(ec.presence_of_element_located((By.ID, "f-app_key")))
    fields = {"name": "Sandbox tea shop", "app_key": sb_app["appKey"],
              "app_secret": sb_app["appSecret"], "sign_secret": sb_app["signSecret"],
              "message_key": sb_app["messageKey"], "api_base_url": sandbox_url,
              "oauth_base_url": sandbox_url}
    for name, value in fields.items():
        browser.find_element(By.ID, f"f-{name}").send_keys(value)
    screenshot(browser, tmp_path, "link-form")
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()

    # platform approves → callback → forwarded to the shop's page
    wait.until(ec.presence_of_element_located((By.ID, "linked-banner")))
    assert browser.current_url.startswith(hub_url + "/console/shops/")
    assert browser.current_url.endswith("?linked=new")
    with database.session(readonly=True) as s:
        shop = s.query(Account).one()
    assert shop.status == "active" and shop.external_id == seller["openId"]
    assert browser.find_element(By.ID, "shop-status").text == "active"
    assert browser.find_element(By.ID, "auth-status").text == "ok"
    assert "Sandbox tea shop" in browser.find_element(By.TAG_NAME, "h1").text
    streams = browser.find_elements(By.CSS_SELECTOR, "tr.stream")
    assert {row.get_attribute("data-stream") for row in streams} == {"orders", "returns"}
    screenshot(browser, tmp_path, "shop-linked")

    # the worker's poll job runs the backfill (kept short: 2 days, one window each)
    with database.session() as s:
        account = s.get(Account, shop.id)
        account.config = {**account.config, "backfill_days": 2, "refund_window_hours": 24,
                          "qps_default": 1000}
    run_polls(app)
    browser.find_element(By.LINK_TEXT, "Refresh").click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "tr[data-stream=orders]"),
                                                "done"))
    orders = browser.find_element(By.CSS_SELECTOR, "tr[data-stream=orders]")
    bar = orders.find_element(By.TAG_NAME, "progress")
    assert float(bar.get_attribute("value")) == 100.0 and "100%" in orders.text
    assert orders.find_elements(By.TAG_NAME, "td")[2].text.startswith("3")  # records read
    returns = browser.find_element(By.CSS_SELECTOR, "tr[data-stream=returns]")
    assert "done" in returns.text
    assert "Traceback" not in browser.page_source
    screenshot(browser, tmp_path, "shop-backfilled")

    # and the shops list shows it too
    browser.find_element(By.LINK_TEXT, "Shops").click()
    wait.until(ec.title_contains("Shops"))
    row = browser.find_element(By.CSS_SELECTOR, f"tr[data-account-id='{shop.id}']")
    assert "active" in row.text and "ok" in row.text
    assert len(row.find_elements(By.TAG_NAME, "progress")) == 2
    screenshot(browser, tmp_path, "shops")
