"""A platform's return record (``ReturnValues``) applied to the common model.

**A return case never goes backwards.** The normalised statuses are ordered by how far
the goods and the decision have got (DESIGN.md §5)::

    requested < approved = rejected < awaiting_return < return_in_transit
              < received < inspected < refunded = resolved = closed

``return_in_transit``, ``received`` and ``inspected`` are progress the hub may record
itself (the return parcel's tracking, the supplier's receipt) before the platform's own
update about an earlier step is processed. When the stored status is one of them and
the incoming one ranks lower, the stored status is kept — ``raw_status`` (the platform's
own status) and every other field are still updated, and the kept status is audited
(``return_case.status_kept``) when the platform's raw status changed. Decisions always
apply whatever the stored progress: ``rejected`` (a request or a receipt refused),
``closed``, ``refunded`` and ``resolved``. A stored status outside that progress (e.g.
``rejected`` → ``requested`` when the buyer changes a refused request) is the
platform's to change. Older records are still dropped by ``remote_updated_at``.

A change publishes ``ReturnChanged`` (the return parcel and notice, and stop-ship,
subscribe to it).
"""
from __future__ import annotations

from sqlalchemy import select

from hub.models import Order, ReturnCase, ReturnLine, audit
from hub.pipeline.events import ReturnChanged
from hub.pipeline.sync import upsert
from hub.values import ReturnValues

RETURN_RANK = {"requested": 0, "approved": 1, "rejected": 1, "awaiting_return": 2,
               "return_in_transit": 3, "received": 4, "inspected": 5,
               "refunded": 6, "resolved": 6, "closed": 6}
HUB_PROGRESS = ("return_in_transit", "received", "inspected")  # the hub may record these
RETURN_DECISIONS = ("rejected", "closed", "refunded", "resolved")  # always applied


def return_status(stored: str | None, incoming: str) -> str:
    """The status a return case keeps when the platform says ``incoming`` (module doc)."""
    if (stored in HUB_PROGRESS and incoming not in RETURN_DECISIONS
            and RETURN_RANK.get(incoming, 0) < RETURN_RANK[stored]):
        return stored
    return incoming


def apply_return(session, account, v: ReturnValues):
    order = None
    if v.platform_order_id:
        order = session.scalar(select(Order).where(
            Order.merchant_id == account.merchant_id, Order.shop_account_id == account.id,
            Order.platform_order_id == v.platform_order_id))
    fields = dict(
        shop_account_id=account.id, order_id=order.id if order else None,
        platform_return_id=v.platform_return_id, kind=v.kind, reason_code=v.reason_code,
        reason_text=v.reason_text, status=v.status, raw_status=v.raw_status,
        refund_minor=v.refund_minor, currency=v.currency, requested_at=v.requested_at,
        respond_by=v.respond_by, buyer_ship_by=v.buyer_ship_by,
        remote_updated_at=v.remote_updated_at, flags=list(v.flags))
    before: dict = {}

    def keep_progress(case, fields):
        before.update(status=case.status, raw_status=case.raw_status)
        return {**fields, "status": return_status(case.status, v.status)}

    outcome, case = upsert(session, account, v, ReturnCase, fields, keep_progress)
    if case is None:
        return outcome, None
    if case.status != v.status and before.get("raw_status") != v.raw_status:
        audit.record(session, case.merchant_id, f"connector:{account.connector}:{account.id}",
                     "return_case.status_kept", "return_case", case.id,
                     {"status": case.status, "platform_status": v.status,
                      "raw_status": [before.get("raw_status"), v.raw_status]})
    _lines(case, order, v)
    session.flush()
    return outcome, ReturnChanged(account, case, v, before.get("status"), case.status)


def _lines(case: ReturnCase, order: Order | None, v: ReturnValues) -> None:
    order_lines = {}
    if order is not None:
        for line in order.lines:
            order_lines.setdefault(line.platform_line_id, line)
            order_lines.setdefault(line.sku, line)
    existing = {line.sku: line for line in case.lines}
    for lv in v.lines:
        line = existing.get(lv.sku)
        if line is None:
            line = ReturnLine(merchant_id=case.merchant_id, sku=lv.sku)
            case.lines.append(line)
        match = order_lines.get(lv.platform_line_id) or order_lines.get(lv.sku)
        line.order_line_id = match.id if match else None
        line.quantity, line.reason_code = lv.quantity, lv.reason_code
