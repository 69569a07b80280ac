"""Prepaid return labels: when the hub pays the return freight, it books the pickup.

    request_label(session, case, actor, carrier=None)   # by hand: the queued push

**Booking** (``ReturnChanged``): a ``return_refund``, ``exchange`` or ``repair`` case that
is ``awaiting_return`` (the platform confirmed the approval), whose ``freight_payer`` is
one the hub pays (``HUB_PAYS``: not the buyer, nor the platform's freight insurance) and
whose goods have no return waybill yet, gets one ``return_label`` push (outbox) on the
merchant's first active courier account that declares the ``return_label`` capability
(``connectors.base``): a ``ReturnLabelRequest`` with the receiver's business address
(``instructions``), the buyer as the shop platform's ciphertext and masked text only (the
hub never decrypts), and the goods with their count. Booked once: a case that ever had a
booking is left alone, so a repeated webhook books nothing; a merchant books again by
hand. Audited ``return_case.return_label_requested``. No capable courier account: one
open alert ``return_label_unavailable`` for the merchant; a request the courier's
connector refuses (no return address, no ciphertext...): alert ``return_label_failed`` on
the case.

**By hand** (``request_label``; ``POST /api/v1/returns/<id>/return-label``): the same for
an approved return (``approved`` / ``awaiting_return``) whoever pays; ``Conflict`` when
the case is not approved, a label is live (queued, or issued with a waybill), its goods
already have a return waybill, or no label can be booked.

**The answer** (``MessageSettled``, topic ``return_label``): the waybill the courier
issued (``connectors.capabilities.ReturnLabel`` in the push answer) is registered as the
case's return shipment (``flow.register_return_parcel``: tracked and subscribed like the
buyer's own), audited ``return_case.return_label_booked`` with the pickup code, window or
label URL, and the supplier's return notice is worked out again with it
(``flow.notify_return``). A dead booking, an answer without a waybill, or a waybill that
came after the case moved on (rejected, closed, or the buyer's own parcel registered):
alert ``return_label_failed`` on the case, in the courier's words (the pickup is to be
cancelled).
"""
from __future__ import annotations

from pathlib import Path

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors import registry
from connectors.capabilities import LabelReceiver, LabelSender, ReturnLabel, ReturnLabelRequest
from hub.core.errors import Conflict
from hub.core.wakeup import current_var_dir
from hub.domain.returns import flow, instructions
from hub.domain.returns.decisions import GOODS_BACK
from hub.domain.tracking.shipments import courier_account
from hub.models import Account, Order, OutboxMessage, ReturnAddress, ReturnCase, alerts, audit
from hub.pipeline.events import MessageSettled, ReturnChanged
from hub.pipeline.outbox import enqueue

TOPIC = CAPABILITY = "return_label"
HUB_PAYS = ("merchant", "liable_party", "courier")
APPROVED = ("approved", "awaiting_return")
UNAVAILABLE, FAILED = "return_label_unavailable", "return_label_failed"
ACTOR = "hub:return_labels"


def on_return_changed(session: Session, event: ReturnChanged) -> None:
    case = event.case
    if (case.kind not in GOODS_BACK or case.status != "awaiting_return"
            or case.freight_payer not in HUB_PAYS or bookings(session, case)
            or flow.return_shipment(session, case) is not None):
        return
    account = courier_account(session, case.merchant_id, CAPABILITY)
    if account is None:
        alerts.raise_alert(
            session, case.merchant_id, UNAVAILABLE, "merchant", case.merchant_id,
            "Return freight the hub pays cannot be booked: no active courier account "
            f"declares {CAPABILITY!r}. Return {case.platform_return_id} (and any like it) "
            "is not picked up; tell the buyer how to send it, or add such an account.",
            details={"return_case_id": case.id})
        return
    try:
        _book(session, case, account, ACTOR, None, None)
    except ValidationError as refused:
        _failed(session, case, f"the return label could not be requested: {words(refused)}",
                {"errors": refused.messages})


def request_label(session: Session, case: ReturnCase, actor: str, carrier: str | None = None,
                  var_dir: Path | None = None) -> OutboxMessage:
    """Book a label for ``case`` by hand; the queued ``return_label`` message."""
    named = f"return {case.platform_return_id}"
    if case.kind not in GOODS_BACK:
        raise Conflict(f"a {case.kind} sends no goods back: only {', '.join(GOODS_BACK)} do",
                       details={"kind": case.kind})
    if case.status not in APPROVED:
        raise Conflict(f"{named} is {case.status}: a return label is booked once the return "
                       "is approved and before the goods leave", details={"status": case.status})
    live = live_label(session, case)
    if live is not None:
        raise Conflict(f"{named} already has a return label ({live.status})",
                       details={"outbox_message_id": live.id, "outbox_status": live.status})
    parcel = flow.return_shipment(session, case)
    if parcel is not None:
        raise Conflict(f"the goods of {named} already have a return waybill "
                       f"({parcel.carrier} {parcel.tracking_number})",
                       details={"shipment_id": parcel.id})
    account = courier_account(session, case.merchant_id, CAPABILITY)
    if account is None:
        raise Conflict(f"no active courier account declares {CAPABILITY!r}: add one whose "
                       "connector books return pickups")
    try:
        return _book(session, case, account, actor, carrier, var_dir)
    except ValidationError as refused:
        raise Conflict(f"no return label can be booked for {named}: {words(refused)}",
                       details={"errors": refused.messages}) from None


def bookings(session: Session, case: ReturnCase) -> list[OutboxMessage]:
    """Every ``return_label`` push of ``case``, oldest first."""
    return list(session.scalars(select(OutboxMessage).where(
        OutboxMessage.merchant_id == case.merchant_id, OutboxMessage.topic == TOPIC,
        OutboxMessage.entity == "return_case", OutboxMessage.entity_id == case.id)
        .order_by(OutboxMessage.id)))


