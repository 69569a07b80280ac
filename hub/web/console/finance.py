"""Finance pages (``finance`` and ``merchant_admin``): balances, claims and the supplier
statements through their month end (``hub.domain.finance``, as the finance API).

| page | what |
|---|---|
| ``GET /console/finance?period=YYYY-MM`` | balances per counterparty and currency; claims; statements; build one; the month's journal |
| ``GET /console/finance/statements/<id>`` | totals, the match result with why, the disputes to decide, every step its status allows, the exports |
| ``POST /console/finance/statements`` | build (supplier, period) |
| ``POST /console/finance/statements/<id>/<step>`` | ``send``, ``match``, ``confirm``, ``close`` (``early``: before the period ends), ``reopen`` (finance only, with a reason) |
| ``POST /console/finance/statements/<id>/import`` | the supplier's CSV or XLSX (``apply_valid``) |
| ``POST /console/finance/items/<id>/decide`` | keep or adjust, with a note |
| ``GET /console/finance/statements/<id>/export`` · ``/console/finance/journal`` | CSV or XLSX, 中文 or English |
| ``GET /console/finance/claims/<id>/evidence`` | a claim's evidence pack (ZIP) |
"""
from __future__ import annotations

from flask import Response, abort, redirect, render_template, request, url_for
from flask_babel import get_locale
from sqlalchemy import select

from hub.core.db import MAX_ID
from hub.core.errors import ApiError
from hub.domain import ledger
from hub.domain.finance import disputes, exports, files, imports, reconcile, statements
from hub.domain.liability import evidence
from hub.models import Claim, ReconciliationItem, Statement, StatementLine, Supplier
from hub.web.api.spreadsheets import attachment, read_upload
from hub.web.api.statements import export_file
from hub.web.api.spreadsheets import MULTIPART_OVERHEAD
from hub.web.console import kit
from hub.web.console.kit import console_blueprint as bp
from hub.web.console.kit import page
from hub.web.context import hub, request_session
from hub.web.kit.scope import get_visible, visible

FINANCE = frozenset({"merchant_admin", "finance"})
STEPS = ("send", "match", "confirm", "close", "reopen")
kit.UPLOADS["console.import_file"] = files.MAX_BYTES + MULTIPART_OVERHEAD


@bp.get("/console/finance")
@page(FINANCE)
def finance(who, error=None, status=200):
    session, period = request_session(), request.args.get("period") or None
    try:
        balances = ledger.balances(session, who.merchant_id, period)
    except ApiError as e:
        balances, error, status = [], e.message, e.status
    suppliers = session.scalars(select(Supplier).where(
        Supplier.merchant_id == who.merchant_id).order_by(Supplier.code)).all()
    return render_template(
        "console/finance.html", who=who, balances=balances, period=period, error=error,
        suppliers=suppliers, codes={s.id: s.code for s in suppliers},
        claims=session.scalars(visible(Claim, who).order_by(Claim.id.desc()).limit(100)).all(),
        statements=session.scalars(visible(Statement, who).order_by(
            Statement.ends_at.desc(), Statement.id.desc()).limit(100)).all()), status


@bp.post("/console/finance/statements")
@page(FINANCE)
def build_statement(who):
    session = request_session()
    supplier_id = request.form.get("supplier_id", "")
    supplier = session.get(Supplier, int(supplier_id)) \
        if supplier_id.isdecimal() and int(supplier_id) <= MAX_ID else None
    if supplier is None or supplier.merchant_id != who.merchant_id:
        abort(404)
    try:
        made = statements.build(session, supplier, request.form.get("period", "").strip()[:16],
                                who.actor)
    except ApiError as e:
        session.rollback()
        return finance(error=e.message, status=e.status)
    session.commit()
    if not made:
        return finance(error=f"{supplier.code}: nothing to state for that period", status=200)
    return redirect(url_for("console.statement", statement_id=made[0].id), 303)


@bp.get("/console/finance/statements/<int:statement_id>")
@page(FINANCE)
def statement(who, statement_id, error=None, status=200, report=None):
    session = request_session()
    st = get_visible(session, Statement, statement_id, who)
    items = session.scalars(select(ReconciliationItem).where(
        ReconciliationItem.statement_id == st.id).order_by(
        ReconciliationItem.dispute != "open", ReconciliationItem.id).limit(500)).all()
    lines = session.scalars(select(StatementLine).where(StatementLine.statement_id == st.id)
                            .order_by(StatementLine.id).limit(500)).all()
    return render_template(
        "console/statement.html", who=who, st=st, items=items, lines=lines,
        supplier=session.get(Supplier, st.supplier_id), error=error, report=report,
        chinese=str(get_locale()) == "zh", open_disputes=sum(i.dispute == "open"
                                                             for i in items),
        can=lambda event: statements.STATEMENT.can(st.status, event),
        done=request.args.get("done")), status


