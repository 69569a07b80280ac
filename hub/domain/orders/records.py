"""A platform's order record (``OrderValues``) applied to the common model.

The order and its lines are upserted through the order's binding; a change publishes
``OrderChanged`` (allocation and stop-ship subscribe to it).

A status the hub holds from stronger evidence is not overwritten by a weaker source:
once the courier's scan made an order ``delivered``, a late platform record saying
``paid`` or ``shipped`` keeps it ``delivered`` (audited as ``order.status_kept``), while
the platform's ``raw_status`` and every other field are still recorded. The platform's
closing word (``completed``, ``cancelled``) always applies.
"""
from __future__ import annotations

from sqlalchemy.orm.attributes import set_committed_value

from hub.core.db import mark_created
from hub.models import Order, OrderLine, audit
from hub.pipeline.events import OrderChanged
from hub.pipeline.sync import upsert
from hub.values import OrderValues

BEHIND_DELIVERY = ("pending_payment", "paid", "shipped")
LINE_FIELDS = ("sku", "quantity", "unit_price_minor", "total_minor", "platform_line_id",
               "platform_sku_id", "title", "is_gift")


def apply_order(session, account, v: OrderValues):
    b = v.buyer
    fields = dict(
        shop_account_id=account.id, platform_order_id=v.platform_order_id, status=v.status,
        raw_status=v.raw_status, currency=v.currency, total_minor=v.total_minor,
        paid_minor=v.paid_minor, shipping_fee_minor=v.shipping_fee_minor, placed_at=v.placed_at,
        paid_at=v.paid_at, ship_by=v.ship_by, remote_updated_at=v.remote_updated_at,
        do_not_ship=bool(v.do_not_ship_reasons), do_not_ship_reasons=list(v.do_not_ship_reasons),
        buyer_name_cipher=b.name_cipher, buyer_phone_cipher=b.phone_cipher,
        buyer_address_cipher=b.address_cipher, buyer_name_masked=b.name_masked,
        buyer_phone_masked=b.phone_masked, buyer_address_masked=b.address_masked,
        province_code=b.province_code, city_code=b.city_code, district_code=b.district_code,
        buyer_note=v.buyer_note, flags=list(v.flags))
    kept: dict = {}

    def keep_delivery(order, fields):
        if order.status == "delivered" and v.status in BEHIND_DELIVERY:
            kept.update(raw_status=order.raw_status)
            return {**fields, "status": "delivered"}
        return fields

    outcome, order = upsert(session, account, v, Order, fields, keep_delivery)
    if order is None:
        return outcome, None
    if kept and kept["raw_status"] != v.raw_status:
        audit.record(session, order.merchant_id, f"connector:{account.connector}:{account.id}",
                     "order.status_kept", "order", order.id,
                     {"status": order.status, "platform_status": v.status,
                      "raw_status": [kept["raw_status"], v.raw_status]})
    if outcome == "created":  # nothing to load: no line and no alert of it exists yet
        set_committed_value(order, "lines", [])
        mark_created(session, "order", order.id)
    existing = {(line.platform_line_id or line.sku): line for line in order.lines}
    for lv in v.lines:
        line = existing.get(lv.platform_line_id or lv.sku)
        if line is None:
            line = OrderLine(merchant_id=account.merchant_id, currency=v.currency)
            order.lines.append(line)
        for key in LINE_FIELDS:
            setattr(line, key, getattr(lv, key))
    return outcome, OrderChanged(account, order, outcome == "created", v)
