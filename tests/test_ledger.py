"""The ledger (issue 13, item 4): entries chain per counterparty, corrections are new
entries, the database refuses to change or remove a row (SQLite and PostgreSQL), a row
changed behind its back is found by ``verify`` and ``hub ledger verify``, balances come
per counterparty, currency and month, and concurrent posts for one counterparty chain one
after the other (real transactions on PostgreSQL)."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError

from hub.core.errors import ApiError
from hub.domain import ledger
from hub.domain.ledger import Counterparty, Document
from hub.domain.ledger.chain import entry_hash, genesis
from hub.models import LedgerEntry
from tests import factories as f
from tests.conftest import triggers_lifted
from tests.race import race

COURIER = Counterparty("courier", ref="sf")
OWN = Counterparty("merchant")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.fixture
def books(app, database):
    """A merchant with a supplier and a shop; ``post(...)`` writes one entry and commits
    (``app``: the shop's config is encrypted with its key)."""
    with database.session() as s:
        m = f.merchant(s)
        supplier, shop = f.supplier(s, m.id), f.shop(s, m.id)
        ids = {"merchant": m.id, "supplier": Counterparty("supplier", id=supplier.id),
               "platform": Counterparty("platform", id=shop.id)}

    def post(counterparty, entry_type, amount, *, currency="CNY", document=("claim", 1),
             occurred_at=None, merchant_id=None):
        with database.session() as s:
            return ledger.post(s, merchant_id or ids["merchant"], counterparty, entry_type,
                               amount, currency, document, f"{entry_type} {amount}", "test",
                               occurred_at=occurred_at)

    return {**ids, "post": post}


def chain(database, merchant_id, counterparty) -> list[LedgerEntry]:
    with database.session(readonly=True) as s:
        return list(s.scalars(select(LedgerEntry).where(
            LedgerEntry.merchant_id == merchant_id, *counterparty.where())
            .order_by(LedgerEntry.seq)))


def verify(database, merchant_id=None):
    with database.session(readonly=True) as s:
        return ledger.verify(s, merchant_id)


def tamper(database, sql: str, **params) -> None:
    """Change rows as someone with the database's keys could: triggers off, raw SQL."""
    with database.engine.begin() as conn, triggers_lifted(conn):
        conn.execute(text(sql), params)


def assert_linked(entries, merchant_id, counterparty) -> None:
    """One chain, no fork: each entry follows exactly one earlier entry (the first, the
    chain's genesis), in ``seq`` order, and every hash is what its fields give."""
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert entries[0].previous_hash == genesis(merchant_id, counterparty)
    for n, e in enumerate(entries[1:], start=1):
        assert [x.seq for x in entries[:n] if x.entry_hash == e.previous_hash] == [n]
    assert all(e.entry_hash == entry_hash(e) for e in entries)


# -- posting ------------------------------------------------------------------------------

def test_entries_chain_per_counterparty(database, books):
    post, supplier = books["post"], books["supplier"]
    first = post(supplier, "goods_payable", 10_000, document=("fulfilment", 7))
    post(COURIER, "courier_compensation", -1_200)
    second = post(supplier, "claim_deduction", -2_500)
    post(OWN, "write_off", 800)

    entries = chain(database, books["merchant"], supplier)
    assert [e.id for e in entries] == [first.id, second.id]
    assert_linked(entries, books["merchant"], supplier)
    assert (first.document_kind, first.document_id) == ("fulfilment", 7)
    assert first.period == ledger.period_of(first.occurred_at)
    courier = chain(database, books["merchant"], COURIER)
    assert [e.seq for e in courier] == [1]  # a chain of its own, from its own genesis
    assert courier[0].previous_hash == genesis(books["merchant"], COURIER) != \
        entries[0].previous_hash
    assert verify(database) == []


def test_one_transaction_posting_several_entries_chains_them(database, books):
    with database.session() as s:
        for amount in (100, 200, 300):
            ledger.post(s, books["merchant"], books["supplier"], "goods_payable", amount,
                        "CNY", Document("fulfilment", amount), "goods", "test")
    entries = chain(database, books["merchant"], books["supplier"])
    assert [e.amount_minor for e in entries] == [100, 200, 300]
    assert_linked(entries, books["merchant"], books["supplier"])


def test_a_correction_is_a_new_entry_naming_the_one_it_corrects(database, books):
    original = books["post"](books["supplier"], "goods_payable", 10_000,
                             document=("fulfilment", 7))
    with database.session() as s:
        fix = ledger.correct(s, original, -1_000, "contract cost is 90.00", "user:finance")
    entries = chain(database, books["merchant"], books["supplier"])
    assert [(e.entry_type, e.amount_minor, e.corrects_entry_id) for e in entries] == [
        ("goods_payable", 10_000, None), ("correction", -1_000, original.id)]
    assert entries[0].entry_hash == original.entry_hash  # untouched
    assert (fix.document_kind, fix.document_id, fix.currency) == ("fulfilment", 7, "CNY")
    assert_linked(entries, books["merchant"], books["supplier"])
    with database.session(readonly=True) as s:
        [row] = ledger.balances(s, books["merchant"])
    assert row["balance_minor"] == 9_000


@pytest.mark.parametrize("change,field", [
    ({"amount_minor": 12.5}, "amount_minor"),            # money is never a float
    ({"amount_minor": 0}, "amount_minor"),
    ({"amount_minor": -100}, "amount_minor"),            # a goods payable is owed by us
    ({"currency": "cny"}, "currency"),
    ({"document": ("Fulfilment", 0)}, "document"),
    ({"memo": " "}, "memo"),
    ({"entry_type": "bonus"}, "entry_type"),
    ({"entry_type": "correction"}, "corrects"),          # a correction names its entry
    ({"counterparty": Counterparty("supplier", ref="S1")}, "counterparty"),
    ({"counterparty": Counterparty("courier", id=3)}, "counterparty"),
    ({"counterparty": Counterparty("merchant", ref="me")}, "counterparty"),
    ({"occurred_at": datetime(2026, 12, 1)}, "occurred_at"),  # naive
])
def test_an_invalid_entry_is_refused_and_nothing_written(database, books, change, field):
    args = {"counterparty": books["supplier"], "entry_type": "goods_payable",
            "amount_minor": 100, "currency": "CNY", "document": ("fulfilment", 1),
            "memo": "goods", "actor": "test", **change}
    with database.session() as s, pytest.raises(ApiError) as refused:
        ledger.post(s, books["merchant"], **args)
    assert refused.value.status == 422 and field in refused.value.details
    assert chain(database, books["merchant"], books["supplier"]) == []


def test_another_merchants_supplier_is_no_counterparty(database, books):
    with database.session() as s:
        other = f.merchant(s, "other")
    with database.session() as s, pytest.raises(ApiError) as refused:
        ledger.post(s, other.id, books["supplier"], "goods_payable", 100, "CNY",
                    ("fulfilment", 1), "goods", "test")
    assert "does not exist" in refused.value.details["counterparty"][0]


def test_the_period_is_the_month_in_china_time():
    assert ledger.period_of(at(2026, 11, 30, 15, 59, 59)) == "2026-11"
    assert ledger.period_of(at(2026, 11, 30, 16, 0)) == "2026-12"  # midnight in Shanghai


# -- the database refuses changes -----------------------------------------------------------

def test_the_database_refuses_update_and_delete(database, books):
    entry = books["post"](books["supplier"], "goods_payable", 10_000)
    table = LedgerEntry.__table__
    for statement in (update(table).values(amount_minor=1), delete(table)):
        with pytest.raises(IntegrityError, match="append-only"):
            with database.engine.begin() as conn:
                conn.execute(statement)
    with pytest.raises(IntegrityError, match="append-only"):
        with database.session() as s:  # and through the ORM
            s.get(LedgerEntry, entry.id).memo = "changed"
    if database.is_postgres:
        with pytest.raises(IntegrityError, match="append-only"):
            with database.engine.begin() as conn:
                # CASCADE: statement lines name entries, and would refuse a plain one first
                conn.execute(text("TRUNCATE ledger_entries CASCADE"))
    [kept] = chain(database, books["merchant"], books["supplier"])
    assert (kept.amount_minor, kept.memo, kept.entry_hash) == (10_000, entry.memo,
                                                               entry.entry_hash)


# -- tampering is found ---------------------------------------------------------------------

@pytest.fixture
def hub_cli(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=["ledger", *map(str, args)])


def test_a_row_changed_in_place_is_found(database, books, hub_cli):
    post, supplier = books["post"], books["supplier"]
    entries = [post(supplier, "goods_payable", amount) for amount in (100, 200, 300)]
    post(COURIER, "courier_compensation", -500)
    assert hub_cli("verify", "--json").exit_code == 0

    tamper(database, "UPDATE ledger_entries SET amount_minor = 20 WHERE id = :id",
           id=entries[1].id)
    [problem] = verify(database)  # the first broken entry; the courier's chain is intact
    assert (problem.entry_id, problem.kind, problem.counterparty) == (
        entries[1].id, "hash_mismatch", supplier)
    with pytest.raises(IntegrityError):  # and the triggers are back
        with database.engine.begin() as conn:
            conn.execute(delete(LedgerEntry.__table__))

    result = hub_cli("verify", "--json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    [found] = body["details"]["problems"]
    assert (found["entry_id"], found["kind"], found["counterparty"]) == (
        entries[1].id, "hash_mismatch", f"supplier {supplier.id}")
    text_result = hub_cli("verify", "--merchant", books["merchant"])
    assert text_result.exit_code == 1
    assert f"supplier {supplier.id}: entry {entries[1].id} (hash_mismatch)" in \
        text_result.output


def test_a_row_rehashed_or_removed_breaks_the_next_link(database, books, hub_cli):
    post, supplier = books["post"], books["supplier"]
    entries = [post(supplier, "goods_payable", amount) for amount in (100, 200, 300)]
    forged = chain(database, books["merchant"], supplier)[0]
    forged.amount_minor = 1  # a forger who recomputes the row's own hash...
    tamper(database, "UPDATE ledger_entries SET amount_minor = 1, entry_hash = :h "
                     "WHERE id = :id", h=entry_hash(forged), id=entries[0].id)
    [problem] = verify(database, books["merchant"])  # ...breaks the next entry's link
    assert (problem.entry_id, problem.kind) == (entries[1].id, "previous_hash_mismatch")

    tamper(database, "UPDATE ledger_entries SET amount_minor = 100, entry_hash = :h "
                     "WHERE id = :id", h=entries[0].entry_hash, id=entries[0].id)
    assert verify(database) == []
    tamper(database, "DELETE FROM ledger_entries WHERE id = :id", id=entries[1].id)
    [problem] = verify(database)
    assert (problem.entry_id, problem.kind) == (entries[2].id, "previous_hash_mismatch")
    result = hub_cli("verify")
    assert result.exit_code == 1 and f"entry {entries[2].id}" in result.output


# -- balances -------------------------------------------------------------------------------

def test_balances_per_counterparty_currency_and_month(database, books, hub_cli):
    post, supplier, platform = books["post"], books["supplier"], books["platform"]
    post(supplier, "goods_payable", 10_000, occurred_at=at(2026, 11, 5))
    post(supplier, "claim_deduction", -2_500, occurred_at=at(2026, 11, 30, 16, 30))  # Dec
    post(supplier, "goods_payable", 4_000, occurred_at=at(2026, 12, 10))
    post(supplier, "goods_payable", 700, currency="USD", occurred_at=at(2026, 12, 10))
    post(COURIER, "courier_compensation", -1_200, occurred_at=at(2026, 12, 2))
    post(COURIER, "write_off", 1_200, occurred_at=at(2027, 1, 5))
    post(platform, "platform_penalty", 300, occurred_at=at(2027, 1, 3))

    def sums(period=None, counterparty=None):
        with database.session(readonly=True) as s:
            rows = ledger.balances(s, books["merchant"], period, counterparty)
        return {(r["counterparty_kind"], r["currency"]): (
            r["opening_minor"], r["movement_minor"], r["balance_minor"], r["entries"])
            for r in rows}

    assert sums("2026-11") == {("supplier", "CNY"): (0, 10_000, 10_000, 1)}
    assert sums("2026-12") == {("supplier", "CNY"): (10_000, 1_500, 11_500, 2),
                               ("supplier", "USD"): (0, 700, 700, 1),
                               ("courier", "CNY"): (0, -1_200, -1_200, 1)}
    assert sums() == {("supplier", "CNY"): (0, 11_500, 11_500, 3),
                      ("supplier", "USD"): (0, 700, 700, 1),
                      ("courier", "CNY"): (0, 0, 0, 2),
                      ("platform", "CNY"): (0, 300, 300, 1)}
    assert sums("2027-01", COURIER) == {("courier", "CNY"): (-1_200, 1_200, 0, 1)}

    result = hub_cli("balances", "--merchant", books["merchant"], "--period", "2026-12",
                     "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["balances"]
    assert {(r["counterparty_kind"], r["counterparty_id"], r["counterparty_ref"],
             r["currency"], r["balance_minor"]) for r in rows} == {
        ("supplier", supplier.id, None, "CNY", 11_500), ("supplier", supplier.id, None, "USD", 700),
        ("courier", None, "sf", "CNY", -1_200)}
    assert hub_cli("balances", "--merchant", books["merchant"], "--period", "2026-13",
                   "--json").exit_code == 1


# -- the API --------------------------------------------------------------------------------

def test_the_api_lists_sums_and_verifies_one_merchants_ledger(client, database, books):
    post, supplier = books["post"], books["supplier"]
    with database.session() as s:
        tokens = {role: f.bearer(f.token(s, books["merchant"], role))
                  for role in ("merchant_admin", "operator", "finance")}
        other = f.merchant(s, "B")
        tokens["supplier"] = f.bearer(f.token(s, books["merchant"], "supplier",
                                              supplier.id))
    for amount in (100, 200, 300):
        post(supplier, "goods_payable", amount, occurred_at=at(2026, 12, amount // 100 + 1))
    post(COURIER, "courier_compensation", -50, occurred_at=at(2027, 1, 2))
    theirs = post(Counterparty("courier", ref="sf"), "courier_compensation", -9,
                  merchant_id=other.id)

    page = client.get("/api/v1/ledger/entries?limit=2", headers=tokens["operator"]).get_json()
    assert [e["amount_minor"] for e in page["data"]] == [-50, 300]  # newest first
    rest = client.get(f"/api/v1/ledger/entries?limit=2&cursor={page['next_cursor']}",
                      headers=tokens["operator"]).get_json()
    assert [e["amount_minor"] for e in rest["data"]] == [200, 100]
    assert theirs.id not in {e["id"] for e in page["data"] + rest["data"]}
    couriers = client.get("/api/v1/ledger/entries?counterparty_kind=courier&counterparty_ref=sf",
                          headers=tokens["finance"]).get_json()["data"]
    assert [e["amount_minor"] for e in couriers] == [-50]
    by_id = client.get(f"/api/v1/ledger/entries?counterparty_id={supplier.id}&period=2026-12",
                       headers=tokens["finance"]).get_json()["data"]
    assert len(by_id) == 3 and by_id[0]["entry_hash"] and by_id[0]["seq"] == 3
    assert client.get("/api/v1/ledger/entries?period=2026-1",
                      headers=tokens["finance"]).status_code == 422

    sums = client.get("/api/v1/ledger/balances?period=2026-12",
                      headers=tokens["operator"]).get_json()
    assert sums["period"] == "2026-12"
    assert [(r["counterparty_kind"], r["balance_minor"]) for r in sums["balances"]] == [
        ("supplier", 600)]

    assert client.get("/api/v1/ledger/verify", headers=tokens["finance"]).get_json() == {
        "ok": True, "problems": []}
    tamper(database, "UPDATE ledger_entries SET memo = 'x' WHERE id = :id", id=theirs.id)
    assert client.get("/api/v1/ledger/verify",  # another merchant's broken chain is theirs
                      headers=tokens["merchant_admin"]).get_json()["ok"] is True
    mine = chain(database, books["merchant"], supplier)[0]
    tamper(database, "UPDATE ledger_entries SET memo = 'x' WHERE id = :id", id=mine.id)
    found = client.get("/api/v1/ledger/verify", headers=tokens["finance"]).get_json()
    assert found["ok"] is False
    assert [(p["entry_id"], p["kind"]) for p in found["problems"]] == [(mine.id,
                                                                        "hash_mismatch")]

    assert client.get("/api/v1/ledger/verify", headers=tokens["operator"]).status_code == 403
    for path in ("entries", "balances", "verify"):
        assert client.get(f"/api/v1/ledger/{path}",
                          headers=tokens["supplier"]).status_code == 403


# -- concurrent posts -----------------------------------------------------------------------

def test_two_transactions_posting_for_one_counterparty_chain_one_after_the_other(database,
                                                                                books):
    if not database.is_postgres:
        pytest.skip("a race of concurrent writers needs PostgreSQL")
    merchant_id, supplier = books["merchant"], books["supplier"]

    def first(s):
        ledger.post(s, merchant_id, supplier, "goods_payable", 100, "CNY", ("fulfilment", 1),
                    "first", "test")

    race(database, first, lambda: books["post"](supplier, "goods_payable", 200))
    entries = chain(database, merchant_id, supplier)
    assert [e.amount_minor for e in entries] == [100, 200]  # the second waited for the first
    assert_linked(entries, merchant_id, supplier)


def test_many_writers_at_once_leave_one_chain_per_counterparty(database, books):
    """Real concurrent transactions on PostgreSQL; on SQLite the writers queue."""
    workers, each = 6, 5
    start, errors = threading.Barrier(workers), []

    def write(n):
        try:
            start.wait(5)
            for i in range(each):
                who = books["supplier"] if (n + i) % 3 else COURIER
                kind, amount = ("goods_payable", 100 + n) if who != COURIER else \
                    ("courier_compensation", -(100 + n))
                books["post"](who, kind, amount, document=("fulfilment", n * 10 + i + 1))
        except Exception as e:  # noqa: BLE001 (raised below, in the test's thread)
            errors.append(e)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    suppliers = chain(database, books["merchant"], books["supplier"])
    couriers = chain(database, books["merchant"], COURIER)
    assert len(suppliers) + len(couriers) == workers * each
    assert_linked(suppliers, books["merchant"], books["supplier"])
    assert_linked(couriers, books["merchant"], COURIER)
    assert verify(database) == []
