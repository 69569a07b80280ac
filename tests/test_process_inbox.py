"""Processing the inbox: events become orders, returns and tracking through bindings;
errors are data with a documented state, attempts and next attempt time."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from connectors.base import ConnectorError, ErrorClass
from connectors.generic_shop import GenericShop
from hub.core.db import utcnow
from hub.models import (
    Account, AuditEntry, Binding, InboxEvent, Order, ReturnCase, Shipment, TrackingEvent,
)
from jobs import process_inbox
from jobs.registry import default_jobs
from tests import factories as f
from tests.webhook_helpers import envelope, order_data

OWNER = "worker-1"


@pytest.fixture
def shop(database):
    with database.session() as s:
        m = f.merchant(s)
        return f.shop(s, m.id)


def add_event(database, account, event_type, data, **fields) -> int:
    with database.session() as s:
        return f.inbox_event(s, account, event_type=event_type,
                             body=envelope(event_type, data), **fields).id


def run(app) -> int:
    return process_inbox.run(app, OWNER)


def event(database, event_id) -> InboxEvent:
    with database.session() as s:
        return s.get(InboxEvent, event_id)


def orders(database) -> list[Order]:
    with database.session() as s:
        return list(s.scalars(select(Order).order_by(Order.id)))


def test_the_job_is_registered():
    [job] = [j for j in default_jobs() if j.name == "process_inbox"]
    assert job.run is process_inbox.run and job.interval_s == 1


def test_order_is_created_then_updated_through_its_binding(app, database, shop):
    first = add_event(database, shop, "order.updated", order_data("GS-7"))
    assert run(app) == 1
    done = event(database, first)
    assert done.status == "processed" and done.processed_at is not None
    assert (done.lease_owner, done.lease_expires_at, done.error_class) == (None, None, None)
    [order] = orders(database)
    assert (order.platform_order_id, order.status, order.total_minor) == ("GS-7", "paid", 1990)
    assert order.merchant_id == shop.merchant_id and order.shop_account_id == shop.id
    assert order.buyer_phone_masked == "138****5678"

    later = add_event(database, shop, "order.updated",
                      order_data("GS-7", "shipped", "2026-11-02T10:00:00+08:00"))
    assert run(app) == 1
    assert event(database, later).status == "processed"
    [order] = orders(database)
    assert order.status == "shipped"
    with database.session() as s:
        [binding] = s.scalars(select(Binding)).all()
    assert (binding.entity, binding.external_id, binding.internal_id) == ("order", "GS-7", order.id)
    assert binding.remote_updated_at.isoformat() == "2026-11-02T02:00:00+00:00"


def test_older_update_after_a_newer_one_is_ignored_and_changes_nothing(app, database, shop):
    add_event(database, shop, "order.updated",
              order_data("GS-8", "shipped", "2026-11-02T10:00:00+08:00"))
    run(app)
    [before] = orders(database)
    stale = add_event(database, shop, "order.updated",
                      order_data("GS-8", "paid", "2026-11-01T10:00:00+08:00"))
    assert run(app) == 1
    assert event(database, stale).status == "ignored"
    assert event(database, stale).processed_at is not None
    [after] = orders(database)
    assert (after.status, after.updated_at) == ("shipped", before.updated_at)


def test_processing_the_same_event_twice_changes_nothing(app, database, shop):
    event_id = add_event(database, shop, "order.updated", order_data("GS-9"))
    run(app)
    [before] = orders(database)
    with database.session() as s:   # as if a worker died after applying, before its commit
        s.get(InboxEvent, event_id).status = "received"
    assert run(app) == 1
    [after] = orders(database)
    columns = [c.key for c in Order.__table__.columns]
    assert [getattr(after, c) for c in columns] == [getattr(before, c) for c in columns]
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Binding)) == 1


def test_return_is_created_and_linked_to_its_order(app, database, shop):
    add_event(database, shop, "order.updated", order_data("GS-10", sku="TEE"))
    ret = add_event(database, shop, "return.updated", {
        "id": "RT-1", "order_id": "GS-10", "kind": "return_refund", "status": "requested",
        "updated_at": "2026-11-03T09:00:00+08:00", "refund_minor": 1990,
        "lines": [{"sku": "TEE", "quantity": 1, "order_line_id": "L1"}]})
    assert run(app) == 2
    assert event(database, ret).status == "processed"
    with database.session() as s:
        [order] = s.scalars(select(Order)).all()
        [case] = s.scalars(select(ReturnCase)).all()
        assert (case.platform_return_id, case.order_id, case.status) == ("RT-1", order.id,
                                                                         "requested")
        assert case.lines[0].order_line_id == order.lines[0].id


def test_tracking_adds_events_to_a_known_parcel_and_ignores_unknown_ones(app, database, shop):
    with database.session() as s:
        parcel = f.shipment(s, shop.merchant_id, tracking="SF000111")
    track = {"carrier": "SF", "tracking_number": "SF000111", "events": [
        {"occurred_at": "2026-11-02T09:00:00+08:00", "status": "delivered",
         "raw_status": "签收", "description": "已签收"}]}
    known = add_event(database, shop, "tracking.updated", track)
    unknown = add_event(database, shop, "tracking.updated",
                        {**track, "tracking_number": "SF999999"})
    assert run(app) == 2
    assert event(database, known).status == "processed"
    assert event(database, unknown).status == "ignored"
    with database.session() as s:
        assert s.get(Shipment, parcel.id).status == "delivered"
        assert s.scalar(select(func.count()).where(TrackingEvent.shipment_id == parcel.id)) == 2


def test_unhandled_event_type_is_ignored(app, database, shop):
    event_id = add_event(database, shop, "customer.updated", {"id": "C1"})
    run(app)
    assert event(database, event_id).status == "ignored"


def test_poll_sourced_event_is_processed_like_a_webhook(app, database, shop):
    event_id = add_event(database, shop, "order.updated", order_data("GS-P"), source="poll")
    run(app)
    assert event(database, event_id).status == "processed"
    assert [o.platform_order_id for o in orders(database)] == ["GS-P"]


def test_only_due_unleased_received_events_are_claimed(app, database, shop):
    later = add_event(database, shop, "order.updated", order_data("A"),
                      next_attempt_at=utcnow() + timedelta(minutes=5))
    leased = add_event(database, shop, "order.updated", order_data("B"), lease_owner="other",
                       lease_expires_at=utcnow() + timedelta(minutes=1))
    done = add_event(database, shop, "order.updated", order_data("C"), status="failed")
    assert run(app) == 0
    assert [event(database, i).status for i in (later, leased, done)] == \
        ["received", "received", "failed"]
    assert orders(database) == []


def test_an_event_whose_lease_was_taken_is_left_alone(database, shop):
    event_id = add_event(database, shop, "order.updated", order_data("D"), lease_owner="other",
                         lease_expires_at=utcnow() + timedelta(minutes=1))
    process_inbox.process_batch(database, [event_id], OWNER)
    after = event(database, event_id)
    assert (after.status, after.lease_owner, after.attempts) == ("received", "other", 0)
    assert orders(database) == []


# -- errors are data ----------------------------------------------------------------------
@pytest.fixture
def failing(monkeypatch):
    """Make ``records_for_event`` raise the given errors in turn (then work normally)."""
    def install(*errors):
        queue = list(errors)
        real = GenericShop.records_for_event

        def records_for_event(self, event_type, body):
            if queue:
                raise queue.pop(0)
            return real(self, event_type, body)

        monkeypatch.setattr(GenericShop, "records_for_event", records_for_event)
        return queue
    return install


def _one_event(database, shop):
    return add_event(database, shop, "order.updated", order_data("GS-E"))


@pytest.mark.parametrize("error_class", [ErrorClass.RETRY, ErrorClass.RATE_LIMITED])
def test_retryable_error_keeps_it_received_with_backoff(app, database, shop, failing,
                                                        error_class):
    event_id = _one_event(database, shop)
    failing(ConnectorError(error_class, "shop API answered 503"))
    before = utcnow()
    run(app)
    e = event(database, event_id)
    assert (e.status, e.attempts, e.error_class) == ("received", 1, error_class.value)
    assert e.error_message == "shop API answered 503"
    assert (e.lease_owner, e.processed_at) == (None, None)
    low, high = process_inbox.BASE_DELAY_S * 0.8, process_inbox.BASE_DELAY_S * 1.2
    assert before + timedelta(seconds=low) <= e.next_attempt_at
    assert e.next_attempt_at <= utcnow() + timedelta(seconds=high)
    assert run(app) == 0                                     # not due yet
    assert orders(database) == []


def test_rate_limited_honours_retry_after(app, database, shop, failing):
    event_id = _one_event(database, shop)
    failing(ConnectorError(ErrorClass.RATE_LIMITED, "slow down", retry_after=900))
    before = utcnow()
    run(app)
    e = event(database, event_id)
    assert e.status == "received" and e.error_class == "rate_limited"
    assert e.next_attempt_at >= before + timedelta(seconds=900)


def test_retry_delays_grow_and_are_capped():
    delays = [process_inbox.retry_delay(n, rand=lambda: 0.5) for n in range(1, 12)]
    assert delays[:3] == [10.0, 30.0, 90.0]
    assert delays == sorted(delays) and max(delays) == process_inbox.MAX_DELAY_S
    assert process_inbox.retry_delay(1, rand=lambda: 0.0) == 8.0
    assert process_inbox.retry_delay(1, rand=lambda: 1.0) == pytest.approx(12.0)


def test_retryable_error_fails_after_the_maximum_attempts(app, database, shop, failing):
    event_id = _one_event(database, shop)
    with database.session() as s:
        s.get(InboxEvent, event_id).attempts = process_inbox.MAX_ATTEMPTS - 1
    failing(ConnectorError(ErrorClass.RETRY, "still down"))
    run(app)
    e = event(database, event_id)
    assert (e.status, e.attempts, e.error_class) == ("failed", process_inbox.MAX_ATTEMPTS,
                                                      "retry")


def test_refresh_token_then_retry_refreshes_once_and_succeeds(app, database, shop, failing,
                                                              monkeypatch):
    refreshed = []
    monkeypatch.setattr(GenericShop, "refresh_token", lambda self: refreshed.append(1))
    event_id = _one_event(database, shop)
    failing(ConnectorError(ErrorClass.REFRESH_TOKEN_THEN_RETRY, "token expired"))
    run(app)
    assert refreshed == [1]
    e = event(database, event_id)
    assert (e.status, e.attempts, e.error_class) == ("processed", 1, None)
    assert len(orders(database)) == 1


def test_refresh_token_refused_twice_is_retried_later(app, database, shop, failing,
                                                      monkeypatch):
    refreshed = []
    monkeypatch.setattr(GenericShop, "refresh_token", lambda self: refreshed.append(1))
    event_id = _one_event(database, shop)
    failing(*[ConnectorError(ErrorClass.REFRESH_TOKEN_THEN_RETRY, "token expired")] * 2)
    run(app)
    assert refreshed == [1]
    e = event(database, event_id)
    assert (e.status, e.attempts, e.error_class) == ("received", 1, "refresh_token_then_retry")


def test_refresh_without_a_token_is_fail_config(app, database, shop, failing):
    event_id = _one_event(database, shop)   # GenericShop has no token to refresh
    failing(ConnectorError(ErrorClass.REFRESH_TOKEN_THEN_RETRY, "token expired"))
    run(app)
    assert event(database, event_id).status == "failed"
    assert event(database, event_id).error_class == "fail_config"


def test_fail_config_fails_the_event_and_flags_the_account(app, database, shop, failing):
    event_id = _one_event(database, shop)
    failing(ConnectorError(ErrorClass.FAIL_CONFIG, "HTTP 401: api_key rejected"))
    run(app)
    e = event(database, event_id)
    assert (e.status, e.attempts, e.error_class) == ("failed", 1, "fail_config")
    with database.session() as s:
        account = s.get(Account, shop.id)
        assert account.status == "needs_attention"
        assert f"inbox event {event_id}" in account.status_reason
        assert "api_key rejected" in account.status_reason
        assert s.scalar(select(AuditEntry.action)) == "account.needs_attention"


def test_fail_data_fails_the_event_only(app, database, shop):
    event_id = add_event(database, shop, "order.updated", order_data("GS-BAD", total_minor=19.9))
    run(app)
    e = event(database, event_id)
    assert (e.status, e.attempts, e.error_class) == ("failed", 1, "fail_data")
    assert "total_minor" in e.error_message
    with database.session() as s:
        assert s.get(Account, shop.id).status == "active"
    assert orders(database) == []


def test_unexpected_exception_is_retried_and_logged_without_secrets(
        app, database, shop, failing, caplog):
    event_id = _one_event(database, shop)
    failing(RuntimeError(f"boom with {f.WHSEC}"))
    run(app)
    e = event(database, event_id)
    assert (e.status, e.attempts, e.error_class) == ("received", 1, "retry")
    assert "RuntimeError" in e.error_message and f.WHSEC not in e.error_message
    assert any(r.getMessage() == "inbox event failed unexpectedly" for r in caplog.records)


def test_a_failure_while_applying_rolls_back_everything_it_applied(app, database, shop,
                                                                    monkeypatch):
    from hub.pipeline import sync

    real = sync.apply
    calls = []

    def flaky(session, account, values, **kwargs):
        calls.append(values.entity)
        outcome = real(session, account, values, **kwargs)
        if len(calls) <= 2:  # in the batch's slice, then applied alone
            raise ConnectorError(ErrorClass.RETRY, "concurrent write; retrying")
        return outcome

    monkeypatch.setattr(sync, "apply", flaky)
    event_id = _one_event(database, shop)
    run(app)
    assert event(database, event_id).status == "received"
    assert event(database, event_id).attempts == 1     # the undone slice cost no attempt
    assert orders(database) == []                      # slice and savepoint rolled back
    with database.session() as s:
        s.get(InboxEvent, event_id).next_attempt_at = utcnow()
    run(app)
    assert event(database, event_id).status == "processed"
    assert len(orders(database)) == 1


def test_a_value_the_database_cannot_hold_fails_at_once_and_is_never_retried(app, database,
                                                                             shop):
    """Integers beyond 64 bits (SQLite: OverflowError; PostgreSQL: DataError) are bad
    data: ``fail_data`` on the first attempt, nothing written (issue 10, item 6)."""
    too_big = add_event(database, shop, "order.updated",
                        order_data("GS-BIG", total_minor=2 ** 70, paid_minor=0))
    assert run(app) == 1
    failed = event(database, too_big)
    assert (failed.status, failed.error_class, failed.attempts) == ("failed", "fail_data", 1)
    assert "GS-BIG" not in [o.platform_order_id for o in orders(database)]
    fine = add_event(database, shop, "order.updated", order_data("GS-OK"))
    assert run(app) == 1 and event(database, fine).status == "processed"


def test_an_unwired_process_retries_instead_of_failing_events(app, database, shop):
    """A worker that never called ``hub.wiring.wire()`` applies nothing and loses nothing:
    the event is retried, not failed as bad data."""
    from hub import wiring
    from hub.pipeline import events, sync

    event_id = add_event(database, shop, "order.updated", order_data("GS-UNWIRED"))
    sync.reset()
    events.reset()
    try:
        assert run(app) == 1
    finally:
        wiring.wire()
    waiting = event(database, event_id)
    assert (waiting.status, waiting.error_class) == ("received", "retry")
    assert "wire()" in waiting.error_message
