"""A lease is kept while its work runs: a push or a thin trigger slower than the lease
is never taken over (and done twice) by another worker, and every write is fenced with
the owner (issue 10, item 8)."""
from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
import responses
from sqlalchemy import select

from connectors.generic_shop import GenericShop
from hub.models import Account, InboxEvent, OutboxMessage, Order
from hub.pipeline.outbox import enqueue
from hub.web.app import create_app
from jobs import deliver_outbox, process_inbox
from tests import factories as f
from tests.webhook_helpers import envelope, order_data

BASE = "http://shop.test"
SLOW_S = 2.5          # longer than twice the lease


@pytest.fixture
def app1(settings, database):
    """The hub with one-second leases."""
    return create_app(replace(settings, lease_seconds=1), database)


@pytest.fixture
def shop(app1, database):
    with database.session() as s:
        return f.pushing_shop(s, f.merchant(s).id, BASE)


def while_slow(first, second):
    """Run ``first`` (slow) in a thread and ``second`` while it is past its lease."""
    done = []
    worker = threading.Thread(target=lambda: done.append(first()))
    worker.start()
    time.sleep(SLOW_S / 2 + 0.3)
    other = second()
    worker.join(10)
    return done[0], other


@responses.activate
def test_a_push_slower_than_its_lease_is_sent_once(app1, database, shop):
    def slow(request):
        time.sleep(SLOW_S)
        return 201, {}, "{}"

    responses.add_callback(responses.POST, f"{BASE}/hub/shipments", callback=slow)
    with database.session() as s:
        enqueue(s, s.get(Account, shop.id), "shipment", "order", 1,
                {"order_id": "P1", "carrier": "sf", "tracking_number": "SF1"}, "v1")
    first, second = while_slow(lambda: deliver_outbox.run(app1, "worker-a"),
                               lambda: deliver_outbox.run(app1, "worker-b"))
    assert (first, second) == (1, 0)
    assert len(responses.calls) == 1
    with database.session(readonly=True) as s:
        [message] = s.scalars(select(OutboxMessage)).all()
        assert (message.status, message.attempts, message.lease_owner) == ("sent", 1, None)


def test_an_inbox_batch_slower_than_its_lease_is_worked_by_one_worker(app1, database, shop,
                                                                       monkeypatch):
    calls = []
    real = GenericShop.records_for_event

    def slow(self, event_type, body):     # a thin trigger fetching the order, slowly
        calls.append(body)
        time.sleep(SLOW_S / 2)
        return real(self, event_type, body)

    monkeypatch.setattr(GenericShop, "records_for_event", slow)
    with database.session() as s:
        account = s.get(Account, shop.id)
        for oid in ("GS-1", "GS-2"):
            f.inbox_event(s, account, event_type="order.updated",
                          body=envelope("order.updated", order_data(oid)))
    first, second = while_slow(lambda: process_inbox.run(app1, "worker-a"),
                               lambda: process_inbox.run(app1, "worker-b"))
    assert (first, second) == (2, 0)
    assert len(calls) == 2                # each event fetched once
    with database.session(readonly=True) as s:
        assert sorted(o.platform_order_id for o in s.scalars(select(Order))) == ["GS-1", "GS-2"]
        assert {e.status for e in s.scalars(select(InboxEvent))} == {"processed"}
