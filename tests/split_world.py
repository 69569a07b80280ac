"""An order split between two suppliers, X and Y, of one merchant (supplier scope tests).

``split_world(s)``: order P-SPLIT holds a line of X (SKU-X) and a line of Y (SKU-Y),
allocated by SKU mapping, both shipped (an outbound parcel each). Return ``shared`` takes
back both lines (one return parcel); ``w[side]["return_case"]`` takes back that side's
line only, with its own parcel. Each side also has an order of its own, a SKU mapping, a
channel with a notice, an alert and a token. What only one side may read is listed in
its ``markers``: the other side must never see them. Each side's shipped fulfilment has a
claim sent to its supplier (a late shipment).
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from hub.domain import fulfilment as flow
from hub.domain.liability import claims
from hub.domain.liability.decisions import decide
from hub.models import Account, ApiToken, Claim, Fulfilment, Order, OrderLine, ReturnCase, ReturnLine
from tests import factories as f


def _order(s, merchant_id, shop_id, pid, skus):
    o = Order(merchant_id=merchant_id, shop_account_id=shop_id,
              platform_order_id=pid, status="paid", raw_status="30",
              total_minor=1990 * len(skus), paid_minor=1990 * len(skus), placed_at=f.T0,
              lines=[OrderLine(merchant_id=merchant_id, sku=sku, title=f"title of {sku}",
                               quantity=1, unit_price_minor=1990, total_minor=1990)
                     for sku in skus])
    s.add(o)
    s.flush()
    return o


def _case(s, merchant_id, shop_id, order, pid, lines, status="return_in_transit"):
    r = ReturnCase(merchant_id=merchant_id, shop_account_id=shop_id, order_id=order.id,
                   platform_return_id=pid, kind="return_refund", status=status,
                   refund_minor=1990 * len(lines), requested_at=f.T0 + timedelta(days=2),
                   lines=[ReturnLine(merchant_id=merchant_id, order_line_id=line.id,
                                     sku=line.sku, quantity=1) for line in lines])
    s.add(r)
    s.flush()
    return r


def split_world(s) -> dict:
    m = f.merchant(s, "Split")
    shop = f.shop(s, m.id)
    w = {"merchant": m.id, "shop": shop.id, "admin": f.bearer(f.token(s, m.id))}
    for side in ("X", "Y"):
        sup = f.supplier(s, m.id, f"SUP-{side}-CODE")
        channel = f.supplier_channel(s, sup)
        mapping = f.sku_mapping(s, m.id, sup.id, f"SKU-{side}")
        token = f.token(s, m.id, "supplier", sup.id)
        alone = _order(s, m.id, shop.id, f"P-{side}-ALONE", [f"SKU-{side}"])
        flow.allocate(s, alone)
        w[side] = {"supplier": sup, "token": f.bearer(token), "order": alone.id,
                   "mapping": mapping.id, "channel": channel.id,
                   "token_id": s.scalar(select(ApiToken.id).order_by(ApiToken.id.desc()))}
    order = _order(s, m.id, shop.id, "P-SPLIT", ["SKU-X", "SKU-Y"])
    flow.allocate(s, order)
    line = {x.sku: x for x in order.lines}
    shared = _case(s, m.id, shop.id, order, "R-SHARED", [line["SKU-X"], line["SKU-Y"]])
    f.shipment(s, m.id, order.id, return_case_id=shared.id, direction="return",
               tracking="SF700000000001")
    for side in ("X", "Y"):
        mine = w[side]
        sup = mine["supplier"]
        fulfilment = s.scalar(select(Fulfilment).where(Fulfilment.order_id == order.id,
                                                       Fulfilment.supplier_id == sup.id))
        fulfilment.status, fulfilment.shipped_at = "shipped", f.T0 + timedelta(hours=3)
        fulfilment.supplier_reference = f"REF-{side}-SECRET"
        out = f.shipment(s, m.id, order.id, fulfilment_id=fulfilment.id,
                         tracking=f"SF7{'1' if side == 'X' else '2'}0000000000")
        case = _case(s, m.id, shop.id, order, f"R-{side}-ONLY", [line[f"SKU-{side}"]])
        back = f.shipment(s, m.id, order.id, return_case_id=case.id, direction="return",
                          tracking=f"SF7{'3' if side == 'X' else '4'}0000000000")
        notice = f.supplier_notice(s, s.get(Account, sup.channel_account_id), fulfilment.id,
                                   payload={"fulfilment_id": fulfilment.id,
                                            "marker": f"NOTICE-{side}-SECRET"})
        alert = f.alert(s, m.id, supplier_id=sup.id, message=f"ALERT-{side}-SECRET",
                        kind=f"test_{side}")
        decision = decide(s, m.id, "late_shipment", fulfilment.id, "test")
        [owed] = s.scalars(select(Claim).where(Claim.decision_id == decision.id))
        claims.send(s, owed, "test")
        books, item = f.statement(s, sup)
        mine.update(statement=books.id, item=item.id)
        mine.update(fulfilment=fulfilment.id, shipment=out.id, return_case=case.id, claim=owed.id,
                    return_shipment=back.id, notice=notice.id, alert=alert.id,
                    supplier_id=sup.id, order_line=line[f"SKU-{side}"].id,
                    markers=[f"SKU-{side}", f"P-{side}-ALONE", f"REF-{side}-SECRET",
                             out.tracking_number, back.tracking_number, case.platform_return_id,
                             f"NOTICE-{side}-SECRET", f"ALERT-{side}-SECRET", sup.code])
        del mine["supplier"]
    w.update(order=order.id, shared=shared.id)
    s.flush()
    return w
