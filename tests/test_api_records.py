"""Reading orders, return cases and shipments: every filter returns exactly the expected
rows, cursor pages walk every row once (newest first), money is integer minor units,
buyer contact leaves only masked, and times are timezone-aware ISO 8601."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hub.models import TrackingEvent
from tests import factories as f

T0 = f.T0
DAY = timedelta(days=1)
CST = timezone(timedelta(hours=8))  # filters may be given in any offset
CIPHERS = ("ENC-NAME-7f3a9c", "ENC-PHONE-5b2e1d", "ENC-ADDR-9c8d7e")


def iso(dt: datetime) -> str:
    return dt.astimezone(CST).isoformat()


@pytest.fixture
def data(database):
    """One merchant's records with known keys, plus another merchant's that never show."""
    with database.session() as s:
        m = f.merchant(s).id
        shop1, shop2 = f.shop(s, m).id, f.shop(s, m).id
        s1, s2 = f.supplier(s, m).id, f.supplier(s, m).id
        spec = {  # key: shop, sku, status, supplier, placed_at, qty
            "o1": (shop1, "TEA", "paid", s1, T0, 1),
            "o2": (shop1, "CUP", "shipped", s2, T0 + DAY, 2),
            "o3": (shop2, "TEA", "delivered", s1, T0 + 2 * DAY, 1),
            "o4": (shop1, "POT", "cancelled", None, T0 + 3 * DAY, 3),
            "o5": (shop2, "TEA", "paid", s2, T0 + 4 * DAY, 1),
        }
        o = {}
        for n, (key, (shop, sku, status, sup, placed, qty)) in enumerate(spec.items()):
            o[key] = f.order(s, m, shop, sku=sku, status=status, supplier_id=sup,
                             placed_at=placed, price=1990 + n, qty=qty)
            o[key].updated_at = T0 + (10 + n) * DAY
            o[key].buyer_name_cipher, o[key].buyer_phone_cipher, \
                o[key].buyer_address_cipher = CIPHERS
            o[key].buyer_name_masked = "王**"
        o["o3"].do_not_ship = True
        r = {
            "r1": f.return_case(s, m, shop2, o["o3"], kind="return_refund",
                                status="awaiting_return", requested_at=T0 + 3 * DAY),
            "r2": f.return_case(s, m, shop1, o["o2"], kind="refund_only",
                                status="requested", requested_at=T0 + 2 * DAY),
            "r3": f.return_case(s, m, shop2, o["o5"], kind="exchange", status="closed",
                                requested_at=T0 + 5 * DAY),
        }
        for n, case in enumerate(r.values()):
            case.updated_at = T0 + (20 + n) * DAY
        sh = {
            "sA": f.shipment(s, m, o["o2"].id, tracking="SF-A",
                             fulfilment_id=o["o2"].fulfilments[0].id, status="in_transit"),
            "sB": f.shipment(s, m, o["o3"].id, tracking="YT-B",
                             fulfilment_id=o["o3"].fulfilments[0].id, status="delivered"),
            "sR": f.shipment(s, m, None, tracking="SF-R", return_case_id=r["r1"].id,
                             direction="return", status="in_transit"),
        }
        sh["sB"].carrier = "yto"
        for n, x in enumerate(sh.values()):
            x.created_at = T0 + (1 + n) * DAY
            x.updated_at = T0 + (30 + n) * DAY
        # a second, later event first: the detail view orders them by time
        s.add(TrackingEvent(merchant_id=m, shipment_id=sh["sA"].id, occurred_at=T0 + DAY,
                            status="in_transit", source="test", dedupe_key="late",
                            description="到达杭州"))
        other = f.world(s, "Other")  # another tenant with matching SKUs and statuses
        records = {"orders": o, "returns": r, "shipments": sh}
        ids = {k: v.id for rows in records.values() for k, v in rows.items()}
        ids |= {"shop1": shop1, "shop2": shop2, "sup1": s1, "sup2": s2}
        return {"ids": ids, "token": f.token(s, m, "finance"),
                "keys": {name: {v.id: k for k, v in rows.items()}
                         for name, rows in records.items()},
                "other_ids": {"orders": other["order"].id, "returns": other["return"].id,
                              "shipments": other["shipment"].id},
                "platform_ids": {k: v.platform_order_id for k, v in o.items()}}


def fetch(client, data, path, **query):
    resp = client.get(path, headers=f.bearer(data["token"]), query_string=query)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def keys_of(data, path, rows):
    """The fixture's names for the rows of a list (``o1``, ``r2``, ``sA``...)."""
    names = data["keys"][path.split("/")[3]]
    return [names.get(row["id"], f"unexpected:{row['id']}") for row in rows]


