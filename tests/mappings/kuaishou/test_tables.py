"""Every Kuaishou code in the shipped tables maps into the hub's vocabularies."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from hub.models.orders import ORDER_STATUSES
from hub.models.returns import RETURN_KINDS, RETURN_STATUSES
from mappings.kuaishou import carriers, orders, returns
from mappings.kuaishou.tables import json_table

ORDER_CODES = {0: "unknown", 10: "pending_payment", 30: "paid", 40: "shipped", 50: "delivered",
               70: "completed", 80: "cancelled"}
KIND_CODES = {10: "refund_only", 1: "return_refund", 3: "exchange", 4: "reship", 5: "repair"}
REFUND_STATUS_CODES = (10, 11, 20, 21, 22, 30, 40, 45, 50, 60, 70)
REASON = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)*$")


def order_with(status) -> dict:
    return {"orderBaseInfo": {"oid": 1, "status": status},
            "orderItemInfo": {"skuId": 2, "skuNick": "S", "num": 1, "price": 100}}


@pytest.mark.parametrize("code,expected", ORDER_CODES.items())
def test_every_order_status_maps(code, expected):
    values = orders.map_order(order_with(code))
    assert values.status == expected and values.raw_status == str(code)
    assert ("unknown_order_status:0" in values.flags) is (code == 0)


def test_order_table_values_are_hub_statuses():
    table = json_table("order_statuses")
    assert set(table["statuses"].values()) <= set(ORDER_STATUSES)
    assert {int(k) for k in table["statuses"]} == set(ORDER_CODES) - {0}


@pytest.mark.parametrize("code,expected", KIND_CODES.items())
def test_every_handling_way_maps(code, expected):
    assert returns.kind_of(code, 10) == (expected, [])


def test_an_unknown_handling_way_is_inferred_and_flagged():
    assert returns.kind_of(8, 30) == ("return_refund", ["unknown_handling_way:8"])
    assert returns.kind_of(None, 10) == ("refund_only", ["unknown_handling_way:None"])


@pytest.mark.parametrize("status", REFUND_STATUS_CODES)
@pytest.mark.parametrize("negotiate", [0, 1, 2, 3, None])
@pytest.mark.parametrize("kind", RETURN_KINDS)
def test_every_refund_status_maps_into_the_hub_vocabulary(status, negotiate, kind):
    mapped, flags = returns.status_of(status, negotiate, kind)
    assert mapped in RETURN_STATUSES and mapped != "received"
    assert not any(f.startswith("unknown") for f in flags)


STATUS_TABLE = [
    # (status, negotiate, kind, expected, flag)
    (10, 1, "refund_only", "requested", None),
    (10, 0, "refund_only", "requested", None),
    (10, 2, "refund_only", "approved", None),
    (10, 3, "refund_only", "rejected", None),
    (11, 1, "return_refund", "requested", None),
    (11, 2, "return_refund", "approved", None),
    (11, 3, "return_refund", "rejected", None),
    (20, 1, "refund_only", "requested", "platform_intervened"),
    (21, 3, "return_refund", "requested", "platform_intervened"),
    (22, 2, "return_refund", "approved", "platform_intervened"),
    (30, 2, "return_refund", "awaiting_return", None),
    (40, 2, "return_refund", "return_in_transit", None),
    (40, 3, "return_refund", "rejected", None),
    (45, 2, "exchange", "resolved", None),
    (50, 2, "refund_only", "approved", None),
    (60, 2, "refund_only", "refunded", None),
    (60, 2, "return_refund", "refunded", None),
    (60, 2, "exchange", "resolved", None),
    (60, 2, "reship", "resolved", None),
    (60, 2, "repair", "resolved", None),
    (70, 1, "return_refund", "closed", None),
    (99, 1, "refund_only", "requested", "unknown_refund_status:99"),
    (0, 0, "refund_only", "requested", "unknown_refund_status:0"),
]


@pytest.mark.parametrize("status,negotiate,kind,expected,flag", STATUS_TABLE)
def test_refund_status_table(status, negotiate, kind, expected, flag):
    mapped, flags = returns.status_of(status, negotiate, kind)
    assert mapped == expected
    assert (flag in flags) if flag else flags == []


def test_return_table_values_are_hub_values():
    table = json_table("return_statuses")
    assert set(table["kinds"].values()) == set(RETURN_KINDS)
    for entry in table["statuses"].values():
        assert entry["status"] in RETURN_STATUSES
        assert set((entry.get("negotiate") or {}).values()) <= set(RETURN_STATUSES)
        assert set((entry.get("by_kind") or {})) <= set(RETURN_KINDS)
        assert set((entry.get("by_kind") or {}).values()) <= set(RETURN_STATUSES)


def test_reason_codes_are_hierarchical():
    table = json_table("refund_reasons")
    codes = list(table["codes"].values()) + [code for _, code in table["keywords"]]
    assert codes and all(REASON.match(c) and len(c) <= 128 for c in codes)


def test_local_overrides_merge_over_the_shipped_table(tmp_path, monkeypatch):
    from mappings.kuaishou import tables
    (tmp_path / "refund_reasons.json").write_text(
        '{"codes": {"1": "quality.defect"}, "keywords": [["坏", "quality.defect"]]}', encoding="utf-8")
    (tmp_path / "refund_reasons.local.json").write_text(
        '{"codes": {"42": "buyer.changed_mind"}}', encoding="utf-8")
    monkeypatch.setattr(tables, "HERE", tmp_path)
    tables.json_table.cache_clear()
    try:
        merged = tables.json_table("refund_reasons")
        assert merged["codes"] == {"1": "quality.defect", "42": "buyer.changed_mind"}
        assert merged["keywords"] == [["坏", "quality.defect"]]
    finally:
        monkeypatch.undo()
        tables.json_table.cache_clear()


def test_the_mappers_import_nothing_of_the_hub_but_its_values():
    package = Path(returns.__file__).parent
    for module in package.glob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] not in ("hub", "connectors", "requests", "sqlalchemy", "flask") \
                    or name == "hub.values", f"{module.name} imports {name}"


def test_carrier_table_codes_are_known_carriers():
    assert carriers.known_codes()[4] == "sf"
    assert all(isinstance(c, int) and v for c, v in carriers.known_codes().items())
