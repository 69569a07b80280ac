"""Allocating orders to suppliers.

**Allocation** runs in the transaction that changes an order (``OrderChanged``):
a ``paid`` order not held by a do-not-ship flag has each line not yet in a fulfilment
allocated by the merchant's SKU mapping — the active mapping to an active supplier with
the highest ``priority`` (ties: the oldest mapping) — and gets one ``Fulfilment`` per
supplier with its lines, ``requested_at = now``, ``answer_due_at = now + sla_hours``,
and an ``order_dispatch`` notice on the supplier's channel (``hub.domain.pushes.supplier_notices``).
It is idempotent: a line already in a fulfilment is never allocated again, so repeated
webhooks and polls change nothing. Alerts: ``order_held`` (with the do-not-ship reasons,
resolved and the order allocated when the flag clears; critical, naming the fulfilments,
when the flag arrives after allocation — they are not stopped automatically),
``sku_unmapped`` (resolved once every line is allocated), ``supplier_has_no_channel``.

**A second dispatch** (``dispatch_again``, for the returns room): an exchange's
replacement, a reship (补发), a repaired item going back — a fulfilment with its
``purpose`` and case, dispatched like an order's (the notice says the purpose).
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.db import iso, mark_created, memo, utcnow
from hub.domain.pushes import supplier_notices
from hub.models import Alert, Fulfilment, FulfilmentLine, Order, SkuMapping, Supplier, alerts, audit
from hub.pipeline.events import OrderChanged

ACTOR = "hub:allocation"
ALLOCATED = "every line of the order is allocated"
ENDED = ("cancelled", "completed")  # nothing is left to decide about an unallocated line


# -- allocation ----------------------------------------------------------------------------

def on_order_changed(session: Session, event: OrderChanged) -> None:
    handle_order(session, event.order, new=event.created)


def handle_order(session: Session, order: Order, var_dir: Path | None = None, *,
                 new: bool = False) -> list[Fulfilment]:
    """Allocate ``order`` if it is paid and not held; returns the fulfilments made.
    ``new``: the order was created in this transaction (no line can be allocated yet)."""
    if order.status != "paid":
        why = f"the order is {order.status}"
        alerts.resolve(session, order.merchant_id, "order_held", "order", order.id, why=why)
        if order.status in ENDED:  # else a line no supplier has stays visible until decided
            alerts.resolve(session, order.merchant_id, "sku_unmapped", "order", order.id,
                           why=why)
        return []
    if order.do_not_ship:
        _hold(session, order)
        return []
    if alerts.resolve(session, order.merchant_id, "order_held", "order", order.id,
                      why="the platform released the order"):
        audit.record(session, order.merchant_id, ACTOR, "order.released", "order", order.id,
                     {"released_at": iso(utcnow())})
    return allocate(session, order, var_dir=var_dir, new=new)


def _hold(session: Session, order: Order) -> None:
    """Keep the order visibly held. Lines already with a supplier (the flag came after
    allocation) are not stopped automatically: the alert names them, critical."""
    reasons = list(order.do_not_ship_reasons or []) or ["unspecified"]
    sent = [f.id for f in order.fulfilments if f.status in ("requested", "accepted")]
    is_new = not _open_alert(session, order, "order_held")
    message = (f"Order {order.platform_order_id} is held and will not be sent to a supplier: "
               f"{', '.join(reasons)}. It is allocated as soon as the hold clears.")
    if sent:
        message = (f"Order {order.platform_order_id} is held ({', '.join(reasons)}) but was "
                   "already sent to its supplier: contact the supplier to hold the parcel.")
    alerts.raise_alert(session, order.merchant_id, "order_held", "order", order.id, message,
                       severity="critical" if sent else "warning",
                       details={"platform_order_id": order.platform_order_id,
                                "reasons": reasons, "fulfilment_ids": sent})
    if is_new:
        audit.record(session, order.merchant_id, ACTOR, "order.held", "order", order.id,
                     {"reasons": reasons, "held_at": iso(utcnow()), "fulfilment_ids": sent})


def _open_alert(session: Session, order: Order, kind: str) -> bool:
    return session.scalar(select(Alert.id).where(
        Alert.merchant_id == order.merchant_id, Alert.kind == kind, Alert.entity == "order",
        Alert.entity_id == order.id, Alert.resolved_at.is_(None))) is not None


def _best_mappings(session: Session, merchant_id: int, skus: set[str]):
    """sku → (SkuMapping, Supplier): the highest priority active mapping, oldest first.
    Remembered for the transaction (a batch of orders asks once per SKU)."""
    known = memo(session).setdefault(("sku_best", merchant_id), {})
    asked = skus - known.keys()
    if asked:
        rows = session.execute(
            select(SkuMapping, Supplier).join(Supplier, Supplier.id == SkuMapping.supplier_id)
            .where(SkuMapping.merchant_id == merchant_id, SkuMapping.sku.in_(asked),
                   SkuMapping.active.is_(True), Supplier.active.is_(True))
            .order_by(SkuMapping.priority.desc(), SkuMapping.id)).all()
        for mapping, supplier in rows:
            known.setdefault(mapping.sku, (mapping, supplier))
        known.update({sku: None for sku in asked if sku not in known})
    return {sku: known[sku] for sku in skus if known[sku] is not None}


def allocate(session: Session, order: Order, *, var_dir: Path | None = None,
             actor: str = ACTOR, new: bool = False) -> list[Fulfilment]:
    """Allocate the lines of ``order`` not yet in any fulfilment (see the module doc);
    ``new``: the order was created in this transaction, so none is."""
    covered = set() if new else set(session.scalars(
        select(FulfilmentLine.order_line_id).join(
            Fulfilment, Fulfilment.id == FulfilmentLine.fulfilment_id)
        .where(Fulfilment.order_id == order.id)))
    pending = [line for line in order.lines if line.id not in covered]
    if not pending:
        alerts.resolve(session, order.merchant_id, "sku_unmapped", "order", order.id,
                       why=ALLOCATED)
        return []
    best = _best_mappings(session, order.merchant_id, {line.sku for line in pending})
    groups: dict[int, tuple[Supplier, list]] = {}
    unmapped: list[str] = []
    for line in pending:
        if line.sku not in best:
            unmapped.append(line.sku)
            continue
        mapping, supplier = best[line.sku]
        groups.setdefault(supplier.id, (supplier, []))[1].append(line)
    made = []
    now = utcnow()
    for supplier, lines in groups.values():
        f = Fulfilment(merchant_id=order.merchant_id, order=order, supplier_id=supplier.id,
                       status="requested", requested_at=now,
                       answer_due_at=now + timedelta(hours=supplier.sla_hours))
        f.lines = [FulfilmentLine(merchant_id=order.merchant_id, order_line_id=line.id,
                                  quantity=line.quantity) for line in lines]
        session.add(f)
        audit.record(session, order.merchant_id, actor, "fulfilment.requested", "fulfilment",
                     f.id, {"order_id": order.id, "supplier_id": supplier.id,
                            "lines": [{"order_line_id": x.id, "sku": x.sku,
                                       "quantity": x.quantity} for x in lines],
                            "requested_at": iso(now), "answer_due_at": iso(f.answer_due_at)})
        mark_created(session, "fulfilment", f.id)
        dispatch(session, f, var_dir=var_dir, supplier_skus={
            line.sku: best[line.sku][0].supplier_sku for line in lines})
        made.append(f)
    if unmapped:
        alerts.raise_alert(
            session, order.merchant_id, "sku_unmapped", "order", order.id,
            f"Order {order.platform_order_id}: no active supplier mapping for "
            f"{', '.join(sorted(set(unmapped)))}. Add a SKU mapping; the lines are "
            "allocated on the order's next change.",
            details={"platform_order_id": order.platform_order_id,
                     "skus": sorted(set(unmapped))})
    else:
        alerts.resolve(session, order.merchant_id, "sku_unmapped", "order", order.id,
                       why=ALLOCATED)
    return made


def dispatch_again(session: Session, order: Order, quantities: dict[int, int], purpose: str,
                   return_case_id: int, actor: str, supplier_id: int | None = None,
                   var_dir: Path | None = None) -> Fulfilment | None:
    """An after-sale's second dispatch of ``order``'s lines (order line id → quantity):
    to ``supplier_id`` (the one that shipped them), else each line's best mapping's
    supplier (the first line decides: one parcel). None when no supplier has them."""
    lines = [line for line in order.lines if quantities.get(line.id)]
    if not lines:
        return None
    if supplier_id is not None and not session.get(Supplier, supplier_id).active:
        supplier_id = None  # the supplier that shipped them stopped: the best mapping's
    if supplier_id is None:
        best = _best_mappings(session, order.merchant_id, {line.sku for line in lines})
        found = next((best[line.sku][1] for line in lines if line.sku in best), None)
        if found is None:
            return None
        supplier_id = found.id
    supplier = session.get(Supplier, supplier_id)
    now = utcnow()
    f = Fulfilment(merchant_id=order.merchant_id, order=order, supplier_id=supplier.id,
                   status="requested", requested_at=now, purpose=purpose,
                   return_case_id=return_case_id,
                   answer_due_at=now + timedelta(hours=supplier.sla_hours))
    f.lines = [FulfilmentLine(merchant_id=order.merchant_id, order_line_id=line.id,
                              quantity=quantities[line.id]) for line in lines]
    session.add(f)
    audit.record(session, order.merchant_id, actor, "fulfilment.requested", "fulfilment", f.id,
                 {"order_id": order.id, "supplier_id": supplier.id, "purpose": purpose,
                  "return_case_id": return_case_id,
                  "lines": [{"order_line_id": x.id, "sku": x.sku,
                             "quantity": quantities[x.id]} for x in lines],
                  "requested_at": iso(now), "answer_due_at": iso(f.answer_due_at)})
    mark_created(session, "fulfilment", f.id)
    dispatch(session, f, var_dir=var_dir)
    return f


def dispatch_lines(session: Session, fulfilment: Fulfilment,
                   supplier_skus: dict[str, str | None] | None = None) -> list[dict]:
    """The lines a supplier is asked to ship, with its own SKUs (``supplier_skus``: when
    the caller has them; else read from the mappings)."""
    order_lines = {line.id: line for line in fulfilment.order.lines}
    lines = [(order_lines[x.order_line_id], x.quantity) for x in fulfilment.lines
             if x.order_line_id in order_lines]
    if supplier_skus is None:
        supplier_skus = dict(session.execute(select(SkuMapping.sku, SkuMapping.supplier_sku)
                                             .where(
            SkuMapping.merchant_id == fulfilment.merchant_id,
            SkuMapping.supplier_id == fulfilment.supplier_id,
            SkuMapping.sku.in_({line.sku for line, _ in lines}))).all())
    return [{"sku": line.sku, "supplier_sku": supplier_skus.get(line.sku), "title": line.title,
             "quantity": qty} for line, qty in lines]


def dispatch(session: Session, fulfilment: Fulfilment, *, var_dir: Path | None = None,
             supplier_skus: dict[str, str | None] | None = None):
    """Queue (again: same key) the ``order_dispatch`` notice of a fulfilment."""
    supplier = session.get(Supplier, fulfilment.supplier_id)
    payload = supplier_notices.order_dispatch(fulfilment, fulfilment.order,
                                              dispatch_lines(session, fulfilment, supplier_skus))
    return supplier_notices.send(
        session, supplier, supplier_notices.ORDER_DISPATCH, "fulfilment", fulfilment.id,
        payload, f"dispatch:{iso(fulfilment.requested_at)}", var_dir=var_dir)