def listed(client, data, path, **query):
    """Keys of every row the list answers, in the order given (one page holds all)."""
    body = fetch(client, data, path, limit=200, **query)
    assert body["next_cursor"] is None
    return keys_of(data, path, body["data"])


def newest_first(data, keys):
    return sorted(keys, key=lambda k: data["ids"][k], reverse=True)


ORDER_FILTERS = [
    ({}, ["o1", "o2", "o3", "o4", "o5"]),
    ({"status": "paid"}, ["o1", "o5"]),
    ({"status": "completed"}, []),
    ({"since": iso(T0 + DAY)}, ["o2", "o3", "o4", "o5"]),  # inclusive
    ({"until": iso(T0 + 2 * DAY)}, ["o1", "o2"]),           # exclusive
    ({"since": iso(T0 + DAY), "until": iso(T0 + 3 * DAY)}, ["o2", "o3"]),
    ({"since": (T0 + DAY).isoformat().replace("+00:00", "Z")}, ["o2", "o3", "o4", "o5"]),
    ({"updated_since": iso(T0 + 12 * DAY)}, ["o3", "o4", "o5"]),
    ({"sku": "TEA"}, ["o1", "o3", "o5"]),
    ({"sku": "NONE"}, []),
    ({"supplier_id": "sup1"}, ["o1", "o3"]),
    ({"supplier_id": "sup2"}, ["o2", "o5"]),
    ({"supplier_id": 987654321}, []),
    ({"tracking_number": "SF-A"}, ["o2"]),
    ({"tracking_number": "YT-B"}, ["o3"]),
    ({"shop_account_id": "shop2"}, ["o3", "o5"]),
    ({"do_not_ship": "true"}, ["o3"]),
    ({"do_not_ship": "false"}, ["o1", "o2", "o4", "o5"]),
    ({"status": "paid", "sku": "TEA", "supplier_id": "sup2"}, ["o5"]),
]

RETURN_FILTERS = [
    ({}, ["r1", "r2", "r3"]),
    ({"status": "awaiting_return"}, ["r1"]),
    ({"kind": "refund_only"}, ["r2"]),
    ({"order_id": "o3"}, ["r1"]),
    ({"sku": "CUP"}, ["r2"]),
    ({"sku": "TEA"}, ["r1", "r3"]),
    ({"supplier_id": "sup1"}, ["r1"]),
    ({"supplier_id": "sup2"}, ["r2", "r3"]),
    ({"tracking_number": "SF-R"}, ["r1"]),
    ({"tracking_number": "SF-A"}, []),  # an outbound parcel is not a return
    ({"since": iso(T0 + 3 * DAY)}, ["r1", "r3"]),
    ({"until": iso(T0 + 3 * DAY)}, ["r2"]),
    ({"updated_since": iso(T0 + 21 * DAY)}, ["r2", "r3"]),
    ({"kind": "exchange", "status": "closed", "sku": "TEA"}, ["r3"]),
]

