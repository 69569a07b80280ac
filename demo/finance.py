"""``hub demo``'s month end: finance reconciles the supplier.

The supplier's statement of the month is built from the ledger (goods at contract cost,
the claims it accepted) and sent early, as an interim statement (the month has not
ended); the sandbox supplier confirms it on the supplier API. Then its own statement
arrives, a CSV with Chinese headers as a factory's system writes it, with a few planted
differences: one amount ¥0.50 more (written off by rule), one ¥20.00 more (a dispute),
one line missing, one extra charge, one row twice. It is imported, matched, the
disputes decided (the hub's figures stand), the statement confirmed and the period
closed. The summary reports the match outcomes.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import select

from hub.core.china import CHINA, yuan_text

ACTOR = "demo:finance"
KINDS = {"goods_payable": "货款", "claim_deduction": "扣款"}


def play(scenario) -> None:
    env = scenario.env
    statement_id = _build_and_send(env)
    scenario.wait("the supplier confirmed its statement",
                  lambda: _status(env, statement_id) == "supplier_confirmed")
    data, planted = supplier_file(env, statement_id)
    result = _reconcile(env, statement_id, data)
    scenario.say(f"statement {statement_id}: the supplier's file ({', '.join(planted)}) "
                 f"matched: {result['lines']}; disputes decided; period closed")


def _build_and_send(env) -> int:
    from hub.domain.finance import statements
    from hub.domain.finance.periods import Period
    from hub.models import Supplier

    with env.db.session() as s:
        supplier = s.get(Supplier, env.ids["supplier"])
        period = Period.containing(datetime.now(timezone.utc), "monthly")
        [statement] = [x for x in statements.build(s, supplier, period.key, ACTOR)
                       if x.currency == "CNY"]
        statements.send(s, statement, ACTOR, early=True)
        return statement.id


def _status(env, statement_id: int) -> str:
    from hub.models import Statement

    with env.session() as s:
        return s.get(Statement, statement_id).status


def supplier_file(env, statement_id: int) -> tuple[bytes, list[str]]:
    """The supplier's own CSV of the statement's lines, with differences planted."""
    from hub.models import StatementLine

    with env.session() as s:
        lines = list(s.scalars(select(StatementLine).where(
            StatementLine.statement_id == statement_id).order_by(StatementLine.id)))
    rows = [[x.document_ref, x.order_no or "", x.waybill or "",
             yuan_text(-x.amount_minor if x.entry_type == "claim_deduction" else x.amount_minor),
             KINDS.get(x.entry_type, "调整"),
             x.occurred_at.astimezone(CHINA).strftime("%Y/%m/%d"), ""] for x in lines]
    payables = [n for n, x in enumerate(lines) if x.entry_type == "goods_payable"]
    planted = []
    plants = (("¥0.50 more", lambda r: r.__setitem__(3, str(Decimal(r[3]) + Decimal("0.50")))),
              ("¥20.00 more", lambda r: r.__setitem__(3, str(Decimal(r[3]) + 20))),
              ("a line left out", lambda r: r.__setitem__(0, None)),
              ("a row twice", lambda r: rows.append(list(r))))
    for n, (what, plant) in zip(payables, plants):
        plant(rows[n])
        planted.append(what)
    rows = [r for r in rows if r[0] is not None]
    rows.append(["SUP-EXTRA-1", "", "", "35.00", "货款", rows[0][5] if rows else "", "包装费"])
    planted.append("an extra charge")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["厂家代发对账单"])
    writer.writerow(["单据号", "订单号", "快递单号", "金额(元)", "类型", "日期", "备注"])
    writer.writerows(rows)
    writer.writerow(["合计", "", "", "", "", "", ""])
    return out.getvalue().encode("utf-8-sig"), planted


def _reconcile(env, statement_id: int, data: bytes) -> dict:
    from hub.domain.finance import disputes, imports, reconcile, statements
    from hub.models import ReconciliationItem, Statement, Supplier

    with env.db.session() as s:
        supplier = s.get(Supplier, env.ids["supplier"])
        imports.import_file(s, supplier, data, "厂家对账单.csv", ACTOR)
        summary = reconcile.run(s, s.get(Statement, statement_id), ACTOR)
        for item in s.scalars(select(ReconciliationItem).where(
                ReconciliationItem.statement_id == statement_id,
                ReconciliationItem.dispute == "open")):
            disputes.decide(s, item, "keep", ACTOR, "the contract price and the hub's "
                                                    "records stand")
        statement = s.get(Statement, statement_id)
        statements.confirm(s, statement, ACTOR)
        statements.close(s, statement, ACTOR, early=True)
        return summary.as_dict()
