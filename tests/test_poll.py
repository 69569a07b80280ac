"""``jobs.poll`` against a generic shop served by ``responses``: backfill over pages,
resuming after a failure mid-stream, overlap without duplicate inbox events, error
classes acted on, and only active accounts polled. No time is real."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import responses
from responses import matchers
from sqlalchemy import select, update

from connectors.base import ConnectorError, ErrorClass, Record
from connectors.generic_shop import GenericShop
from connectors.generic_shop.streams import ShopStream
from connectors.http import HttpAdapter, TokenBucket
from hub.core.db import utcnow
from hub.models import Account, AuditEntry, InboxEvent, PollState
from jobs import poll
from tests import factories as f

T = datetime(2026, 10, 1, 0, 0, tzinfo=timezone.utc)
STEP = timedelta(seconds=20)
CST = timezone(timedelta(hours=8))


def order(n: int, at: datetime | None = None) -> dict:
    at = at or T + STEP * n
    return {"id": f"GS-{n}", "status": "paid", "updated_at": at.astimezone(CST).isoformat(),
            "total_minor": 100 + n}


def key(n: int, at: datetime | None = None, entity="order", prefix="GS") -> str:
    return f"poll:{entity}:{prefix}-{n}:{(at or T + STEP * n).isoformat()}"


def serve(rsps, base, stream, pages, since=None, status=None, headers=None):
    """One registered response per page, matching the exact query the stream must send."""
    for i, page in enumerate(pages):
        params = {"updated_since": since.isoformat()} if since else {}
        if i:
            params["cursor"] = f"c{i}"
        kwargs = dict(status=status, headers=headers or {}) if status else dict(
            json={"data": page, "next_cursor": f"c{i + 1}" if i < len(pages) - 1 else None})
        rsps.add(responses.GET, f"{base}/hub/{stream}",
                 match=[matchers.query_param_matcher(params)], **kwargs)


@pytest.fixture
def slept(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(HttpAdapter, "sleep", staticmethod(slept.append))
    monkeypatch.setattr(TokenBucket, "sleep", staticmethod(lambda s: None))
    return slept


@pytest.fixture
def rsps(slept):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as r:
        yield r


def add_shop(database, base="https://shop.test", status="active", name=None, **config):
    cfg = GenericShop.validate_config({"webhook_secret": f.WHSEC, "qps": 1000,
                                       **({"base_url": base} if base else {}), **config})
    with database.session() as s:
        m = f.merchant(s)
        a = f.shop(s, m.id, name=name, config=cfg)
        a.status = status
        return a.id


def states(database, account_id) -> dict[str, PollState]:
    with database.session(readonly=True) as s:
        return {p.stream: p for p in s.scalars(
            select(PollState).where(PollState.account_id == account_id))}


def events(database, account_id) -> list[InboxEvent]:
    with database.session(readonly=True) as s:
        return list(s.scalars(select(InboxEvent).where(InboxEvent.account_id == account_id)
                              .order_by(InboxEvent.id)))


def make_due(database, account_id, stream=None):
    with database.session() as s:
        stmt = update(PollState).where(PollState.account_id == account_id)
        if stream:
            stmt = stmt.where(PollState.stream == stream)
        s.execute(stmt.values(next_run_at=utcnow() - timedelta(seconds=1)))


def test_backfill_reads_every_page_into_the_inbox(app, database, rsps):
    account = add_shop(database)
    orders = [order(n) for n in range(5)]
    serve(rsps, "https://shop.test", "orders", [orders[:2], orders[2:4], orders[4:]])
    serve(rsps, "https://shop.test", "returns", [[]])
    before = utcnow()
    assert poll.run(app, "w1") == 2
    after = utcnow()

    got = events(database, account)
    assert [e.external_event_id for e in got] == [key(n) for n in range(5)]
    for n, e in enumerate(got):
        assert (e.source, e.event_type, e.status) == ("poll", "order.updated", "received")
        assert json.loads(e.body) == {"type": "order.updated", "data": orders[n]}
    st = states(database, account)
    assert st["orders"].cursor == {"updated_since": (T + STEP * 4).isoformat()}
    progress = st["orders"].progress
    assert (progress["pages"], progress["records"], progress["new_events"]) == (3, 5, 5)
    assert progress["backfill"] is True and progress["complete"] is True
    interval = timedelta(seconds=300)  # poll_interval_s
    assert before + interval <= st["orders"].next_run_at <= after + interval
    assert st["orders"].last_success_at is not None and st["orders"].lease_owner is None
    assert st["returns"].cursor == {} and st["returns"].progress["complete"] is True
    assert poll.run(app, "w1") == 0  # nothing due: no call is made


def test_a_failure_mid_stream_keeps_the_last_page_and_the_next_run_resumes(app, database,
                                                                           rsps, slept):
    account = add_shop(database)
    base = "https://shop.test"
    rsps.add(responses.GET, f"{base}/hub/orders", match=[matchers.query_param_matcher({})],
             json={"data": [order(0), order(1)], "next_cursor": "c1"})
    rsps.add(responses.GET, f"{base}/hub/orders", status=500,
             match=[matchers.query_param_matcher({"cursor": "c1"})])
    serve(rsps, base, "returns", [[]])
    poll.run(app, "w1")

    st = states(database, account)["orders"]
    assert st.cursor == {"updated_since": (T + STEP).isoformat()}
    assert st.last_error_class == "retry" and st.attempts == 1
    assert st.next_run_at > utcnow() and st.progress["complete"] is False
    assert [e.external_event_id for e in events(database, account)] == [key(0), key(1)]
    assert len(slept) == HttpAdapter.max_attempts - 1  # retried in place first

    rsps.reset()
    make_due(database, account, "orders")
    since = T + STEP - timedelta(seconds=60)  # the saved cursor minus the overlap
    serve(rsps, base, "orders", [[order(n) for n in range(5)]], since=since)
    assert poll.run(app, "w1") == 1
    st = states(database, account)["orders"]
    assert [e.external_event_id for e in events(database, account)] == [key(n) for n in range(5)]
    assert st.cursor == {"updated_since": (T + STEP * 4).isoformat()}
    assert (st.last_error_class, st.last_error, st.attempts) == (None, None, 0)
    assert st.progress["new_events"] == 3 and st.progress["backfill"] is False


def test_overlap_is_read_again_without_duplicate_events(app, database, rsps):
    account = add_shop(database)
    base = "https://shop.test"
    serve(rsps, base, "orders", [[order(0), order(1), order(2)]])
    serve(rsps, base, "returns", [[]])
    poll.run(app, "w1")
    rsps.reset()
    make_due(database, account, "orders")
    since = T + STEP * 2 - timedelta(seconds=60)
    newer = T + STEP * 5
    serve(rsps, base, "orders", [[order(0), order(1), order(2)], [order(3), order(1, newer)]],
          since=since)
    poll.run(app, "w1")
    assert [e.external_event_id for e in events(database, account)] == (
        [key(0), key(1), key(2), key(3), key(1, newer)])
    progress = states(database, account)["orders"].progress
    assert (progress["records"], progress["new_events"]) == (5, 2)
    assert states(database, account)["orders"].cursor == {"updated_since": newer.isoformat()}


def test_only_active_accounts_are_polled(app, database, rsps):
    active = add_shop(database, "https://a.test")
    disabled = add_shop(database, "https://b.test", status="disabled")
    attention = add_shop(database, "https://c.test", status="needs_attention")
    serve(rsps, "https://a.test", "orders", [[order(0)]])
    serve(rsps, "https://a.test", "returns", [[]])
    assert poll.run(app, "w1") == 2
    assert all(c.request.url.startswith("https://a.test/") for c in rsps.calls)
    assert states(database, disabled) == {} and states(database, attention) == {}

    rsps.reset()  # the account is disabled after it was polled: its due rows wait
    with database.session() as s:
        s.get(Account, active).status = "disabled"
    make_due(database, active)
    assert poll.run(app, "w1") == 0
    assert len(rsps.calls) == 0
    assert states(database, active)["orders"].cursor == {
        "updated_since": T.isoformat()}


def test_accounts_without_base_url_have_no_poll_state(app, database):
    account = add_shop(database, base=None)
    assert poll.run(app, "w1") == 0
    assert states(database, account) == {}


def test_fail_config_puts_the_account_in_needs_attention(app, database, rsps):
    account = add_shop(database)
    serve(rsps, "https://shop.test", "orders", [[]], status=401)
    poll.run(app, "w1")
    with database.session(readonly=True) as s:
        a = s.get(Account, account)
        assert a.status == "needs_attention" and "poll orders" in a.status_reason
        assert s.scalar(select(AuditEntry.action).where(
            AuditEntry.entity_id == account)) == "account.needs_attention"
    st = states(database, account)
    assert st["orders"].last_error_class == "fail_config" and st["orders"].cursor == {}
    # the other stream, claimed in the same batch, was not called for a flagged account
    assert st["returns"].last_error_class is None and st["returns"].last_success_at is None
    make_due(database, account)
    assert poll.run(app, "w1") == 0


def test_a_long_retry_after_reschedules_the_stream(app, database, rsps, slept):
    account = add_shop(database)
    serve(rsps, "https://shop.test", "orders", [[]], status=429, headers={"Retry-After": "600"})
    serve(rsps, "https://shop.test", "returns", [[]])
    before = utcnow()
    poll.run(app, "w1")
    after = utcnow()
    st = states(database, account)["orders"]
    assert st.last_error_class == "rate_limited" and slept == []
    assert before + timedelta(seconds=600) <= st.next_run_at <= after + timedelta(seconds=600)
    assert states(database, account)["returns"].last_error_class is None


def test_a_short_retry_after_is_waited_out_in_place(app, database, rsps, slept):
    account = add_shop(database)
    serve(rsps, "https://shop.test", "orders", [[]], status=429, headers={"Retry-After": "2"})
    serve(rsps, "https://shop.test", "orders", [[order(0)]])
    serve(rsps, "https://shop.test", "returns", [[]])
    poll.run(app, "w1")
    assert slept == [2.0]
    assert [e.external_event_id for e in events(database, account)] == [key(0)]
    assert states(database, account)["orders"].last_error_class is None


def test_an_unexpected_exception_is_recorded_and_retried_later(app, database, monkeypatch):
    account = add_shop(database)

    def broken(self, query):
        raise KeyError("boom")

    monkeypatch.setattr(ShopStream, "_page", broken)
    poll.run(app, "w1")
    st = states(database, account)["orders"]
    assert st.last_error_class == "retry" and st.last_error.startswith("unexpected KeyError")
    assert st.next_run_at > utcnow() and st.lease_owner is None


def test_refresh_needed_but_impossible_flags_the_account(app, database, monkeypatch):
    account = add_shop(database)

    def expired(self, query):
        raise ConnectorError(ErrorClass.REFRESH_TOKEN_THEN_RETRY, "token expired")

    monkeypatch.setattr(ShopStream, "_page", expired)
    poll.run(app, "w1")
    st = states(database, account)["orders"]
    assert st.last_error_class == "fail_config" and "token refresh failed" in st.last_error
    with database.session(readonly=True) as s:
        assert s.get(Account, account).status == "needs_attention"


def test_a_lost_lease_stops_the_run_after_the_stored_slice(app, database, rsps, monkeypatch):
    account = add_shop(database)
    base = "https://shop.test"
    serve(rsps, base, "orders", [[order(0)], [order(1)]])
    serve(rsps, base, "returns", [[]])
    original = poll._store_slice

    def store_then_lose_lease(db, settings, state_id, owner, *args):
        stored = original(db, settings, state_id, owner, *args)
        with db.session() as s:  # meanwhile the lease expired and another worker took it
            s.get(PollState, state_id).lease_owner = "w2"
        return stored

    monkeypatch.setattr(poll, "_store_slice", store_then_lose_lease)
    poll.run(app, "w1")
    st = states(database, account)["orders"]
    assert [e.external_event_id for e in events(database, account)] == [key(0)]
    assert st.cursor == {"updated_since": T.isoformat()} and st.lease_owner == "w2"


def test_event_ids_without_a_time_or_with_long_ids():
    undated = Record("order", "GS-1", {"id": "GS-1", "x": 1})
    assert poll.event_id(undated) == poll.event_id(Record("order", "GS-1", {"x": 1, "id": "GS-1"}))
    assert poll.event_id(undated) != poll.event_id(Record("order", "GS-1", {"id": "GS-1", "x": 2}))
    assert poll.event_id(undated).startswith("poll:order:GS-1:sha256:")
    long = Record("order", "X" * 300, {}, T)
    assert len(poll.event_id(long)) <= 191 and poll.event_id(long).startswith("poll:order:")
    assert json.loads(poll.event_body(Record("return", "R", {"id": "R"}, T))) == {
        "type": "return.updated", "data": {"id": "R"}}


def test_poll_is_a_registered_job():
    from jobs.registry import default_jobs

    job = next(j for j in default_jobs() if j.name == "poll")
    assert job.run is poll.run and job.interval_s == 5


def full_order(n: int, at: datetime | None = None, status="paid") -> dict:
    return {**order(n, at), "status": status, "currency": "CNY", "paid_minor": 100 + n,
            "lines": [{"id": "L1", "sku": "SKU-1", "quantity": 1, "unit_price_minor": 100 + n}]}


def test_polled_records_become_one_order_each_through_the_inbox(app, database, rsps):
    from hub.models import Binding, Order
    from jobs import process_inbox

    account = add_shop(database)
    base = "https://shop.test"
    serve(rsps, base, "orders", [[full_order(0), full_order(1)]])
    serve(rsps, base, "returns", [[]])
    poll.run(app, "w1")
    rsps.reset()
    make_due(database, account, "orders")
    later = T + STEP * 4
    serve(rsps, base, "orders", [[full_order(0), full_order(1), full_order(1, later, "shipped")]],
          since=T + STEP - timedelta(seconds=60))
    poll.run(app, "w1")
    while process_inbox.run(app, "w1"):
        pass
    with database.session(readonly=True) as s:
        orders = {o.platform_order_id: o for o in s.scalars(
            select(Order).where(Order.shop_account_id == account))}
        assert set(orders) == {"GS-0", "GS-1"} and orders["GS-1"].status == "shipped"
        assert len(list(s.scalars(select(Binding).where(Binding.account_id == account)))) == 2
        statuses = list(s.scalars(select(InboxEvent.status).where(
            InboxEvent.account_id == account)))
        assert sorted(statuses) == ["processed"] * 3
