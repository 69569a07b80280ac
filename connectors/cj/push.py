"""Pushes to CJdropshipping: create the order, stop-ship, claims as disputes.

* ``order_dispatch`` → ``POST /shopping/order/createOrderV2`` with ``orderNumber =
  <order_number_prefix><fulfilment_id>`` (unique per CJ account, so a repeated push is
  refused as a duplicate rather than creating a second order; that answer counts as
  done and the CJ order id arrives with the ORDER webhook), one product per line with
  ``vid`` = the line's ``supplier_sku`` (the SKU mapping's CJ variant id) and
  ``storeLineItemId`` = ``<fulfilment_id>-<n>``. Answers ``supplier_reference`` = the CJ
  order id and ``fulfilment_update`` ``accepted``. A line without ``supplier_sku`` is
  ``fail_data``. The buyer's name, phone and address are the masked texts (the hub never
  holds plaintext); province, city and county are *names* (``regions``): one that cannot
  be named is sent empty and flagged in the answer (``flags``); see README.md.
* ``stop_ship`` — CJ has no stop-ship call. The order is read
  (``GET /shopping/order/getOrderDetail``): not yet paid (``CREATED``, ``IN_CART``,
  ``UNPAID``) → ``DELETE /shopping/order/deleteOrder`` and ``cancelled``; already
  ``CANCELLED`` → ``cancelled``; ``UNSHIPPED`` → ``cancel_rejected`` "already paid /
  processing"; ``SHIPPED`` / ``DELIVERED`` → ``cancel_rejected`` "already shipped" with
  the tracking, so the hub falls back to a courier interception. A refused delete is
  re-read once and answered by the new state. The CJ order id comes from the notice's
  ``supplier_reference``; without it the push is ``fail_data``.
* ``claim`` (alias ``claim_notice``) → a dispute: ``GET /disputes/disputeProducts`` (a
  claimed line is found by ``line_item_id`` = ``lineItemId`` or by ``supplier_sku`` =
  the product's ``cjVariantId``) →
  ``POST /disputes/disputeConfirmInfo`` (reasons are per order) → ``POST
  /disputes/create`` with ``businessDisputeId`` as the idempotency key (a repeat the API
  refuses as existing counts as done). Payload: see README.md ("claim").
* ``return_notice`` and ``statement_notice`` are not carried by CJ (answered
  ``forwarded: false``).
"""
from __future__ import annotations

import re

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from connectors.base import ConnectorError, ErrorClass, PushResult
from connectors.cj import regions
from connectors.cj.client import CJClient
from connectors.cj.mapping import carrier_for

UNPAID = {"CREATED", "IN_CART", "UNPAID"}
PAID = {"UNSHIPPED"}
SHIPPED = {"SHIPPED", "DELIVERED"}
CANCELLED = {"CANCELLED", "CANCELED"}
DUPLICATE = re.compile(r"exist|duplicate|repeat|重复|已存在", re.I)
EXPECT_TYPES = {"refund": 1, "reissue": 2}   # [I] as finallyDeal: 1 refund, 2 reissue


class _Buyer(Schema):
    class Meta:
        unknown = EXCLUDE

    name_masked = fields.String(load_default=None, allow_none=True)
    phone_masked = fields.String(load_default=None, allow_none=True)
    address_masked = fields.String(load_default=None, allow_none=True)
    province_code = fields.String(load_default=None, allow_none=True)
    city_code = fields.String(load_default=None, allow_none=True)
    district_code = fields.String(load_default=None, allow_none=True)


class _Order(Schema):
    class Meta:
        unknown = EXCLUDE

    platform_order_id = fields.String(required=True)
    note = fields.String(load_default=None, allow_none=True)
    buyer = fields.Nested(_Buyer, load_default=dict)


class _Line(Schema):
    class Meta:
        unknown = EXCLUDE

    sku = fields.String(required=True)
    supplier_sku = fields.String(load_default=None, allow_none=True)
    quantity = fields.Integer(required=True, validate=validate.Range(min=1))