SHIPMENT_FILTERS = [
    ({}, ["sA", "sB", "sR"]),
    ({"status": "in_transit"}, ["sA", "sR"]),
    ({"direction": "return"}, ["sR"]),
    ({"direction": "outbound"}, ["sA", "sB"]),
    ({"carrier": "yto"}, ["sB"]),
    ({"tracking_number": "SF-R"}, ["sR"]),
    ({"order_id": "o2"}, ["sA"]),
    ({"return_case_id": "r1"}, ["sR"]),
    ({"sku": "CUP"}, ["sA"]),
    ({"sku": "TEA"}, ["sB", "sR"]),  # the return of o3's tea comes back too
    ({"supplier_id": "sup1"}, ["sB", "sR"]),
    ({"supplier_id": "sup2"}, ["sA"]),
    ({"since": iso(T0 + 2 * DAY)}, ["sB", "sR"]),
    ({"until": iso(T0 + 2 * DAY)}, ["sA"]),
    ({"updated_since": iso(T0 + 31 * DAY)}, ["sB", "sR"]),
    ({"status": "in_transit", "direction": "outbound"}, ["sA"]),
]


def _resolve(data, query):
    """Symbolic ids (``s1``, ``o3``...) in a query become the real ids."""
    return {k: data["ids"].get(v, v) if isinstance(v, str) else v for k, v in query.items()}


@pytest.mark.parametrize("path,cases", [("/api/v1/orders", ORDER_FILTERS),
                                        ("/api/v1/returns", RETURN_FILTERS),
                                        ("/api/v1/shipments", SHIPMENT_FILTERS)])
def test_filters_return_exactly_the_expected_rows(client, data, path, cases):
    wrong = []
    for query, expected in cases:  # one data set, every filter: report all that differ
        got = listed(client, data, path, **_resolve(data, query))
        if got != newest_first(data, expected):
            wrong.append(f"{path} {query}: got {got}, expected {newest_first(data, expected)}")
    assert not wrong, "\n".join(wrong)


def test_platform_order_id_filter(client, data):
    for key, platform_id in data["platform_ids"].items():
        assert listed(client, data, "/api/v1/orders", platform_order_id=platform_id) == [key]


