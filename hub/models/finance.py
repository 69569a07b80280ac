"""Finance: a supplier's statement of a period, the supplier's own statement imported,
and the reconciliation of the two.

A ``Statement`` is the hub's account with one supplier for one period (``period``:
``2026-11``, ``2026-11-H2``, ``2026-W47``; ``starts_at``/``ends_at`` in UTC) and one
currency: the opening balance, the period's lines and the closing balance, and its
lifecycle (``hub.domain.finance.statements.STATEMENT``). Each ``StatementLine`` is one
ledger entry of the supplier (unique: an entry is on one statement only), with the keys a
supplier knows it by (its own document id, the order, the line, the waybill) and the
supplier's answer to it.

A ``SupplierFile`` is a statement file the supplier sent, as imported: the column mapping
used, every row's errors, and its valid rows as ``SupplierLine``s. A
``ReconciliationItem`` is one outcome of matching a statement against that file: a
pairing (one or more lines each side, the key it was made by, the difference) or a line
found on one side only, or a line the supplier disputed, and, when it needs one, its
dispute and the decision on it.

A ``StatementProfile`` is what finance keeps per supplier: the statement cycle, the
column mapping of its files and the matching rules (``hub.domain.finance.rules``).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.db import Base, utcnow
from hub.models.common import Code, Currency, Id, Tenant, Timestamps, fk

STATEMENT_STATUSES = ("draft", "sent", "supplier_confirmed", "disputed",
                      "finance_confirmed", "closed")
OUTCOMES = ("matched", "matched_with_difference", "written_off", "only_in_hub",
            "only_in_supplier", "duplicate",  # of matching
            "supplier_dispute")  # a line the supplier disputed on its channel


class StatementProfile(Tenant, Timestamps, Base):
    __tablename__ = "statement_profiles"
    __table_args__ = (UniqueConstraint("supplier_id"),)

    id: Mapped[Id]
    supplier_id: Mapped[int] = fk("suppliers.id", index=False)
    cycle: Mapped[Code] = mapped_column(default="monthly")  # monthly | semimonthly | weekly
    columns: Mapped[dict] = mapped_column(JSON, default=dict)  # field -> header text
    amount_unit: Mapped[str | None] = mapped_column(String(8))  # yuan | fen | None: by header
    rules: Mapped[dict] = mapped_column(JSON, default=dict)  # over rules.DEFAULT
    updated_by: Mapped[str] = mapped_column(String(128))


class Statement(Tenant, Timestamps, Base):
    __tablename__ = "statements"
    __table_args__ = (UniqueConstraint("supplier_id", "period", "currency"),)

    id: Mapped[Id]
    supplier_id: Mapped[int] = fk("suppliers.id", index=False)
    period: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    currency: Mapped[Currency]
    status: Mapped[Code] = mapped_column(default="draft", index=True)
    opening_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    payables_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    deductions_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    adjustments_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    closing_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    sent_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]  # the supplier confirmed or disputed
    answered_by: Mapped[str | None] = mapped_column(String(128))
    dispute_reason: Mapped[str | None] = mapped_column(String(2000))
    confirmed_at: Mapped[datetime | None]  # by finance
    confirmed_by: Mapped[str | None] = mapped_column(String(128))
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(128))
    reopen_reason: Mapped[str | None] = mapped_column(String(500))  # the last reopening's
    matched_file_id: Mapped[int | None] = mapped_column(BigInteger)  # the file last matched
    matched_at: Mapped[datetime | None]


class StatementLine(Tenant, Base):
    __tablename__ = "statement_lines"
    __table_args__ = (UniqueConstraint("ledger_entry_id"),)

    id: Mapped[Id]
    statement_id: Mapped[int] = fk("statements.id")
    ledger_entry_id: Mapped[int] = fk("ledger_entries.id", index=False)
    entry_type: Mapped[Code]
    document_kind: Mapped[Code]
    document_id: Mapped[int] = mapped_column(BigInteger)
    document_ref: Mapped[str | None] = mapped_column(String(128))  # the supplier's own id
    order_no: Mapped[str | None] = mapped_column(String(128))
    waybill: Mapped[str | None] = mapped_column(String(128))
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # > 0: the merchant owes
    occurred_at: Mapped[datetime]
    late: Mapped[bool] = mapped_column(default=False)  # occurred before the period began
    memo: Mapped[str] = mapped_column(String(500))
    answer: Mapped[str | None] = mapped_column(String(16))  # confirmed | disputed
    answer_reason: Mapped[str | None] = mapped_column(String(2000))
    answer_amount_minor: Mapped[int | None] = mapped_column(BigInteger)  # the supplier's


class SupplierFile(Tenant, Base):
    __tablename__ = "supplier_files"

    id: Mapped[Id]
    supplier_id: Mapped[int] = fk("suppliers.id")
    statement_id: Mapped[int | None] = fk("statements.id", nullable=True)
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(8))
    encoding: Mapped[str | None] = mapped_column(String(16))
    columns: Mapped[dict] = mapped_column(JSON)
    amount_unit: Mapped[str] = mapped_column(String(8))
    rows_valid: Mapped[int]
    rows_invalid: Mapped[int]
    errors: Mapped[list] = mapped_column(JSON)  # [{row_no, column, message}]
    imported_by: Mapped[str] = mapped_column(String(128))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class SupplierLine(Tenant, Base):
    __tablename__ = "supplier_lines"

    id: Mapped[Id]
    file_id: Mapped[int] = fk("supplier_files.id")
    row_no: Mapped[int]
    document_ref: Mapped[str | None] = mapped_column(String(128))
    order_no: Mapped[str | None] = mapped_column(String(128))
    line_ref: Mapped[str | None] = mapped_column(String(128))
    waybill: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str | None] = mapped_column(String(16))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    occurred_on: Mapped[date | None]
    memo: Mapped[str | None] = mapped_column(String(500))


class ReconciliationItem(Tenant, Base):
    __tablename__ = "reconciliation_items"
    __table_args__ = (Index("ix_reconciliation_items_statement", "statement_id", "outcome"),)

    id: Mapped[Id]
    statement_id: Mapped[int] = fk("statements.id", index=False)
    file_id: Mapped[int | None] = fk("supplier_files.id", nullable=True, index=False)
    outcome: Mapped[Code]
    key: Mapped[str | None] = mapped_column(String(16))  # document | order | waybill | ...
    key_value: Mapped[str | None] = mapped_column(String(128))
    hub_line_ids: Mapped[list] = mapped_column(JSON)
    supplier_line_ids: Mapped[list] = mapped_column(JSON)
    hub_minor: Mapped[int] = mapped_column(BigInteger)
    supplier_minor: Mapped[int] = mapped_column(BigInteger)
    difference_minor: Mapped[int] = mapped_column(BigInteger)  # supplier − hub
    why_en: Mapped[str] = mapped_column(String(1000))
    why_zh: Mapped[str] = mapped_column(String(1000))
    dispute: Mapped[str | None] = mapped_column(String(16))  # open | decided
    decision: Mapped[str | None] = mapped_column(String(16))  # keep | adjust
    decision_note: Mapped[str | None] = mapped_column(String(500))
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None]
    ledger_entry_id: Mapped[int | None] = fk("ledger_entries.id", nullable=True, index=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
