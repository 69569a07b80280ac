"""Pushes from the hub back to a Kuaishou shop: shipments and after-sale decisions.

``push(connector, topic, payload, idempotency_key)`` sends one outbox message. The
platform has no idempotency key, so every push first **re-reads the remote record** and
decides again:

* the remote already shows the action (same waybill on the order, refund already
  approved/rejected/refunded) → success without writing, ``data.outcome = "already_done"``;
* the remote state no longer allows it (order cancelled, refund closed, amount changed)
  → ``fail_data`` with the reason (the message is ``dead``; an operator sees why);
* otherwise the write. A refund that changed between the read and the write (300014 /
  300017, ``RefundChanged``) or a write whose answer was lost (``ambiguous``) is re-read
  and decided again, at most ``MAX_READS`` times in one push.

| topic | payload | API |
|---|---|---|
| ``shipment`` | ``order_id`` (platform oid), ``carrier``, ``tracking_number`` | ``open.seller.order.goods.deliver`` (integer ``expressCode`` from ``mappings.kuaishou``) |
| ``tracking_correction`` | the same + ``previous_tracking_number?``, ``logistics_id?`` | ``open.seller.order.logistics.update`` |
| ``refund_approve`` | ``refund_id``, ``amount_minor?`` | ``open.seller.order.refund.approve`` (refund-only; ``refundAmount`` = the refund's amount in fen, with ``status``/``negotiateStatus`` as read) |
| ``return_approve`` | ``refund_id``, ``address_id?``, ``amount_minor?`` | ``open.seller.order.refund.returngoods.approve`` (``addressId`` = the return address of whoever receives the goods; 0 fen for an exchange) |
| ``return_receipt`` | ``refund_id``, ``return_freight?`` ``{advice 1\\|2, amount?, desc?, images?}`` | ``open.seller.order.refund.confirm.receipt`` (refunds at once) |
| ``refund_reject`` | ``refund_id``, ``reason_code``, ``desc?``, ``images?`` | ``open.refund.reject`` (``refundVersion`` = the refund's current ``updateTime``) |

``amount_minor`` is what the merchant approved: when the platform's amount differs now,
the push refuses (``fail_data``) rather than approve a sum nobody decided.

A shipment or correction refused by the platform's checks (result 11, K1009) is
``fail_data`` with the platform's reason kept, and the error carries
``details = {"reason": "tracking_rejected", "platform_code": 11, "platform_message"}``
so the hub can tell the merchant (and the supplier who shipped) — see
``hub.domain.pushes.platform_actions``.
"""
from __future__ import annotations

from typing import Callable

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from connectors.base import ConnectorError, ErrorClass, PushResult
from connectors.kuaishou.errors import KuaishouError, RefundChanged, platform_message
from mappings.kuaishou import UnknownCarrier, express_code_for

MAX_READS = 3
SHIPPED = (40, 50, 70)
REFUND_FINISHED = (50, 60)          # refunding / refunded
REFUND_CLOSED = 70
RETURN_WAYS = (1, 3, 5)             # return & refund, exchange, repair
EXCHANGE = 3


class _Schema(Schema):
    class Meta:
        unknown = EXCLUDE


def _numeric_id(value) -> None:
    if isinstance(value, bool) or not str(value).strip().isdigit() or int(str(value)) <= 0:
        raise ValidationError("must be a Kuaishou numeric id")


def _id_field(**kw):
    return fields.Raw(validate=_numeric_id, **kw)


class ShipmentPayload(_Schema):
    order_id = _id_field(required=True)
    carrier = fields.String(required=True, validate=validate.Length(min=1))
    tracking_number = fields.String(required=True, validate=validate.Length(min=1, max=64))
    previous_tracking_number = fields.String(load_default=None, allow_none=True)
    logistics_id = _id_field(load_default=None, allow_none=True)


