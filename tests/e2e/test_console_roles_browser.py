"""Each role's work in the console, in a real headless Chromium, in Chinese and in English
(issue 15): the merchant's operator decides a return from its evidence, the supplier
answers a stop-ship and receives a return with a photo, the finance clerk imports and
matches a supplier's statement, decides its dispute and closes the period. Every page on
the way passes axe-core's WCAG 2.1 A/AA checks, and signing in is done with the keyboard.
The analytics page draws its charts (ECharts under the console's CSP).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import select

from hub.core.db import utcnow
from hub.domain import fulfilment as flow
from hub.domain.returns import inspection
from hub.models import Fulfilment, Inspection, OutboxMessage, ReconciliationItem, Statement
from jobs import analytics_rollup
from tests import factories as f
from tests.e2e import chromium
from tests.e2e.chromium import WAIT_S, accessibility_problems, screenshot
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    apply, fake_connectors, fulfilments, order_values, return_values, the_case, world,
)
from tests.test_statements import books, csv_file, supplier_rows  # noqa: F401 (fixture)

chromium.require()
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow
LANGUAGES = {"zh": "zh-CN", "en": "en-US"}
PNG = (Path(__file__).parent.parent / "fixtures" / "photo.png")


@pytest.fixture(params=list(LANGUAGES))
def lang(request):
    return request.param


@pytest.fixture
def site(app, tmp_path, lang):
    with chromium.served(app) as base, \
            chromium.chromium(tmp_path / "profile", LANGUAGES[lang]) as driver:
        yield Site(app, base, driver, lang, tmp_path)


class Site:
    def __init__(self, app, base, driver, lang, folder):
        self.app, self.base, self.driver, self.lang, self.folder = app, base, driver, lang, folder
        self.wait = WebDriverWait(driver, WAIT_S)

    def words(self, msgid: str, **values) -> str:
        with self.app.test_request_context(), force_locale(self.lang):
            return gettext(msgid, **values)

    def sign_in(self, login: str, home_title: str) -> None:
        """With the keyboard only: the login, Tab to the password, Enter."""
        self.driver.get(self.base + "/")
        self.wait.until(ec.presence_of_element_located((By.ID, "login")))
        self.checked("sign-in")
        self.driver.find_element(By.ID, "login").send_keys(login, Keys.TAB)
        focused = self.driver.switch_to.active_element
        assert focused.get_attribute("id") == "password"
        focused.send_keys(f.PASSWORD, Keys.ENTER)
        self.titled(home_title)

    def open(self, path: str, title: str) -> None:
        self.driver.get(self.base + path)
        self.titled(title)

    def titled(self, msgid: str, **values) -> None:
        self.wait.until(ec.title_contains(self.words(msgid, **values)))
        html_lang = self.driver.find_element(By.TAG_NAME, "html").get_attribute("lang")
        assert html_lang == ("zh-CN" if self.lang == "zh" else "en")

    def checked(self, name: str) -> None:
        """axe-core finds no WCAG 2.1 A/AA violation; a screenshot of the page."""
        assert "Traceback" not in self.driver.page_source
        problems = accessibility_problems(self.driver)
        assert problems == [], f"{name}: {problems}"
        screenshot(self.driver, self.folder, f"{name}-{self.lang}")

    def click(self, css: str) -> None:
        self.driver.find_element(By.CSS_SELECTOR, css).click()

    def text(self, css: str) -> str:
        return self.driver.find_element(By.CSS_SELECTOR, css).text


def test_the_operator_decides_a_return_from_its_evidence(site, app, database,
                                                        fake_connectors):  # noqa: F811
    with database.session() as s:
        w = world(s)
        login = f.user(s, w["merchant_id"], "operator")
    apply(database, w["shop_id"], order_values("P1"))
    apply(database, w["shop_id"], return_values("R1", "P1", kind="return_refund",
                                                reason_code="quality.defect"))
    digest = inspection.store_photo(app.extensions["hub"].settings.var_dir, PNG.read_bytes())
    with database.session() as s:
        case = the_case(s, w["merchant_id"])
        s.add(Inspection(merchant_id=w["merchant_id"], return_case_id=case.id,
                         inspected_by=f"supplier:{w['supplier_id']}", received_at=utcnow(),
                         condition="damaged", grade="C", photos=[digest]))
        case_id = case.id
    site.sign_in(login, "Dashboard")
    site.checked("merchant-dashboard")
    site.open("/console/returns", "Returns")
    site.checked("merchant-returns")
    site.click(f'a[href="/console/returns/{case_id}"]')
    site.titled("Return %(no)s", no="R1")
    assert site.driver.execute_script(  # the inspection's photo arrived
        "const i = document.querySelector('.photos img'); return i.complete && i.naturalWidth")
    assert "quality.defect" in site.text("#reason")
    site.checked("merchant-return")
    site.click("#approve")
    site.wait.until(lambda d: "decided=approve" in d.current_url)
    with database.session(readonly=True) as s:
        assert s.scalar(select(OutboxMessage.status).where(
            OutboxMessage.topic == "return_approve",
            OutboxMessage.entity_id == case_id)) == "pending"
    analytics_rollup.run(app, "e2e")
    site.open("/console/analytics?from=2026-01-01", "Analytics")
    for name in ("trend", "reasons", "skus", "suppliers", "regions"):  # drawn, as SVG
        site.wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f"#chart-{name} svg")))
    site.checked("merchant-analytics")


def test_the_supplier_answers_a_stop_ship_and_receives_a_return(site, database,
                                                               fake_connectors):  # noqa: F811
    with database.session() as s:
        w = world(s)
        login = f.user(s, w["merchant_id"], "supplier", w["supplier_id"])
    apply(database, w["shop_id"], order_values("P1"))
    apply(database, w["shop_id"], order_values("P2"))
    with database.session() as s:
        first, second = sorted(fulfilments(s, w["merchant_id"]), key=lambda x: x.id)
        flow.request_stop(s, first, "refund_requested")
        flow.accept(s, second, "supplier:1", None)
        flow.submit_tracking(s, second, "sf", "SF1234567890123", "supplier:1", None)
        stop_id = first.id
    apply(database, w["shop_id"], return_values("R2", "P2", kind="return_refund",
                                                status="awaiting_return"))
    with database.session(readonly=True) as s:
        case_id = the_case(s, w["merchant_id"], "R2").id
    site.sign_in(login, "Supplier portal")
    site.checked("supplier-portal")
    site.click(f"#stop-{stop_id}")
    site.wait.until(lambda d: "done=stop" in d.current_url)
    with database.session(readonly=True) as s:
        assert s.get(Fulfilment, stop_id).status == "cancelled"
    site.click(f'a[href="/console/supplier/returns/{case_id}"]')
    site.titled("Receive return %(no)s", no="R2")
    site.checked("supplier-receive")
    site.driver.find_element(By.CSS_SELECTOR, "#condition option[value=damaged]").click()
    site.driver.find_element(By.CSS_SELECTOR, "#grade option[value=C]").click()
    site.driver.find_element(By.ID, "notes").send_keys("纸箱压坏 box crushed")
    site.driver.find_element(By.ID, "photos").send_keys(str(PNG))
    site.click("#receive")
    site.wait.until(lambda d: "done=received" in d.current_url)
    with database.session(readonly=True) as s:
        looked = s.scalar(select(Inspection).where(Inspection.return_case_id == case_id))
        assert (looked.condition, looked.grade, len(looked.photos)) == ("damaged", "C", 1)
    site.open("/console/supplier/account", "Claims and statements")
    site.checked("supplier-account")


def test_finance_imports_matches_decides_and_closes_a_period(site, app, database, books,
                                                            tmp_path):  # noqa: F811
    with database.session() as s:
        login = f.user(s, books["merchant"], "finance")
    site.sign_in(login, "Finance")
    site.checked("finance-home")
    site.driver.find_element(By.CSS_SELECTOR,
                             f"#b-supplier option[value='{books['supplier']}']").click()
    site.driver.find_element(By.ID, "b-period").send_keys("2026-11", Keys.ENTER)
    site.wait.until(ec.presence_of_element_located((By.ID, "statement-status")))
    site.click("#step-send")
    site.wait.until(ec.presence_of_element_located((By.ID, "file")))
    bill = tmp_path / "bill.csv"
    bill.write_bytes(csv_file(supplier_rows(books, **{"S-2": "230.00"})))
    site.driver.find_element(By.ID, "file").send_keys(str(bill))
    site.click("#import")
    site.wait.until(ec.presence_of_element_located((By.ID, "import-report")))
    site.click("#step-match")
    site.wait.until(ec.presence_of_element_located((By.CSS_SELECTOR,
                                                    "tr[data-outcome=matched_with_difference]")))
    site.checked("finance-statement")
    with database.session(readonly=True) as s:
        item_id = s.scalar(select(ReconciliationItem.id).where(
            ReconciliationItem.dispute == "open"))
    site.driver.find_element(By.ID, f"note-{item_id}").send_keys("合同价 contract price")
    site.click(f"#item-{item_id} button[value=keep]")
    site.wait.until(lambda d: "done=decided" in d.current_url)
    site.click("#step-confirm")
    site.wait.until(ec.presence_of_element_located((By.ID, "step-close")))
    site.click("#step-close")
    site.wait.until(lambda d: "done=close" in d.current_url)
    with database.session(readonly=True) as s:
        assert s.scalar(select(Statement.status)) == "closed"
