"""Posting to the ledger: an entry at the head of its counterparty's chain, and corrections.

    post(session, merchant_id, counterparty, entry_type, amount_minor, currency, document,
         memo, actor, occurred_at=None, corrects=None) -> LedgerEntry
    correct(session, entry, amount_minor, memo, actor) -> LedgerEntry

``amount_minor`` is a signed, non-zero integer of minor units (``hub.models.ledger``: > 0
the merchant owes the counterparty, < 0 the counterparty owes the merchant); the entry
types that have a direction are held to it (``SIGNS``). ``document`` is ``(kind, id)``,
what the money comes from (``Document("fulfilment", 12)``). ``period`` is the month of
``occurred_at`` (default now) in China time, the merchant's books. Anything invalid is a
422 naming each bad field, and nothing is written.

**The chain's head.** A post first takes its chain's lock: on PostgreSQL a
transaction-level advisory lock keyed by the chain, held to commit, so a second post for
the same counterparty waits and then chains after the first while other counterparties
go on; SQLite writers are serial already (``BEGIN IMMEDIATE``). The head is then read
once per transaction and kept in its memo. Should anything get past the lock, the unique
``previous_hash`` refuses the fork.

A correction is a new ``correction`` entry on the same counterparty, currency and
document, naming the entry it corrects; its amount is the adjustment
(``-entry.amount_minor`` reverses it), booked in the period it is made in: a closed month
is never rewritten.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import NamedTuple

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from hub.core.china import CHINA
from hub.core.db import MAX_ID, utcnow
from hub.core.db import memo as transaction_memo
from hub.core.errors import ApiError
from hub.domain.ledger.chain import NAMED_BY, Counterparty, entry_hash, genesis
from hub.models import Account, LedgerEntry, Supplier
from hub.models.ledger import ENTRY_TYPES

SIGNS = {"goods_payable": 1, "platform_penalty": 1, "claim_deduction": -1,
         "courier_compensation": -1}  # write_off and correction go either way
MAX_AMOUNT = 2 ** 53  # fen per entry (some 90 trillion yuan); exact as a JSON number too
CURRENCY = re.compile(r"^[A-Z]{3}$")
DOCUMENT_KIND = re.compile(r"^[a-z][a-z_]{0,63}$")
PERIOD = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")  # what period_of gives
ROWS = {"supplier": Supplier, "platform": Account}  # the kinds named by a row of ours


class Document(NamedTuple):
    kind: str  # fulfilment | claim | liability_decision | ...
    id: int


def period_of(when: datetime) -> str:
    return when.astimezone(CHINA).strftime("%Y-%m")


def post(session: Session, merchant_id: int, counterparty: Counterparty, entry_type: str,
         amount_minor: int, currency: str, document, memo: str, actor: str,
         occurred_at: datetime | None = None, corrects: LedgerEntry | None = None
         ) -> LedgerEntry:
    try:
        document = Document(*document)
    except TypeError:
        document = Document(None, None)  # reported below
    occurred_at = occurred_at or utcnow()
    errors = _errors(session, merchant_id, counterparty, entry_type, amount_minor, currency,
                     document, memo, actor, occurred_at, corrects)
    if errors:
        raise ApiError("the ledger entry is invalid", code="validation_error", status=422,
                       details=errors)
    chain = genesis(merchant_id, counterparty)
    seq, previous = _head(session, merchant_id, counterparty, chain)
    entry = LedgerEntry(
        merchant_id=merchant_id, counterparty_kind=counterparty.kind,
        counterparty_id=counterparty.id, counterparty_ref=counterparty.ref, seq=seq + 1,
        entry_type=entry_type, amount_minor=amount_minor, currency=currency,
        occurred_at=occurred_at.astimezone(timezone.utc), period=period_of(occurred_at),
        document_kind=document.kind, document_id=document.id, memo=memo, actor=actor,
        corrects_entry_id=corrects.id if corrects is not None else None,
        recorded_at=utcnow(), previous_hash=previous)
    session.add(entry)  # the entry has its id from here on (hub.core.ids): hash it
    entry.entry_hash = entry_hash(entry)
    _heads(session)[chain] = (entry.seq, entry.entry_hash)
    return entry


def correct(session: Session, entry: LedgerEntry, amount_minor: int, memo: str,
            actor: str) -> LedgerEntry:
    """A new entry adjusting ``entry`` by ``amount_minor``; ``entry`` stays as it is."""
    return post(session, entry.merchant_id, Counterparty.of(entry), "correction",
                amount_minor, entry.currency, Document(entry.document_kind, entry.document_id),
                memo, actor, corrects=entry)


def _heads(session: Session) -> dict:
    """Chain (its genesis hash) → (seq, entry_hash) of its head, as this transaction left
    it; the chain is locked until the transaction ends."""
    return transaction_memo(session).setdefault("ledger_heads", {})


def _head(session: Session, merchant_id: int, counterparty: Counterparty,
          chain: str) -> tuple[int, str]:
    heads = _heads(session)
    if chain not in heads:
        if session.get_bind().dialect.name == "postgresql":
            key = int.from_bytes(bytes.fromhex(chain)[:8], "big", signed=True)
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        e = LedgerEntry
        last = session.execute(select(e.seq, e.entry_hash).where(
            e.merchant_id == merchant_id, *counterparty.where())
            .order_by(e.seq.desc()).limit(1)).first()
        heads[chain] = tuple(last) if last else (0, chain)
    return heads[chain]


def _errors(session, merchant_id, counterparty, entry_type, amount, currency, document,
            memo_text, actor, occurred_at, corrects) -> dict:
    errors = {}
    if not isinstance(counterparty, Counterparty) or counterparty.kind not in NAMED_BY:
        return {"counterparty": [f"a Counterparty of a kind in {sorted(NAMED_BY)}"]}
    errors.update(_counterparty_errors(session, merchant_id, counterparty))
    if entry_type not in ENTRY_TYPES:
        errors["entry_type"] = [f"one of {', '.join(ENTRY_TYPES)}"]
    if not _whole(amount, MAX_AMOUNT, signed=True):
        errors["amount_minor"] = [f"a non-zero integer of minor units within ±{MAX_AMOUNT}"]
    elif entry_type in SIGNS and (amount > 0) != (SIGNS[entry_type] > 0):
        errors["amount_minor"] = [f"a {entry_type} is "
                                  f"{'positive' if SIGNS[entry_type] > 0 else 'negative'}"]
    if not (isinstance(currency, str) and CURRENCY.match(currency)):
        errors["currency"] = ["three capital letters (ISO 4217)"]
    if not (isinstance(document.kind, str) and DOCUMENT_KIND.match(document.kind)
            and _whole(document.id, MAX_ID)):
        errors["document"] = ["(kind, id): a lower-case kind and a positive id"]
    for field, value, most in (("memo", memo_text, 500), ("actor", actor, 128)):
        if not (isinstance(value, str) and 0 < len(value.strip()) and len(value) <= most
                and "\x00" not in value):
            errors[field] = [f"text of 1 to {most} characters"]
    if not isinstance(occurred_at, datetime) or occurred_at.tzinfo is None:
        errors["occurred_at"] = ["a timezone-aware time"]
    if (entry_type == "correction") != (corrects is not None):
        errors["corrects"] = ["a correction names the entry it corrects, and only it does"]
    elif corrects is not None and (
            corrects.merchant_id != merchant_id or Counterparty.of(corrects) != counterparty
            or corrects.currency != currency):
        errors["corrects"] = ["an entry of the same counterparty and currency"]
    return errors


def _counterparty_errors(session, merchant_id, counterparty: Counterparty) -> dict:
    c, named_by = counterparty, NAMED_BY[counterparty.kind]
    if named_by == "id" and not (_whole(c.id, MAX_ID) and c.ref is None):
        return {"counterparty": [f"a {c.kind} is named by its id"]}
    if named_by == "ref" and not (isinstance(c.ref, str) and 0 < len(c.ref) <= 64
                                  and "\x00" not in c.ref and c.id is None):
        return {"counterparty": [f"a {c.kind} is named by a reference of 1 to 64 "
                                 f"characters"]}
    if named_by is None and (c.id, c.ref) != (None, None):
        return {"counterparty": ["the merchant's own account has no id nor reference"]}
    if c.kind in ROWS:
        row = session.get(ROWS[c.kind], c.id)
        if row is None or row.merchant_id != merchant_id or \
                (c.kind == "platform" and row.kind != "platform"):
            return {"counterparty": [f"{c} does not exist"]}
    return {}


def _whole(value, most: int, signed: bool = False) -> bool:
    """A non-zero int (not a bool, never a float) within ``most``; positive unless
    ``signed``."""
    return isinstance(value, int) and not isinstance(value, bool) and value != 0 \
        and abs(value) <= most and (signed or value > 0)