def _statement_step(who, statement_id: int, act):
    session = request_session()
    st = get_visible(session, Statement, statement_id, who)
    try:
        act(session, st)
    except ApiError as e:
        session.rollback()
        return statement(statement_id=statement_id, error=e.message, status=e.status)
    session.commit()
    return None


@bp.post("/console/finance/statements/<int:statement_id>/<step>")
@page(FINANCE)
def statement_step(who, statement_id, step):
    if step not in STEPS or (step == "reopen" and who.role != "finance"):
        abort(404 if step not in STEPS else 403)
    early, reason = request.form.get("early") == "yes", request.form.get("reason", "")
    acts = {"send": lambda s, st: statements.send(s, st, who.actor, early=early),
            "match": lambda s, st: reconcile.run(s, st, who.actor),
            "confirm": lambda s, st: statements.confirm(s, st, who.actor),
            "close": lambda s, st: statements.close(s, st, who.actor, early=early),
            "reopen": lambda s, st: statements.reopen(s, st, who.actor, reason)}
    failed = _statement_step(who, statement_id, acts[step])
    return failed or redirect(url_for("console.statement", statement_id=statement_id,
                                      done=step), 303)


@bp.post("/console/finance/statements/<int:statement_id>/import")
@page(FINANCE)
def import_file(who, statement_id):
    session = request_session()
    st = get_visible(session, Statement, statement_id, who)
    data, filename = read_upload(files.MAX_BYTES, "the statement file")
    try:
        report = imports.import_file(session, session.get(Supplier, st.supplier_id), data,
                                     filename or "statement", who.actor, statement=st,
                                     apply_valid=request.form.get("apply_valid") == "yes")
    except ApiError as e:
        session.rollback()
        rows = e.details.get("rows", []) if isinstance(e.details, dict) else []
        return statement(statement_id=statement_id, error=e.message, status=e.status,
                         report={"valid": None, "errors": rows})
    session.commit()
    return statement(statement_id=statement_id, report={
        "valid": len(report["rows"]), "again": report["again"],
        "errors": [f"row {x['row_no']}: {x['message']}" for x in report["errors"]]})


@bp.post("/console/finance/items/<int:item_id>/decide")
@page(FINANCE)
def decide(who, item_id):
    session = request_session()
    item = get_visible(session, ReconciliationItem, item_id, who)
    statement_id = item.statement_id
    try:
        disputes.decide(session, item, request.form.get("decision", ""), who.actor,
                        request.form.get("note", "").strip()[:500])
    except ApiError as e:
        session.rollback()
        return statement(statement_id=statement_id, error=e.message, status=e.status)
    session.commit()
    return redirect(url_for("console.statement", statement_id=statement_id, done="decided")
                    + f"#item-{item_id}", 303)


def _format():
    fmt, lang = request.args.get("format", "xlsx"), request.args.get("lang", "zh")
    if fmt not in exports.FORMATS or lang not in exports.LANGS:
        abort(404)
    return fmt, lang


@bp.get("/console/finance/statements/<int:statement_id>/export")
@page(FINANCE)
def export(who, statement_id):
    session, (fmt, lang) = request_session(), _format()
    st = get_visible(session, Statement, statement_id, who)
    what = request.args.get("what", "statement")
    if what not in exports.WHATS:
        abort(404)
    return export_file(exports.export(session, st, what, fmt, lang), fmt,
                       f"statement-{st.id}-{st.period}-{what}")


@bp.get("/console/finance/journal")
@page(FINANCE)
def journal(who):
    fmt, lang = _format()
    month = request.args.get("period", "")
    return export_file(exports.journal(request_session(), who.merchant_id, month, fmt, lang),
                       fmt, f"journal-{month}")


@bp.get("/console/finance/claims/<int:claim_id>/evidence")
@page(FINANCE)
def claim_evidence(who, claim_id):
    session = request_session()
    claim = get_visible(session, Claim, claim_id, who)
    response = Response(evidence.pack(session, claim, hub().settings.var_dir),
                        mimetype="application/zip")
    response.headers["Content-Disposition"] = attachment(f"claim-{claim.id}-evidence.zip")
    return response
