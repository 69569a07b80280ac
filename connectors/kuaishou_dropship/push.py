"""Pushes to a 厂家代发 factory: allocate (``order_dispatch``), cancel the allocation
(``stop_ship``), and ``return_notice``, ``claim_notice`` and ``statement_notice`` (not
carried by this channel).

``order_dispatch``: the platform made a 代发 order (``dropshippingOrderCode``, not the
``oid``) for the trade order; it is found with ``order.merchant.list`` in a window
around the payment time, then ``order.batch.allocate`` gives it to ``factory_code``. A
retry after a lost answer finds it already allocated to us and succeeds without a
second allocation. The code is returned as ``supplier_reference``, with
``fulfilment_update`` ``accepted`` (the platform took the allocation; a factory has no
separate acceptance step in this API). No 代发 order yet (the platform creates it shortly
after payment) is ``retry``; one allocated to another factory is ``fail_data``.

``stop_ship``: the code is the payload's ``supplier_reference`` when the notice carries
it, else looked up among this factory's allocations of the last ``lookup_days``. The
current state is read first (``order.merchant.detail``): already 已回传 (waybill back) →
``cancel_rejected`` "already shipped" with the waybill, so the hub intercepts; already
cancelled → ``cancelled``; otherwise ``order.batch.allocate.cancel``. A refusal of the
cancel is re-read once: shipped meanwhile, or a refusal that says so (已发货/已回传/已揽收)
→ ``cancel_rejected`` "already shipped"; any other refusal stays an error.

Each push makes its calls once (``max_attempts = 1``): retries belong to the outbox.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from connectors.base import ConnectorError, ErrorClass, PushResult
from connectors.kuaishou_dropship.api import (ALLOCATED, ALLOCATION_CANCELLED, CODE_KEYS,
                                              FACTORY_KEYS, MERCHANT_WINDOW_MS, SHIPPED,
                                              DropshipApi, status_of, text)
from connectors.kuaishou_dropship.mapping import carrier_for

ALREADY_SHIPPED = "already shipped"
SHIPPED_REFUSAL = re.compile(r"已发货|已回传|已揽收|已出库|shipped|delivered", re.I)
LOOKBEFORE = timedelta(days=1)


class _Order(Schema):
    class Meta:
        unknown = EXCLUDE

    platform_order_id = fields.String(required=True, validate=validate.Length(min=1))
    placed_at = fields.AwareDateTime(load_default=None, allow_none=True)
    paid_at = fields.AwareDateTime(load_default=None, allow_none=True)


class DispatchPayload(Schema):
    class Meta:
        unknown = EXCLUDE

    fulfilment_id = fields.Integer(required=True)
    order = fields.Nested(_Order, required=True)


class StopShipPayload(Schema):
    class Meta:
        unknown = EXCLUDE

    fulfilment_id = fields.Integer(required=True)
    platform_order_id = fields.String(required=True, validate=validate.Length(min=1))
    reason = fields.String(load_default=None, allow_none=True)
    supplier_reference = fields.String(load_default=None, allow_none=True)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _load(schema: type[Schema], topic: str, payload: dict) -> dict:
    try:
        return schema().load(payload or {})
    except ValidationError as e:
        raise ConnectorError(ErrorClass.FAIL_DATA,
                             f"the {topic} payload is invalid: {e.messages}") from None


def dispatch(api: DropshipApi, payload: dict, now: datetime) -> PushResult:
    data = _load(DispatchPayload, "order_dispatch", payload)
    order = data["order"]
    oid = order["platform_order_id"]
    paid = order["paid_at"] or order["placed_at"] or now
    begin = paid.astimezone(timezone.utc) - LOOKBEFORE
    end = min(now, begin + timedelta(milliseconds=MERCHANT_WINDOW_MS))
    item = api.find_merchant_order(oid, _ms(begin), _ms(max(end, begin + timedelta(hours=1))))
    if item is None:
        raise ConnectorError(ErrorClass.RETRY, f"Kuaishou has no 代发 order for trade order "
                             f"{oid} yet (looked from {begin.isoformat()}); trying again later")
    code = text(item, CODE_KEYS)
    status = status_of(item)
    factory = text(item, FACTORY_KEYS)
    if status in (ALLOCATED, SHIPPED):
        if factory and factory != api.factory_code:
            raise ConnectorError(ErrorClass.FAIL_DATA, f"代发 order {code} of trade order {oid} "
                                 f"is already allocated to factory {factory}, not "
                                 f"{api.factory_code}")
        answer = "already allocated"
    else:
        api.allocate(code)
        answer = "allocated"
    return PushResult(external_id=code, response_excerpt=f"{answer}: {code} → {api.factory_code}",
                      data={"supplier_reference": code, "factory_code": api.factory_code,
                            "allocate_order_code": item.get("allocateOrderCode"),
                            "fulfilment_update": {"status": "accepted"}})


def _shipped_answer(code: str, detail: dict, note: str = ALREADY_SHIPPED) -> PushResult:
    update = {"status": "cancel_rejected", "reason": note}
    waybill = str(detail.get("waybillCode") or "").strip()
    if waybill and detail.get("expressCompanyCode"):
        update["carrier"] = carrier_for(detail["expressCompanyCode"])[0]
        update["tracking_number"] = waybill
    return PushResult(external_id=code, response_excerpt=f"not cancelled: {note}",
                      data={"supplier_reference": code, "fulfilment_update": update})


def _cancelled_answer(code: str, reason: str | None) -> PushResult:
    return PushResult(external_id=code, response_excerpt=f"allocation {code} cancelled",
                      data={"supplier_reference": code,
                            "fulfilment_update": {"status": "cancelled", "reason": reason}})


def stop_ship(api: DropshipApi, payload: dict, now: datetime, lookup_days: int) -> PushResult:
    data = _load(StopShipPayload, "stop_ship", payload)
    code = data["supplier_reference"]
    if not code:
        begin = now - timedelta(days=min(lookup_days, 29))
        item = api.find_merchant_order(data["platform_order_id"], _ms(begin), _ms(now),
                                       factory=True)
        if item is None:
            raise ConnectorError(ErrorClass.FAIL_DATA, f"no allocation of trade order "
                                 f"{data['platform_order_id']} to factory {api.factory_code} "
                                 f"in the last {lookup_days} days: nothing to cancel here")
        code = text(item, CODE_KEYS)
    detail = api.merchant_detail(code)
    state = status_of(detail)
    if state == SHIPPED:
        return _shipped_answer(code, detail)
    if state == ALLOCATION_CANCELLED:
        return _cancelled_answer(code, data["reason"])
    reason = data["reason"] or "stop-ship requested by the merchant"
    try:
        api.cancel_allocation(code, reason)
    except ConnectorError as refused:
        if refused.error_class is not ErrorClass.FAIL_DATA:
            raise
        again = api.merchant_detail(code)
        if status_of(again) == SHIPPED:
            return _shipped_answer(code, again)
        if status_of(again) == ALLOCATION_CANCELLED:
            return _cancelled_answer(code, data["reason"])
        if SHIPPED_REFUSAL.search(refused.message or ""):
            return _shipped_answer(code, again, f"{ALREADY_SHIPPED} ({refused.message[:200]})")
        raise
    return _cancelled_answer(code, data["reason"])


def return_notice() -> PushResult:
    return PushResult(response_excerpt="not forwarded", data={
        "forwarded": False,
        "why": "厂家代发 has no return-notice call: the buyer's return runs through the "
               "platform's after-sale flow; export the supplier sheet to tell the factory"})


def statement_notice() -> PushResult:
    """No statement (对账单) call between merchant and factory either."""
    return PushResult(response_excerpt="not forwarded", data={
        "forwarded": False,
        "why": "厂家代发 has no statement (对账单) call: the factory confirms or disputes the "
               "statement on the hub's supplier API (/api/v1/supplier/statements) or its "
               "supplier sheet"})


def claim_notice() -> PushResult:
    """厂家代发 has no claims (售后/赔付) call between merchant and factory: the factory
    answers the claim on the hub's supplier API (or its sheet)."""
    return PushResult(response_excerpt="not forwarded", data={
        "forwarded": False,
        "why": "厂家代发 has no claims call (no 售后/赔付 between merchant and factory in "
               "open.dropshipping.*): the factory answers the claim on the hub's supplier "
               "API (/api/v1/supplier/claims) or its supplier sheet"})
