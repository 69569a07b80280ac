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

import pytest

from hub.models import Account
from hub.parties import linking
from hub.web.app import create_app
from sandbox.kuaishou import serve as serve_sandbox
from tests import factories as f
from tests.e2e import chromium
from tests.e2e.chromium import WAIT_S, screenshot

chromium.require()
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow
MESSAGE_KEY = "AAECAwQFBgcICQoLDA0ODw=="


@pytest.fixture
def platform():
    server, base = serve_sandbox(port=0)
    yield server, base
    server.stop()


@pytest.fixture
def hub_server(settings, database):
    app = create_app(settings, database)
    with chromium.served(app) as base:
        yield app, base


@pytest.fixture
def browser(tmp_path):
    with chromium.chromium(tmp_path / "chromium-profile") as driver:
        yield driver


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