def live_label(session: Session, case: ReturnCase) -> OutboxMessage | None:
    """The case's latest booking if it is queued, or sent with a waybill in its answer."""
    found = bookings(session, case)
    latest = found[-1] if found else None
    if latest is None or latest.status == "pending":
        return latest
    return latest if latest.status == "sent" and label_of(latest) is not None else None


def label_of(message: OutboxMessage) -> ReturnLabel | None:
    try:
        return ReturnLabel.from_data(((message.result or {}).get("data") or {})
                                     .get("return_label"))
    except (TypeError, ValueError):
        return None


def label_request(session: Session, case: ReturnCase,
                  carrier: str | None = None) -> ReturnLabelRequest:
    """What the courier is asked for; ``ValidationError`` when the case cannot have one."""
    order = session.get(Order, case.order_id) if case.order_id else None
    if order is None:
        raise ValidationError("the case has no order, so the buyer's address is unknown",
                              "sender")
    address = session.get(ReturnAddress, case.return_address_id) \
        if case.return_address_id else instructions.address_for(session, case)
    if address is None:
        raise ValidationError("no return address is on file for whoever receives the goods",
                              "receiver")
    shop = session.get(Account, case.shop_account_id)
    titles = {line.id: line.title for line in order.lines}
    by_sku = {line.sku: line.title for line in order.lines}
    lines = case.lines or order.lines
    goods = "、".join(dict.fromkeys(
        titles.get(getattr(x, "order_line_id", None)) or by_sku.get(x.sku) or x.sku
        for x in lines))
    return ReturnLabelRequest(
        reference=f"return-{case.id}", carrier=carrier,
        receiver=LabelReceiver(address.contact or address.name, address.phone or "",
                               address.address),
        sender=LabelSender(
            platform=shop.connector, platform_order_id=order.platform_order_id,
            name_cipher=order.buyer_name_cipher or "",
            phone_cipher=order.buyer_phone_cipher or "",
            address_cipher=order.buyer_address_cipher or "",
            name_masked=order.buyer_name_masked, phone_masked=order.buyer_phone_masked,
            address_masked=order.buyer_address_masked, province_code=order.province_code,
            city_code=order.city_code, district_code=order.district_code),
        goods=goods[:200], count=sum(x.quantity for x in lines) or 1)


def _book(session, case, account, actor, carrier, var_dir) -> OutboxMessage:
    """Queue the booking on ``account``: version ``b<n>``, the case's n-th booking."""
    payload = registry.get(account.connector).return_label_payload(
        label_request(session, case, carrier))
    version = f"b{len(bookings(session, case)) + 1}"
    message = enqueue(session, account, TOPIC, "return_case", case.id, payload, version,
                      var_dir=current_var_dir(var_dir))
    audit.record(session, case.merchant_id, actor, "return_case.return_label_requested",
                 "return_case", case.id,
                 {"outbox_message_id": message.id, "courier_account_id": account.id,
                  "carrier": carrier, "freight_payer": case.freight_payer,
                  "version": version})
    alerts.resolve(session, case.merchant_id, UNAVAILABLE, "merchant", case.merchant_id,
                   why=f"courier account {account.id} books return labels")
    return message


def words(error: ValidationError) -> str:
    """A refusal's messages as one line: ``field: why; ...``."""
    def flat(messages, prefix=""):
        if isinstance(messages, dict):
            for key, value in messages.items():
                yield from flat(value, f"{prefix}{key}." if key != "_schema" else prefix)
        elif isinstance(messages, list):
            for value in messages:
                yield from flat(value, prefix)
        else:
            yield f"{prefix.rstrip('.')}: {messages}" if prefix else str(messages)
    return "; ".join(flat(error.messages))


def _failed(session, case: ReturnCase, why: str, details: dict) -> None:
    """The case's one open ``return_label_failed`` alert, saying ``why``."""
    alerts.raise_alert(session, case.merchant_id, FAILED, "return_case", case.id,
                       f"Return {case.platform_return_id}: {why}"[:1000], details=details)


# -- the courier's answer --------------------------------------------------------------------

def on_label_settled(session: Session, event: MessageSettled) -> None:
    message = event.message
    case = session.get(ReturnCase, message.entity_id) if message.entity == "return_case" \
        else None
    if case is None or case.merchant_id != message.merchant_id:
        return
    found = bookings(session, case)
    if found[-1].id != message.id:
        return                     # an older booking's answer
    details = {"outbox_message_id": message.id, "error_class": message.last_error_class}
    if message.status != "sent":
        audit.record(session, case.merchant_id, ACTOR, "return_case.return_label_failed",
                     "return_case", case.id, details)
        _failed(session, case, "the courier could not book the return label: "
                f"{message.last_error or message.last_error_class}", details)
        return
    label = label_of(message)
    if label is None:
        _failed(session, case, "the courier answered the booking without a usable waybill",
                {**details, "result": message.result})
        return
    if case.status not in APPROVED or flow.return_shipment(session, case) is not None:
        _failed(session, case, f"the courier issued waybill {label.tracking_number}, but the "
                f"return is {case.status} or already on another parcel: cancel the pickup "
                "with the courier", {**details, **label.data()})
        return
    shipment = flow.register_return_parcel(session, case, label.carrier, label.tracking_number)
    audit.record(session, case.merchant_id, ACTOR, "return_case.return_label_booked",
                 "return_case", case.id, {**label.data(), "shipment_id": shipment.id,
                                          "outbox_message_id": message.id})
    alerts.resolve(session, case.merchant_id, FAILED, "return_case", case.id,
                   why=f"the courier issued waybill {label.tracking_number}")
    flow.notify_return(session, case)