class DispatchPayload(Schema):
    class Meta:
        unknown = EXCLUDE

    fulfilment_id = fields.Integer(required=True)
    order = fields.Nested(_Order, required=True)
    lines = fields.List(fields.Nested(_Line), required=True, validate=validate.Length(min=1))


class StopShipPayload(Schema):
    class Meta:
        unknown = EXCLUDE

    fulfilment_id = fields.Integer(required=True)
    reason = fields.String(load_default=None, allow_none=True)
    supplier_reference = fields.String(load_default=None, allow_none=True)


class _ClaimLine(Schema):
    class Meta:
        unknown = EXCLUDE

    supplier_sku = fields.String(load_default=None, allow_none=True)
    line_item_id = fields.String(load_default=None, allow_none=True)
    quantity = fields.Integer(required=True, validate=validate.Range(min=1))


class ClaimPayload(Schema):
    class Meta:
        unknown = EXCLUDE

    claim_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    fulfilment_id = fields.Integer(load_default=None, allow_none=True)
    supplier_reference = fields.String(required=True, validate=validate.Length(min=1))
    reason = fields.String(load_default=None, allow_none=True)
    reason_id = fields.String(load_default=None, allow_none=True)
    expect = fields.String(load_default="refund", validate=validate.OneOf(EXPECT_TYPES))
    message = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    image_urls = fields.List(fields.Url(), load_default=list)
    video_url = fields.Url(load_default=None, allow_none=True)
    lines = fields.List(fields.Nested(_ClaimLine), load_default=list)


def _load(schema, topic: str, payload: dict) -> dict:
    try:
        return schema().load(payload or {})
    except ValidationError as e:
        raise ConnectorError(ErrorClass.FAIL_DATA,
                             f"the {topic} payload is invalid: {e.messages}") from None


def _fail(message: str) -> ConnectorError:
    return ConnectorError(ErrorClass.FAIL_DATA, message)


def order_number(prefix: str, fulfilment_id: int) -> str:
    return f"{prefix}{fulfilment_id}"


def dispatch(client: CJClient, config: dict, payload: dict) -> PushResult:
    data = _load(DispatchPayload, "order_dispatch", payload)
    fid, order, buyer = data["fulfilment_id"], data["order"], data["order"]["buyer"]
    missing = [x["sku"] for x in data["lines"] if not x["supplier_sku"]]
    if missing:
        raise _fail(f"no CJ variant id (supplier_sku) is mapped for SKU {', '.join(missing)}")
    number = order_number(config["order_number_prefix"], fid)
    region, flags = regions.names(buyer)
    note = " / ".join(x for x in (f"order {order['platform_order_id']}", order["note"]) if x)
    body = {
        "orderNumber": number, "shippingCountryCode": config["shipping_country_code"],
        "shippingCountry": config["shipping_country"],
        "shippingProvince": region["province"], "shippingCity": region["city"],
        "shippingCounty": region["county"], "shippingZip": "",
        "shippingAddress": buyer["address_masked"] or "",
        "shippingCustomerName": buyer["name_masked"] or "",
        "shippingPhone": buyer["phone_masked"] or "", "remark": note[:500],
        "fromCountryCode": config["from_country_code"], "logisticName": config["logistic_name"],
        "payType": config["pay_type"],
        "products": [{"vid": x["supplier_sku"], "quantity": x["quantity"],
                      "storeLineItemId": f"{fid}-{n}"} for n, x in enumerate(data["lines"], 1)],
    }
    try:
        answer = client.call("POST", "/shopping/order/createOrderV2", json=body)
    except ConnectorError as e:
        if e.error_class is ErrorClass.FAIL_DATA and DUPLICATE.search(e.message or ""):
            return PushResult(response_excerpt=f"order {number} exists already",
                              data={"order_number": number,
                                    "fulfilment_update": {"status": "accepted"}})
        raise
    cj_id = answer if isinstance(answer, (str, int)) else (answer or {}).get(
        "orderId") or (answer or {}).get("cjOrderId") or (answer or {}).get("id")
    result = {"order_number": number, "fulfilment_update": {"status": "accepted"}}
    if cj_id not in (None, ""):
        result["supplier_reference"] = str(cj_id)
    if isinstance(answer, dict) and answer.get("orderStatus"):
        result["cj_status"] = answer["orderStatus"]
    excerpt = f"created {number}"
    if flags:
        result["flags"] = flags
        excerpt += f"; region names unknown ({', '.join(flags)}): complete the address in CJ"
    return PushResult(external_id=str(cj_id) if cj_id else None,
                      response_excerpt=excerpt, data=result)


