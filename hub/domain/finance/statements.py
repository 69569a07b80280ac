"""The hub's statement to a supplier, period by period, from the ledger, to its close.

    build(session, supplier, period, actor) -> [Statement]     a draft per currency
    send(session, statement, actor, early=False)               on the supplier's channel
    answer(session, statement, actor, disputes=(), reason=None)  the supplier's answer
    confirm(session, statement, actor)                         finance, no open dispute
    close(session, statement, actor)     reopen(session, statement, actor, reason)

**Lines.** A statement holds every ledger entry of the supplier that occurred before its
period ends and is on no other statement (an entry is on one statement only), one
``StatementLine`` each, with the keys the supplier knows it by: its own document id (the
fulfilment's ``supplier_reference``, else ``FUL-<id>``; a claim's channel reference, else
``CLM-<id>``), the platform order number and the outbound waybill. A line that occurred
before the period began is ``late``: it came after the statement of its own period was
sent (lines are fixed from sending), and is stated now. Totals: ``opening_minor`` (the
previous statement's closing), ``payables_minor`` (goods at contract cost),
``deductions_minor`` (claims the supplier accepted: the compensation it owes),
``adjustments_minor`` (write-offs and corrections), ``closing_minor``; > 0 the merchant
owes the supplier.

**Lifecycle** (``STATEMENT``): ``draft`` (rebuilt on every build) → ``sent`` →
``supplier_confirmed`` | ``disputed`` → ``finance_confirmed`` → ``closed``; ``reopen``
returns a closed one to ``finance_confirmed``, with a reason (finance only, audited).
The supplier answers once, while ``sent``. Finance confirms when no dispute is open
(``hub.domain.finance.disputes``); closing also needs every line covered (matched, written
off, confirmed by the supplier or disputed and decided) and the period before closed. A
closed statement changes no more: nothing is matched or decided on it, and an entry of
its period that arrives later goes on the next statement; a period reopens only while the
one after it is not closed.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hub.core.db import iso, utcnow
from hub.core.errors import ApiError, Conflict
from hub.core.states import Machine
from hub.domain.finance.disputes import open_for_line
from hub.domain.finance.lines import keys_of, line_for, retotal
from hub.domain.finance.periods import Period
from hub.domain.finance.profiles import profile_of
from hub.domain.pushes import supplier_notices
from hub.models import (
    LedgerEntry, ReconciliationItem, Statement, StatementLine, Supplier, audit,
)

STATEMENT = Machine("statement", {
    "draft": {"send": "sent"},
    "sent": {"supplier_confirm": "supplier_confirmed", "dispute": "disputed",
             "confirm": "finance_confirmed"},
    "supplier_confirmed": {"dispute": "disputed", "confirm": "finance_confirmed"},
    "disputed": {"confirm": "finance_confirmed"},
    "finance_confirmed": {"dispute": "disputed", "close": "closed"},
    "closed": {"reopen": "finance_confirmed"},
})
OPEN = ("sent", "supplier_confirmed", "disputed", "finance_confirmed")  # answered, matched


def build(session: Session, supplier: Supplier, period_key: str, actor: str
          ) -> list[Statement]:
    period = Period.of(period_key)
    cycle = profile_of(session, supplier).cycle
    if period.cycle != cycle:
        raise ApiError(f"supplier {supplier.code}'s statements are {cycle}: {period_key} is "
                       f"not a {cycle} period", code="validation_error", status=422,
                       details={"period": [f"a {cycle} period"]})
    session.refresh(supplier, with_for_update=True)  # one build of a supplier at a time
    existing = {s.currency: s for s in session.scalars(select(Statement).where(
        Statement.supplier_id == supplier.id, Statement.period == period.key))}
    drafts = [s for s in existing.values() if s.status == "draft"]
    if drafts:
        session.execute(delete(StatementLine).where(
            StatementLine.statement_id.in_([s.id for s in drafts])))
    by_currency = defaultdict(list, {s.currency: [] for s in drafts})
    for entry in _unstated(session, supplier, period):
        by_currency[entry.currency].append(entry)
    if not existing and not by_currency:
        by_currency["CNY"] = []  # a period with nothing in it is still stated
    made = []
    for currency, rows in sorted(by_currency.items()):
        statement = existing.get(currency)
        if statement is not None and statement.status != "draft":
            continue  # sent: its lines are fixed; these go on the next statement
        if statement is None:
            statement = Statement(merchant_id=supplier.merchant_id, supplier_id=supplier.id,
                                  period=period.key, starts_at=period.starts_at,
                                  ends_at=period.ends_at, currency=currency, status="draft")
            session.add(statement)
        _fill(session, statement, rows)
        audit.record(session, supplier.merchant_id, actor, "statement.built", "statement",
                     statement.id, {"period": period.key, "lines": len(rows),
                                    "closing_minor": statement.closing_minor})
        made.append(statement)
    return made + [s for s in existing.values() if s not in made]


def _unstated(session: Session, supplier: Supplier, period: Period) -> list[LedgerEntry]:
    """The supplier's entries before the period's end on no statement, or on a draft of a
    later period (built first: it gives them back)."""
    e, s = LedgerEntry, Statement
    before_end = [e.merchant_id == supplier.merchant_id, e.counterparty_kind == "supplier",
                  e.counterparty_id == supplier.id, e.occurred_at < period.ends_at]
    session.execute(delete(StatementLine).where(
        StatementLine.statement_id.in_(select(s.id).where(
            s.supplier_id == supplier.id, s.status == "draft", s.starts_at >= period.ends_at)),
        StatementLine.ledger_entry_id.in_(select(e.id).where(*before_end))))
    stated = select(StatementLine.ledger_entry_id).where(
        StatementLine.merchant_id == supplier.merchant_id)
    return list(session.scalars(select(e).where(*before_end, e.id.not_in(stated))
                                .order_by(e.occurred_at, e.id)))


def _fill(session: Session, statement: Statement, entries: list[LedgerEntry]) -> None:
    keys = keys_of(session, statement.merchant_id, entries)
    for entry in entries:
        session.add(line_for(statement, entry, keys.get((entry.document_kind,
                                                               entry.document_id), {})))
    retotal(session, statement)


# -- the lifecycle -------------------------------------------------------------------------

def move(session: Session, statement: Statement, event: str, actor: str, **changes) -> None:
    session.flush()  # what this transaction changed stays: the refresh only locks the row
    session.refresh(statement, with_for_update=True)
    before = statement.status
    statement.status = STATEMENT.next(before, event)
    audit.record(session, statement.merchant_id, actor, f"statement.{statement.status}",
                 "statement", statement.id, {"status": [before, statement.status], **changes})


def send(session: Session, statement: Statement, actor: str, early: bool = False
         ) -> Statement:
    """Once the period has ended; ``early``, an interim statement before (what arrives
    later in the period goes on the next one, as late lines)."""
    if utcnow() < statement.ends_at and not early:
        raise Conflict(f"period {statement.period} has not ended: its statement is sent "
                       f"once it has (or early, as an interim statement)",
                       details={"ends_at": iso(statement.ends_at)})
    if statement.status == "draft":  # its lines as the ledger has them now
        build(session, session.get(Supplier, statement.supplier_id), statement.period, actor)
    move(session, statement, "send", actor, early=utcnow() < statement.ends_at)
    statement.sent_at = utcnow()
    notify(session, statement)
    return statement


def notify(session: Session, statement: Statement) -> None:
    supplier = session.get(Supplier, statement.supplier_id)
    supplier_notices.send(session, supplier, supplier_notices.STATEMENT_NOTICE, "statement",
                          statement.id, payload(session, statement),
                          f"{statement.status}:{iso(statement.updated_at or utcnow())}")


def payload(session: Session, statement: Statement) -> dict:
    """The ``statement_notice``: the statement with its lines (``supplier_notices``)."""
    lines = session.scalars(select(StatementLine).where(
        StatementLine.statement_id == statement.id).order_by(StatementLine.id))
    return {"statement_id": statement.id, "status": statement.status,
            "period": statement.period, "starts_at": iso(statement.starts_at),
            "ends_at": iso(statement.ends_at), "currency": statement.currency,
            **{f: getattr(statement, f) for f in TOTALS},
            "lines": [{"line_id": line.id, "kind": line.entry_type,
                       "document_ref": line.document_ref, "order_no": line.order_no,
                       "waybill": line.waybill, "amount_minor": line.amount_minor,
                       "occurred_at": iso(line.occurred_at), "late": line.late,
                       "memo": line.memo} for line in lines]}


TOTALS = ("opening_minor", "payables_minor", "deductions_minor", "adjustments_minor",
          "closing_minor")


def answer(session: Session, statement: Statement, actor: str, disputes=(),
           reason: str | None = None) -> Statement:
    """The supplier confirms the statement, or disputes lines of it: ``disputes`` is
    ``[{"line_id", "reason", "amount_minor"?}]`` (the amount it says is right; none: the
    line should not be there). Each disputed line opens a dispute for finance. A statement
    is answered once, while ``sent``."""
    if statement.status != "sent":
        raise Conflict(f"statement {statement.id} is {statement.status}: it was answered "
                       "already", details={"status": statement.status})
    rows = {line.id: line for line in session.scalars(select(StatementLine).where(
        StatementLine.statement_id == statement.id))}
    unknown = [d["line_id"] for d in disputes if d["line_id"] not in rows]
    if unknown:
        raise ApiError("the statement has no such line", code="validation_error", status=422,
                       details={"line_id": [f"not a line of statement {statement.id}: "
                                            f"{', '.join(map(str, unknown))}"]})
    move(session, statement, "dispute" if disputes else "supplier_confirm", actor,
         disputed=[d["line_id"] for d in disputes])
    statement.answered_at, statement.answered_by = utcnow(), actor
    statement.dispute_reason = reason
    named = {d["line_id"]: d for d in disputes}
    for line in rows.values():
        if line.id in named:
            given = named[line.id]
            line.answer, line.answer_reason = "disputed", given["reason"]
            line.answer_amount_minor = given.get("amount_minor")
            open_for_line(session, statement, line, actor)
        elif line.answer is None:
            line.answer = "confirmed"
    return statement


def confirm(session: Session, statement: Statement, actor: str) -> Statement:
    opened = _open_disputes(session, statement)
    if opened:
        raise Conflict(f"statement {statement.id} has {opened} open dispute(s): decide them "
                       "first", details={"open_disputes": opened})
    move(session, statement, "confirm", actor)
    statement.confirmed_at, statement.confirmed_by = utcnow(), actor
    return statement


def close(session: Session, statement: Statement, actor: str, early: bool = False
          ) -> Statement:
    """Periods close in order: the one before first (its closing is this one's opening).
    Once the period has ended; ``early``, before (what arrives later goes on the next)."""
    if utcnow() < statement.ends_at and not early:
        raise Conflict(f"period {statement.period} has not ended: it closes once it has (or "
                       "early: what arrives later in the period goes on the next statement)",
                       details={"ends_at": iso(statement.ends_at)})
    before = _neighbour(session, statement, later=False)
    if before is not None and before.status != "closed":
        raise Conflict(f"close {before.period} (statement {before.id}) first: its closing "
                       "balance is this one's opening", details={"statement_id": before.id})
    uncovered = uncovered_lines(session, statement) \
        if statement.status == "finance_confirmed" else []  # else the move refuses it
    if uncovered:
        raise Conflict(f"statement {statement.id} has {len(uncovered)} line(s) neither "
                       "matched, written off, confirmed by the supplier nor decided",
                       details={"line_ids": uncovered[:100]})
    move(session, statement, "close", actor)
    statement.closed_at, statement.closed_by = utcnow(), actor
    notify(session, statement)
    return statement


def reopen(session: Session, statement: Statement, actor: str, reason: str) -> Statement:
    if not (isinstance(reason, str) and reason.strip() and len(reason) <= 500):
        raise ApiError("reopening a closed period needs a reason", code="validation_error",
                       status=422, details={"reason": ["text of 1 to 500 characters"]})
    after = _neighbour(session, statement, later=True)
    if after is not None and after.status == "closed":
        raise Conflict(f"reopen {after.period} (statement {after.id}) first: its opening is "
                       "this one's closing", details={"statement_id": after.id})
    move(session, statement, "reopen", actor, reason=reason)
    statement.reopen_reason, statement.closed_at, statement.closed_by = reason, None, None
    return statement


def _neighbour(session: Session, statement: Statement, later: bool) -> Statement | None:
    """The supplier's statement in the same currency just before (or after) this one."""
    s = Statement
    side = s.starts_at >= statement.ends_at if later else s.ends_at <= statement.starts_at
    return session.scalar(select(s).where(
        s.merchant_id == statement.merchant_id, s.supplier_id == statement.supplier_id,
        s.currency == statement.currency, side)
        .order_by(s.starts_at if later else s.ends_at.desc()).limit(1))


def _open_disputes(session: Session, statement: Statement) -> int:
    return session.scalar(select(func.count()).select_from(ReconciliationItem).where(
        ReconciliationItem.statement_id == statement.id,
        ReconciliationItem.dispute == "open"))


def uncovered_lines(session: Session, statement: Statement) -> list[int]:
    """Lines (the statement's own adjustments aside) not matched, written off, confirmed
    by the supplier nor in a decided dispute."""
    covered = set()
    for ids, outcome, dispute in session.execute(
            select(ReconciliationItem.hub_line_ids, ReconciliationItem.outcome,
                   ReconciliationItem.dispute)
            .where(ReconciliationItem.statement_id == statement.id)):
        if outcome in ("matched", "written_off") or dispute == "decided":
            covered.update(ids)
    return [line_id for line_id, answer in session.execute(
        select(StatementLine.id, StatementLine.answer)
        .where(StatementLine.statement_id == statement.id,
               StatementLine.document_kind != "reconciliation")
        .order_by(StatementLine.id))
        if line_id not in covered and answer != "confirmed"]
