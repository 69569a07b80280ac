"""Statements (对账单) in the supplier sheet: the lines of the supplier's statements awaiting
its answer as rows of section ``statement``, and its answers checked and applied through
``hub.domain.finance.statements``, one statement at a time.

    rows = statement_rows(session, supplier)            # part of files.pending_rows
    line = line_of(session, check, supplier)            # the row's line, if the supplier's
    check_answer(session, check, line, answer, row)     # confirm | dispute, fits the line?
    check_statements(session, checks, supplier)         # every line answered, or none
    apply(session, check, checks, actor)                # statements.answer, once a statement

Exported are the statements ``sent`` (awaiting the answer), one row per line, by statement
then line: ``statement_id``, ``line_id``, the order (``platform_order_id``), ``amount``
(yuan) and ``amount_minor`` (fen; a deduction is negative), ``currency`` and ``notice``
(the period, the kind in words, the supplier's document id, the waybill; a late line, its
day in China time). A statement without lines has no rows. A line is answered ``confirm``
(no reason, no amount) or ``dispute`` with its ``reason`` and, if it likes,
``accepted_amount``: the amount in yuan it says is right (``parse_yuan``, with a leading
minus for a negative one; of the line's sign or 0, so a deduction disputed is written
``-30.00``; empty: the line should not be there).

A statement is answered only when every one of its lines is in the sheet with an answer:
then one ``statements.answer``, by the first of its rows (``apply``; the others follow it).
Some lines answered and others not, a line missing from the sheet, or an error on any of
its rows: every row of it is an error, so ``apply="valid"`` never answers half a
statement. A statement no longer ``sent`` answers nothing: a row is ``unchanged`` when its
line shows that answer already (a dispute: the same reason and amount), an error else.
``check`` is a ``hub.domain.sheets.checks.RowCheck``.
"""
from __future__ import annotations

import unicodedata
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.china import china_time, yuan_text
from hub.core.errors import Conflict
from hub.domain.finance import statements as flow
from hub.domain.sheets.claims import parse_yuan
from hub.models import Statement, StatementLine, Supplier

KINDS = {"goods_payable": "货款", "claim_deduction": "索赔扣款", "write_off": "调整",
         "correction": "调整", "courier_compensation": "快递赔付", "platform_penalty": "平台罚款"}
AWAITING = "sent"


def _notice(statement: Statement, line: StatementLine) -> str:
    parts = [f"对账期 period {statement.period}",
             f"{KINDS.get(line.entry_type, '其他')} {line.entry_type}",
             f"单据 ref {line.document_ref}" if line.document_ref else None,
             f"运单 waybill {line.waybill}" if line.waybill else None,
             f"补记 late ({china_time(line.occurred_at)[:10]})" if line.late else None]
    return "; ".join(p for p in parts if p)


def statement_rows(session: Session, supplier: Supplier) -> list[dict]:
    """The lines of the supplier's statements awaiting its answer, by statement, line."""
    rows = []
    for statement, line in session.execute(
            select(Statement, StatementLine)
            .join(StatementLine, StatementLine.statement_id == Statement.id)
            .where(Statement.merchant_id == supplier.merchant_id,
                   Statement.supplier_id == supplier.id, Statement.status == AWAITING)
            .order_by(Statement.id, StatementLine.id)):
        rows.append({
            "section": "statement", "statement_id": statement.id, "line_id": line.id,
            "platform_order_id": line.order_no or "", "status": statement.status,
            "notice": _notice(statement, line), "amount": yuan_text(line.amount_minor),
            "amount_minor": line.amount_minor, "currency": statement.currency})
    return rows


def parse_amount(text: str) -> int:
    """``parse_yuan`` with an optional leading minus: ``-12.50`` → ``-1250``."""
    value = unicodedata.normalize("NFKC", text).strip()
    if value[:1] in ("-", "\u2212"):
        return -parse_yuan(value[1:])
    return parse_yuan(value)


def _own(statement: Statement | None, supplier: Supplier) -> bool:
    return (statement is not None and statement.merchant_id == supplier.merchant_id
            and statement.supplier_id == supplier.id and statement.status != "draft")


def line_of(session: Session, check, supplier: Supplier) -> StatementLine | None:
    """The row's line when its statement was sent to this supplier (a draft is not, yet)."""
    if check.statement_id is None:
        check.error("statement_id", "statement_id is required for this section")
        return None
    if not _own(session.get(Statement, check.statement_id), supplier):
        check.error("statement_id", f"statement {check.statement_id} is not a statement to "
                    f"supplier {supplier.code}")
        return None
    line = session.get(StatementLine, check.line_id) if check.line_id is not None else None
    if line is None or line.statement_id != check.statement_id:
        named = "(none)" if check.line_id is None else check.line_id
        check.error("line_id", f"line {named} is not a line of statement {check.statement_id}")
        return None
    return line