def _detail(client: CJClient, cj_id: str) -> dict:
    data = client.call("GET", "/shopping/order/getOrderDetail", params={"orderId": cj_id})
    return data if isinstance(data, dict) else {}


def _answer(cj_id: str, detail: dict, reason: str | None) -> PushResult | None:
    status = str(detail.get("orderStatus") or "").upper()
    if status in CANCELLED:
        update = {"status": "cancelled", "reason": reason}
    elif status in PAID:
        update = {"status": "cancel_rejected", "reason": "already paid/processing at CJ"}
    elif status in SHIPPED:
        update = {"status": "cancel_rejected", "reason": "already shipped"}
        if detail.get("trackNumber") and detail.get("logisticName"):
            update["carrier"] = carrier_for(detail["logisticName"])[0]
            update["tracking_number"] = str(detail["trackNumber"]).strip()
    elif status in UNPAID:
        return None
    else:
        update = {"status": "cancel_rejected",
                  "reason": f"CJ order status {status or 'unknown'}: cannot be cancelled"}
    return PushResult(external_id=cj_id, response_excerpt=f"{status}: {update['status']}",
                      data={"supplier_reference": cj_id, "cj_status": status,
                            "fulfilment_update": update})


def stop_ship(client: CJClient, payload: dict) -> PushResult:
    data = _load(StopShipPayload, "stop_ship", payload)
    cj_id = data["supplier_reference"]
    if not cj_id:
        raise _fail(f"the stop_ship notice of fulfilment {data['fulfilment_id']} carries no "
                    "supplier_reference (the CJ order id): the order cannot be found at CJ")
    answered = _answer(cj_id, _detail(client, cj_id), data["reason"])
    if answered is not None:
        return answered
    try:
        client.call("DELETE", "/shopping/order/deleteOrder", params={"orderId": cj_id})
    except ConnectorError as e:
        if e.error_class is not ErrorClass.FAIL_DATA:
            raise
        answered = _answer(cj_id, _detail(client, cj_id), data["reason"])
        if answered is None:
            raise
        return answered
    return PushResult(external_id=cj_id, response_excerpt="unpaid order deleted",
                      data={"supplier_reference": cj_id, "cj_status": "DELETED",
                            "fulfilment_update": {"status": "cancelled",
                                                  "reason": data["reason"]}})


def _lines(data) -> list[dict]:
    if isinstance(data, list):
        return [x for x in data if isinstance(x, dict)]
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, list) and all(isinstance(x, dict) for x in value):
                return value
    return []


def _choose(products: list[dict], wanted: list[dict], cj_id: str) -> list[dict]:
    wanted = [w for w in wanted if w["line_item_id"] or w["supplier_sku"]]  # CJ's ids only
    if not wanted:
        chosen = [(p, int(p.get("quantity") or 1)) for p in products if p.get("canChoose", True)]
    else:
        chosen = []
        for w in wanted:
            match = next((p for p in products if (w["line_item_id"] and str(
                p.get("lineItemId")) == w["line_item_id"]) or (w["supplier_sku"] and str(
                    p.get("cjVariantId") or "") == w["supplier_sku"])), None)
            if match is None or not match.get("canChoose", True):
                raise _fail(f"CJ order {cj_id} has no disputable line for "
                            f"{w['line_item_id'] or w['supplier_sku']}")
            if w["quantity"] > int(match.get("quantity") or 0):
                raise _fail(f"CJ order {cj_id}: claimed {w['quantity']} of "
                            f"{match.get('lineItemId')}, only {match.get('quantity')} ordered")
            chosen.append((match, w["quantity"]))
    if not chosen:
        raise _fail(f"CJ order {cj_id} has no line a dispute may name")
    return [{"lineItemId": p.get("lineItemId"), "quantity": q, "price": p.get("price")}
            for p, q in chosen]


