"""Notices to suppliers: the payloads, and queuing them on the supplier's channel.

Every notice the hub sends a supplier is an outbox message on the supplier's channel
account (``Supplier.channel_account_id``); the channel connector (hub webhooks, Kuaishou
dropship, CJ, spreadsheets) turns the payload into its own protocol. Topics and shapes
are fixed here, in one place, so every channel reads the same thing:

* ``order_dispatch`` (entity ``fulfilment``) — ship these lines, answer by ``answer_by``::

      {"fulfilment_id", "answer_by", "order": {"platform_order_id", "placed_at", "paid_at",
       "ship_by", "note", "buyer": {"name_masked", "phone_masked", "address_masked",
       "province_code", "city_code", "district_code", "name_cipher", "phone_cipher",
       "address_cipher"}}, "lines": [{"sku", "supplier_sku", "title", "quantity"}]}

* ``stop_ship`` (entity ``fulfilment``) — do not ship; answer by ``answer_by``::

      {"fulfilment_id", "platform_order_id", "reason", "answer_by"}

* ``return_notice`` (entity ``return_case``, or ``fulfilment`` for a parcel coming back
  with no return case, e.g. a failed interception of a cancelled order)::

      {"return_case_id", "fulfilment_id", "platform_order_id", "kind", "reason_code",
       "reason_text", "lines": [{"sku", "quantity"}],
       "tracking": {"carrier", "tracking_number"} | null, "expected_return": bool}

* ``claim_notice`` (entity ``claim``) — a compensation claim, and later its withdrawal
  (``hub.domain.liability.claims.payload``)::

      {"claim_id", "status": "sent" | "withdrawn", "decision_id", "event", "rule",
       "reason", "fulfilment_id", "supplier_reference", "platform_order_id",
       "amount_minor", "currency", "costs": [{"cost", "amount_minor"}], "message",
       "why_zh", "why_en", "answer_by", "lines": [{"sku", "supplier_sku", "quantity"}],
       "evidence": [{"at", "source", "zh", "en", "sha256"?}]}

* ``statement_notice`` (entity ``statement``) — the period's statement, when sent and
  when closed (``hub.domain.finance.statements.payload``); answered on the supplier API
  or the sheet::

      {"statement_id", "status", "period", "starts_at", "ends_at", "currency",
       "opening_minor", "payables_minor", "deductions_minor", "adjustments_minor",
       "closing_minor", "lines": [{"line_id", "kind", "document_ref", "order_no",
       "waybill", "amount_minor", "occurred_at", "late", "memo"}]}

Times are UTC ISO 8601. Versions are deterministic (the step's own timestamp, or a hash
of the return notice's content), so a replay or a repeated webhook reuses the same
idempotency key, and a changed return notice (its tracking arrived) supersedes the old
one if that was not sent yet. ``send`` raises the alert ``supplier_has_no_channel`` when
the supplier has no channel account, and resolves it once one is set; a notice that
ends ``dead`` raises ``supplier_notice_failed`` (critical for a stop-ship).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.db import iso, memo
from hub.core.wakeup import current_var_dir
from hub.models import (
    Account, Fulfilment, Order, OutboxMessage, ReturnCase, Shipment, Supplier, alerts,
)
from hub.pipeline.events import MessageSettled
from hub.pipeline.outbox import enqueue

ORDER_DISPATCH, STOP_SHIP, RETURN_NOTICE, CLAIM_NOTICE, STATEMENT_NOTICE = (
    "order_dispatch", "stop_ship", "return_notice", "claim_notice", "statement_notice")
TOPICS = (ORDER_DISPATCH, STOP_SHIP, RETURN_NOTICE, CLAIM_NOTICE, STATEMENT_NOTICE)


# -- payloads ------------------------------------------------------------------------------

def order_dispatch(fulfilment: Fulfilment, order: Order, lines: list[dict]) -> dict:
    """``lines``: ``[{"sku", "supplier_sku", "title", "quantity"}]`` (built at allocation)."""
    return {
        "fulfilment_id": fulfilment.id,
        "answer_by": iso(fulfilment.answer_due_at),
        "order": {
            "platform_order_id": order.platform_order_id,
            "placed_at": iso(order.placed_at), "paid_at": iso(order.paid_at),
            "ship_by": iso(order.ship_by), "note": order.buyer_note,
            "buyer": {
                "name_masked": order.buyer_name_masked,
                "phone_masked": order.buyer_phone_masked,
                "address_masked": order.buyer_address_masked,
                "province_code": order.province_code, "city_code": order.city_code,
                "district_code": order.district_code,
                "name_cipher": order.buyer_name_cipher,
                "phone_cipher": order.buyer_phone_cipher,
                "address_cipher": order.buyer_address_cipher,
            },
        },
        "lines": [{"sku": x["sku"], "supplier_sku": x.get("supplier_sku"),
                   "title": x.get("title", ""), "quantity": x["quantity"]} for x in lines],
        # an after-sale's second dispatch says so (exchange | reship | repair)
        **({"purpose": fulfilment.purpose, "return_case_id": fulfilment.return_case_id}
           if fulfilment.purpose not in (None, "order") else {}),
    }


def stop_ship(fulfilment: Fulfilment, order: Order) -> dict:
    return {"fulfilment_id": fulfilment.id, "platform_order_id": order.platform_order_id,
            "supplier_reference": fulfilment.supplier_reference,
            "reason": fulfilment.cancel_reason,
            "answer_by": iso(fulfilment.cancel_answer_due_at)}


def return_notice(fulfilment: Fulfilment, order: Order, case: ReturnCase | None,
                  lines: list[dict], tracking: Shipment | None) -> dict:
    """``case`` None: a parcel coming back with no return case (failed interception)."""
    return {
        "return_case_id": case.id if case else None,
        "fulfilment_id": fulfilment.id,
        "platform_order_id": order.platform_order_id,
        "kind": case.kind if case else "interception_failed",
        "reason_code": case.reason_code if case else (fulfilment.cancel_reason or "stop_ship"),
        "reason_text": case.reason_text if case else None,
        "lines": [{"sku": x["sku"], "quantity": x["quantity"]} for x in lines],
        "tracking": ({"carrier": tracking.carrier, "tracking_number": tracking.tracking_number}
                     if tracking is not None else None),
        "expected_return": bool(fulfilment.expected_return),
    }


def content_version(payload: dict) -> str:
    """A version that changes exactly when the payload does."""
    raw = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return "c:" + hashlib.sha256(raw.encode()).hexdigest()[:24]


# -- sending -------------------------------------------------------------------------------

def channel_account(session: Session, supplier: Supplier) -> Account | None:
    if supplier.channel_account_id is None:
        return None
    held = memo(session).setdefault("channel_accounts", {})  # the session holds rows weakly
    if supplier.channel_account_id not in held:
        held[supplier.channel_account_id] = session.get(Account, supplier.channel_account_id)
    return held[supplier.channel_account_id]


def send(session: Session, supplier: Supplier, topic: str, entity: str, entity_id: int,
         payload: dict, version: str, var_dir: Path | None = None) -> OutboxMessage | None:
    """Queue a notice on the supplier's channel, waking a worker on commit.

    Returns the message, or None (and an open ``supplier_has_no_channel`` alert) when the
    supplier has no channel account to reach it on.
    """
    if topic not in TOPICS:
        raise ValueError(f"unknown supplier notice topic {topic!r}")
    account = channel_account(session, supplier)
    if account is None:
        alerts.raise_alert(
            session, supplier.merchant_id, "supplier_has_no_channel", "supplier", supplier.id,
            f"Supplier {supplier.code} has no channel account: a {topic} notice for "
            f"{entity} {entity_id} could not be sent. Link a channel account to the supplier.",
            severity="critical" if topic == STOP_SHIP else "warning",
            details={"topic": topic, "entity": entity, "entity_id": entity_id})
        return None
    alerts.resolve(session, supplier.merchant_id, "supplier_has_no_channel", "supplier",
                   supplier.id, why="the supplier has a channel again")
    return enqueue(session, account, topic, entity, entity_id, payload, version,
                   var_dir=current_var_dir(var_dir))


def on_notice_settled(session: Session, event: MessageSettled) -> None:
    """A notice (``TOPICS``) that could not be delivered at all is an alert the supplier
    sees too."""
    message = event.message
    if message.status != "dead":
        return
    supplier = session.scalar(select(Supplier).where(
        Supplier.merchant_id == message.merchant_id,
        Supplier.channel_account_id == message.account_id).order_by(Supplier.id).limit(1))
    alerts.raise_alert(
        session, message.merchant_id, "supplier_notice_failed", message.entity,
        message.entity_id, f"The {message.topic} notice for {message.entity} "
        f"{message.entity_id} could not be delivered to the supplier: "
        f"{message.last_error or message.last_error_class}. Contact the supplier; replay "
        "it from the outbox once the channel works.",
        severity="critical" if message.topic == STOP_SHIP else "warning",
        supplier_id=supplier.id if supplier else None,
        details={"outbox_message_id": message.id, "topic": message.topic,
                 "error_class": message.last_error_class})

