"""``hub ledger verify | balances``: the ledger from a shell, as the API has it
(``hub.domain.ledger``).

    hub ledger verify [--merchant ID]                 every chain recomputed; exit 1 if broken
    hub ledger balances --merchant ID [--period YYYY-MM]

``verify`` names each broken chain's counterparty and its first broken entry, and why (a
hash or a previous-hash mismatch). Amounts are integer minor units (fen) with their
currency; > 0 the merchant owes the counterparty, < 0 the counterparty owes the merchant.
"""
from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from hub.cli.common import db, emit, fail, json_option


@click.group("ledger", cls=AppGroup, help="The ledger: balances, and proof it is intact.")
def ledger_group():
    pass


@ledger_group.command("verify", help="Recompute every hash chain; exit 1 when one is broken.")
@click.option("--merchant", "merchant_id", type=int, help="only this merchant's chains")
@json_option
def verify(merchant_id, as_json):
    from hub.domain import ledger
    from hub.models import LedgerEntry

    with db().session(readonly=True) as s:
        problems = ledger.verify(s, merchant_id)
        counted = select(func.count()).select_from(LedgerEntry)
        if merchant_id is not None:
            counted = counted.where(LedgerEntry.merchant_id == merchant_id)
        entries = s.scalar(counted)
    if problems:
        rows = [p.as_dict() for p in problems]
        lines = [f"  merchant {p.merchant_id}, {p.counterparty}: entry {p.entry_id} "
                 f"({p.kind}): {p.why}" for p in problems]
        fail(f"the ledger is broken in {len(problems)} chain(s)"
             + ("" if as_json else ":\n" + "\n".join(lines)), as_json,
             details={"problems": rows})
    emit(as_json, {"ok": True, "entries": entries, "problems": []},
         f"the ledger is intact: {entries} entries verified")


@ledger_group.command("balances", help="What the merchant and each counterparty owe "
                                       "each other (> 0: the merchant owes).")
@click.option("--merchant", "merchant_id", type=int, required=True)
@click.option("--period", help="a month, YYYY-MM: the balance at its end")
@json_option
def balances(merchant_id, period, as_json):
    from hub.core.errors import ApiError
    from hub.domain import ledger

    with db().session(readonly=True) as s:
        try:
            rows = ledger.balances(s, merchant_id, period)
        except ApiError as e:
            fail(f"{e.message} (got {period!r})", as_json)
    lines = [f"{'counterparty':<24} {'currency':<8} {'opening':>14} {'movement':>14} "
             f"{'balance':>14}"]
    lines += [f"{_name(r):<24} {r['currency']:<8} {r['opening_minor']:>14} "
              f"{r['movement_minor']:>14} {r['balance_minor']:>14}" for r in rows]
    title = f"balances at the end of {period}" if period else "balances to date"
    emit(as_json, {"period": period, "balances": rows},
         f"{title} (minor units; > 0: the merchant owes)\n" + "\n".join(lines)
         if rows else f"{title}: no entries")


def _name(row: dict) -> str:
    from hub.domain.ledger import Counterparty

    return str(Counterparty(row["counterparty_kind"], row["counterparty_id"],
                            row["counterparty_ref"]))
