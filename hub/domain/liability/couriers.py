"""Claims to couriers: one carrier's claims file.

``claims_file(session, merchant_id, carrier, actor) -> (csv_text, [Claim])`` takes the
carrier's draft claims, sends each (``claims.send``: its answer is due from now) and
writes them as CSV, one row per claim, for the merchant to submit on the carrier's
claims desk (理赔): the waybill, the order, the event, the amount claimed in yuan and
fen, why in Chinese and English, the evidence photos' SHA-256 and the answer's due date.
The same file cannot be made twice: its claims are sent once made; the courier's answers
are recorded through ``claims.answer``.
"""
from __future__ import annotations

import csv
import io

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.cells import safe_cell
from hub.core.china import china_time, yuan
from hub.domain.liability import claims
from hub.domain.fulfilment import outbound_shipment
from hub.models import Claim, Fulfilment, LiabilityDecision, Order, Shipment

HEADERS = ["claim_id", "carrier", "tracking_number", "platform_order_id", "event",
           "amount_yuan", "amount_minor", "currency", "why_zh", "why_en", "photos_sha256",
           "answer_by_china_time"]


def claims_file(session: Session, merchant_id: int, carrier: str,
                actor: str) -> tuple[str, list[Claim]]:
    found = list(session.scalars(select(Claim).where(
        Claim.merchant_id == merchant_id, Claim.counterparty_kind == "courier",
        Claim.carrier == carrier, Claim.status == "draft").order_by(Claim.id)
        .with_for_update()))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for claim in found:
        claims.send(session, claim, actor, in_claims_file=True)
        decision = session.get(LiabilityDecision, claim.decision_id)
        parcel = _parcel(session, decision)
        order = session.get(Order, decision.order_id) if decision.order_id else None
        photos = " ".join(x["sha256"] for x in decision.evidence if x.get("sha256"))
        writer.writerow([safe_cell(x) for x in (
            claim.id, carrier, parcel.tracking_number if parcel else "",
            order.platform_order_id if order else "", decision.event,
            yuan(claim.amount_minor, claim.currency), claim.amount_minor, claim.currency,
            claim.why_zh, claim.why_en, photos, china_time(claim.answer_due_at))])
    return out.getvalue(), found


def _parcel(session: Session, decision: LiabilityDecision) -> Shipment | None:
    if decision.shipment_id:
        return session.get(Shipment, decision.shipment_id)
    fulfilment = session.get(Fulfilment, decision.fulfilment_id) \
        if decision.fulfilment_id else None
    return outbound_shipment(session, fulfilment) if fulfilment else None
