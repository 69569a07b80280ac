"""Returns on their way back: the buyer's return parcel and the return notice to the supplier.

**Return parcel** (``ReturnChanged``): a platform record that names the buyer's
return waybill (``ReturnValues.return_carrier`` / ``return_tracking_number``) registers
it through ``hub.domain.tracking.shipments.register_shipment`` as a ``return`` shipment of the case (and
its order), subscribed with the merchant's courier account, before the notice below is
worked out — so the notice carries it. Registering the same parcel again only retries
a subscription that failed; a corrected waybill is a new shipment, the latest one being
the case's. A carrier the mapper did not know (flagged on the case) is registered all
the same (a courier that has no code for it fails the subscription: alert
``tracking_subscription_failed``).

**Return notice** (``ReturnChanged`` and ``ShipmentTracked``): when a
``return_refund`` or ``exchange`` case is ``approved``, ``awaiting_return`` or
``return_in_transit`` and its goods go to the supplier that shipped them
(``Supplier.contract_terms.get("receives_returns", True)``), a ``return_notice`` is
queued on that supplier's channel with the lines it will receive and the buyer's return
tracking when known. The notice's version is a hash of its content: a repeated webhook
queues nothing, and the return tracking arriving later queues an updated notice (which
supersedes the first if that was not sent yet). ``on_expected_return`` sends the
same notice for a parcel that could not be stopped (``hub.domain.fulfilment.stopship``), with
``expected_return: true``.

The receiver's receipt and inspection are ``hub.domain.returns.inspection``.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.wakeup import current_var_dir
from hub.domain.fulfilment import fulfilments_for
from hub.domain.pushes import supplier_notices
from hub.domain.returns.states import RETURN_CASE
from hub.domain.tracking import effects, shipments as tracking
from hub.models import Fulfilment, Order, ReturnCase, Shipment, Supplier, audit
from hub.pipeline.events import ExpectedReturn, ReturnChanged, ShipmentTracked
from hub.pipeline.sync import lock

NOTICE_KINDS = ("return_refund", "exchange", "repair")
NOTICE_STATUSES = ("approved", "awaiting_return", "return_in_transit")


# -- return notices ------------------------------------------------------------------------

def on_return_changed(session: Session, event: ReturnChanged) -> None:
    register_return_parcel(session, event.case, event.values.return_carrier,
                           event.values.return_tracking_number)
    notify_return(session, event.case)


def register_return_parcel(session: Session, case: ReturnCase, carrier: str | None,
                           tracking_number: str | None,
                           var_dir: Path | None = None) -> Shipment | None:
    """Register the buyer's return parcel of ``case`` (None when either part is missing)."""
    if not carrier or not tracking_number:
        return None
    return tracking.register_shipment(
        session, merchant_id=case.merchant_id, carrier=carrier,
        tracking_number=tracking_number, direction="return", order_id=case.order_id,
        return_case_id=case.id, var_dir=current_var_dir(var_dir))


def on_shipment_tracked(session: Session, event: ShipmentTracked) -> None:
    """The buyer's return parcel moved: its case moves with it, then the return notice."""
    shipment = event.shipment
    if shipment.direction != "return":
        return
    case = session.get(ReturnCase, shipment.return_case_id) if shipment.return_case_id \
        else None
    if event.status_changed:
        _parcel_progress(session, shipment, case, event.previous_status)
    if case is not None:
        notify_return(session, case)


