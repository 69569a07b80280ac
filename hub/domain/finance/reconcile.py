"""Reconciling a statement against the supplier's own file: matched, written off, disputed.

    summary = run(session, statement, actor)     # idempotent; Summary.as_dict()

The statement's lines (its own adjustments aside) and the valid rows of the supplier's
file it was imported for are matched by the supplier's rules
(``hub.domain.finance.matching``, ``rules``); every group becomes a
``ReconciliationItem`` that says in words why its lines were paired (or not). A
``written_off`` difference is posted to the ledger at once (``disputes.adjust``) and
logged; whatever is neither matched nor written off opens a dispute. Running it again
changes nothing that is settled: items already decided or written off keep their lines
out of the match, an item found again keeps its id (and its dispute), and only items no
longer found are dropped. A statement with any open dispute is ``disputed``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.core.china import CHINA, yuan
from hub.core.db import utcnow
from hub.core.errors import Conflict
from hub.domain.finance import disputes, matching, statements
from hub.domain.finance.lines import CHUNK
from hub.domain.finance.profiles import profile_of
from hub.domain.finance.rules import Rules
from hub.domain.finance.words import why
from hub.models import (
    ReconciliationItem, Statement, StatementLine, Supplier, SupplierFile, SupplierLine, audit,
)

log = logging.getLogger(__name__)
SETTLED = ("matched", "written_off")


@dataclass
class Summary:
    statement_id: int
    file_id: int
    lines: dict = field(default_factory=dict)  # outcome -> lines, both sides
    items: dict = field(default_factory=dict)  # outcome -> items
    hub_minor: int = 0
    supplier_minor: int = 0
    written_off_minor: int = 0
    open_disputes: int = 0
    currency: str = "CNY"

    def as_dict(self) -> dict:
        return {**self.__dict__, "difference_minor": self.supplier_minor - self.hub_minor}


def latest_file(session: Session, statement: Statement) -> SupplierFile:
    found = session.scalar(select(SupplierFile).where(
        SupplierFile.statement_id == statement.id)
        .order_by(SupplierFile.id.desc()).limit(1))
    if found is None:
        raise Conflict(f"no supplier statement was imported for statement {statement.id}: "
                       "import the supplier's file first", details={"statement_id": statement.id})
    return found


def run(session: Session, statement: Statement, actor: str) -> Summary:
    session.refresh(statement, with_for_update=True)
    if statement.status not in statements.OPEN:
        raise Conflict(f"statement {statement.id} is {statement.status}: only a sent "
                       "statement, not closed, is matched", details={"status": statement.status})
    file = latest_file(session, statement)
    supplier = session.get(Supplier, statement.supplier_id)
    rules = Rules.of(profile_of(session, supplier).rules)
    items = list(session.scalars(select(ReconciliationItem).where(
        ReconciliationItem.statement_id == statement.id).order_by(ReconciliationItem.id)))
    kept = [i for i in items if i.dispute == "decided" or i.ledger_entry_id
            or i.outcome == "supplier_dispute"]
    taken_hub = {n for i in kept if i.outcome != "supplier_dispute" for n in i.hub_line_ids}
    taken_sup = {n for i in kept for n in i.supplier_line_ids}
    hub_lines = {line.id: line for line in session.scalars(select(StatementLine).where(
        StatementLine.statement_id == statement.id,
        StatementLine.document_kind != "reconciliation")) if line.id not in taken_hub}
    sup_lines = {line.id: line for line in session.scalars(select(SupplierLine).where(
        SupplierLine.file_id == file.id)) if line.id not in taken_sup}
    result = matching.match(_frame(hub_lines.values(), hub=True),
                            _frame(sup_lines.values(), hub=False), rules)

    found = _signatures(result)
    existing = {_signature(i): i for i in items if i not in kept}
    stale = [i.id for sig, i in existing.items() if sig not in found]
    for n in range(0, len(stale), CHUNK):
        session.execute(delete(ReconciliationItem).where(
            ReconciliationItem.id.in_(stale[n:n + CHUNK])))
    settled = {n: i.id for i in kept if i.dispute == "decided" or i.ledger_entry_id
               for n in i.hub_line_ids}  # a line decided on the supplier's channel
    for sig, group in found.items():
        if sig in existing:
            continue
        item = _item(statement, file, group, hub_lines, sup_lines, rules)
        session.add(item)
        by = next((settled[n] for n in item.hub_line_ids if n in settled), None)
        if item.outcome == "matched":
            continue
        if by is not None:
            disputes.settled(item, f"settled with item {by}", actor)
        elif item.outcome == "written_off":
            entry = disputes.adjust(session, statement, item, item.difference_minor,
                                    f"statement {statement.period}: written off by rule "
                                    f"(within tolerance, item {item.id})", actor)
            item.ledger_entry_id = entry.id
            disputes.settle_others(session, item, actor)
            log.info("reconciliation write-off", extra={
                "statement_id": statement.id, "item_id": item.id,
                "difference_minor": item.difference_minor})
        else:
            item.dispute = "open"
            _stated_before(session, item)
    session.flush()
    summary = _summary(session, statement, file)
    statement.matched_file_id, statement.matched_at = file.id, utcnow()
    if summary.open_disputes and statement.status != "disputed":
        statements.move(session, statement, "dispute", actor, file_id=file.id)
    audit.record(session, statement.merchant_id, actor, "statement.matched", "statement",
                 statement.id, {"file_id": file.id, "lines": summary.lines,
                                "open_disputes": summary.open_disputes})
    return summary


def _stated_before(session: Session, item: ReconciliationItem) -> None:
    """A supplier row that another statement holds says so: keep is the decision."""
    earlier = disputes.stated_before(session, item)
    if earlier is not None:
        item.why_en = (f"{item.why_en}; it is on statement {earlier.id} ({earlier.period}) "
                       "already: keep the hub's figure")[:1000]
        item.why_zh = f"{item.why_zh}；已列入对账单 {earlier.id}（{earlier.period}）：请保留系统数"[:1000]


def _frame(lines, hub: bool):
    return matching.frame([
        {"id": line.id, "document_ref": line.document_ref, "order_no": line.order_no,
         "line_ref": None if hub else line.line_ref, "waybill": line.waybill,
         "amount_minor": line.amount_minor,
         "day": (line.occurred_at.astimezone(CHINA).date() if hub
                 else line.occurred_on)}
        for line in lines])


def _signatures(result: matching.Result) -> dict:
    """(outcome, hub line ids, supplier line ids) → the group's row, one per group."""
    members = {}
    for side, line_id, group in result.lines.sort("id").iter_rows():
        members.setdefault(group, ([], []))[side == "supplier"].append(line_id)
    return {(row["outcome"], tuple(members[row["group"]][0]), tuple(members[row["group"]][1])):
            {**row, "hub_ids": members[row["group"]][0], "sup_ids": members[row["group"]][1]}
            for row in result.groups.iter_rows(named=True)}


