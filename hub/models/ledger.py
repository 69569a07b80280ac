"""The ledger: every money consequence between the merchant and a counterparty, in integer
minor units (fen) and a currency, never changed once written.

**Sign.** ``amount_minor`` > 0: the merchant owes the counterparty (a payable: goods at
contract cost, a platform penalty); < 0: the counterparty owes the merchant (a
receivable: a claim deducted from a supplier, a courier's compensation). A
counterparty's balance is the sum of its entries, read the same way. The ``merchant``
counterparty is the merchant's own account of what it bears itself (> 0: a cost it
carries, such as a loss nobody else is liable for).

**Counterparty.** Named by its row where it has one (``counterparty_id``: a supplier, a
platform shop account), else by a reference (``counterparty_ref``: a courier's carrier
code, a buyer's key); the merchant's own account by neither.

**Append-only.** The database refuses UPDATE and DELETE of these rows (triggers, migration
``cbd841022653``); a correction is a new entry naming the one it corrects
(``corrects_entry_id``). Each counterparty's entries are a hash chain: ``seq`` 1, 2, ...;
``previous_hash`` is the ``entry_hash`` of the entry before (the chain's genesis hash for
the first), unique, so no two entries follow the same one; ``entry_hash`` covers the
entry's own fields and ``previous_hash`` (``hub.domain.ledger.chain``), so a changed row
breaks the chain from there on.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.db import Base, BigId, utcnow
from hub.models.common import Code, Id, Tenant, fk

COUNTERPARTY_KINDS = ("supplier", "courier", "platform", "buyer", "merchant")
ENTRY_TYPES = ("goods_payable", "claim_deduction", "courier_compensation",
               "platform_penalty", "write_off", "correction")


class LedgerEntry(Tenant, Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_chain", "merchant_id", "counterparty_kind", "counterparty_id",
              "counterparty_ref", "seq"),
        Index("ix_ledger_entries_period", "merchant_id", "period"),
    )

    id: Mapped[Id]
    counterparty_kind: Mapped[Code]
    counterparty_id: Mapped[int | None] = mapped_column(BigId)  # supplier, platform account
    counterparty_ref: Mapped[str | None] = mapped_column(String(64))  # courier code, buyer
    seq: Mapped[int]  # the entry's place in its counterparty's chain, from 1
    entry_type: Mapped[Code]
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # > 0: the merchant owes
    currency: Mapped[str] = mapped_column(String(3))
    occurred_at: Mapped[datetime]
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM of occurred_at, China time
    document_kind: Mapped[Code]  # fulfilment | claim | liability_decision | ...
    document_id: Mapped[int] = mapped_column(BigId)
    memo: Mapped[str] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(128))
    corrects_entry_id: Mapped[int | None] = fk("ledger_entries.id", nullable=True,
                                               index=False)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    previous_hash: Mapped[str] = mapped_column(String(64), unique=True)
    entry_hash: Mapped[str] = mapped_column(String(64))