def _parcel_progress(session: Session, shipment: Shipment, case: ReturnCase | None,
                     previous_status: str) -> None:
    """Picked up or on its way: ``parcel_moving`` (notice ``return_picked_up`` on the
    first such scan); delivered: ``parcel_delivered`` (notice ``return_delivered``)."""
    status = shipment.status
    if status == "delivered":
        event, kind = "parcel_delivered", "return_delivered"
    elif status in effects.ON_THE_WAY:
        first_scan = previous_status in effects.NOT_MOVING
        event, kind = "parcel_moving", "return_picked_up" if first_scan else None
    else:
        return
    if case is not None and RETURN_CASE.can(lock(session, case).status, event):
        to = RETURN_CASE.next(case.status, event)
        audit.record(session, case.merchant_id, effects.ACTOR, f"return.{to}", "return_case",
                     case.id, {"status": [case.status, to], "shipment_id": shipment.id})
        case.status = to
    if kind is not None:
        order_id = shipment.order_id or (case.order_id if case else None)
        order = session.get(Order, order_id) if order_id else None
        effects.notice(session, shipment, kind, order,
                       effects.fulfilment_of(session, shipment, order))


def return_shipment(session: Session, case: ReturnCase | None) -> Shipment | None:
    if case is None:
        return None
    return session.scalar(select(Shipment).where(
        Shipment.return_case_id == case.id, Shipment.direction == "return")
        .order_by(Shipment.id.desc()).limit(1))


def _receives_returns(supplier: Supplier) -> bool:
    return bool((supplier.contract_terms or {}).get("receives_returns", True))


def receiving_suppliers(session: Session, case: ReturnCase) -> list[Supplier]:
    """The suppliers the goods of ``case`` go back to: those that shipped its lines and
    receive returns (none: the goods go to the merchant)."""
    if case.order_id is None:
        return []
    order = session.get(Order, case.order_id)
    ids = dict.fromkeys(f.supplier_id for f in fulfilments_for(order, case)
                        if f.shipped_at is not None)
    suppliers = [session.get(Supplier, supplier_id) for supplier_id in ids]
    return [x for x in suppliers if x is not None and _receives_returns(x)]


def _lines(order: Order, fulfilment: Fulfilment, case: ReturnCase | None) -> list[dict]:
    mine = {x.order_line_id for x in fulfilment.lines}
    if case is not None and case.lines:
        picked = [x for x in case.lines if x.order_line_id in mine]
        return [{"sku": x.sku, "quantity": x.quantity} for x in (picked or case.lines)]
    skus = {line.id: line.sku for line in order.lines}
    return [{"sku": skus.get(x.order_line_id, ""), "quantity": x.quantity}
            for x in fulfilment.lines]


def _send(session, fulfilment, order, case, var_dir):
    supplier = session.get(Supplier, fulfilment.supplier_id)
    if not _receives_returns(supplier):
        return None  # the goods go to the merchant: nothing to tell the supplier
    payload = supplier_notices.return_notice(fulfilment, order, case,
                                             _lines(order, fulfilment, case),
                                             return_shipment(session, case))
    entity, entity_id = ("return_case", case.id) if case else ("fulfilment", fulfilment.id)
    return supplier_notices.send(session, supplier, supplier_notices.RETURN_NOTICE, entity,
                                 entity_id, payload, supplier_notices.content_version(payload),
                                 var_dir=var_dir)


def notify_return(session: Session, case: ReturnCase | None, var_dir: Path | None = None) -> list:
    """Queue the return notice(s) of ``case`` if its goods are on their way to a supplier."""
    if (case is None or case.kind not in NOTICE_KINDS or case.status not in NOTICE_STATUSES
            or case.order_id is None):
        return []
    order = session.get(Order, case.order_id)
    shipped = [f for f in fulfilments_for(order, case) if f.shipped_at is not None]
    sent = [_send(session, f, order, case, var_dir) for f in shipped]
    return [m for m in sent if m is not None]


def on_expected_return(session: Session, event: ExpectedReturn) -> None:
    """Tell the supplier a parcel it shipped is coming back (it could not be stopped)."""
    fulfilment = event.fulfilment
    order = fulfilment.order
    cases = session.scalars(select(ReturnCase).where(
        ReturnCase.order_id == order.id, ReturnCase.status.not_in(("rejected", "closed")))
        .order_by(ReturnCase.id.desc()))
    case = next((c for c in cases if fulfilment in fulfilments_for(order, c)), None)
    _send(session, fulfilment, order, case, None)