def _signature(item: ReconciliationItem) -> tuple:
    return item.outcome, tuple(sorted(item.hub_line_ids)), tuple(sorted(item.supplier_line_ids))


def _item(statement, file, group: dict, hub_lines: dict, sup_lines: dict, rules: Rules
          ) -> ReconciliationItem:
    en, zh = why(group, [hub_lines[i] for i in group["hub_ids"]],
                 [sup_lines[i] for i in group["sup_ids"]], rules, statement.currency)
    return ReconciliationItem(
        merchant_id=statement.merchant_id, statement_id=statement.id, file_id=file.id,
        outcome=group["outcome"], key=group["key"], key_value=group["key_value"],
        hub_line_ids=group["hub_ids"], supplier_line_ids=group["sup_ids"],
        hub_minor=group["hub_minor"], supplier_minor=group["supplier_minor"],
        difference_minor=group["difference_minor"], why_en=en[:1000], why_zh=zh[:1000])


def _summary(session, statement: Statement, file: SupplierFile) -> Summary:
    summary = Summary(statement.id, file.id, currency=statement.currency)
    for item in session.scalars(select(ReconciliationItem).where(
            ReconciliationItem.statement_id == statement.id)):
        count = len(item.hub_line_ids) + len(item.supplier_line_ids)
        summary.lines[item.outcome] = summary.lines.get(item.outcome, 0) + count
        summary.items[item.outcome] = summary.items.get(item.outcome, 0) + 1
        summary.hub_minor += item.hub_minor if item.outcome != "supplier_dispute" else 0
        summary.supplier_minor += item.supplier_minor \
            if item.outcome != "supplier_dispute" else 0
        if item.outcome == "written_off":
            summary.written_off_minor += item.difference_minor
        summary.open_disputes += item.dispute == "open"
    return summary


def describe(summary: Summary) -> str:
    c = summary.currency
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.lines.items()))
    return (f"statement {summary.statement_id} against file {summary.file_id}: {counts} "
            f"(lines); hub {yuan(summary.hub_minor, c)}, supplier "
            f"{yuan(summary.supplier_minor, c)}, written off "
            f"{yuan(summary.written_off_minor, c)}; open disputes {summary.open_disputes}")
