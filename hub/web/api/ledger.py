"""The ledger, read: its entries, the balances per counterparty, and proof it is intact.

* ``GET /ledger/entries`` — newest first; filters ``counterparty_kind``,
  ``counterparty_id``, ``counterparty_ref``, ``period``.
* ``GET /ledger/balances?period=YYYY-MM`` — per counterparty and currency, to date or at
  the end of the month (opening, the month's movement, balance).
* ``GET /ledger/verify`` — every chain recomputed: ``ok``, and the first broken entry of
  each broken chain and why.

Amounts are integer minor units (fen): > 0 the merchant owes the counterparty, < 0 the
counterparty owes the merchant (``hub.models.ledger``). Entries are written by the rooms
that decide who pays, never through this API. Reading is for staff and finance;
verifying for ``merchant_admin`` and ``finance``. Suppliers do not see the ledger (yet).
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from hub.domain import ledger
from hub.models import LedgerEntry
from hub.models.ledger import COUNTERPARTY_KINDS, ENTRY_TYPES
from hub.web.context import request_session
from hub.web.kit import api_blueprint as bp
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.fields import Id, Integer, Money, RefId, Time
from hub.web.kit.pagination import PageArgs, paginate
from hub.web.kit.schemas import Out
from hub.web.kit.scope import visible

READERS = {"merchant_admin", "operator", "finance"}
AUDITORS = {"merchant_admin", "finance"}
TAGS = ["ledger"]
PERIOD = validate.Regexp(ledger.PERIOD, error="a month, YYYY-MM")


class EntryListArgs(PageArgs):
    counterparty_kind = fields.String(validate=validate.OneOf(COUNTERPARTY_KINDS))
    counterparty_id = RefId(metadata={"description": "a supplier's or platform account's id"})
    counterparty_ref = fields.String(validate=validate.Length(1, 64),
                                     metadata={"description": "a courier's carrier code, a "
                                                              "buyer's key"})
    period = fields.String(validate=PERIOD, metadata={"description": "a month, YYYY-MM"})


class EntryOut(Out):
    id = Id()
    counterparty_kind = fields.String(metadata={"enum": list(COUNTERPARTY_KINDS)})
    counterparty_id = Id(allow_none=True)
    counterparty_ref = fields.String(allow_none=True)
    seq = Integer(metadata={"description": "the entry's place in its counterparty's chain"})
    entry_type = fields.String(metadata={"enum": list(ENTRY_TYPES)})
    amount_minor = Money()
    currency = fields.String()
    occurred_at = Time()
    period = fields.String(metadata={"description": "YYYY-MM of occurred_at, China time"})
    document_kind = fields.String()
    document_id = Id()
    memo = fields.String()
    actor = fields.String()
    corrects_entry_id = Id(allow_none=True)
    recorded_at = Time()
    previous_hash = fields.String()
    entry_hash = fields.String()


class BalanceArgs(Schema):
    period = fields.String(load_default=None, validate=PERIOD,
                           metadata={"description": "a month, YYYY-MM: the balance at its "
                                                    "end (default: to date)"})


class LedgerBalanceOut(Out):
    counterparty_kind = fields.String(metadata={"enum": list(COUNTERPARTY_KINDS)})
    counterparty_id = Id(allow_none=True)
    counterparty_ref = fields.String(allow_none=True)
    currency = fields.String()
    opening_minor = Money()
    movement_minor = Money()
    balance_minor = Money()
    entries = Integer(metadata={"description": "entries in the period"})


class LedgerBalancesOut(Out):
    period = fields.String(allow_none=True)
    balances = fields.List(fields.Nested(LedgerBalanceOut))


class ChainProblemOut(Out):
    counterparty = fields.String()
    counterparty_kind = fields.String(metadata={"enum": list(COUNTERPARTY_KINDS)})
    counterparty_id = Id(allow_none=True)
    counterparty_ref = fields.String(allow_none=True)
    entry_id = Id()
    seq = Integer()
    kind = fields.String(metadata={"enum": ["hash_mismatch", "previous_hash_mismatch"]})
    why = fields.String()


class VerifyOut(Out):
    ok = fields.Boolean()
    problems = fields.List(fields.Nested(ChainProblemOut),
                           metadata={"description": "the first broken entry of each "
                                                    "broken chain"})


@bp.get("/ledger/entries")
@endpoint(roles=READERS, query=EntryListArgs, response=EntryOut, many=True,
          summary="The ledger's entries", tags=TAGS)
def list_ledger_entries(args):
    stmt = visible(LedgerEntry, principal())
    for name in ("counterparty_kind", "counterparty_id", "counterparty_ref", "period"):
        if name in args:
            stmt = stmt.where(getattr(LedgerEntry, name) == args[name])
    return paginate(request_session(), stmt, LedgerEntry.id, args)


@bp.get("/ledger/balances")
@endpoint(roles=READERS, query=BalanceArgs, response=LedgerBalancesOut,
          summary="What the merchant and each counterparty owe each other", tags=TAGS)
def ledger_balances(args):
    who = principal()
    return {"period": args["period"],
            "balances": ledger.balances(request_session(), who.merchant_id, args["period"])}


@bp.get("/ledger/verify")
@endpoint(roles=AUDITORS, response=VerifyOut, summary="Check the ledger's hash chains",
          tags=TAGS)
def verify_ledger():
    problems = ledger.verify(request_session(), principal().merchant_id)
    return {"ok": not problems, "problems": [p.as_dict() for p in problems]}
