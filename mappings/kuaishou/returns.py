"""Kuaishou refund (``open.seller.order.refund.detail`` data / ``pcursor.list`` item)
→ ``hub.values.ReturnValues``. Pure; tables in ``return_statuses.json`` and
``refund_reasons.json`` (extend with ``*.local.json``, see ``tables``).

Kind: ``handlingWay`` 10/1/3/4/5 → refund_only/return_refund/exchange/reship/repair. An
unknown value is flagged and inferred from the status (a status that implies goods
coming back → return_refund, else refund_only).

Status: the refund ``status`` read together with ``negotiateStatus`` (and the kind):

| status | meaning (reference §3.3)                     | hub status                              |
|--------|----------------------------------------------|-----------------------------------------|
| 10, 11 | buyer applied (refund only / return)         | requested; negotiate 2 → approved; 3 → rejected |
| 20, 21 | platform intervened                          | requested + flag ``platform_intervened`` |
| 22     | platform intervened, return confirmed        | approved + flag ``platform_intervened``  |
| 30     | awaiting the buyer's return waybill          | awaiting_return                         |
| 40     | return waybill in, awaiting seller receipt   | return_in_transit; negotiate 3 → rejected (receipt refused) |
| 45     | exchange: replacement sent, buyer to receive | resolved                                |
| 50     | refund executing                             | approved (decided; money not yet moved) |
| 60     | success                                      | refunded; exchange/reship/repair → resolved |
| 70     | failed / closed                              | closed                                  |
| other  |                                              | requested + flag ``unknown_refund_status:<n>`` |

Never ``received``: Kuaishou has no "seller received the return" state — confirming
receipt refunds at once (→ 50/60) — and ``receiptStatus`` is whether the *buyer* had
received the original parcel, not the merchant the return. ``received``/``inspected``
are the hub's own steps (the return's tracking says delivered, the warehouse scans it);
the platform's 40 stays ``return_in_transit`` until the platform moves on.
``receiptStatus`` 1 is kept as flag ``buyer_not_received_goods`` (a stop-ship signal).

``raw_status`` is ``"<status>/<negotiateStatus>"`` (or ``"<status>"``). Money is
``refundFee`` in fen [I: unit unlabelled; the approve APIs take fen and must match it].
A refund carries no quantity for physical goods (``productNum`` is 0): the line quantity
is ``productNum`` or ``exchangeInfo.quantity`` when positive, else the order's ``num``
when the order element is passed, else 1 with flag ``quantity_unknown``.
Reason: ``refundReason`` via the ``codes`` table, else keywords in ``refundReasonDesc``
then ``refundDesc``; else ``other`` + flag. ``reason_text`` keeps the platform's label and
the buyer's words. ``expireTime`` → ``respond_by``; ``updateTime`` → ``remote_updated_at``.

Evidence and buyer (detail only): ``pictures`` → ``buyer_photos`` (how many);
``buyerOpenId`` → ``buyer_ref`` (the hub stores it hashed: repeat returners).

Return waybill (detail only): ``logisticsInfo {expressNo, expressCode}`` →
``return_tracking_number`` and ``return_carrier`` (the hub's code through
``carriers.csv``). An ``expressCode`` the table does not know is kept as
``kuaishou:<code>`` (what ``express_code_for`` passes back through; ``unknown`` when
there is no code) and flagged ``unknown_express_code:<code>``; no ``expressNo`` → both
None.
"""
from __future__ import annotations

from hub.values import ReturnLineValues, ReturnValues
from mappings.kuaishou.carriers import waybill
from mappings.kuaishou.common import CURRENCY, MappingError, fen, id_text, ms_to_dt, text, to_int
from mappings.kuaishou.orders import sku_of
from mappings.kuaishou.tables import json_table

NEGOTIATE_KNOWN = {"0", "1", "2", "3"}


def kind_of(handling_way, status) -> tuple[str, list[str]]:
    table = json_table("return_statuses")
    key = str(to_int(handling_way, handling_way))
    kind = table["kinds"].get(key)
    if kind:
        return kind, []
    guess = "return_refund" if str(to_int(status, status)) in table["goods_back_statuses"] else "refund_only"
    return guess, [f"unknown_handling_way:{handling_way}"]


