"""The merchant's console pages (issue 15): the dashboard, orders with their timeline,
returns with their evidence and decisions, the stop-ship board, the alerts inbox and dead
messages with replay; each scoped to the merchant and in both languages."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from hub.core.db import utcnow
from hub.domain.reasons import taxonomy
from hub.domain.returns import inspection
from hub.models import Alert, AuditEntry, Inspection, OutboxMessage
from hub.models.alerts import raise_alert
from tests import factories as f
from tests.console_helpers import CSRF, csrf, html, sign_in
from tests.supplier_helpers import (  # noqa: F401 (fixture)
    apply, fake_connectors, fulfilments, order_values, return_values, the_case, the_order,
    world,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"an inspection photo" * 8


@pytest.fixture
def w(app, database, fake_connectors):  # noqa: F811
    with database.session() as s:
        w = world(s)
        w["login"] = f.user(s, w["merchant_id"], "operator")
    apply(database, w["shop_id"], order_values("P1"))
    return w


@pytest.fixture
def staff(app, w):
    client = app.test_client()
    assert sign_in(client, w["login"]).status_code == 303
    return client


def post(client, path, page, **data):
    return client.post(path, data={**data, "csrf_token": csrf(client, page)})


def test_the_dashboard_counts_what_needs_someone_and_links_to_it(staff, w, database):
    apply(database, w["shop_id"], order_values("P2"))
    apply(database, w["shop_id"], return_values("R1", "P1"))
    with database.session() as s:
        old = the_order(s, w["merchant_id"], "P2")
        old.placed_at = utcnow() - timedelta(days=2)
        the_order(s, w["merchant_id"], "P1").placed_at = utcnow()
        raise_alert(s, w["merchant_id"], "sku_unmapped", "order", old.id, "SKU-9 has no "
                    "supplier", severity="critical")
        s.add(OutboxMessage(merchant_id=w["merchant_id"], account_id=w["channel_id"],
                            connector="test_supplier", topic="order_dispatch",
                            entity="order", entity_id=old.id, idempotency_key="dead-1",
                            status="dead", last_error_class="http_4xx"))
    page = html(staff.get("/console/dashboard"))
    figure = {name: int(re.search(rf'id="tile-{name}"[^>]*>\s*<span class="figure">(\d+)<',
                                  page).group(1)) for name in ("orders", "returns", "dead")}
    assert figure == {"orders": 1, "returns": 1, "dead": 1}
    assert 'id="alerts-critical"' in page and "critical: 1" in page
    assert "SKU-9 has no supplier" in page
    today = html(staff.get("/console/orders?day=today"))
    assert ">P1<" in today and ">P2<" not in today


def test_an_order_shows_its_goods_suppliers_masked_buyer_and_timeline(staff, w, database):
    with database.session() as s:
        order_id = the_order(s, w["merchant_id"], "P1").id
    page = html(staff.get(f"/console/orders/{order_id}"))
    assert "Item SKU-1" in page and "S1" in page and "138****5678" in page
    assert 'data-action="order.placed"' in page and 'data-action="message.order_dispatch"' in page
    assert "Sent to the supplier" in page or "Message order_dispatch" in page
    listed = html(staff.get("/console/orders?q=P"))
    assert f'href="/console/orders/{order_id}"' in listed


def test_pages_are_the_merchants_own_and_for_staff(app, staff, w, database, session):
    other = f.merchant(session, "Other")
    stranger = f.user(session, other.id)
    clerk = f.user(session, w["merchant_id"], "finance")
    session.commit()
    with database.session() as s:
        order_id = the_order(s, w["merchant_id"], "P1").id
    outsider = app.test_client()
    sign_in(outsider, stranger)
    assert outsider.get(f"/console/orders/{order_id}").status_code == 404
    assert ">P1<" not in html(outsider.get("/console/orders"))
    finance = app.test_client()
    sign_in(finance, clerk)
    assert finance.get("/console/dashboard").status_code == 403


def test_a_return_shows_its_evidence_and_is_approved_from_its_page(staff, w, database, app):
    apply(database, w["shop_id"], return_values("R1", "P1", kind="return_refund",
                                                reason_code="quality.defect"))
    var_dir = app.extensions["hub"].settings.var_dir
    digest = inspection.store_photo(var_dir, PNG)
    with database.session() as s:
        case = the_case(s, w["merchant_id"])
        s.add(Inspection(merchant_id=w["merchant_id"], return_case_id=case.id,
                         inspected_by=f"supplier:{w['supplier_id']}", received_at=utcnow(),
                         condition="damaged", grade="C", photos=[digest],
                         checklist={"seal_intact": False}))
        case_id = case.id
    page = html(staff.get(f"/console/returns/{case_id}"))
    assert 'id="reason">' in page and "quality.defect" in page and 'id="approve"' in page
    assert f"/console/returns/{case_id}/photos/{digest}" in page and ">C<" in page
    with staff.get(f"/console/returns/{case_id}/photos/{digest}") as photo:  # a file: close
        assert photo.status_code == 200 and photo.mimetype == "image/png" and photo.data == PNG
    assert staff.get(f"/console/returns/{case_id}/photos/{'0' * 64}").status_code == 404
    chinese = app.test_client()
    sign_in(chinese, w["login"], lang="zh-CN")
    assert taxonomy.label("quality.defect", "zh") in html(chinese.get(f"/console/returns/{case_id}"))
    done = post(staff, f"/console/returns/{case_id}/approve", f"/console/returns/{case_id}")
    assert done.status_code == 303 and "decided=approve" in done.headers["Location"]
    with database.session(readonly=True) as s:
        [pushed] = s.scalars(select(OutboxMessage).where(
            OutboxMessage.topic == "return_approve", OutboxMessage.entity_id == case_id)).all()
        assert pushed.status == "pending"
        assert s.scalar(select(AuditEntry.actor).where(
            AuditEntry.action == "return_case.approve_requested")).startswith("user:")
    refused = post(staff, f"/console/returns/{case_id}/refund", f"/console/returns/{case_id}")
    assert refused.status_code == 409  # the goods are not back yet


def test_a_rejection_takes_a_reason_even_when_the_platform_lists_none(staff, w, database):
    apply(database, w["shop_id"], return_values("R1", "P1"))
    with database.session() as s:
        case_id = the_case(s, w["merchant_id"]).id
    form = html(staff.get(f"/console/returns/{case_id}/reject"))
    assert 'id="reason_code"' in form  # this shop has no list: the code is typed
    token = CSRF.search(form).group(1)
    empty = staff.post(f"/console/returns/{case_id}/reject", data={"csrf_token": token})
    assert empty.status_code == 422
    wrong = staff.post(f"/console/returns/{case_id}/reject", data={
        "csrf_token": token, "reason_code": "R-7"})
    assert wrong.status_code == 422 and "numeric" in html(wrong)
    done = staff.post(f"/console/returns/{case_id}/reject", data={
        "csrf_token": token, "reason_code": "7", "description": "used, tag removed"})
    assert done.status_code == 303
    with database.session(readonly=True) as s:
        [pushed] = s.scalars(select(OutboxMessage).where(
            OutboxMessage.topic == "refund_reject")).all()
        assert str(pushed.payload["reason_code"]) == "7"


def test_a_partial_refund_is_offered_and_the_goods_disputed_with_the_inspection(
        staff, w, database):
    apply(database, w["shop_id"], return_values("R1", "P1", kind="return_refund",
                                                status="received"))
    with database.session() as s:
        case = the_case(s, w["merchant_id"])
        s.add(Inspection(merchant_id=w["merchant_id"], return_case_id=case.id,
                         inspected_by="user:1:supplier", received_at=utcnow(),
                         condition="damaged", grade="C", notes="屏幕碎裂"))
        case_id = case.id
    page = html(staff.get(f"/console/returns/{case_id}"))
    assert 'id="partial"' in page and 'id="dispute"' in page
    offer = f"/console/returns/{case_id}/reject?as=partial"
    form = html(staff.get(offer))
    assert 'id="amount"' in form and "¥19.90" in form
    token = CSRF.search(form).group(1)
    for amount in ("19.90", "0", "abc"):  # the whole, nothing, not an amount
        refused = staff.post(offer, data={"csrf_token": token, "as": "partial",
                                          "reason_code": "7", "amount": amount})
        assert refused.status_code == 422, amount
    done = staff.post(offer, data={"csrf_token": token, "as": "partial", "reason_code": "7",
                                   "amount": "10", "description": "划痕不影响使用"})
    assert done.status_code == 303 and "decided=partial" in done.headers["Location"]
    with database.session(readonly=True) as s:
        [pushed] = s.scalars(select(OutboxMessage).where(
            OutboxMessage.topic == "refund_reject")).all()
        assert pushed.payload["desc"].startswith("商家同意部分退款 ¥10.00")
        assert pushed.payload["desc"].endswith("划痕不影响使用")
    dispute = html(staff.get(f"/console/returns/{case_id}/reject?as=dispute"))
    assert "验货结果：破损，C 级；屏幕碎裂" in dispute


def test_the_stop_ship_board_sorts_requests_by_state(staff, w, database):
    apply(database, w["shop_id"], order_values("P2"))
    with database.session() as s:
        first, second = fulfilments(s, w["merchant_id"])
        for x, status in ((first, "cancel_requested"), (second, "cancel_rejected")):
            x.status, x.cancel_requested_at = status, utcnow() - timedelta(hours=3)
        first.cancel_answer_due_at = utcnow() - timedelta(hours=1)
        second.cancel_reject_reason = "already handed to the courier"
        ids = first.id, second.id
    page = html(staff.get("/console/stop-ships"))
    waiting = page.split('id="board-cancel_requested"')[1].split("</section>")[0]
    late = page.split('id="board-cancel_rejected"')[1].split("</section>")[0]
    assert f'data-fulfilment-id="{ids[0]}"' in waiting and "overdue since" in waiting
    assert f'data-fulfilment-id="{ids[1]}"' in late and "handed to the courier" in late


def test_alerts_come_worst_first_with_their_action_and_are_marked_handled(staff, w, database):
    with database.session() as s:
        order_id = the_order(s, w["merchant_id"], "P1").id
        raise_alert(s, w["merchant_id"], "order_held", "order", order_id, "P1 is held",
                    severity="warning")
        raise_alert(s, w["merchant_id"], "stop_ship_failed", "order", order_id,
                    "P1 shipped before the stop", severity="critical")
    page = html(staff.get("/console/alerts"))
    assert page.index("P1 shipped before the stop") < page.index("P1 is held")
    assert "Intercept the parcel, or expect it back." in page
    opened = staff.get(f"/console/open/order/{order_id}")
    assert opened.headers["Location"] == f"/console/orders/{order_id}"
    with database.session(readonly=True) as s:
        alert_id = s.scalar(select(Alert.id).where(Alert.kind == "order_held"))
    done = post(staff, f"/console/alerts/{alert_id}/resolve", "/console/alerts",
                back="/console/alerts?severity=warning")
    assert done.headers["Location"] == "/console/alerts?severity=warning"
    assert "P1 is held" not in html(staff.get("/console/alerts"))
    with database.session(readonly=True) as s:
        assert s.get(Alert, alert_id).resolved_at is not None
        assert s.scalar(select(AuditEntry.action).where(AuditEntry.entity == "alert",
                                                        AuditEntry.entity_id == alert_id)) \
            == "alert.resolved"
    assert post(staff, f"/console/alerts/{alert_id}/resolve",
                "/console/alerts").status_code == 409


def test_a_dead_message_is_replayed_from_the_console(staff, w, database):
    with database.session() as s:
        message = s.scalars(select(OutboxMessage).where(
            OutboxMessage.topic == "order_dispatch")).first()
        message.status, message.last_error_class = "dead", "http_5xx"
        message_id = message.id
    page = html(staff.get("/console/messages"))
    assert f'data-message-id="{message_id}"' in page and "http_5xx" in page
    done = post(staff, f"/console/messages/{message_id}/replay", "/console/messages")
    assert done.status_code == 303
    with database.session(readonly=True) as s:
        assert s.get(OutboxMessage, message_id).status == "pending"
    again = post(staff, f"/console/messages/{message_id}/replay", "/console/messages")
    assert again.status_code == 409
    assert f'data-message-id="{message_id}"' not in html(staff.get("/console/messages"))


def test_every_merchant_page_reads_in_chinese(app, w, database):
    apply(database, w["shop_id"], return_values("R1", "P1"))
    client = app.test_client()
    sign_in(client, w["login"], lang="zh-CN")
    with database.session() as s:
        order_id, case_id = the_order(s, w["merchant_id"]).id, the_case(
            s, w["merchant_id"]).id
    for path, words in (("/console/dashboard", "今日订单"), ("/console/orders", "订单号"),
                        (f"/console/orders/{order_id}", "时间线"),
                        ("/console/returns", "退货单号"), (f"/console/returns/{case_id}", "处理"),
                        ("/console/stop-ships", "截单"), ("/console/alerts", "告警"),
                        ("/console/messages", "死信")):
        page = html(client.get(path))
        assert '<html lang="zh-CN">' in page and words in page, path