@pytest.mark.parametrize("path", ["/api/v1/orders", "/api/v1/returns", "/api/v1/shipments"])
def test_other_merchants_rows_never_show(client, data, path):
    rows = fetch(client, data, path, limit=200)["data"]
    assert rows and data["other_ids"][path.split("/")[3]] not in {row["id"] for row in rows}


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 6])
def test_cursor_pages_walk_every_row_once_newest_first(client, database, limit):
    with database.session() as s:  # enough rows that small limits take many pages
        m = f.merchant(s, "Busy")
        shop = f.shop(s, m.id)
        made = [f.order(s, m.id, shop.id, placed_at=T0 + n * DAY).id for n in range(7)]
        tok = f.token(s, m.id, "operator")
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        resp = client.get("/api/v1/orders", headers=f.bearer(tok), query_string=query)
        assert resp.status_code == 200
        body = resp.get_json()
        assert 1 <= len(body["data"]) <= limit
        seen += [row["id"] for row in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(made, reverse=True)  # all, once each, newest first
    assert pages == -(-len(made) // limit)     # no empty trailing page


def test_pages_with_a_filter_and_rows_arriving_between_pages(client, database, data):
    ids = data["ids"]
    first = fetch(client, data, "/api/v1/orders", sku="TEA", limit=1)
    assert keys_of(data, "/api/v1/orders", first["data"]) == ["o5"]
    with database.session() as s:  # a new matching order lands between two pages
        new_id = f.order(s, data_merchant(database, ids["o1"]), ids["shop1"], sku="TEA").id
    rest, cursor = [], first["next_cursor"]
    while cursor:
        page = fetch(client, data, "/api/v1/orders", sku="TEA", limit=1, cursor=cursor)
        rest += keys_of(data, "/api/v1/orders", page["data"])
        cursor = page["next_cursor"]
    assert rest == ["o3", "o1"]  # nothing skipped or repeated; the newcomer is on page one
    assert fetch(client, data, "/api/v1/orders", sku="TEA", limit=1)["data"][0]["id"] == new_id


def data_merchant(database, order_id):
    from hub.models import Order

    with database.session(readonly=True) as s:
        return s.get(Order, order_id).merchant_id


def _walk(value, path=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, f"{path}[]")
    else:
        yield path, value


TIME_KEYS = ("_at", "_by")


def _assert_times_and_money(body):
    checked = 0
    for path, value in _walk(body):
        name = path.rsplit(".", 1)[-1]
        if name.endswith(TIME_KEYS) and value is not None:
            parsed = datetime.fromisoformat(value)
            assert parsed.tzinfo is not None, (path, value)
            assert parsed.utcoffset() == timedelta(0), (path, value)
            checked += 1
        if name.endswith("_minor"):
            assert type(value) is int, (path, value)
    assert checked


def test_order_detail_money_buyer_and_times(client, data):
    body = fetch(client, data, f"/api/v1/orders/{data['ids']['o2']}")
    assert body["id"] == data["ids"]["o2"] and body["status"] == "shipped"
    assert body["total_minor"] == 1991 * 2 and body["paid_minor"] == 1991 * 2
    assert body["shipping_fee_minor"] == 0 and body["currency"] == "CNY"
    line = body["lines"][0]
    assert (line["sku"], line["quantity"], line["unit_price_minor"], line["total_minor"]) == \
        ("CUP", 2, 1991, 3982)
    assert body["fulfilments"][0]["supplier_id"] == data["ids"]["sup2"]
    assert body["buyer"]["phone"] == "138****5678" and body["buyer"]["name"] == "王**"
    assert datetime.fromisoformat(body["placed_at"]) == T0 + DAY
    _assert_times_and_money(body)


def test_return_detail(client, data):
    body = fetch(client, data, f"/api/v1/returns/{data['ids']['r1']}")
    assert (body["order_id"], body["kind"], body["status"]) == \
        (data["ids"]["o3"], "return_refund", "awaiting_return")
    assert body["refund_minor"] == 1992 and body["lines"][0]["sku"] == "TEA"
    assert datetime.fromisoformat(body["requested_at"]) == T0 + 3 * DAY
    _assert_times_and_money(body)


def test_shipment_detail_has_its_events_in_time_order(client, data):
    body = fetch(client, data, f"/api/v1/shipments/{data['ids']['sA']}")
    assert (body["tracking_number"], body["carrier"], body["direction"]) == \
        ("SF-A", "sf", "outbound")
    assert [e["status"] for e in body["events"]] == ["picked_up", "in_transit"]
    assert [datetime.fromisoformat(e["occurred_at"]) for e in body["events"]] == [T0, T0 + DAY]
    assert body["events"][1]["description"] == "到达杭州"
    _assert_times_and_money(body)
    listed_rows = fetch(client, data, "/api/v1/shipments")["data"]
    assert all("events" not in row for row in listed_rows)  # lists stay light


def test_buyer_ciphertext_never_leaves_the_hub(client, data):
    paths = ["/api/v1/orders", "/api/v1/returns", "/api/v1/shipments",
             *[f"/api/v1/orders/{data['ids'][k]}" for k in ("o1", "o2", "o3", "o4", "o5")]]
    for path in paths:
        text = client.get(path, headers=f.bearer(data["token"])).get_data(as_text=True)
        for cipher in CIPHERS:
            assert cipher not in text, path
    rows = fetch(client, data, "/api/v1/orders")["data"]
    assert {row["buyer"]["phone"] for row in rows} == {"138****5678"}
    assert not any("cipher" in key for row in rows for key in row["buyer"])


@pytest.mark.parametrize("path", ["/api/v1/orders", "/api/v1/returns", "/api/v1/shipments"])
def test_list_times_and_money(client, data, path):
    _assert_times_and_money(fetch(client, data, path))
