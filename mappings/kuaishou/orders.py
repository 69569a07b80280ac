"""Kuaishou order element (``open.order.cursor.list`` item / ``open.order.detail`` data)
→ ``hub.values.OrderValues``. Pure: no I/O beyond the code tables loaded once.

* One ``oid`` carries one SKU line (``orderItemInfo`` is an object, not a list); gift
  sub-orders (``subOrderInfo[]``) become extra lines with ``is_gift=True``. A gift element
  may be flat item fields or an order-shaped object; both are read [I: no sample seen].
* Amounts are fen already. Timestamps are ms → aware UTC datetimes; 0 means "none".
* ``status`` 10/30/40/50/70/80 → pending_payment/paid/shipped/delivered/completed/
  cancelled (``order_statuses.json``); 0 and unknown codes → ``unknown`` plus a flag.
* ``ship_by`` = ``validPromiseShipmentTimeStamp``.
* Do-not-ship reasons. Platform holds are always reported: ``disableDeliveryReasonCode``
  1 → ``group_buy_in_progress``, 2 → ``risk_review`` (others → ``platform_hold:<n>``),
  ``riskCode`` 10001 → ``fraud_risk`` (others → ``risk_code:<n>``). Holds read from an
  *absence* are reported only while the order awaits shipment (``paid``/``unknown``),
  because unpaid, shipped and closed orders legitimately lack them:
  ``validPromiseShipmentTimeStamp == 0`` → ``no_ship_by_time`` and any empty encrypted
  address field → ``address_incomplete``.
* The buyer is kept as platform ciphertext + masked (``desensitise*``) text + region
  codes. Nothing is ever decrypted here.
* The SKU of a line is the merchant's code: ``skuNick``, else ``goodsCode``, else
  ``relSkuId``, else the platform ``skuId``; ``platform_sku_id`` is always ``skuId``.
"""
from __future__ import annotations

from hub.values import BuyerContact, OrderLineValues, OrderValues, Waybill
from mappings.kuaishou.carriers import waybill
from mappings.kuaishou.common import (
    CURRENCY, MappingError, cut, fen, id_text, ms_to_dt, text, to_int,
)
from mappings.kuaishou.tables import json_table

ADDRESS_CIPHERS = ("encryptedConsignee", "encryptedMobile", "encryptedAddress")


def _table() -> dict:
    return json_table("order_statuses")


def sku_of(item: dict) -> str | None:
    for key in ("skuNick", "goodsCode", "relSkuId", "skuId"):
        value = id_text(item.get(key))
        if value:
            return value
    return None


def _line(item: dict, line_id: str | None, *, gift: bool) -> OrderLineValues | None:
    sku = sku_of(item)
    if sku is None:
        return None
    quantity = to_int(item.get("num"), 1)
    unit = fen(item.get("price"), "itemInfo.price") if not gift or item.get("price") is not None else 0
    title = " / ".join(t for t in (text(item.get("itemTitle")), text(item.get("skuDesc"))) if t)
    return OrderLineValues(sku=sku, quantity=quantity, unit_price_minor=unit,
                           total_minor=unit * quantity, platform_line_id=line_id,
                           platform_sku_id=id_text(item.get("skuId")), title=title[:500],
                           is_gift=gift)


def _gift_lines(order_id: str, subs) -> tuple[list[OrderLineValues], list[str]]:
    lines, flags = [], []
    for n, sub in enumerate(subs if isinstance(subs, list) else [], start=1):
        if not isinstance(sub, dict):
            continue
        item = sub.get("orderItemInfo") if isinstance(sub.get("orderItemInfo"), dict) else sub
        base = sub.get("orderBaseInfo") if isinstance(sub.get("orderBaseInfo"), dict) else sub
        line_id = (id_text(base.get("oid")) or id_text(sub.get("subOid"))
                   or id_text(sub.get("oid")) or f"{order_id}-gift-{n}")
        line = _line(item, line_id, gift=True)
        if line is None:
            flags.append(f"gift_without_sku:{line_id}")
        else:
            lines.append(line)
    return lines, flags


