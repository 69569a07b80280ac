"""The returns stock (``hub.domain.returns.stock``, ``/api/v1/returns-stock``): receipts
enter it per location, SKU, grade and disposition; a repeated receipt books nothing, a
later inspection moves what the first booked; moves never spend more than the balance
(409, nothing written; real concurrent transactions on PostgreSQL); ``reconcile`` finds
received units the stock did not book."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from hub.core.errors import ApiError, Conflict
from hub.domain.returns import inspection as inspections, stock
from hub.models import Account, Inspection, Merchant, ReturnCase, StockMovement, Supplier
from tests import factories as f
from tests.race import race
from tests.test_inspection import make_case, scores

LOCATION = "warehouse:main"


@pytest.fixture
def w(app, database):
    with database.session() as s:
        m = f.merchant(s)
        shop, sup = f.shop(s, m.id), f.supplier(s, m.id)
        case = make_case(s, m, shop, sup, qty=5, value=2000)
        return {"merchant_id": m.id, "shop_id": shop.id, "supplier_id": sup.id,
                "case_id": case.id, "admin": f.bearer(f.token(s, m.id)),
                "finance": f.bearer(f.token(s, m.id, "finance"))}


def another_case(database, w, **kwargs) -> int:
    with database.session() as s:
        return make_case(s, s.get(Merchant, w["merchant_id"]), s.get(Account, w["shop_id"]),
                         s.get(Supplier, w["supplier_id"]), **kwargs).id


def receive(database, case_id, condition="intact", actor="user:1", **kwargs) -> int:
    with database.session() as s:
        return inspections.confirm_return_receipt(
            s, s.get(ReturnCase, case_id), actor, condition, **kwargs).id


def held(database, merchant_id, **filters) -> list[tuple]:
    with database.session(readonly=True) as s:
        return [(r["location"], r["sku"], r["grade"], r["state"], r["quantity"])
                for r in stock.balances(s, merchant_id, **filters)]


def moves(database) -> int:
    with database.session(readonly=True) as s:
        return s.scalar(select(func.count()).select_from(StockMovement))


def move(database, w, quantity, from_state="restock", to_state=None, grade="A", **kw):
    with database.session() as s:
        return stock.move(s, w["merchant_id"], kw.get("location", LOCATION), "SKU-1", grade,
                          from_state, to_state, quantity, kw.get("reason", "back on the shelf"),
                          "user:1").id


# -- receipts ----------------------------------------------------------------------------------

def test_a_receipt_enters_the_stock_once(app, database, w):
    first = receive(database, w["case_id"], grade="A")
    assert held(database, w["merchant_id"]) == [(LOCATION, "SKU-1", "A", "restock", 5)]
    assert receive(database, w["case_id"], grade="A") == first  # the same receipt again
    assert held(database, w["merchant_id"]) == [(LOCATION, "SKU-1", "A", "restock", 5)]
    assert moves(database) == 1


def test_grading_after_the_receipt_moves_the_goods_instead_of_adding(app, database, w):
    receive(database, w["case_id"])                                     # no grade: hold
    assert held(database, w["merchant_id"]) == [(LOCATION, "SKU-1", None, "hold", 5)]
    receive(database, w["case_id"], scores=scores(4, 4, 3, 3))          # B: discount
    assert held(database, w["merchant_id"]) == [(LOCATION, "SKU-1", "B", "discount", 5)]
    receive(database, w["case_id"], grade="B", notes="checked again",
            location="warehouse:east")                                   # moved elsewhere
    assert held(database, w["merchant_id"]) == [("warehouse:east", "SKU-1", "B", "discount", 5)]
    with database.session(readonly=True) as s:
        assert stock.reconcile(s, w["merchant_id"]) == []


def test_received_quantities_and_an_empty_parcel(app, database, w):
    with database.session() as s:
        s.get(ReturnCase, w["case_id"]).lines[0].qty_received = 3  # the buyer sent 3 of 5
    receive(database, w["case_id"], grade="A")
    empty = another_case(database, w, sku="SKU-2", qty=2)
    receive(database, empty, "empty")
    assert held(database, w["merchant_id"]) == [(LOCATION, "SKU-1", "A", "restock", 3)]
    with database.session(readonly=True) as s:
        assert stock.reconcile(s, w["merchant_id"]) == []


def test_a_bad_location_books_nothing(app, database, w):
    for location in ("main", "warehouse:", "supplier:x", "warehouse:a/b"):
        with pytest.raises(ApiError) as refused:
            receive(database, w["case_id"], grade="A", location=location)
        assert refused.value.status == 422 and "location" in refused.value.details
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Inspection)) == 0
    assert moves(database) == 0


# -- moves -------------------------------------------------------------------------------------

def test_moves_between_states_and_out_of_the_stock(app, database, w):
    receive(database, w["case_id"], grade="A")
    move(database, w, 2, "restock", "discount", reason="slow seller")
    move(database, w, 1, "restock", None, reason="back to sellable stock")
    move(database, w, 2, "discount", None, reason="sold at a discount")
    assert held(database, w["merchant_id"]) == [(LOCATION, "SKU-1", "A", "restock", 2)]
    with database.session(readonly=True) as s:
        out = s.scalars(select(StockMovement).where(StockMovement.to_state.is_(None))
                        .order_by(StockMovement.id)).all()
        assert [(x.from_state, x.quantity, x.reason) for x in out] == [
            ("restock", 1, "back to sellable stock"), ("discount", 2, "sold at a discount")]
        assert stock.reconcile(s, w["merchant_id"]) == []  # in stock + left = received


def test_moving_more_than_the_balance_is_a_409_that_writes_nothing(app, database, w):
    receive(database, w["case_id"], grade="A")
    before = moves(database)
    for quantity, grade, state in ((6, "A", "restock"), (1, "B", "restock"),
                                   (1, "A", "discount")):
        with pytest.raises(Conflict) as refused:
            move(database, w, quantity, state, None, grade=grade)
        assert refused.value.details["quantity"] == quantity
    with pytest.raises(Conflict):
        move(database, w, 1, location="warehouse:other")
    assert moves(database) == before
    move(database, w, 5)  # exactly the balance
    assert held(database, w["merchant_id"]) == []


@pytest.mark.parametrize("change, field", [
    ({"location": "shelf 3"}, "location"), ({"from_state": None}, "from_state"),
    ({"to_state": "restock"}, "to_state"), ({"to_state": "melted"}, "to_state"),
    ({"quantity": 0}, "quantity"), ({"quantity": True}, "quantity"),
    ({"reason": "  "}, "reason"), ({"grade": "E"}, "grade"), ({"sku": ""}, "sku"),
])
def test_a_bad_move_is_a_422_that_writes_nothing(app, database, w, change, field):
    receive(database, w["case_id"], grade="A")
    values = {"location": LOCATION, "sku": "SKU-1", "grade": "A", "from_state": "restock",
              "to_state": None, "quantity": 1, "reason": "why", **change}
    with database.session() as s:
        with pytest.raises(ApiError) as refused:
            stock.move(s, w["merchant_id"], actor="user:1", **values)
    assert refused.value.status == 422 and field in refused.value.details
    assert moves(database) == 1


def test_two_concurrent_moves_never_oversell(app, database, w):
    if not database.is_postgres:
        pytest.skip("a race of concurrent writers needs PostgreSQL (SQLite serialises them)")
    receive(database, w["case_id"], grade="A")
    outcome = {}

    def second():
        try:
            move(database, w, 3, reason="second")
            outcome["second"] = "moved"
        except Conflict as refused:
            outcome["second"] = refused.details["available"]

    race(database, lambda s: stock.move(s, w["merchant_id"], LOCATION, "SKU-1", "A", "restock",
                                        None, 3, "first", "user:1"), second)
    assert outcome == {"second": 2}  # it waited for the first and saw what was left
    assert held(database, w["merchant_id"]) == [(LOCATION, "SKU-1", "A", "restock", 2)]


def test_many_concurrent_moves_spend_the_balance_exactly(app, database, w):
    receive(database, w["case_id"], grade="A")
    results, start = [], threading.Barrier(4)

    def one():
        start.wait()
        try:
            move(database, w, 2)
            results.append("moved")
        except Conflict:
            results.append("refused")

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["moved", "moved", "refused", "refused"]
    assert held(database, w["merchant_id"]) == [(LOCATION, "SKU-1", "A", "restock", 1)]


# -- reconciling --------------------------------------------------------------------------------

def test_reconcile_finds_receipts_the_stock_did_not_book(app, database, w):
    receive(database, w["case_id"], grade="A")
    legacy = another_case(database, w, sku="SKU-9", qty=2)
    with database.session() as s:  # an inspection recorded before the returns stock existed
        s.add(Inspection(merchant_id=w["merchant_id"], return_case_id=legacy,
                         inspected_by="supplier:1", received_at=f.T0, condition="intact"))
    with database.session(readonly=True) as s:
        assert stock.reconcile(s, w["merchant_id"]) == [
            {"return_case_id": legacy, "sku": "SKU-9", "received": 2, "booked": 0,
             "difference": 2}]
    with database.session() as s:  # a booking that no receipt explains
        s.add(StockMovement(merchant_id=w["merchant_id"], location=LOCATION, sku="SKU-1",
                            grade="A", from_state=None, to_state="restock", quantity=1,
                            return_case_id=w["case_id"], actor="user:1"))
    with database.session(readonly=True) as s:
        assert [(d["sku"], d["difference"]) for d in stock.reconcile(s, w["merchant_id"])] == [
            ("SKU-1", -1), ("SKU-9", 2)]


# -- the API ------------------------------------------------------------------------------------

def test_the_stock_api_lists_moves_and_refuses(app, client, database, w):
    receive(database, w["case_id"], grade="A")
    other = another_case(database, w, sku="SKU-2", qty=1)
    receive(database, other, grade="C", location="warehouse:east")
    everything = client.get("/api/v1/returns-stock", headers=w["admin"])
    assert everything.status_code == 200
    assert [(b["location"], b["sku"], b["grade"], b["state"], b["quantity"])
            for b in everything.get_json()["balances"]] == [
        ("warehouse:east", "SKU-2", "C", "discount", 1),
        (LOCATION, "SKU-1", "A", "restock", 5)]
    only = client.get("/api/v1/returns-stock?sku=SKU-2", headers=w["admin"]).get_json()
    assert [b["sku"] for b in only["balances"]] == ["SKU-2"]
    assert client.get("/api/v1/returns-stock?location=nowhere",
                      headers=w["admin"]).status_code == 422
    read = client.get("/api/v1/returns-stock", headers=w["finance"])  # finance reconciles
    assert read.get_json() == everything.get_json()

    body = {"location": LOCATION, "sku": "SKU-1", "grade": "A", "from_state": "restock",
            "to_state": None, "quantity": 4, "reason": "back to sellable stock"}
    assert client.post("/api/v1/returns-stock/moves", headers=w["finance"],
                       json=body).status_code == 403
    moved = client.post("/api/v1/returns-stock/moves", headers=w["admin"], json=body)
    assert moved.status_code == 201, moved.get_json()
    assert (moved.get_json()["to_state"], moved.get_json()["quantity"]) == (None, 4)
    assert moved.get_json()["actor"].startswith("token:")
    count = moves(database)
    over = client.post("/api/v1/returns-stock/moves", headers=w["admin"], json=body)
    assert over.status_code == 409 and over.get_json()["error"]["details"]["available"] == 1
    bad = client.post("/api/v1/returns-stock/moves", headers=w["admin"],
                      json={**body, "quantity": -1, "reason": ""})
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["details"]) == {"quantity", "reason"}
    assert moves(database) == count

    with database.session() as s:
        s.add(Inspection(merchant_id=w["merchant_id"], return_case_id=w["case_id"],
                         inspected_by="user:1", received_at=f.T0, condition="empty"))
    report = client.get("/api/v1/returns-stock/reconciliation", headers=w["admin"]).get_json()
    assert report == {"balanced": False, "differences": [
        {"return_case_id": w["case_id"], "sku": "SKU-1", "received": 0, "booked": 5,
         "difference": -5}]}


def test_other_merchants_see_none_of_it(app, client, database, w):
    receive(database, w["case_id"], grade="A")
    with database.session() as s:
        stranger = f.bearer(f.token(s, f.merchant(s, "Other").id))
    assert client.get("/api/v1/returns-stock", headers=stranger).get_json() == {"balances": []}
    moved = client.post("/api/v1/returns-stock/moves", headers=stranger, json={
        "location": LOCATION, "sku": "SKU-1", "grade": "A", "from_state": "restock",
        "to_state": None, "quantity": 1, "reason": "steal"})
    assert moved.status_code == 409
    assert held(database, w["merchant_id"]) == [(LOCATION, "SKU-1", "A", "restock", 5)]