def status_of(status, negotiate, kind: str) -> tuple[str, list[str]]:
    table = json_table("return_statuses")["statuses"]
    flags = []
    neg = None if negotiate is None else str(to_int(negotiate, negotiate))
    if neg is not None and neg not in NEGOTIATE_KNOWN:
        flags.append(f"unknown_negotiate_status:{negotiate}")
    entry = table.get(str(to_int(status, status)))
    if entry is None:
        return "requested", [f"unknown_refund_status:{status}", *flags]
    if entry.get("flag"):
        flags.insert(0, entry["flag"])
    by_negotiate = entry.get("negotiate") or {}
    if neg in by_negotiate:
        return by_negotiate[neg], flags
    return (entry.get("by_kind") or {}).get(kind, entry["status"]), flags


def reason_of(refund: dict) -> tuple[str, list[str]]:
    table = json_table("refund_reasons")
    number = to_int(refund.get("refundReason"))
    if number is not None and str(number) in table["codes"]:
        return table["codes"][str(number)], []
    for field in ("refundReasonDesc", "refundDesc"):
        words = text(refund.get(field)) or ""
        for keyword, code in table["keywords"]:
            if keyword in words:
                return code, []
    return "other", [f"unknown_refund_reason:{refund.get('refundReason')}"]


def _quantity(refund: dict, order: dict | None) -> tuple[int, list[str]]:
    for value in (refund.get("productNum"), (refund.get("exchangeInfo") or {}).get("quantity")):
        number = to_int(value, 0) or 0
        if number > 0:
            return number, []
    item = (order or {}).get("orderItemInfo") or {}
    number = to_int(item.get("num"), 0) or 0
    if number > 0:
        return number, []
    return 1, ["quantity_unknown"]


def return_waybill(refund: dict) -> tuple[str | None, str | None, list[str]]:
    """``(carrier, tracking number, flags)`` of the buyer's return parcel, or Nones."""
    return waybill(refund.get("logisticsInfo"))


def map_refund(refund: dict, *, currency: str = CURRENCY, order: dict | None = None) -> ReturnValues:
    if not isinstance(refund, dict):
        raise MappingError("a Kuaishou refund must be a JSON object")
    refund_id = id_text(refund.get("refundId"))
    if not refund_id:
        raise MappingError("Kuaishou refund without refundId")
    order_id = id_text(refund.get("oid")) or id_text(refund.get("orderId"))
    flags: list[str] = []

    raw, negotiate = refund.get("status"), refund.get("negotiateStatus")
    kind, more = kind_of(refund.get("handlingWay"), raw)
    flags += more
    status, more = status_of(raw, negotiate, kind)
    flags += more
    reason, more = reason_of(refund)
    flags += more
    quantity, more = _quantity(refund, order)
    flags += more
    if to_int(refund.get("receiptStatus")) == 1:
        flags.append("buyer_not_received_goods")
    if to_int(refund.get("specialRefundType")) == 1:
        flags.append("price_protection")
    if to_int(refund.get("refundType")) == 2:
        flags.append("seller_initiated")
    return_carrier, return_number, more = return_waybill(refund)
    flags += more

    raw_status = None
    if raw is not None:
        raw_status = str(raw) if negotiate is None else f"{raw}/{negotiate}"
    label, words = text(refund.get("refundReasonDesc")), text(refund.get("refundDesc"))
    reason_text = ": ".join(t for t in (label, words) if t) or None
    sku = sku_of(refund)
    lines = ()
    if sku:
        lines = (ReturnLineValues(sku=sku, quantity=quantity, platform_line_id=order_id,
                                  reason_code=reason),)
    else:
        flags.append("refund_without_sku")
    return ReturnValues(
        platform_return_id=refund_id, platform_order_id=order_id, kind=kind, status=status,
        raw_status=raw_status[:64] if raw_status else None, refund_minor=fen(refund.get("refundFee"), "refundFee"),
        currency=currency, lines=lines, reason_code=reason,
        reason_text=reason_text[:1000] if reason_text else None,
        remote_updated_at=ms_to_dt(refund.get("updateTime")),
        requested_at=ms_to_dt(refund.get("submitTime")) or ms_to_dt(refund.get("createTime")),
        respond_by=ms_to_dt(refund.get("expireTime")), flags=tuple(dict.fromkeys(flags)),
        return_carrier=return_carrier, return_tracking_number=return_number,
        buyer_photos=len(refund.get("pictures") or []) if isinstance(
            refund.get("pictures"), list) else 0,
        buyer_ref=id_text(refund.get("buyerOpenId")) or None)