def _do_not_ship(base: dict, address: dict, status: str, tables: dict) -> tuple[list[str], list[str]]:
    reasons, flags = [], []
    codes = base.get("disableDeliveryReasonCode") or []
    for code in codes if isinstance(codes, list) else [codes]:
        key = str(to_int(code, code))
        reason = tables["disable_delivery_reasons"].get(key)
        if reason is None:
            reason = f"platform_hold:{key}"
            flags.append(f"unknown_disable_delivery_reason:{key}")
        reasons.append(reason)
    risk = to_int(base.get("riskCode"), 0)
    if risk:
        reason = tables["risk_codes"].get(str(risk))
        if reason is None:
            reason = f"risk_code:{risk}"
            flags.append(f"unknown_risk_code:{risk}")
        reasons.append(reason)
    if status in ("paid", "unknown"):
        if "validPromiseShipmentTimeStamp" in base and not to_int(base.get("validPromiseShipmentTimeStamp"), 0):
            reasons.append("no_ship_by_time")
        if any(not text(address.get(k)) for k in ADDRESS_CIPHERS):
            reasons.append("address_incomplete")
    return list(dict.fromkeys(reasons)), flags


def _buyer(address: dict) -> BuyerContact:
    def code(key):
        return id_text(address.get(key))
    return BuyerContact(
        name_cipher=text(address.get("encryptedConsignee")),
        phone_cipher=text(address.get("encryptedMobile")),
        address_cipher=text(address.get("encryptedAddress")),
        name_masked=text(address.get("desensitiseConsignee")),
        phone_masked=text(address.get("desensitiseMobile")),
        address_masked=text(address.get("desensitiseAddress")),
        province_code=code("provinceCode"), city_code=code("cityCode"),
        district_code=code("districtCode"))


def map_order(order: dict, *, currency: str = CURRENCY) -> OrderValues:
    if not isinstance(order, dict):
        raise MappingError("a Kuaishou order must be a JSON object")
    base = order.get("orderBaseInfo") or {}
    oid = id_text(base.get("oid")) or id_text(order.get("oid"))
    if not oid:
        raise MappingError("Kuaishou order without orderBaseInfo.oid")
    tables = _table()
    flags: list[str] = []

    raw = to_int(base.get("status"))
    raw_status = None if raw is None else str(raw)
    status = tables["statuses"].get(raw_status or "", "unknown")
    if status == "unknown":
        flags.append(f"unknown_order_status:{base.get('status')}")

    lines: list[OrderLineValues] = []
    item = order.get("orderItemInfo")
    if isinstance(item, dict) and item:
        line = _line(item, oid, gift=False)
        if line is None:
            flags.append("item_without_sku")
        else:
            lines.append(line)
    else:
        flags.append("no_item_info")
    gifts, gift_flags = _gift_lines(oid, order.get("subOrderInfo"))
    lines += gifts
    flags += gift_flags

    address = order.get("orderAddress") if isinstance(order.get("orderAddress"), dict) else {}
    reasons, hold_flags = _do_not_ship(base, address, status, tables)
    flags += hold_flags
    if base.get("preSale") in (True, 1, "1", "true"):
        flags.append("presale")

    paid_at = ms_to_dt(base.get("payTime"))
    total = fen(base.get("totalFee"), "orderBaseInfo.totalFee")
    paid = total if paid_at or status in ("paid", "shipped", "delivered", "completed") else 0
    return OrderValues(
        platform_order_id=oid, status=status, raw_status=raw_status, currency=currency,
        total_minor=total, paid_minor=paid, lines=tuple(lines),
        remote_updated_at=ms_to_dt(base.get("updateTime")),
        shipping_fee_minor=fen(base.get("expressFee"), "orderBaseInfo.expressFee"),
        placed_at=ms_to_dt(base.get("createTime")), paid_at=paid_at,
        ship_by=ms_to_dt(base.get("validPromiseShipmentTimeStamp")),
        do_not_ship_reasons=tuple(reasons), buyer=_buyer(address),
        buyer_note=cut(text(base.get("remark")), 500, "buyer_note", flags),
        waybills=_waybills(order.get("orderLogisticsInfo"), flags),
        flags=tuple(dict.fromkeys(flags)))


def _waybills(infos, flags: list[str]) -> tuple[Waybill, ...]:
    """The parcels the platform says the order went out in (``orderLogisticsInfo``)."""
    found: dict[tuple[str, str], Waybill] = {}
    for info in infos if isinstance(infos, list) else []:
        carrier, number, more = waybill(info)
        if number:
            found.setdefault((carrier, number), Waybill(carrier, number))
            flags.extend(more)
    return tuple(found.values())
