"""The generic shop mapper on recorded fixtures, compared with golden normalised outputs,
and its edge validation of bad records.

Fixtures are stored inbox bodies (``tests/fixtures/generic_shop/<case>.json``); each has
``<case>.golden.json`` beside it. After a deliberate mapping change, regenerate them with
``UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_generic_shop_mapping.py`` and
review the diff.
"""
from __future__ import annotations

import ast
import copy
import dataclasses
import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from connectors.base import AccountContext, ConnectorError, ErrorClass
from connectors.generic_shop import GenericShop
from tests.factories import WHSEC

FIXTURES = Path(__file__).parent / "fixtures" / "generic_shop"
CASES = sorted(p for p in FIXTURES.glob("*.json") if not p.name.endswith(".golden.json"))
MAPPINGS = Path(__file__).resolve().parent.parent / "mappings" / "generic_shop"


def connector(currency="CNY"):
    return GenericShop(AccountContext(account_id=1, merchant_id=1, name="shop",
                                      config={"webhook_secret": WHSEC, "currency": currency}))


def plain(value):
    if dataclasses.is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        assert value.utcoffset().total_seconds() == 0, "every time must be UTC"
        return value.isoformat()
    return value


def normalise(body: bytes, shop=None) -> list[dict]:
    shop = shop or connector()
    records = shop.records_for_event(json.loads(body)["type"], body)
    return [{"record": {"entity": r.entity, "external_id": r.external_id,
                        "updated_at": plain(r.updated_at)},
             "type": type(v).__name__, "values": plain(v)}
            for r in records for v in [shop.map_record(r)]]


def test_there_are_fixtures():
    assert len(CASES) >= 5
    assert all(c.with_suffix(".golden.json").exists() or os.environ.get("UPDATE_GOLDEN")
               for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_fixture_maps_to_golden(case):
    got = normalise(case.read_bytes())
    golden = case.with_suffix(".golden.json")
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, ensure_ascii=False, indent=2) + "\n")
    assert got == json.loads(golden.read_text())


def test_times_are_converted_to_utc_and_amounts_kept_in_minor_units():
    [out] = normalise((FIXTURES / "order_paid.json").read_bytes())
    v = out["values"]
    assert v["remote_updated_at"] == "2026-11-01T08:05:00+00:00"   # 16:05 at +08:00
    assert v["total_minor"] == 5980 and v["lines"][0]["unit_price_minor"] == 2990
    assert v["status"] == "paid" and v["flags"] == []


def test_unknown_status_is_kept_raw_and_flagged():
    [out] = normalise((FIXTURES / "order_unknown_status.json").read_bytes())
    v = out["values"]
    assert (v["status"], v["raw_status"]) == ("unknown", "partially_refunded")
    assert v["flags"] == ["unknown_status:partially_refunded"]
    [ret] = normalise((FIXTURES / "return_unknown_status.json").read_bytes())
    assert (ret["values"]["status"], ret["values"]["raw_status"]) == ("requested", "arbitration")
    assert ret["values"]["flags"] == ["unknown_status:arbitration"]
    [track] = normalise((FIXTURES / "tracking_updated.json").read_bytes())
    statuses = [(e["status"], e["raw_status"]) for e in track["values"]["events"]]
    assert statuses[-1] == ("unknown", "held_at_depot")
    assert track["values"]["flags"] == ["unknown_tracking_status:held_at_depot"]


def test_account_currency_is_the_default():
    [out] = normalise((FIXTURES / "order_unknown_status.json").read_bytes(), connector("USD"))
    assert out["values"]["currency"] == "USD"


def _order(**changes):
    body = json.loads((FIXTURES / "order_paid.json").read_text())
    data = copy.deepcopy(body["data"])
    for key, value in changes.items():
        if value is ...:
            data.pop(key)
        else:
            data[key] = value
    return {"type": "order.updated", "data": data}


