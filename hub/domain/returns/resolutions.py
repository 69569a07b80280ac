"""The after-sales that send goods again: an exchange's replacement, a reship (补发), a
repaired item going back to the buyer.

| kind | the second dispatch is made | by |
|---|---|---|
| ``exchange`` | as the policy says (``exchange_dispatch``): once approved (``awaiting_return``) or once the goods are back (``received``/``inspected``, the default) | automatically |
| ``reship`` | when the merchant (or an approving policy rule) decides | ``dispatch_again`` |
| ``repair`` | once the goods reached the supplier that repairs them | automatically |

A second dispatch goes to the supplier that shipped the case's lines (else the best
mapping's) as a fulfilment with its ``purpose`` and case (``fulfilment.dispatch_again``):
the supplier gets an ``order_dispatch`` that says so, answers and hands back tracking like
for any order, and the parcel is tracked outbound; it is not pushed to the platform as
the order's shipment. One per case: asking again answers the one made.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.errors import Conflict
from hub.domain import fulfilment
from hub.domain.policy import versions
from hub.models import Fulfilment, Order, ReturnCase, alerts
from hub.pipeline.events import ReturnChanged, ShipmentTracked

PURPOSES = ("exchange", "reship", "repair")
BACK = ("received", "inspected")
ENDED = ("rejected", "closed", "refunded")
ACTOR = "hub:after_sale"


def on_return_changed(session: Session, event: ReturnChanged) -> None:
    after_progress(session, event.case)


def on_shipment_tracked(session: Session, event: ShipmentTracked) -> None:
    shipment = event.shipment
    if shipment.direction == "return" and shipment.return_case_id is not None:
        case = session.get(ReturnCase, shipment.return_case_id)
        if case is not None:
            after_progress(session, case)


def after_progress(session: Session, case: ReturnCase) -> Fulfilment | None:
    """The automatic second dispatch, when the case has got far enough (the table)."""
    if case.kind == "exchange":
        due = ("awaiting_return", "return_in_transit", *BACK) if versions.in_force(
            session, case.merchant_id).exchange_dispatch == "on_approval" else BACK
    elif case.kind == "repair":
        due = BACK
    else:
        return None
    if case.status not in due:
        return None
    return dispatch_again(session, case, ACTOR, quiet=True)


def second_dispatch(session: Session, case: ReturnCase) -> Fulfilment | None:
    return session.scalar(select(Fulfilment).where(
        Fulfilment.merchant_id == case.merchant_id, Fulfilment.return_case_id == case.id,
        Fulfilment.purpose == case.kind, Fulfilment.status.not_in(("rejected", "cancelled")))
        .order_by(Fulfilment.id.desc()).limit(1))


def dispatch_again(session: Session, case: ReturnCase, actor: str,
                   quiet: bool = False) -> Fulfilment | None:
    """The case's second dispatch (the one made, if any). ``Conflict`` when the case
    cannot have one; ``quiet``: an alert instead when no supplier has the goods."""
    if case.kind not in PURPOSES:
        raise Conflict(f"a {case.kind} sends nothing again: only {', '.join(PURPOSES)} do",
                       details={"kind": case.kind})
    if case.status in ENDED or case.order_id is None:
        raise Conflict(f"return {case.platform_return_id} is {case.status}"
                       + ("" if case.order_id else " and has no order"),
                       details={"status": case.status})
    made = second_dispatch(session, case)
    if made is not None:
        return made
    order = session.get(Order, case.order_id)
    shipped = [f for f in fulfilment.fulfilments_for(order, case) if f.shipped_at is not None]
    made = fulfilment.dispatch_again(
        session, order, _quantities(order, case), case.kind, case.id, actor,
        supplier_id=shipped[0].supplier_id if shipped else None)
    if made is None:
        message = (f"The {case.kind} of return {case.platform_return_id} cannot be sent: no "
                   "active supplier has its goods. Add a SKU mapping, then dispatch it.")
        if not quiet:
            raise Conflict(message)
        alerts.raise_alert(session, case.merchant_id, "after_sale_undispatched",
                           "return_case", case.id, message)
        return None
    alerts.resolve(session, case.merchant_id, "after_sale_undispatched", "return_case",
                   case.id, why=f"dispatched: fulfilment {made.id}")
    return made


def _quantities(order: Order, case: ReturnCase) -> dict[int, int]:
    """Order line id → quantity to send again: the case's lines (by order line, else SKU);
    a case without lines sends the whole order again."""
    by_sku = {line.sku: line.id for line in order.lines}
    found: dict[int, int] = {}
    for line in case.lines:
        line_id = line.order_line_id or by_sku.get(line.sku)
        if line_id:
            found[line_id] = found.get(line_id, 0) + line.quantity
    return found or {line.id: line.quantity for line in order.lines}
