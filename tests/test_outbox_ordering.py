"""Messages about one entity reach the receiver in order: a stop-ship never overtakes
the dispatch it stops, and a dispatch that never left is withdrawn, so it is never
delivered for a stopped fulfilment (issue 10, item 1)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from hub.core.db import utcnow
from hub.models import Fulfilment, OutboxMessage
from jobs import deliver_outbox
from jobs.claims import claim
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    actions, apply, fake_connectors, fulfilments, messages, order_values, return_values, world,
)


@pytest.fixture
def w(app, database, fake_connectors):  # noqa: F811
    with database.session() as s:
        return world(s)


def dispatched(database, w) -> int:
    apply(database, w["shop_id"], order_values())
    with database.session(readonly=True) as s:
        return fulfilments(s, w["merchant_id"])[0].id


def claimable(database) -> list[str]:
    ids = claim(database, OutboxMessage, deliver_outbox.due(), "probe", 60, 100)
    with database.session() as s:
        rows = [s.get(OutboxMessage, i) for i in ids]
        topics = [m.topic for m in rows]
        for m in rows:                      # give the probe's leases back
            m.lease_owner = m.lease_expires_at = None
    return topics


def test_a_stop_ship_waits_for_the_dispatch_retrying_after_a_503(database, w):
    fid = dispatched(database, w)
    with database.session() as s:          # the dispatch went out once and met a 503
        [dispatch] = messages(s, w["merchant_id"], "order_dispatch")
        dispatch.attempts, dispatch.next_attempt_at = 1, utcnow() + timedelta(minutes=5)
    apply(database, w["shop_id"], return_values())         # the buyer asks for a refund
    with database.session(readonly=True) as s:
        assert s.get(Fulfilment, fid).status == "cancel_requested"
        assert [m.topic for m in messages(s, w["merchant_id"], "stop_ship")] == ["stop_ship"]
    assert "stop_ship" not in claimable(database)           # due now, but it must wait
    with database.session() as s:
        [dispatch] = messages(s, w["merchant_id"], "order_dispatch")
        dispatch.next_attempt_at = utcnow()
    assert claimable(database) == ["order_dispatch"]       # the dispatch first, alone
    with database.session() as s:
        [dispatch] = messages(s, w["merchant_id"], "order_dispatch")
        dispatch.status, dispatch.sent_at = "sent", utcnow()
    assert claimable(database) == ["stop_ship"]             # then the stop


def test_a_dispatch_that_never_left_is_withdrawn_and_the_stop_goes_alone(database, w):
    fid = dispatched(database, w)
    apply(database, w["shop_id"], return_values())
    with database.session(readonly=True) as s:
        [dispatch] = messages(s, w["merchant_id"], "order_dispatch")
        assert dispatch.status == "cancelled"
        assert "fulfilment.dispatch_withdrawn" in actions(s, "fulfilment", fid)
        assert s.get(Fulfilment, fid).status == "cancel_requested"
    assert claimable(database) == ["stop_ship"]


def test_a_dispatch_being_sent_is_followed_by_the_stop(database, w):
    fid = dispatched(database, w)
    with database.session() as s:          # a worker holds it: it may be on the wire
        [dispatch] = messages(s, w["merchant_id"], "order_dispatch")
        dispatch.lease_owner, dispatch.lease_expires_at = "w1", utcnow() + timedelta(minutes=1)
    apply(database, w["shop_id"], return_values())
    with database.session(readonly=True) as s:
        [dispatch] = messages(s, w["merchant_id"], "order_dispatch")
        assert dispatch.status == "pending"
        assert len(messages(s, w["merchant_id"], "stop_ship")) == 1
        assert s.get(Fulfilment, fid).status == "cancel_requested"