@pytest.mark.parametrize("changes,field", [
    ({"total_minor": 59.8}, "total_minor"),
    ({"total_minor": "5980"}, "total_minor"),
    ({"paid_minor": True}, "paid_minor"),
    ({"updated_at": "2026-11-01T16:05:00"}, "updated_at"),        # no offset
    ({"placed_at": "yesterday"}, "placed_at"),
    ({"status": ...}, "status"),
    ({"lines": [{"sku": "", "quantity": 1, "unit_price_minor": 1}]}, "lines.0.sku"),
    ({"lines": [{"sku": "A", "quantity": 0, "unit_price_minor": 1}]}, "lines.0.quantity"),
    ({"buyer": "张三"}, "buyer"),
])
def test_bad_order_is_fail_data_with_a_clear_message(changes, field):
    body = json.dumps(_order(**changes)).encode()
    shop = connector()
    [record] = shop.records_for_event("order.updated", body)
    with pytest.raises(ConnectorError) as e:
        shop.map_record(record)
    assert e.value.error_class is ErrorClass.FAIL_DATA
    assert e.value.message.startswith("order GS-100045 is invalid: ")
    assert f"{field}: " in e.value.message


def test_unknown_return_kind_is_fail_data():
    body = json.loads((FIXTURES / "return_updated.json").read_text())
    body["data"]["kind"] = "swap"
    shop = connector()
    [record] = shop.records_for_event("return.updated", json.dumps(body).encode())
    with pytest.raises(ConnectorError) as e:
        shop.map_record(record)
    assert e.value.error_class is ErrorClass.FAIL_DATA and "'swap'" in e.value.message


@pytest.mark.parametrize("body", [b"not json", b'{"type": "order.updated"}',
                                  b'{"type": "order.updated", "data": {"status": "paid"}}',
                                  b'{"type": "order.updated", "data": {"id": true}}'])
def test_unusable_stored_body_is_fail_data(body):
    with pytest.raises(ConnectorError) as e:
        connector().records_for_event("order.updated", body)
    assert e.value.error_class is ErrorClass.FAIL_DATA


def test_event_types_the_hub_does_not_handle_have_no_records():
    assert connector().records_for_event("customer.updated", b'{"type":"x","data":{}}') == []


def test_the_mapper_is_pure():
    """mappings/ imports nothing of the hub beyond the value types, and does no I/O."""
    allowed = {"__future__", "datetime", "marshmallow", "hub.values", "mappings.generic_shop",
               "mappings.generic_shop.mapper", "mappings.generic_shop.schemas",
               "mappings.tracking.carriers"}  # the hub's carrier vocabulary (a data table)
    for path in MAPPINGS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.module in allowed, (path.name, node.module)
            elif isinstance(node, ast.Import):
                assert {a.name for a in node.names} <= allowed, (path.name, node.names)


def _return(**changes) -> bytes:
    body = json.loads((FIXTURES / "return_in_transit.json").read_text())
    body["data"].update(changes)
    return json.dumps(body).encode()


def test_a_returns_tracking_is_the_buyers_return_parcel():
    [ret] = normalise((FIXTURES / "return_in_transit.json").read_bytes())
    v = ret["values"]
    assert (v["return_carrier"], v["return_tracking_number"]) == ("yto", "YT7654321098765")
    [ret] = normalise(_return(tracking={"carrier": "Pigeon", "tracking_number": "PG1"}))
    v = ret["values"]
    assert (v["return_carrier"], v["return_tracking_number"]) == ("pigeon", "PG1")
    assert v["flags"] == ["unknown_carrier:Pigeon"]
    for tracking in (None, {"carrier": " ", "tracking_number": "PG1"}):
        [ret] = normalise(_return(tracking=tracking))
        assert (ret["values"]["return_carrier"], ret["values"]["return_tracking_number"]) \
            == (None, None)


@pytest.mark.parametrize("tracking, field", [
    ({"carrier": "sf"}, "tracking.tracking_number"),
    ({"tracking_number": "SF1"}, "tracking.carrier"),
    ("SF1", "tracking"),
])
def test_a_bad_return_tracking_is_fail_data(tracking, field):
    shop = connector()
    [record] = shop.records_for_event("return.updated", _return(tracking=tracking))
    with pytest.raises(ConnectorError) as e:
        shop.map_record(record)
    assert e.value.error_class is ErrorClass.FAIL_DATA and f"{field}: " in e.value.message
