"""What the merchant owes a supplier for goods it dispatched: a ``goods_payable`` in the
ledger, once per fulfilment of an order, when its first parcel is recorded (an
after-sale's second dispatch is settled by its claim, a repair's parcel is the buyer's).

The amount is each line's quantity at the supplier's contract cost (``SkuMapping``
``unit_cost_minor``), per currency; a line without a cost adds nothing (and a
fulfilment with no cost at all books nothing). The entry's document is the fulfilment.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.domain import ledger
from hub.models import Fulfilment, FulfilmentLine, OrderLine, SkuMapping


def goods_dispatched(session: Session, fulfilment: Fulfilment, actor: str) -> None:
    m = fulfilment.merchant_id
    rows = session.execute(
        select(FulfilmentLine.quantity, SkuMapping.unit_cost_minor, SkuMapping.currency)
        .join(OrderLine, OrderLine.id == FulfilmentLine.order_line_id)
        .join(SkuMapping, (SkuMapping.merchant_id == m) & (SkuMapping.sku == OrderLine.sku)
              & (SkuMapping.supplier_id == fulfilment.supplier_id))
        .where(FulfilmentLine.fulfilment_id == fulfilment.id))
    totals: dict[str, int] = defaultdict(int)
    for quantity, cost, currency in rows:
        totals[currency] += quantity * cost
    for currency, amount in totals.items():
        if amount > 0:
            ledger.post(session, m, ledger.Counterparty("supplier", id=fulfilment.supplier_id),
                        "goods_payable", amount, currency,
                        ledger.Document("fulfilment", fulfilment.id),
                        f"goods dispatched for fulfilment {fulfilment.id} at contract cost",
                        actor)
