"""Supplier answer deadlines: escalate what a supplier left unanswered, once.

One batch (``run(app, owner)``, every 60 s):

* a fulfilment still ``requested`` after its ``answer_due_at``, or still
  ``cancel_requested`` after its ``cancel_answer_due_at``, with ``escalated_at`` null,
  gets ``escalated_at = now`` and an alert ``supplier_sla_breached`` on the fulfilment —
  ``warning`` for an order dispatch, ``critical`` for a stop-ship — carrying the
  supplier's id, so both the merchant and that supplier see it. The alert resolves when
  the supplier answers (``hub.domain.fulfilment.answers`` / ``hub.domain.fulfilment.stopship``).
* ``hub.domain.fulfilment.sweep_interceptions``: the backstop for interceptions that failed
  without a tracking change reaching the listener.
* ``hub.domain.liability.claims.escalate_overdue``: a claim whose answer is overdue is an
  alert ``claim_overdue`` to the merchant (and the supplier), once.
* ``hub.domain.liability.triggers.sweep_fake_shipments``: a reported waybill no courier
  scanned in time is decided as a fake shipment.

Each escalation is claimed by a conditional ``UPDATE ... WHERE escalated_at IS NULL``
in the transaction that raises the alert, so two workers never escalate the same
deadline twice (the second UPDATE matches no row once the first commits). A new
stop-ship request clears ``escalated_at`` (the dispatch escalation stays in the audit
log), so its own deadline can escalate in turn.
"""
from __future__ import annotations

import logging

from sqlalchemy import and_, or_, select, update

from hub.core.db import iso, utcnow
from hub.domain import fulfilment
from hub.domain.liability import claims, triggers
from hub.models import Fulfilment, Order, Supplier, alerts, audit

log = logging.getLogger(__name__)

BATCH = 100
ACTOR = "job:supplier_sla"
KIND = "supplier_sla_breached"


def overdue(now):
    return and_(Fulfilment.escalated_at.is_(None), or_(
        and_(Fulfilment.status == "requested", Fulfilment.answer_due_at < now),
        and_(Fulfilment.status == "cancel_requested", Fulfilment.cancel_answer_due_at < now)))


def escalate(session, fulfilment_id: int, now) -> bool:
    """Escalate one overdue fulfilment if nobody else has; True when this call did."""
    claimed = session.execute(
        update(Fulfilment).where(Fulfilment.id == fulfilment_id, overdue(now))
        .values(escalated_at=now).execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        return False
    f = session.get(Fulfilment, fulfilment_id, populate_existing=True)
    supplier = session.get(Supplier, f.supplier_id)
    order = session.get(Order, f.order_id)
    stop = f.status == "cancel_requested"
    due = f.cancel_answer_due_at if stop else f.answer_due_at
    what = "the stop-ship request" if stop else "the order"
    alerts.raise_alert(
        session, f.merchant_id, KIND, "fulfilment", f.id,
        f"Supplier {supplier.code} has not answered {what} for order "
        f"{order.platform_order_id}, due {iso(due)}."
        + (" The parcel may ship: contact the supplier or ask the courier to intercept."
           if stop else " Contact the supplier or allocate the order elsewhere."),
        severity="critical" if stop else "warning", supplier_id=f.supplier_id,
        details={"deadline": "stop_ship" if stop else "dispatch", "due_at": iso(due),
                 "escalated_at": iso(now), "order_id": order.id})
    audit.record(session, f.merchant_id, ACTOR, "fulfilment.escalated", "fulfilment", f.id,
                 {"deadline": "stop_ship" if stop else "dispatch", "due_at": iso(due),
                  "escalated_at": iso(now), "supplier_id": f.supplier_id})
    return True


def run(app, owner: str) -> int:

    db = app.extensions["hub"].db
    now = utcnow()
    with db.session(readonly=True) as s:
        ids = list(s.scalars(select(Fulfilment.id).where(overdue(now))
                             .order_by(Fulfilment.id).limit(BATCH)))
    done = 0
    for fulfilment_id in ids:
        try:
            with db.session() as s:
                done += escalate(s, fulfilment_id, now)
        except Exception:  # one bad row must not stop the others
            log.exception("escalation failed", extra={"fulfilment_id": fulfilment_id})
    for sweep, what in ((fulfilment.sweep_interceptions, "interception sweep"),
                        (lambda s: claims.escalate_overdue(s, now), "claim escalation"),
                        (lambda s: triggers.sweep_fake_shipments(s, now), "fake shipments")):
        try:
            with db.session() as s:
                done += sweep(s)
        except Exception:
            log.exception(f"{what} failed")
    return done
