"""A counterparty's chain: who it is, how an entry is hashed, and checking every chain.

The entries of one counterparty (``Counterparty``, within one merchant) form a chain in
``seq`` order. The first one's ``previous_hash`` is the chain's ``genesis`` (a hash of
the merchant and counterparty, so every chain starts somewhere of its own and
``previous_hash`` can be unique over the table); each later one's is the ``entry_hash``
of the entry before. ``entry_hash`` is SHA-256 over ``canonical(entry)``: the entry's
fields, ``previous_hash`` included, as compact JSON with sorted keys, times in UTC to the
microsecond.

``verify`` recomputes every chain and reports the first broken entry of each: a row
edited in place no longer matches its hash (``hash_mismatch``); a row edited with its
hash recomputed, or removed, leaves the next entry naming a hash that is not the one
before it (``previous_hash_mismatch``). The last entries of a chain removed leave no
trace in the chain: the database's triggers are what refuse that.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import LedgerEntry

FORMAT = 1  # of the canonical serialisation; part of every hash
# how a counterparty of each kind is named: its row's id, a reference, or nothing (the
# merchant's own account)
NAMED_BY = {"supplier": "id", "platform": "id", "courier": "ref", "buyer": "ref",
            "merchant": None}


@dataclass(frozen=True)
class Counterparty:
    """``Counterparty("supplier", id=3)``, ``Counterparty("courier", ref="sf")``,
    ``Counterparty("merchant")``."""

    kind: str
    id: int | None = None
    ref: str | None = None

    @classmethod
    def of(cls, entry) -> Counterparty:
        return cls(entry.counterparty_kind, entry.counterparty_id, entry.counterparty_ref)

    def where(self) -> list:
        """The condition on ``LedgerEntry`` for this counterparty (None is IS NULL)."""
        e = LedgerEntry
        return [e.counterparty_kind == self.kind, e.counterparty_id == self.id,
                e.counterparty_ref == self.ref]

    def __str__(self) -> str:
        name = self.id if self.id is not None else self.ref
        return self.kind if name is None else f"{self.kind} {name}"


@dataclass(frozen=True)
class Problem:
    merchant_id: int
    counterparty: Counterparty
    entry_id: int
    seq: int
    kind: str  # hash_mismatch | previous_hash_mismatch
    why: str

    def as_dict(self) -> dict:
        c = self.counterparty
        return {"merchant_id": self.merchant_id, "counterparty": str(c),
                "counterparty_kind": c.kind, "counterparty_id": c.id, "counterparty_ref": c.ref,
                "entry_id": self.entry_id, "seq": self.seq, "kind": self.kind, "why": self.why}


def _json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def _time(value) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def genesis(merchant_id: int, counterparty: Counterparty) -> str:
    """The ``previous_hash`` of a chain's first entry."""
    c = counterparty
    return hashlib.sha256(_json({"v": FORMAT, "genesis": [merchant_id, c.kind, c.id, c.ref]})
                          ).hexdigest()


def canonical(entry) -> bytes:
    """What ``entry_hash`` covers (``entry``: a ``LedgerEntry`` or a row of its table)."""
    return _json({
        "v": FORMAT, "id": entry.id, "merchant_id": entry.merchant_id,
        "counterparty_kind": entry.counterparty_kind, "counterparty_id": entry.counterparty_id,
        "counterparty_ref": entry.counterparty_ref, "seq": entry.seq,
        "entry_type": entry.entry_type, "amount_minor": entry.amount_minor,
        "currency": entry.currency, "occurred_at": _time(entry.occurred_at),
        "period": entry.period, "document_kind": entry.document_kind,
        "document_id": entry.document_id, "memo": entry.memo, "actor": entry.actor,
        "corrects_entry_id": entry.corrects_entry_id, "recorded_at": _time(entry.recorded_at),
        "previous_hash": entry.previous_hash,
    })


def entry_hash(entry) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def verify(session: Session, merchant_id: int | None = None) -> list[Problem]:
    """The first broken entry of every chain (of one merchant, or all); [] when intact.

    Reads the table's rows as stored, never the session's objects."""
    t = LedgerEntry.__table__
    stmt = (select(t).order_by(t.c.merchant_id, t.c.counterparty_kind, t.c.counterparty_id,
                               t.c.counterparty_ref, t.c.seq)
            .execution_options(yield_per=1000))
    if merchant_id is not None:
        stmt = stmt.where(t.c.merchant_id == merchant_id)
    problems, chain, expected, broken = [], None, None, False
    for row in session.execute(stmt):
        key = (row.merchant_id, Counterparty.of(row))
        if key != chain:
            chain, expected, broken = key, genesis(*key), False
        if broken:
            continue
        problem = _problem(row, expected, *key)
        if problem is not None:
            problems.append(problem)
            broken = True
        expected = row.entry_hash
    return problems


def _problem(row, expected: str, merchant_id: int, counterparty: Counterparty):
    where = f"entry {row.id} (#{row.seq} of {counterparty})"
    if row.previous_hash != expected:
        before = "the chain's start" if expected == genesis(merchant_id, counterparty) \
            else "the entry before it"
        return Problem(merchant_id, counterparty, row.id, row.seq, "previous_hash_mismatch",
                       f"{where} names previous hash {row.previous_hash[:16]}…, but "
                       f"{before} is {expected[:16]}…: its link, or an entry before it, was "
                       f"changed (or an entry removed)")
    actual = entry_hash(row)
    if row.entry_hash != actual:
        return Problem(merchant_id, counterparty, row.id, row.seq, "hash_mismatch",
                       f"{where} hashes to {actual[:16]}…, but stores "
                       f"{row.entry_hash[:16]}…: it was changed after it was written")
    return None
