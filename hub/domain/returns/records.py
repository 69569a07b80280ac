"""A platform's return record (``ReturnValues``) applied to the common model.

The status follows the return case's state machine (``hub.domain.returns.states``): it never
goes backwards; a platform status the hub's progress overrides is audited
(``return_case.status_kept``) when the platform's raw status changed, and every other
field is still updated. Older records are dropped by ``remote_updated_at``.

A change publishes ``ReturnChanged`` (the return parcel and notice, and stop-ship,
subscribe to it).
"""
from __future__ import annotations

from sqlalchemy import select

from hub.domain.returns.states import platform_status
from hub.models import Order, ReturnCase, ReturnLine, audit
from hub.pipeline.events import ReturnChanged
from hub.pipeline.sync import upsert
from hub.values import ReturnValues


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
        return {**fields, "status": platform_status(case.status, v.status)}

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
