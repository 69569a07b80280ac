"""The dispute queue: what finance must decide before a period closes.

    open_for_line(session, statement, line, actor)      a line the supplier disputed
    decide(session, item, decision, actor, note)        keep | adjust
    settle_others(session, item, actor)                 one decision per line
    adjust(session, statement, item, difference, memo, actor)  a write-off, stated
    claims_of(session, item)                            the claims behind it (evidence)
    stated_before(session, item)                        a supplier row another statement
                                                        of the supplier holds already

A dispute is a ``ReconciliationItem`` with ``dispute`` ``open``: a pairing that matching
could not settle (a difference beyond what is written off by itself, contradicting keys,
a line on one side only, a duplicate; ``hub.domain.finance.reconcile``) or a line the
supplier disputed on its channel (outcome ``supplier_dispute``). Deciding it:

* ``keep`` — the hub's figure stands; nothing is posted;
* ``adjust`` — the supplier's figure is taken: the difference (supplier − hub) is posted
  to the supplier's ledger as a ``write_off`` (document ``reconciliation``) and stated
  on the statement as an adjustment line.

Every decision is audited with its note; a decided dispute is not decided again, and
nothing is decided on a closed statement. One decision per line: a line disputed twice
(by the supplier on its channel and by its file's match) is settled by the first decision
on it, and adjusted at most once. The note stays with finance: the ledger and the
supplier read a neutral memo.
"""
from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from hub.core.china import yuan
from hub.core.db import utcnow
from hub.core.errors import ApiError, Conflict
from hub.domain import ledger
from hub.domain.finance.lines import line_for, retotal
from hub.models import (
    Claim, ReconciliationItem, Statement, StatementLine, SupplierLine, audit,
)

DECISIONS = ("keep", "adjust")


def open_for_line(session: Session, statement: Statement, line: StatementLine,
                  actor: str) -> ReconciliationItem:
    said = line.answer_amount_minor or 0
    money = (f"{yuan(said, statement.currency)} instead of "
             f"{yuan(line.amount_minor, statement.currency)}")
    item = ReconciliationItem(
        merchant_id=statement.merchant_id, statement_id=statement.id, file_id=None,
        outcome="supplier_dispute", key="document", key_value=line.document_ref,
        hub_line_ids=[line.id], supplier_line_ids=[], hub_minor=line.amount_minor,
        supplier_minor=said, difference_minor=said - line.amount_minor,
        why_en=f"the supplier disputes line {line.document_ref}: {money}: "
               f"{line.answer_reason}"[:1000],
        why_zh=f"供应商对明细 {line.document_ref} 有异议：应为 {yuan(said, statement.currency)}"
               f"（对账单 {yuan(line.amount_minor, statement.currency)}）：{line.answer_reason}"
               [:1000],
        dispute="open")
    session.add(item)
    audit.record(session, statement.merchant_id, actor, "statement.line_disputed",
                 "statement", statement.id, {"line_id": line.id, "item_id": item.id})
    return item


def decide(session: Session, item: ReconciliationItem, decision: str, actor: str,
           note: str) -> ReconciliationItem:
    if decision not in DECISIONS or not (isinstance(note, str) and note.strip()
                                         and len(note) <= 500):
        raise ApiError("a decision is keep or adjust, with a note", code="validation_error",
                       status=422, details={"decision": list(DECISIONS),
                                            "note": ["text of 1 to 500 characters"]})
    session.flush()
    session.refresh(item, with_for_update=True)
    statement = session.get(Statement, item.statement_id)
    if statement.status == "closed":
        raise Conflict(f"statement {statement.id} is closed: reopen it to decide",
                       details={"status": statement.status})
    if item.dispute != "open":
        raise Conflict(f"item {item.id} has no open dispute", details={"dispute": item.dispute})
    posted = [s.id for s in _sharing_lines(session, item) if s.ledger_entry_id]
    if decision == "adjust" and posted:
        raise Conflict(f"a line of item {item.id} was adjusted already (item {posted[0]})",
                       details={"item_id": posted[0]})
    earlier = stated_before(session, item) if decision == "adjust" else None
    if earlier is not None:
        raise Conflict(f"the supplier's row is on statement {earlier.id} ({earlier.period}) "
                       "already: adjusting would count it twice; keep the hub's figure",
                       details={"statement_id": earlier.id})
    _decided(item, decision, note, actor)
    if decision == "adjust" and item.difference_minor:
        entry = adjust(session, statement, item, item.difference_minor,
                       f"statement {statement.period}: adjusted to the supplier's figure "
                       f"(item {item.id})", actor)
        item.ledger_entry_id = entry.id
    settle_others(session, item, actor)  # one decision per line
    audit.record(session, item.merchant_id, actor, "reconciliation.decided",
                 "reconciliation_item", item.id,
                 {"decision": decision, "note": note, "difference_minor": item.difference_minor,
                  "ledger_entry_id": item.ledger_entry_id})
    return item