def check_answer(session: Session, check, line: StatementLine, answer: str, row: dict) -> None:
    """``confirm`` (nothing else) or ``dispute`` (a reason; an amount of the line's sign, if
    any); on a statement no longer awaiting its answer, ``unchanged`` or an error."""
    check.reason = row.get("reason") or None
    raw = row.get("accepted_amount", "")
    if answer == "confirm":
        check.action = "statement_confirm"
        for column, value in (("reason", check.reason), ("accepted_amount", raw)):
            if value:
                check.error(column, f"a confirmed line takes no {column}: leave it empty, or "
                            "answer dispute")
    else:
        check.action = "statement_dispute"
        if not check.reason:
            check.error("reason", "a dispute needs a reason")
        elif len(check.reason) > 2000:
            check.error("reason", "a reason is at most 2000 characters")
        try:
            check.amount_minor = parse_amount(raw) if raw else None
        except ValueError:
            check.error("accepted_amount", f"accepted_amount {raw[:30]!r} is not an amount in "
                        "yuan with at most two decimals, e.g. 12.50 (a deduction: -12.50)")
        said, stated = check.amount_minor, line.amount_minor
        if said and stated and (said > 0) != (stated > 0):
            check.error("accepted_amount", f"accepted_amount {raw[:30]}: line {line.id} is "
                        f"{yuan_text(stated)}; the right amount has its sign, or is 0 (a "
                        "deduction is negative, e.g. -12.50)")
    statement = session.get(Statement, line.statement_id)
    if check.outcome == "error" or statement.status == AWAITING:
        return  # a statement awaiting its answer: check_statements
    if answer == "confirm":
        same = line.answer == "confirmed"
    else:
        same = (line.answer == "disputed" and line.answer_reason == check.reason
                and line.answer_amount_minor == check.amount_minor)
    if same:
        check.outcome = "unchanged"
    else:
        check.error("answer", f"statement {statement.id} is {statement.status}: export a "
                    "fresh sheet")


def _groups(checks) -> dict[int, list]:
    groups = defaultdict(list)
    for c in checks:
        if c.section == "statement" and c.statement_id is not None:
            groups[c.statement_id].append(c)
    return groups


def check_statements(session: Session, checks, supplier: Supplier) -> None:
    """A statement awaiting its answer is answered whole: every line in the sheet, each
    answered and without error; else every row of it is an error."""
    for statement_id, group in _groups(checks).items():
        statement = session.get(Statement, statement_id)
        if (not _own(statement, supplier) or statement.status != AWAITING
                or all(c.outcome == "skipped" for c in group)):
            continue  # not its own (the rows say so), answered already, or not answered now
        lines = set(session.scalars(select(StatementLine.id).where(
            StatementLine.statement_id == statement_id)))
        missing = sorted(lines - {c.line_id for c in group})
        if missing or any(c.outcome == "skipped" for c in group):
            message = f"answer every line of statement {statement_id} (or none)"
            if missing:
                message += (f": line {', '.join(map(str, missing[:20]))} "
                            f"{'is' if len(missing) == 1 else 'are'} not in the sheet "
                            "(export a fresh sheet)")
            for c in group:
                c.error("answer", message)
            continue
        bad = [c for c in group if c.outcome == "error"]
        for c in group:
            if bad and c.outcome != "error":
                c.error("answer", f"statement {statement_id} has errors on row "
                        f"{', '.join(str(x.row) for x in bad)}: none of its lines is "
                        "answered until they are fixed")


def apply(session: Session, check, checks, actor: str) -> Statement | None:
    """The first row of a statement answers it (its disputed rows as ``disputes``); the
    other rows follow it. The statement, when this row answered it."""
    group = _groups(checks)[check.statement_id]
    first = group[0]
    if check is not first:
        if first.outcome != "applied":
            raise Conflict(f"statement {check.statement_id} was not answered (row "
                           f"{first.row})")
        return None
    statement = session.get(Statement, check.statement_id)
    session.refresh(statement, with_for_update=True)
    if statement.status != AWAITING:  # answered meanwhile, on the supplier API
        raise Conflict(f"statement {statement.id} is {statement.status}: export a fresh "
                       "sheet")
    disputes = [{"line_id": c.line_id, "reason": c.reason, "amount_minor": c.amount_minor}
                for c in group if c.action == "statement_dispute"]
    return flow.answer(session, statement, actor, disputes)
