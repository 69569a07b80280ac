"""The fulfilment's state machine: the order leg and the stop-ship leg, one table.

    requested ─accept→ accepted ─ship→ shipped
        │  └──────────ship───────────↗   │
        ├─reject→ rejected ←reject─ accepted
        └─request_stop→ cancel_requested ─accept_stop→ cancelled
                                         └─reject_stop→ cancel_rejected

``request_stop`` is taken from ``requested`` and ``accepted`` (the supplier is asked to
stop) and from ``shipped``, where the status stays and the parcel is intercepted
(``hub.domain.fulfilment.stopship``). ``rejected``, ``cancelled`` and
``cancel_rejected`` take no event. ``move`` applies an event atomically.
"""
from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from hub.core.db import utcnow
from hub.core.states import Machine
from hub.models import Fulfilment

SLA_ALERT = "supplier_sla_breached"  # a deadline the supplier missed; answering resolves it
SLA_ANSWERED = "the supplier answered"


def late(due, at) -> bool:
    return bool(due is not None and at > due)


FULFILMENT = Machine("fulfilment", {
    "requested": {"accept": "accepted", "reject": "rejected", "ship": "shipped",
                  "request_stop": "cancel_requested"},
    "accepted": {"reject": "rejected", "ship": "shipped", "request_stop": "cancel_requested"},
    "shipped": {"request_stop": "shipped"},
    "rejected": {},
    "cancel_requested": {"accept_stop": "cancelled", "reject_stop": "cancel_rejected"},
    "cancelled": {},
    "cancel_rejected": {},
})


def move(session: Session, fulfilment: Fulfilment, event: str, **values) -> bool:
    """Take ``event`` if the stored status still allows it, setting ``values`` with the
    new status; False (nothing written) when the row has moved to a status that does not.
    For events whose every source leads to one state (all but ``request_stop``)."""
    sources = FULFILMENT.sources(event)
    (target,) = {FULFILMENT.next(state, event) for state in sources}
    return guarded(session, fulfilment, Fulfilment.status.in_(sources), status=target, **values)


def guarded(session: Session, fulfilment: Fulfilment, condition, **values) -> bool:
    """Set ``values`` only if ``condition`` still holds in the database; True if it did.

    Concurrent answers (a supplier's accept racing a stop-ship request, a webhook
    delivered twice) serialise on the row — PostgreSQL's row lock, SQLite's write lock —
    so exactly one wins; the object is re-read either way.
    """
    session.flush()
    result = session.execute(update(Fulfilment).where(Fulfilment.id == fulfilment.id, condition)
                             .values(**values, updated_at=utcnow())
                             .execution_options(synchronize_session=False))
    session.refresh(fulfilment)
    return result.rowcount == 1