class RefundPayload(_Schema):
    refund_id = _id_field(required=True)
    amount_minor = fields.Integer(load_default=None, allow_none=True,
                                  validate=validate.Range(min=0))
    address_id = _id_field(load_default=None, allow_none=True)
    reason_code = fields.Integer(load_default=None, allow_none=True)
    desc = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    images = fields.List(fields.String(), load_default=list, validate=validate.Length(max=6))
    return_freight = fields.Dict(load_default=None, allow_none=True)


def _fail(message: str, **details) -> ConnectorError:
    error = ConnectorError(ErrorClass.FAIL_DATA, message)
    if details:
        error.details = details
    return error


def _done(topic: str, external_id, action: str, detail: str, outcome: str = "done") -> PushResult:
    text = f"{outcome.replace('_', ' ')}: {detail}"
    return PushResult(external_id=str(external_id), response_excerpt=text[:500],
                      status_code=200 if outcome == "done" else None,  # None: nothing written
                      data={"topic": topic, "action": action, "outcome": outcome,
                            "detail": detail})


def _rejected_tracking(e: KuaishouError) -> KuaishouError:
    """Mark a result-11 refusal so the hub raises its alert; the class stays fail_data."""
    if e.code == 11:
        e.details = {"reason": "tracking_rejected", "platform_code": 11,
                     "platform_message": platform_message(e.payload or {}) or e.message}
    return e


def _reread_loop(read: Callable[[], dict], decide: Callable[[dict], PushResult],
                 what: str) -> PushResult:
    """Read, decide, write; on RefundChanged or a lost write answer read again."""
    last: KuaishouError | None = None
    for _ in range(MAX_READS):
        remote = read()
        if not isinstance(remote, dict) or not remote:
            raise _fail(f"{what}: the platform answered no record")
        try:
            return decide(remote)
        except RefundChanged as e:
            last = e
        except KuaishouError as e:
            if not e.ambiguous:
                raise
            last = e
    reason = last.message if last is not None else "no decision"
    raise ConnectorError(ErrorClass.RETRY, f"{what}: still changing after {MAX_READS} reads "
                         f"({reason}); tried again later")


# -- orders -----------------------------------------------------------------------------------
def _order_state(order: dict) -> tuple[int | None, list[dict]]:
    base = order.get("orderBaseInfo") or {}
    logistics = [e for e in (order.get("orderLogisticsInfo") or []) if isinstance(e, dict)]
    try:
        status = int(base.get("status"))
    except (TypeError, ValueError):
        status = None
    return status, logistics


def _express_code(carrier: str) -> int:
    try:
        return express_code_for(carrier)
    except UnknownCarrier as e:
        raise _fail(str(e), reason="unknown_carrier") from None


def _shipment(client, data: dict) -> PushResult:
    oid, number = int(data["order_id"]), data["tracking_number"].strip()
    code = _express_code(data["carrier"])

    def decide(order: dict) -> PushResult:
        status, logistics = _order_state(order)
        if any(str(e.get("expressNo")) == number for e in logistics):
            return _done("shipment", oid, "deliver", f"order {oid} already shows waybill "
                         f"{number}", "already_done")
        if status in SHIPPED:
            shown = ", ".join(str(e.get("expressNo")) for e in logistics) or "another waybill"
            raise _fail(f"order {oid} is already shipped with {shown}; push a "
                        "tracking_correction to change it")
        if status != 30:
            raise _fail(f"order {oid} is in status {status}: it cannot be shipped "
                        "(10 unpaid, 80 closed or cancelled)")
        try:
            client.deliver(oid, number, code)
        except KuaishouError as e:
            raise _rejected_tracking(e)
        return _done("shipment", oid, "deliver", f"order {oid} shipped with {number} "
                     f"(expressCode {code})")

    return _reread_loop(lambda: client.fetch_order(oid), decide, f"shipment of order {oid}")


