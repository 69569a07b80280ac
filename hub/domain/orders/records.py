"""A platform's order record (``OrderValues``) applied to the common model.

The order and its lines are upserted through the order's binding; a change publishes
``OrderChanged`` (allocation and stop-ship subscribe to it).
"""
from __future__ import annotations

from hub.models import Order, OrderLine
from hub.pipeline.events import OrderChanged
from hub.pipeline.sync import upsert
from hub.values import OrderValues

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
    outcome, order = upsert(session, account, v, Order, fields)
    if order is None:
        return outcome, None
    existing = {(line.platform_line_id or line.sku): line for line in order.lines}
    for lv in v.lines:
        line = existing.get(lv.platform_line_id or lv.sku)
        if line is None:
            line = OrderLine(merchant_id=account.merchant_id, currency=v.currency)
            order.lines.append(line)
        for key in LINE_FIELDS:
            setattr(line, key, getattr(lv, key))
    session.flush()
    return outcome, OrderChanged(account, order, created=outcome == "created")
