"""Totals: what the merchant and each counterparty owe each other, from the ledger alone.

    balances(session, merchant_id, period=None, counterparty=None) -> [dict]

One row per counterparty and currency (amounts of two currencies never add up):
``balance_minor`` is the sum of its entries, read with the ledger's sign (> 0: the
merchant owes the counterparty; ``hub.models.ledger``). With a ``period`` (``YYYY-MM``)
it is the balance at the end of that month, split into ``opening_minor`` (the months
before) and ``movement_minor`` (the month's own ``entries``); later months are left out.
Without one, every entry counts (``opening_minor`` 0).
"""
from __future__ import annotations

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from hub.core.errors import ApiError
from hub.domain.ledger.chain import Counterparty
from hub.domain.ledger.entries import PERIOD
from hub.models import LedgerEntry


def balances(session: Session, merchant_id: int, period: str | None = None,
             counterparty: Counterparty | None = None) -> list[dict]:
    e = LedgerEntry
    where = [e.merchant_id == merchant_id]
    if counterparty is not None:
        where += counterparty.where()
    if period is not None:
        if not (isinstance(period, str) and PERIOD.match(period)):
            raise ApiError("a period is a month, YYYY-MM", code="validation_error",
                           status=422, details={"period": ["YYYY-MM"]})
        where.append(e.period <= period)
    in_period = e.period == period if period is not None else literal(True)
    rows = session.execute(
        select(e.counterparty_kind, e.counterparty_id, e.counterparty_ref, e.currency,
               func.sum(case((in_period, 0), else_=e.amount_minor)),
               func.sum(case((in_period, e.amount_minor), else_=0)),
               func.count(case((in_period, e.id))))
        .where(*where)
        .group_by(e.counterparty_kind, e.counterparty_id, e.counterparty_ref, e.currency))
    found = [{"counterparty_kind": kind, "counterparty_id": cid, "counterparty_ref": ref,
              "currency": currency, "opening_minor": int(opening or 0),
              "movement_minor": int(movement or 0),
              "balance_minor": int(opening or 0) + int(movement or 0), "entries": entries}
             for kind, cid, ref, currency, opening, movement, entries in rows]
    return sorted(found, key=lambda r: (r["counterparty_kind"], r["counterparty_id"] or 0,
                                        r["counterparty_ref"] or "", r["currency"]))
