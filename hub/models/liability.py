"""Who pays: liability decisions and the compensation claims made from them.

A ``LiabilityDecision`` is the hub's answer to one costly event (a return, a lost or
damaged parcel, a late or fake shipment, a failed stop-ship, an interception fee) about
one subject (``subject``: ``return_case:12``, ``fulfilment:7``, ``shipment:3``): the rule
that fired (of the policy version or the supplier's contract), why in Chinese and
English, the amounts in fen per cost, each liable party's share, and the evidence it
used. A merchant's override is a new decision naming the one it overrides
(``overrides_id``); the original stays, ``status`` ``overridden``.

A ``Claim`` asks one liable supplier or courier for its share: lines, amount, evidence,
and its lifecycle (``hub.domain.liability.claims.CLAIM``) with the time of every step.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.core.db import Base, utcnow
from hub.models.common import Code, Currency, Id, Tenant, Timestamps, fk

EVENTS = ("return", "lost_parcel", "damaged_parcel", "late_shipment", "fake_shipment",
          "stop_ship", "interception_fee")
PARTIES = ("supplier", "courier", "merchant", "buyer", "platform", "nobody")
COSTS = ("goods", "outbound_freight", "return_freight", "interception_fee",
         "platform_penalty")
DECISION_STATUSES = ("in_force", "overridden")
CLAIM_STATUSES = ("draft", "sent", "acknowledged", "accepted", "partly_accepted",
                  "disputed", "settled", "written_off", "withdrawn")


class LiabilityDecision(Tenant, Base):
    __tablename__ = "liability_decisions"

    id: Mapped[Id]
    event: Mapped[Code]
    subject: Mapped[str] = mapped_column(String(64), index=True)  # return_case:12
    return_case_id: Mapped[int | None] = fk("return_cases.id", nullable=True, index=False)
    fulfilment_id: Mapped[int | None] = fk("fulfilments.id", nullable=True, index=False)
    shipment_id: Mapped[int | None] = fk("shipments.id", nullable=True, index=False)
    order_id: Mapped[int | None] = fk("orders.id", nullable=True, index=False)
    supplier_id: Mapped[int | None] = fk("suppliers.id", nullable=True, index=False)
    carrier: Mapped[str | None] = mapped_column(String(64))
    policy_version: Mapped[int]
    rule: Mapped[Code]
    rule_source: Mapped[str] = mapped_column(String(64))  # policy | contract | default
    why_zh: Mapped[str] = mapped_column(String(2000))
    why_en: Mapped[str] = mapped_column(String(2000))
    amounts: Mapped[dict] = mapped_column(JSON)  # cost -> fen
    shares: Mapped[list] = mapped_column(JSON)  # [{party, share, amount_minor, ...}]
    total_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[Currency]
    facts: Mapped[dict] = mapped_column(JSON)  # what the rule was matched on
    evidence: Mapped[list] = mapped_column(JSON)  # [{at, source, zh, en, sha256?}]
    status: Mapped[Code] = mapped_column(default="in_force")
    overrides_id: Mapped[int | None] = fk("liability_decisions.id", nullable=True,
                                          index=False)
    override_reason: Mapped[str | None] = mapped_column(String(500))
    decided_by: Mapped[str] = mapped_column(String(128))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class Claim(Tenant, Timestamps, Base):
    __tablename__ = "claims"
    __table_args__ = (Index("ix_claims_changed", "merchant_id", "updated_at"),)

    id: Mapped[Id]
    decision_id: Mapped[int] = fk("liability_decisions.id")
    # makes a flush insert the decision before its claims (ids are known at add: hub.core.ids)
    decision: Mapped[LiabilityDecision] = relationship()
    counterparty_kind: Mapped[Code]  # supplier | courier
    supplier_id: Mapped[int | None] = fk("suppliers.id", nullable=True)
    carrier: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[Code] = mapped_column(default="draft", index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # what is claimed
    accepted_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[Currency]
    lines: Mapped[list] = mapped_column(JSON)  # [{cost, amount_minor}]: COST_WORDS name a cost
    why_zh: Mapped[str] = mapped_column(String(2000))
    why_en: Mapped[str] = mapped_column(String(2000))
    reference: Mapped[str | None] = mapped_column(String(128))  # the channel's id for it
    sent_at: Mapped[datetime | None]
    answer_due_at: Mapped[datetime | None] = mapped_column(index=True)
    acknowledged_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    answered_by: Mapped[str | None] = mapped_column(String(128))
    dispute_reason: Mapped[str | None] = mapped_column(String(2000))
    dispute_evidence: Mapped[list] = mapped_column(JSON, default=list)  # urls, photo hashes
    closed_at: Mapped[datetime | None]  # settled or written off
    close_note: Mapped[str | None] = mapped_column(String(500))
    escalated_at: Mapped[datetime | None]
