"""The money in ``hub demo``'s summary: who paid (decisions by rule, claims by status, the
suppliers' balances) and the month end (the statement and how the supplier's file
matched). ``rows(model)`` reads the demo merchant's rows of a table."""
from __future__ import annotations


def liability(s, merchant_id: int, rows) -> dict:
    """Who paid: decisions by rule, claims by status, and each supplier's balance."""
    from hub.domain import ledger
    from hub.models import Claim, LiabilityDecision, Supplier

    codes = {x.id: x.code for x in rows(Supplier)}
    balances = ledger.balances(s, merchant_id)
    return {"decisions_by_rule": count(d.rule for d in rows(LiabilityDecision)),
            "claims_by_status": count(c.status for c in rows(Claim)),
            "claimed_minor": sum(c.amount_minor for c in rows(Claim)),
            "accepted_minor": sum(c.accepted_minor or 0 for c in rows(Claim)),
            "supplier_balances": {codes.get(b["counterparty_id"], b["counterparty_id"]):
                                  b["balance_minor"] for b in balances
                                  if b["counterparty_kind"] == "supplier"}}


def finance(rows) -> dict:
    """The month end: the statement, and how the supplier's own matched it."""
    from hub.models import ReconciliationItem, Statement, StatementLine

    statements = list(rows(Statement))
    if not statements:
        return {}
    st = statements[-1]
    items = [i for i in rows(ReconciliationItem) if i.statement_id == st.id]
    lines: dict = {}
    for i in items:
        lines[i.outcome] = lines.get(i.outcome, 0) + len(i.hub_line_ids) + len(
            i.supplier_line_ids)
    return {"statement_id": st.id, "period": st.period, "status": st.status,
            "lines": sum(1 for x in rows(StatementLine) if x.statement_id == st.id),
            "closing_minor": st.closing_minor, "match_lines": dict(sorted(lines.items())),
            "written_off_minor": sum(i.difference_minor for i in items
                                     if i.outcome == "written_off"),
            "disputes_decided": sum(1 for i in items if i.dispute == "decided")}


def count(values) -> dict:
    found: dict = {}
    for value in values:
        found[value] = found.get(value, 0) + 1
    return dict(sorted(found.items()))
