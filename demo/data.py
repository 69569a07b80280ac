"""``hub seed-demo``: a small, realistic merchant to click through and to try the API on.

Buyer contact is seeded the way platforms deliver it: ciphertext plus masked text.
"""
from __future__ import annotations

import base64
import secrets
from datetime import timedelta

import click
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from hub.cli.common import db, emit, json_option
from hub.core.db import utcnow
from hub.models import (
    Account, Fulfilment, Merchant, Order, OrderLine, ReturnCase, ReturnLine, Shipment, SkuMapping,
    Supplier, TrackingEvent,
)
from hub.parties import auth

PRODUCTS = [("TEA-001", "Longjing green tea 250g", 8800), ("CUP-002", "Celadon tea cup", 3900),
            ("POT-003", "Yixing clay teapot", 26800)]


def seed(session: Session) -> dict:
    now = utcnow()
    merchant = Merchant(name="Demo Tea House")
    session.add(merchant)
    session.flush()
    m = merchant.id
    shop = Account(merchant_id=m, connector="generic_shop", kind="platform", name="Demo shop",
                   config={"webhook_secret": "whsec_" + base64.b64encode(
                       secrets.token_bytes(24)).decode(), "currency": "CNY"})
    suppliers = [Supplier(merchant_id=m, code="HZ-TEA", name="Hangzhou Tea Co.", sla_hours=12),
                 Supplier(merchant_id=m, code="YX-POT", name="Yixing Pottery", sla_hours=24)]
    session.add_all([shop, *suppliers])
    session.flush()
    for i, (sku, _, price) in enumerate(PRODUCTS):
        session.add(SkuMapping(merchant_id=m, sku=sku, supplier_id=suppliers[min(i, 1)].id,
                               unit_cost_minor=price // 2))
    orders = []
    for n in range(8):
        sku, title, price = PRODUCTS[n % 3]
        qty = 1 + n % 2
        status = ("paid", "shipped", "delivered", "completed")[n % 4]
        order = Order(
            merchant_id=m, shop_account_id=shop.id, platform_order_id=f"DEMO{240000 + n}",
            status=status, raw_status=status, total_minor=price * qty, paid_minor=price * qty,
            placed_at=now - timedelta(days=8 - n), paid_at=now - timedelta(days=8 - n),
            ship_by=now - timedelta(days=6 - n),
            buyer_name_cipher="ENC:" + secrets.token_hex(12), buyer_name_masked="王**",
            buyer_phone_cipher="ENC:" + secrets.token_hex(12), buyer_phone_masked="138****5678",
            buyer_address_cipher="ENC:" + secrets.token_hex(24),
            buyer_address_masked="浙江省杭州市西湖区****", province_code="330000",
            city_code="330100", district_code="330106",
            lines=[OrderLine(merchant_id=m, sku=sku, title=title, quantity=qty,
                             unit_price_minor=price, total_minor=price * qty)])
        session.add(order)
        orders.append(order)
    session.flush()
    for n, order in enumerate(orders):
        supplier = suppliers[min(n % 3, 1)]
        shipped = order.status != "paid"
        fulfilment = Fulfilment(merchant_id=m, order_id=order.id, supplier_id=supplier.id,
                                status="shipped" if shipped else "accepted",
                                requested_at=order.paid_at, accepted_at=order.paid_at,
                                shipped_at=order.paid_at + timedelta(hours=20) if shipped else None)
        session.add(fulfilment)
        session.flush()
        if shipped:
            delivered = order.status in ("delivered", "completed")
            shipment = Shipment(merchant_id=m, order_id=order.id, fulfilment_id=fulfilment.id,
                                carrier="sf", tracking_number=f"SF14{n:010d}",
                                status="delivered" if delivered else "in_transit",
                                shipped_at=fulfilment.shipped_at,
                                delivered_at=fulfilment.shipped_at + timedelta(days=2)
                                if delivered else None)
            session.add(shipment)
            session.flush()
            steps = [("picked_up", 0), ("in_transit", 8)] + ([("delivered", 48)] if delivered else [])
            for status, hours in steps:
                session.add(TrackingEvent(
                    merchant_id=m, shipment_id=shipment.id, status=status, raw_status=status,
                    occurred_at=fulfilment.shipped_at + timedelta(hours=hours), source="demo",
                    description=status.replace("_", " "), dedupe_key=f"demo-{status}"))
    for n, (order, kind, status) in enumerate(
            [(orders[2], "return_refund", "awaiting_return"), (orders[0], "refund_only", "requested")]):
        line = order.lines[0]
        session.add(ReturnCase(
            merchant_id=m, shop_account_id=shop.id, order_id=order.id,
            platform_return_id=f"RDEMO{n}", kind=kind, reason_code="quality.damaged"
            if n == 0 else "changed_mind", reason_text="杯子有裂纹" if n == 0 else "不想要了",
            status=status, raw_status=status, refund_minor=order.paid_minor,
            requested_at=now - timedelta(days=1), respond_by=now + timedelta(days=2),
            lines=[ReturnLine(merchant_id=m, order_line_id=line.id, sku=line.sku,
                              quantity=line.quantity)]))
    tokens = {}
    for role in ("merchant_admin", "operator", "finance", "supplier"):
        _, tokens[role] = auth.issue_token(session, m, role,
                                           suppliers[0].id if role == "supplier" else None,
                                           name=f"demo {role}")
    return {"merchant_id": m, "shop_account_id": shop.id,
            "supplier_ids": [s.id for s in suppliers], "orders": len(orders), "returns": 2,
            "tokens": tokens}

@click.command("seed-demo", help="Create a demo merchant with suppliers, orders, returns, "
                                 "shipments and one token per role.")
@json_option
@with_appcontext
def seed_demo(as_json):
    with db().session() as s:
        result = seed(s)
    lines = [f"demo merchant {result['merchant_id']} seeded "
             f"({result['orders']} orders, {result['returns']} returns); tokens:"]
    lines += [f"  {role:<15} {token}" for role, token in result["tokens"].items()]
    emit(as_json, {"id": result["merchant_id"], **result}, "\n".join(lines))
