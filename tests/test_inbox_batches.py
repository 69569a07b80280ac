"""The inbox applied in batches (issue 11): full-state records collapse to the newest, a
bad event fails alone and costs the others nothing, slices commit as they go, and a
parcel registered earlier in a batch is found by a push later in it."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, text

from hub.models import Fulfilment, InboxEvent, Order, OutboxMessage, Shipment, TrackingEvent
from bench.tracking import SALT, push_body
from connectors.kuaidi100.webhooks import verify
from jobs import process_inbox
from tests import factories as f
from tests import supplier_helpers, tracking_helpers
from tests.test_process_inbox import add_event, event
from tests.webhook_helpers import order_data

OWNER = "worker-1"
T1, T2 = "2026-11-01T10:00:00+08:00", "2026-11-01T11:00:00+08:00"


@pytest.fixture
def shop(database):
    """A shop whose SKU-1 is allocated to a supplier reached on a hub_webhook channel."""
    with database.session() as s:
        m = f.merchant(s)
        shop = f.shop(s, m.id)
        f.sku_mapping(s, m.id, supplier_helpers.supplier(s, m.id, "S1").id, "SKU-1")
        return shop


def run(app) -> int:
    return process_inbox.run(app, OWNER)


def count(database, model, *where) -> int:
    with database.session(readonly=True) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


@pytest.mark.parametrize("newest_first", [False, True])
def test_two_versions_of_an_order_in_one_batch_apply_only_the_newest(app, database, shop,
                                                                     newest_first):
    paid = ("order.updated", order_data("GS-1", "paid", T1))
    cancelled = ("order.updated", order_data("GS-1", "cancelled", T2))
    ids = [add_event(database, shop, *e) for e in
           ((cancelled, paid) if newest_first else (paid, cancelled))]
    assert run(app) == 2
    [order] = _orders(database)
    assert order.status == "cancelled"
    # the paid version was never applied: nothing was allocated, dispatched or stopped
    assert count(database, Fulfilment) == 0
    assert count(database, OutboxMessage) == 0
    # each event carried a version of what was applied: both share its outcome
    assert [(event(database, i).status, event(database, i).attempts) for i in ids] == \
        [("processed", 1), ("processed", 1)]


def test_versions_older_than_the_stored_order_are_all_ignored(app, database, shop):
    add_event(database, shop, "order.updated", order_data("GS-2", "shipped", T2))
    run(app)
    stale = [add_event(database, shop, "order.updated", order_data("GS-2", status, T1))
             for status in ("paid", "pending_payment")]
    assert run(app) == 2
    assert {event(database, i).status for i in stale} == {"ignored"}
    assert _orders(database)[0].status == "shipped"


def test_a_bad_event_fails_alone_and_the_others_spend_one_attempt(app, database, shop):
    good = [add_event(database, shop, "order.updated", order_data(f"GS-{n}")) for n in (3, 4)]
    bad = add_event(database, shop, "order.updated",
                    order_data("GS-BIG", total_minor=2 ** 70, paid_minor=0))
    last = add_event(database, shop, "order.updated", order_data("GS-5"))
    assert run(app) == 4
    assert [(event(database, i).status, event(database, i).attempts)
            for i in (*good, last)] == [("processed", 1)] * 3
    failed = event(database, bad)
    assert (failed.status, failed.error_class, failed.attempts) == ("failed", "fail_data", 1)
    assert sorted(o.platform_order_id for o in _orders(database)) == ["GS-3", "GS-4", "GS-5"]
    assert count(database, Fulfilment) == 3


def test_a_retryable_failure_is_retried_alone(app, database, shop, monkeypatch):
    from hub.domain.orders import records

    real = records.apply_order

    def flaky(session, account, values):
        if values.platform_order_id == "GS-7":
            raise RuntimeError("the database went away for this one")
        return real(session, account, values)

    monkeypatch.setattr(records, "apply_order", flaky)
    from hub.pipeline import sync
    from hub.values import OrderValues
    monkeypatch.setitem(sync._handlers, OrderValues, flaky)
    ids = [add_event(database, shop, "order.updated", order_data(f"GS-{n}")) for n in (6, 7, 8)]
    assert run(app) == 3
    states = [(event(database, i).status, event(database, i).attempts) for i in ids]
    assert states == [("processed", 1), ("received", 1), ("processed", 1)]
    assert "RuntimeError" in event(database, ids[1]).error_message
    assert sorted(o.platform_order_id for o in _orders(database)) == ["GS-6", "GS-8"]


def test_an_account_whose_secrets_cannot_be_read_holds_up_only_its_own_events(
        app, database, shop):
    """The key was changed without keeping the old one: that account's events are
    retried with the reason; the rest of the batch is applied."""
    with database.session() as s:
        other = f.shop(s, shop.merchant_id, name="re-keyed shop")
    stuck = add_event(database, other, "order.updated", order_data("GS-K1"))
    fine = add_event(database, shop, "order.updated", order_data("GS-K2"))
    with database.session() as s:  # a ciphertext the current key does not open
        s.execute(text("UPDATE accounts SET config = :c WHERE id = :i"),
                  {"c": '"gAAAAABnot-a-token"', "i": other.id})
    assert run(app) == 2
    assert (event(database, fine).status, event(database, fine).attempts) == ("processed", 1)
    held = event(database, stuck)
    assert (held.status, held.error_class, held.attempts) == ("received", "retry", 1)
    assert "HUB_SECRET_KEY" in held.error_message
    assert [o.platform_order_id for o in _orders(database)] == ["GS-K2"]


def test_slices_commit_as_they_go(app, database, shop, monkeypatch):
    """With no time for a second event in a slice, each commits on its own: the
    receiver never waits for a whole batch."""
    commits = []
    listener = lambda conn: commits.append(1)  # noqa: E731

    def commits_of_a_batch(prefix: str, slice_s: float) -> int:
        for n in range(5):
            add_event(database, shop, "order.updated", order_data(f"{prefix}{n}"))
        monkeypatch.setattr(process_inbox, "SLICE_S", {"sqlite": slice_s, "postgresql": slice_s})
        commits.clear()
        assert run(app) == 5
        return len(commits)

    sa_event.listen(database.engine, "commit", listener)
    try:
        one_each, together = commits_of_a_batch("GS-S", 0.0), commits_of_a_batch("GS-T", 60.0)
    finally:
        sa_event.remove(database.engine, "commit", listener)
    assert one_each - together == 4  # five slices against one (claim and load alike)
    assert count(database, InboxEvent, InboxEvent.status == "processed") == 10


def test_a_push_finds_a_parcel_registered_earlier_in_its_batch(app, database, shop):
    """A return names the buyer's parcel (a shipment is registered), then the courier's
    push for that parcel comes in the same batch: it is applied, not ignored."""
    with database.session() as s:
        courier = tracking_helpers.courier(s, shop.merchant_id)
    add_event(database, shop, "order.updated", order_data("GS-W", "delivered", T1))
    add_event(database, shop, "return.updated", {
        "id": "RT-W", "order_id": "GS-W", "kind": "return_refund", "status": "approved",
        "updated_at": T2, "refund_minor": 1990,
        "lines": [{"sku": "SKU-1", "quantity": 1, "order_line_id": "L1"}],
        "tracking": {"carrier": "yto", "tracking_number": "YT100"}})
    [pushed] = verify(SALT, {}, push_body("YT100", 2))
    with database.session() as s:
        push = f.inbox_event(s, courier, event_type=pushed.event_type, body=pushed.body).id
    assert run(app) == 3
    assert event(database, push).status == "processed"
    assert count(database, TrackingEvent) == 2
    [parcel] = _shipments(database)
    assert (parcel.direction, parcel.tracking_number, parcel.status) == \
        ("return", "YT100", "picked_up")


def test_two_workers_updating_the_same_orders_in_opposite_orders_never_deadlock(
        app, database, shop, monkeypatch, caplog):
    """PostgreSQL: each slice locks the bindings it needs in a stable order up front, so two
    workers whose batches name the same orders in opposite orders queue rather than
    deadlock (a deadlock would undo a slice, logged, and apply it again one by one)."""
    if not database.is_postgres:
        pytest.skip("concurrent writers racing for rows need PostgreSQL")
    orders = [f"GS-D{n}" for n in range(20)]
    for oid in orders:
        add_event(database, shop, "order.updated", order_data(oid, "paid", T1))
    run(app)
    for when, names in ((T2, orders), ("2026-11-01T12:00:00+08:00", orders[::-1])):
        for oid in names:
            add_event(database, shop, "order.updated", order_data(oid, "shipped", when))
    monkeypatch.setattr(process_inbox, "BATCH", 20)
    caplog.set_level("INFO", logger="jobs.process_inbox")
    with ThreadPoolExecutor(2) as pool:
        claimed = list(pool.map(lambda owner: process_inbox.run(app, owner), ("a", "b")))
    assert claimed == [20, 20]
    assert "inbox slice undone" not in caplog.text
    # whichever worker went first, nothing failed or waits, and the newest version stands
    # (applied second, the older versions were ignored)
    assert count(database, InboxEvent, InboxEvent.status.in_(("processed", "ignored"))) == 60
    assert {(o.status, o.remote_updated_at.hour) for o in _orders(database)} == {
        ("shipped", 4)}  # 12:00 in UTC+8


def _shipments(database) -> list[Shipment]:
    with database.session(readonly=True) as s:
        return list(s.scalars(select(Shipment)))


def _orders(database) -> list[Order]:
    with database.session(readonly=True) as s:
        return list(s.scalars(select(Order).order_by(Order.id)))
