"""Supplier answer deadlines (``jobs.supplier_sla``): an unanswered dispatch or stop-ship
past its deadline is escalated exactly once — alert for the merchant, visible to the
supplier — and the alert resolves when the supplier answers."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from hub.domain import fulfilment as flow
from hub.core.db import utcnow
from hub.models import Alert, AuditEntry, Fulfilment, Shipment
from jobs import supplier_sla
from jobs.registry import default_jobs
from tests import factories as f
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    actions, apply, fake_connectors, fulfilments, messages, open_alerts, order_values,
    return_values, world,
)


@pytest.fixture
def w(app, database, fake_connectors):
    with database.session() as s:
        return world(s, sla_hours=24, terms={"stop_ship_sla_hours": 1})


def allocated(database, w, pid="P1") -> int:
    apply(database, w["shop_id"], order_values(pid))
    with database.session(readonly=True) as s:
        return [x.id for x in fulfilments(s, w["merchant_id"])][-1]


def overdue(database, fid, column):
    """Time passes: the deadline in ``column`` is a minute ago."""
    with database.session() as s:
        s.execute(update(Fulfilment).where(Fulfilment.id == fid)
                  .values({column: utcnow() - timedelta(minutes=1)}))


def escalations(database, fid) -> int:
    with database.session(readonly=True) as s:
        return s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity_id == fid, AuditEntry.action == "fulfilment.escalated"))


def test_the_job_is_registered():
    [job] = [j for j in default_jobs() if j.name == "supplier_sla"]
    assert job.run is supplier_sla.run and job.interval_s == 60


def test_an_unanswered_dispatch_is_escalated_once(app, client, database, w):
    fid = allocated(database, w)
    assert supplier_sla.run(app, "w1") == 0  # not due yet
    overdue(database, fid, "answer_due_at")
    assert supplier_sla.run(app, "w1") == 1
    assert supplier_sla.run(app, "w1") == 0
    with database.session() as s:
        x = s.get(Fulfilment, fid)
        assert x.escalated_at is not None
        [alert] = open_alerts(s, w["merchant_id"], "supplier_sla_breached")
        assert (alert.entity, alert.entity_id, alert.severity, alert.supplier_id) == (
            "fulfilment", fid, "warning", w["supplier_id"])
        assert alert.details["deadline"] == "dispatch"
        merchant_token = f.token(s, w["merchant_id"])
        supplier_token = f.token(s, w["merchant_id"], "supplier", w["supplier_id"])
    assert escalations(database, fid) == 1
    for token in (merchant_token, supplier_token):
        listed = client.get("/api/v1/alerts?kind=supplier_sla_breached",
                            headers=f.bearer(token)).get_json()["data"]
        assert [a["id"] for a in listed] == [alert.id]

    with database.session() as s:  # a late answer resolves it; the evidence stays
        flow.accept(s, s.get(Fulfilment, fid), "supplier:1")
        assert open_alerts(s, w["merchant_id"], "supplier_sla_breached") == []
        assert s.get(Fulfilment, fid).escalated_at is not None
        assert actions(s, "fulfilment", fid)[-1] == "fulfilment.accepted"


def test_an_answered_order_is_not_escalated(app, database, w):
    fid = allocated(database, w)
    with database.session() as s:
        flow.accept(s, s.get(Fulfilment, fid), "supplier:1")
    overdue(database, fid, "answer_due_at")
    assert supplier_sla.run(app, "w1") == 0
    assert escalations(database, fid) == 0


def test_an_unanswered_stop_ship_is_critical_even_after_a_dispatch_escalation(
        app, database, w):
    fid = allocated(database, w)
    overdue(database, fid, "answer_due_at")
    supplier_sla.run(app, "w1")
    apply(database, w["shop_id"], return_values())
    with database.session(readonly=True) as s:
        x = s.get(Fulfilment, fid)
        assert x.status == "cancel_requested" and x.escalated_at is None
        assert open_alerts(s, w["merchant_id"], "supplier_sla_breached") == []
    assert supplier_sla.run(app, "w1") == 0
    overdue(database, fid, "cancel_answer_due_at")
    assert supplier_sla.run(app, "w1") == 1
    with database.session() as s:
        [alert] = open_alerts(s, w["merchant_id"], "supplier_sla_breached")
        assert (alert.severity, alert.details["deadline"]) == ("critical", "stop_ship")
        assert "stop-ship" in alert.message
        flow.answer_stop_ship(s, s.get(Fulfilment, fid), True, "supplier:1")
        assert open_alerts(s, w["merchant_id"], "supplier_sla_breached") == []
    assert escalations(database, fid) == 2  # one per deadline


def test_two_workers_escalate_a_deadline_once(app, database, w):
    ids = [allocated(database, w, f"P{n}") for n in range(5)]
    for fid in ids:
        overdue(database, fid, "answer_due_at")
    start = threading.Barrier(2)
    done: list[int] = []

    def worker(owner):
        start.wait()
        done.append(supplier_sla.run(app, owner))

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(done) == len(ids)
    for fid in ids:
        assert escalations(database, fid) == 1
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Alert).where(
            Alert.kind == "supplier_sla_breached")) == len(ids)


def test_the_job_sweeps_failed_interceptions_the_listener_missed(app, database, w):
    fid = allocated(database, w)
    with database.session() as s:
        shipment = flow.submit_tracking(s, s.get(Fulfilment, fid), "sf", "SF1234567890123",
                                        "supplier:1", None)
        sid = shipment.id
    apply(database, w["shop_id"], return_values())
    with database.session() as s:  # recorded without a tracking change (e.g. by hand)
        s.get(Shipment, sid).interception_status = "failed"
    assert supplier_sla.run(app, "w1") == 1
    assert supplier_sla.run(app, "w1") == 0
    with database.session(readonly=True) as s:
        assert s.get(Fulfilment, fid).expected_return is True
        assert len(messages(s, w["merchant_id"], "return_notice")) == 1