def _reason(info: dict, data: dict, cj_id: str) -> str:
    reasons = [r for r in (info.get("disputeReasonList") or []) if isinstance(r, dict)]
    if data["reason_id"]:
        known = {str(r.get("disputeReasonId")) for r in reasons}
        if reasons and data["reason_id"] not in known:
            raise _fail(f"CJ does not offer dispute reason {data['reason_id']} for order "
                        f"{cj_id}; offered: {sorted(known)}")
        return data["reason_id"]
    wanted = (data["reason"] or "").strip().lower()
    for r in reasons:
        if wanted and wanted in str(r.get("reasonName") or "").lower():
            return str(r.get("disputeReasonId"))
    names = [f"{r.get('disputeReasonId')}: {r.get('reasonName')}" for r in reasons]
    raise _fail(f"no dispute reason of CJ order {cj_id} matches {data['reason']!r}; "
                f"give reason_id, one of {names}")


def claim(client: CJClient, config: dict, payload: dict) -> PushResult:
    if payload.get("status") == "withdrawn":  # the hub withdrew it: open no dispute
        return PushResult(response_excerpt="not forwarded", data={
            "forwarded": False, "why": "CJ has no call to withdraw a dispute: close one "
            "already open in CJ's dispute centre"})
    data = _load(ClaimPayload, "claim", payload)
    cj_id = data["supplier_reference"]
    dispute_id = f"{config['order_number_prefix']}claim-{data['claim_id']}"
    products = _lines(client.call("GET", "/disputes/disputeProducts", params={"orderId": cj_id}))
    product_list = _choose(products, data["lines"], cj_id)
    info = client.call("POST", "/disputes/disputeConfirmInfo",
                       json={"orderId": cj_id, "productInfoList": product_list}) or {}
    reason_id = _reason(info if isinstance(info, dict) else {}, data, cj_id)
    body = {"businessDisputeId": dispute_id, "orderId": cj_id, "disputeReasonId": reason_id,
            "expectType": EXPECT_TYPES[data["expect"]], "refundType": config["dispute_refund_type"],
            "messageText": data["message"], "imageUrl": data["image_urls"],
            "videoUrl": data["video_url"], "productInfoList": product_list}
    result = {"business_dispute_id": dispute_id, "cj_order_id": cj_id,
              "dispute_reason_id": reason_id,
              "max_amount": info.get("maxAmount") if isinstance(info, dict) else None}
    try:
        client.call("POST", "/disputes/create", json=body)
    except ConnectorError as e:
        if e.error_class is ErrorClass.FAIL_DATA and DUPLICATE.search(e.message or ""):
            return PushResult(external_id=dispute_id, response_excerpt="dispute exists already",
                              data={**result, "existing": True})
        raise
    return PushResult(external_id=dispute_id, response_excerpt=f"dispute {dispute_id} created",
                      data=result)


def statement_notice() -> PushResult:
    return PushResult(response_excerpt="not forwarded", data={
        "forwarded": False, "why": "CJ takes no statements: CJ bills by its own invoices; "
        "import CJ's bill as the supplier's statement and match it"})


def return_notice() -> PushResult:
    return PushResult(response_excerpt="not forwarded", data={
        "forwarded": False, "why": "CJ takes no return notices: returns to CJ are handled "
        "as disputes (topic claim)"})
