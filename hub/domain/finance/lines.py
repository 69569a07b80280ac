"""Statement lines: a ledger entry as a line, with the keys the supplier knows it by, and a
statement's totals.

    keys_of(session, merchant_id, entries)     (document kind, id) → its keys
    line_for(statement, entry, keys)           retotal(session, statement)   # and later ones

The keys: the supplier's own document id (a fulfilment's ``supplier_reference``, else
``FUL-<id>``; a claim's channel reference, else ``CLM-<id>``; anything else
``<PREFIX>-<id>`` of its document), the platform order number and the outbound waybill (a
claim's are its fulfilment's). Totals by entry type: goods payables, claim deductions,
and the rest as adjustments (write-offs, corrections); the opening balance is the previous
statement's closing, carried on to the later ones not closed.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.models import Claim, Fulfilment, LedgerEntry, Order, Shipment, Statement, StatementLine

DEDUCTIONS, PAYABLES = ("claim_deduction",), ("goods_payable",)
CHUNK = 5000  # ids per IN list (SQLite and PostgreSQL cap the parameters of a statement)
PREFIX = {"fulfilment": "FUL", "claim": "CLM", "reconciliation": "REC",
          "liability_decision": "LIA"}


def line_for(statement: Statement, entry: LedgerEntry, keys: dict) -> StatementLine:
    return StatementLine(
        merchant_id=statement.merchant_id, statement_id=statement.id,
        ledger_entry_id=entry.id, entry_type=entry.entry_type,
        document_kind=entry.document_kind, document_id=entry.document_id,
        document_ref=keys.get("document_ref") or f"{PREFIX.get(entry.document_kind, 'DOC')}-"
                                                  f"{entry.document_id}",
        order_no=keys.get("order_no"), waybill=keys.get("waybill"),
        amount_minor=entry.amount_minor, occurred_at=entry.occurred_at,
        late=entry.occurred_at < statement.starts_at, memo=entry.memo)


def retotal(session: Session, statement: Statement) -> None:
    """The statement's totals from its lines, its opening the previous statement's closing;
    and the same for the later statements of the supplier in that currency not closed, so
    a balance runs on from one period to the next."""
    session.flush()
    chain = session.scalars(select(Statement).where(
        Statement.merchant_id == statement.merchant_id,
        Statement.supplier_id == statement.supplier_id,
        Statement.currency == statement.currency).order_by(Statement.ends_at)).all()
    previous = None
    for st in chain:
        if st.ends_at > statement.starts_at and st.status != "closed":
            _total(session, st, previous.closing_minor if previous else 0)
        previous = st


def _total(session: Session, statement: Statement, opening: int) -> None:
    rows = session.execute(select(StatementLine.entry_type, func.sum(StatementLine.amount_minor))
                           .where(StatementLine.statement_id == statement.id)
                           .group_by(StatementLine.entry_type))
    sums = {kind: int(total or 0) for kind, total in rows}
    statement.opening_minor = opening
    statement.payables_minor = sum(sums.get(k, 0) for k in PAYABLES)
    statement.deductions_minor = sum(sums.get(k, 0) for k in DEDUCTIONS)
    statement.adjustments_minor = sum(v for k, v in sums.items()
                                      if k not in PAYABLES + DEDUCTIONS)
    statement.closing_minor = opening + sum(sums.values())


def keys_of(session: Session, merchant_id: int, entries: list[LedgerEntry]) -> dict:
    """(document kind, id) → the supplier's keys for it: its own document id, the order,
    the outbound waybill."""
    wanted = defaultdict(set)
    for entry in entries:
        wanted[entry.document_kind].add(entry.document_id)
    claim_ids = sorted(wanted["claim"])
    claims = {c.id: c for n in range(0, len(claim_ids), CHUNK) for c in session.scalars(
        select(Claim).where(Claim.merchant_id == merchant_id,
                            Claim.id.in_(claim_ids[n:n + CHUNK])))}
    decision_fulfilments = {c.id: c.decision.fulfilment_id for c in claims.values()}
    fulfilment_ids = wanted["fulfilment"] | {f for f in decision_fulfilments.values() if f}
    refs = {}
    ids = sorted(fulfilment_ids)
    for chunk in (ids[n:n + CHUNK] for n in range(0, len(ids), CHUNK)):
        rows = session.execute(
            select(Fulfilment.id, Fulfilment.supplier_reference, Order.platform_order_id)
            .join(Order, Order.id == Fulfilment.order_id)
            .where(Fulfilment.merchant_id == merchant_id, Fulfilment.id.in_(chunk)))
        waybills = dict(session.execute(
            select(Shipment.fulfilment_id, func.min(Shipment.tracking_number))
            .where(Shipment.merchant_id == merchant_id, Shipment.direction == "outbound",
                   Shipment.fulfilment_id.in_(chunk))
            .group_by(Shipment.fulfilment_id)).all())
        refs.update({fid: {"document_ref": ref or f"FUL-{fid}", "order_no": order_no,
                           "waybill": waybills.get(fid)} for fid, ref, order_no in rows})
    keys = {("fulfilment", fid): value for fid, value in refs.items()}
    for claim_id, claim in claims.items():
        of_order = refs.get(decision_fulfilments[claim_id], {})
        keys[("claim", claim_id)] = {**of_order,
                                     "document_ref": claim.reference or f"CLM-{claim_id}"}
    return keys
