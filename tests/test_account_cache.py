"""The webhook receiver's account cache: a cached account costs no database read; a change
this process commits takes effect at once, one from another process within the TTL."""
from __future__ import annotations

import pytest
from sqlalchemy import event, update

from hub.parties import accounts
from hub.parties.accounts import AccountCache
from hub.models import Account
from tests import factories as f
from tests.webhook_helpers import envelope, order_data, signed, url

NEW_SECRET = "whsec_" + "TkVXU0VDUkVUTkVXU0VDUkVUTkVX"


@pytest.fixture
def shop(database):
    with database.session() as s:
        return f.shop(s, f.merchant(s).id)


def deliver(client, shop, secret=f.WHSEC) -> int:
    body = envelope("order.updated", order_data())
    return client.post(url(shop.id), data=body, headers=signed(body, secret=secret)).status_code


@pytest.fixture
def account_reads(database):
    """How many times the accounts table is read."""
    seen = []

    def count(_conn, _cursor, statement, *_args):
        if "FROM accounts" in statement:
            seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    yield seen
    event.remove(database.engine, "before_cursor_execute", count)


def test_a_cached_account_costs_no_database_read(client, shop, account_reads):
    assert deliver(client, shop) == 200
    assert len(account_reads) == 1
    assert deliver(client, shop) == 200
    assert len(account_reads) == 1


def test_save_config_takes_effect_at_once_in_this_process(client, database, shop):
    assert deliver(client, shop) == 200                        # cached, old secret
    accounts.save_config(database, shop.id, {"webhook_secret": NEW_SECRET})
    assert deliver(client, shop) == 401                        # the old one no longer works
    assert deliver(client, shop, secret=NEW_SECRET) == 200


def test_any_orm_change_committed_here_drops_the_account_at_once(client, database, shop):
    assert deliver(client, shop) == 200
    with database.session() as s:
        s.get(Account, shop.id).config = {"webhook_secret": NEW_SECRET}
    assert deliver(client, shop, secret=NEW_SECRET) == 200


def test_a_change_from_another_process_is_seen_within_the_ttl(client, database, shop,
                                                              monkeypatch):
    assert deliver(client, shop) == 200
    with database.engine.begin() as conn:  # Core: no ORM event, as from another process
        conn.execute(update(Account).where(Account.id == shop.id)
                     .values(config={"webhook_secret": NEW_SECRET}))
    assert deliver(client, shop, secret=NEW_SECRET) == 401     # still the cached config
    assert deliver(client, shop) == 200
    later = accounts.time.monotonic() + accounts.ACCOUNT_CACHE_TTL_S + 0.1
    monkeypatch.setattr(accounts.time, "monotonic", lambda: later)
    assert deliver(client, shop, secret=NEW_SECRET) == 200     # the TTL has passed
    assert deliver(client, shop) == 401


def test_unknown_accounts_are_not_cached(client, database, shop):
    body = envelope("order.updated", order_data())
    assert client.post(url(shop.id + 1), data=body, headers=signed(body)).status_code == 401  # as a bad signature
    with database.session() as s:
        other = f.shop(s, shop.merchant_id)
    assert other.id == shop.id + 1
    assert client.post(url(other.id), data=body, headers=signed(body)).status_code == 200


def test_a_load_that_overlaps_a_change_is_not_kept(database, shop, monkeypatch):
    """A read that began before a change committed may have the old row: not cached."""
    cache = AccountCache()
    real_load = accounts.load_account

    def load_then_changed(db, account_id):
        account = real_load(db, account_id)
        accounts.forget(account_id)  # committed while the old row was being read
        return account

    monkeypatch.setattr(accounts, "load_account", load_then_changed)
    assert cache.get(database, shop.id).id == shop.id
    monkeypatch.setattr(accounts, "load_account", real_load)
    loads = []
    monkeypatch.setattr(accounts, "load_account", lambda db, i: loads.append(i) or
                        real_load(db, i))
    cache.get(database, shop.id)
    cache.get(database, shop.id)
    assert loads == [shop.id]  # read again once, then cached


def test_a_wiped_database_reusing_an_id_is_not_served_from_the_cache(app, database):
    """The tests' wipe starts ids again at 1: an account cached by an earlier test must not
    stand in for a new one with its id (the cause of a flaky supplier-secret test)."""
    from tests.conftest import wipe

    cache = AccountCache(ttl_s=60)
    with database.session() as s:
        first = f.shop(s, f.merchant(s).id, name="first")
    assert cache.get(database, first.id).name == "first"
    wipe(database)
    with database.session() as s:
        second = f.shop(s, f.merchant(s).id, name="second")
    assert second.id == first.id
    assert cache.get(database, second.id).name == "second"
