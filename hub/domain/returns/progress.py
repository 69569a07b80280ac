"""What the buyer sees of a return: where it stands, as steps. The public page
``/r/<public_token>`` (``hub.web.buyer_page``) words it in Chinese and English.

``buyer_link(case, base_url)`` — the case's page, for messages to the buyer (None for a
case that has no token). ``find(session, token)`` — the case a link names, or None; a
token that cannot be one (``TOKEN``) is never looked up. ``progress(session, case)`` —
the steps and what goes with them:

    requested → approved → on its way → received → inspected → refunded | resolved

(``refund_only`` and ``reship``: requested → approved → refunded | resolved), each
``done``, ``current`` or ``todo``; a ``rejected`` or ``closed`` case ends there, said so.
Approved and not yet sent: the packing instructions and the return address
(``instructions.for_case``); the return parcel's carrier, number and latest tracking
events; the after-sale and order numbers; the refund amount. Nothing else: the page is
public to whoever holds the link, so no buyer contact, no supplier name (the address is
shown without its label), no internal id, no price but the refund.
"""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.domain.returns import flow, instructions
from hub.domain.returns.decisions import GOODS_BACK
from hub.models import Order, ReturnCase, TrackingEvent
from mappings.tracking.carriers import carriers

TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")  # secrets.token_urlsafe(24) is 32 of these
REFUNDED = ("refund_only", "return_refund")
ENDED = ("rejected", "closed")
PACKING = ("approved", "awaiting_return")  # on its way: packed already
LATEST_EVENTS = 5
STEP_OF = {"requested": "requested", "approved": "approved", "awaiting_return": "approved",
           "return_in_transit": "on_its_way", "received": "received",
           "inspected": "inspected", "refunded": "done", "resolved": "done"}


def buyer_link(case: ReturnCase, base_url: str) -> str | None:
    if not case.public_token:
        return None
    return f"{base_url.rstrip('/')}/r/{case.public_token}"


def find(session: Session, token: str) -> ReturnCase | None:
    if not isinstance(token, str) or not TOKEN.fullmatch(token):
        return None
    return session.scalar(select(ReturnCase).where(ReturnCase.public_token == token))


def steps_of(kind: str) -> list[str]:
    final = "refunded" if kind in REFUNDED else "resolved"
    if kind in GOODS_BACK:
        return ["requested", "approved", "on_its_way", "received", "inspected", final]
    return ["requested", "approved", final]


def _steps(case: ReturnCase) -> tuple[str, list[dict]]:
    """The step the case is at, and every step ``done``, ``current`` or ``todo`` (a final
    step reached is done)."""
    if case.status in ENDED:  # how far it got is no longer known: asked, then the end
        return case.status, [{"key": "requested", "state": "done"},
                             {"key": case.status, "state": "done"}]
    names = steps_of(case.kind)
    step = STEP_OF.get(case.status, "requested")
    step = names[-1] if step == "done" else step if step in names else "approved"
    at = names.index(step)
    return step, [{"key": name, "state": "done" if n < at or n == at == len(names) - 1
                   else "current" if n == at else "todo"} for n, name in enumerate(names)]


def _parcel(session: Session, case: ReturnCase) -> dict | None:
    parcel = flow.return_shipment(session, case)
    if parcel is None:
        return None
    events = session.scalars(select(TrackingEvent).where(
        TrackingEvent.merchant_id == case.merchant_id, TrackingEvent.shipment_id == parcel.id)
        .order_by(TrackingEvent.occurred_at.desc(), TrackingEvent.id.desc())
        .limit(LATEST_EVENTS))
    known = carriers().get(parcel.carrier, {})
    return {"carrier": parcel.carrier, "carrier_zh": known.get("name") or parcel.carrier,
            "carrier_en": known.get("name_en") or parcel.carrier,
            "tracking_number": parcel.tracking_number, "status": parcel.status,
            "events": [{"at": e.occurred_at, "status": e.status,
                        "location": e.location}
                       for e in events]}


def _packing(session: Session, case: ReturnCase) -> dict | None:
    if case.kind not in GOODS_BACK or case.status not in PACKING:
        return None
    told = instructions.for_case(session, case)
    address = told.get("address")
    return {"zh": told.get("zh") or "", "en": told.get("en") or "",
            "freight_payer": told.get("freight_payer"),
            "address": None if not address else {  # no label: it may name the supplier
                "contact": address.get("contact"), "phone": address.get("phone"),
                "address": address.get("address")}}


def progress(session: Session, case: ReturnCase) -> dict:
    order_number = session.scalar(select(Order.platform_order_id).where(
        Order.merchant_id == case.merchant_id, Order.id == case.order_id)) \
        if case.order_id else None
    current, steps = _steps(case)
    return {
        "platform_return_id": case.platform_return_id, "platform_order_id": order_number,
        "kind": case.kind, "status": case.status, "current": current, "steps": steps,
        "requested_at": case.requested_at, "updated_at": case.updated_at,
        "refund_minor": case.refund_minor if case.kind in REFUNDED else None,
        "currency": case.currency, "packing": _packing(session, case),
        "parcel": _parcel(session, case)}