def _decided(item: ReconciliationItem, decision: str, note: str, actor: str) -> None:
    item.dispute, item.decision, item.decision_note = "decided", decision, note
    item.decided_by, item.decided_at = actor, utcnow()


def _sharing_lines(session: Session, item: ReconciliationItem) -> list[ReconciliationItem]:
    """The statement's other items holding one of this item's hub lines."""
    lines = set(item.hub_line_ids)
    return [other for other in session.scalars(select(ReconciliationItem).where(
        ReconciliationItem.statement_id == item.statement_id,
        ReconciliationItem.id != item.id).order_by(ReconciliationItem.id))
        if lines & set(other.hub_line_ids)]


def settle_others(session: Session, item: ReconciliationItem, actor: str) -> None:
    """The other open disputes on this item's lines are settled with it."""
    for other in _sharing_lines(session, item):
        if other.dispute == "open":
            settled(other, f"settled with item {item.id}", actor)


def settled(item: ReconciliationItem, note: str, actor: str) -> None:
    """Decided without a decision of its own: its line was decided elsewhere."""
    _decided(item, "keep", note, actor)


def adjust(session: Session, statement: Statement, item: ReconciliationItem, difference: int,
           memo: str, actor: str):
    """Post ``difference`` (supplier − hub) to the supplier's ledger and state it."""
    entry = ledger.post(session, statement.merchant_id,
                        ledger.Counterparty("supplier", id=statement.supplier_id),
                        "write_off", difference, statement.currency,
                        ledger.Document("reconciliation", item.id), memo[:500], actor)
    session.flush()  # the entry before the line naming it
    keys = {"document_ref": f"REC-{item.id}", "order_no": None, "waybill": None}
    session.add(line_for(statement, entry, keys))
    session.flush()
    retotal(session, statement)
    return entry


def claims_of(session: Session, item: ReconciliationItem) -> list[Claim]:
    """The claims whose ledger lines the item holds (their evidence packs)."""
    ids = select(StatementLine.document_id).where(
        StatementLine.id.in_(item.hub_line_ids or [-1]),
        StatementLine.document_kind == "claim")
    return list(session.scalars(select(Claim).where(
        Claim.merchant_id == item.merchant_id, Claim.id.in_(ids)).order_by(Claim.id)))


def stated_before(session: Session, item: ReconciliationItem) -> Statement | None:
    """The supplier's other statement holding the row of an ``only_in_supplier`` item: the
    same document ref, or the same order or waybill and amount (a row settled before)."""
    if item.outcome != "only_in_supplier":
        return None
    row = session.get(SupplierLine, item.supplier_line_ids[0])
    line, statement = StatementLine, session.get(Statement, item.statement_id)
    same = [line.document_ref == row.document_ref] if row.document_ref else []
    same += [and_(column == value, line.amount_minor == row.amount_minor)
             for column, value in ((line.order_no, row.order_no), (line.waybill, row.waybill))
             if value]
    if not same:
        return None
    return session.scalar(select(Statement).join(line, line.statement_id == Statement.id).where(
        Statement.merchant_id == statement.merchant_id,
        Statement.supplier_id == statement.supplier_id,
        Statement.currency == statement.currency, Statement.id != statement.id, or_(*same))
        .order_by(Statement.ends_at).limit(1))