def _tracking_correction(client, data: dict) -> PushResult:
    oid, number = int(data["order_id"]), data["tracking_number"].strip()
    code = _express_code(data["carrier"])

    def decide(order: dict) -> PushResult:
        status, logistics = _order_state(order)
        if any(str(e.get("expressNo")) == number and str(e.get("expressCode")) == str(code)
               for e in logistics):
            return _done("tracking_correction", oid, "logistics.update",
                         f"order {oid} already shows waybill {number}", "already_done")
        if status not in (40, 50) or not logistics:
            raise _fail(f"order {oid} is in status {status} with no waybill to correct "
                        "(push a shipment first)")
        logistics_id = data.get("logistics_id")
        if logistics_id is None and data.get("previous_tracking_number"):
            logistics_id = next((e.get("logisticsId") for e in logistics
                                 if str(e.get("expressNo")) == data["previous_tracking_number"]),
                                None)
        try:
            client.update_logistics(oid, number, code, logistics_id)
        except KuaishouError as e:
            raise _rejected_tracking(e)
        return _done("tracking_correction", oid, "logistics.update",
                     f"order {oid} waybill changed to {number} (expressCode {code})")

    return _reread_loop(lambda: client.fetch_order(oid), decide,
                        f"tracking correction of order {oid}")


# -- refunds ----------------------------------------------------------------------------------
def _int(refund: dict, key: str) -> int | None:
    try:
        return int(refund.get(key))
    except (TypeError, ValueError):
        return None


def _check_amount(refund_id, approved: int | None, remote: int) -> None:
    if approved is not None and approved != remote:
        raise _fail(f"refund {refund_id} now asks {remote} fen, not the {approved} fen "
                    "approved: decide again")


def _refund_approve(client, data: dict) -> PushResult:
    refund_id = int(data["refund_id"])

    def decide(refund: dict) -> PushResult:
        status, way = _int(refund, "status"), _int(refund, "handlingWay")
        if status in REFUND_FINISHED:
            return _done("refund_approve", refund_id, "approve",
                         f"refund {refund_id} is already {status}", "already_done")
        if status == REFUND_CLOSED:
            raise _fail(f"refund {refund_id} is closed (70): nothing to approve")
        if way != 10:
            raise _fail(f"refund {refund_id} is not refund-only (handlingWay {way}): "
                        "approve the return instead")
        if status not in (10, 20):
            raise _fail(f"refund {refund_id} in status {status} cannot be approved")
        amount = _int(refund, "refundFee") or 0
        _check_amount(refund_id, data.get("amount_minor"), amount)
        client.approve_refund(refund_id, amount, status=status,
                              negotiate_status=_int(refund, "negotiateStatus"))
        return _done("refund_approve", refund_id, "approve",
                     f"refund {refund_id} approved for {amount} fen")

    return _reread_loop(lambda: client.fetch_refund(refund_id), decide, f"refund {refund_id}")


def _return_approve(client, data: dict) -> PushResult:
    refund_id = int(data["refund_id"])

    def decide(refund: dict) -> PushResult:
        status, way = _int(refund, "status"), _int(refund, "handlingWay")
        if status in (22, 30, 40, 45, *REFUND_FINISHED):
            return _done("return_approve", refund_id, "returngoods.approve",
                         f"return {refund_id} is already approved ({status})", "already_done")
        if status == REFUND_CLOSED:
            raise _fail(f"refund {refund_id} is closed (70): nothing to approve")
        if way not in RETURN_WAYS:
            raise _fail(f"refund {refund_id} sends no goods back (handlingWay {way}): "
                        "approve the refund instead")
        if status not in (11, 21):
            raise _fail(f"refund {refund_id} in status {status} cannot be approved")
        amount = 0 if way == EXCHANGE else (_int(refund, "refundFee") or 0)
        if way != EXCHANGE:
            _check_amount(refund_id, data.get("amount_minor"), amount)
        client.approve_return(refund_id, amount, data.get("address_id"))
        return _done("return_approve", refund_id, "returngoods.approve",
                     f"return {refund_id} approved ({amount} fen) to address "
                     f"{data.get('address_id') or 'the default'}")

    return _reread_loop(lambda: client.fetch_refund(refund_id), decide, f"refund {refund_id}")


def _freight_params(refund_id, refund: dict, advice: dict | None) -> dict:
    freight = refund.get("returnFreightInfo")
    if not freight:
        return {}
    if not advice or advice.get("advice") not in (1, 2):
        raise _fail(f"refund {refund_id} carries a return-freight claim: the payload must "
                    "say return_freight.advice 1 (agree) or 2 (reject)")
    if advice["advice"] == 1:
        return {"returnFreightHandlingAdvice": 1,
                "returnFreightAmount": int(advice.get("amount",
                                                      freight.get("returnFreightAmount") or 0))}
    return {"returnFreightHandlingAdvice": 2, "returnFreightRejectDesc": advice.get("desc") or "",
            "returnFreightRejectImages": list(advice.get("images") or [])}


def _return_receipt(client, data: dict) -> PushResult:
    refund_id = int(data["refund_id"])

    def decide(refund: dict) -> PushResult:
        status = _int(refund, "status")
        if status in REFUND_FINISHED:
            return _done("return_receipt", refund_id, "confirm.receipt",
                         f"refund {refund_id} is already {status}", "already_done")
        if status not in (22, 30, 40):
            raise _fail(f"refund {refund_id} in status {status} is not awaiting the "
                        "merchant's receipt")
        extra = _freight_params(refund_id, refund, data.get("return_freight"))
        client.confirm_receipt(refund_id, status=status, **extra)
        return _done("return_receipt", refund_id, "confirm.receipt",
                     f"receipt of return {refund_id} confirmed (the platform refunds)")

    return _reread_loop(lambda: client.fetch_refund(refund_id), decide, f"refund {refund_id}")


def _refund_reject(client, data: dict) -> PushResult:
    refund_id, reason = int(data["refund_id"]), data.get("reason_code")
    if reason is None:
        raise _fail("refund_reject needs a reason_code (from open.refund.reject.reason)")

    def decide(refund: dict) -> PushResult:
        status = _int(refund, "status")
        if _int(refund, "negotiateStatus") == 3 and status in (10, 11, 40):
            return _done("refund_reject", refund_id, "reject",
                         f"refund {refund_id} is already rejected (reason "
                         f"{refund.get('sellerDisagreeReason')})", "already_done")
        if status in (*REFUND_FINISHED, REFUND_CLOSED):
            raise _fail(f"refund {refund_id} is finished ({status}): it cannot be rejected")
        if status not in (10, 11, 40):
            raise _fail(f"refund {refund_id} in status {status} cannot be rejected "
                        "(platform intervention or awaiting the buyer)")
        version = _int(refund, "updateTime")
        if version is None:
            raise _fail(f"refund {refund_id} has no updateTime to use as refundVersion")
        client.reject_refund(refund_id, reason, data.get("desc"), version,
                             images=data.get("images") or None)
        return _done("refund_reject", refund_id, "reject",
                     f"refund {refund_id} rejected (reason {reason}, refundVersion {version})")

    return _reread_loop(lambda: client.fetch_refund(refund_id), decide, f"refund {refund_id}")


TOPICS: dict[str, tuple[type[Schema], Callable]] = {
    "shipment": (ShipmentPayload, _shipment),
    "tracking_correction": (ShipmentPayload, _tracking_correction),
    "refund_approve": (RefundPayload, _refund_approve),
    "return_approve": (RefundPayload, _return_approve),
    "return_receipt": (RefundPayload, _return_receipt),
    "refund_reject": (RefundPayload, _refund_reject),
}


def push(connector, topic: str, payload: dict, idempotency_key: str) -> PushResult:
    entry = TOPICS.get(topic)
    if entry is None:
        raise ConnectorError(ErrorClass.FAIL_CONFIG,
                             f"kuaishou cannot push {topic!r}; topics: {', '.join(TOPICS)}")
    schema, handler = entry
    try:
        data = schema().load(payload or {})
    except ValidationError as e:
        raise _fail(f"the {topic} payload is invalid: {e.messages}") from None
    return handler(connector.client, data)
