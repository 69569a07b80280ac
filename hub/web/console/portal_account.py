"""The supplier's account with the merchant in its portal (role ``supplier``): the claims
sent to it and the statements, answered by the same steps as the supplier API
(``hub.domain.liability.claims``, ``hub.domain.finance.statements``); only its own rows.

| page | what |
|---|---|
| ``GET /console/supplier/account`` | its balance, the claims to answer and answered, its statements |
| ``POST /console/supplier/claims/<id>/answer`` | ``accept`` all, ``part`` (the yuan it accepts), or ``dispute`` with why, links and photos |
| ``GET /console/supplier/claims/<id>/evidence`` | the claim's evidence pack (ZIP) |
| ``GET /console/supplier/statements/<id>`` | the statement's lines, each to agree or dispute |
| ``POST /console/supplier/statements/<id>/answer`` | confirm every line, or dispute the ticked ones (why, the right amount) |
| ``GET /console/supplier/statements/<id>/export`` | the statement as CSV or XLSX, 中文 or English |
"""
from __future__ import annotations

from flask import Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from hub.core.china import yuan
from hub.core.errors import ApiError
from hub.domain import ledger
from hub.domain.finance import exports, statements
from hub.domain.liability import claims, evidence
from hub.domain.returns.inspection import MAX_PHOTO_BYTES, MAX_PHOTOS, image_kind, store_photo
from hub.domain.sheets.statements import parse_amount
from hub.models import Claim, Statement, StatementLine
from hub.web.api.spreadsheets import attachment
from hub.web.api.statements import export_file
from hub.web.console import kit
from hub.web.console.kit import console_blueprint as bp
from hub.web.console.kit import page
from hub.web.console.portal import SUPPLIER
from hub.web.context import hub, request_session
from hub.web.kit.receipts import read_photos
from hub.web.kit.scope import get_visible, visible

TO_ANSWER = ("sent", "acknowledged")
kit.UPLOADS["console.answer_claim"] = MAX_PHOTOS * MAX_PHOTO_BYTES + 1024 * 1024


class Refused(Exception):
    """A form the page shows again with this message (nothing was written)."""


@bp.get("/console/supplier/account")
@page(SUPPLIER)
def supplier_account(who, errors=None, status=200):
    session = request_session()
    mine = ledger.Counterparty("supplier", id=who.supplier_id)
    return render_template(
        "console/supplier_account.html", who=who, errors=errors or {},
        balances=ledger.balances(session, who.merchant_id, None, mine),
        claims=session.scalars(visible(Claim, who).where(Claim.status != "draft").order_by(
            Claim.status.not_in(TO_ANSWER), Claim.id.desc()).limit(200)).all(),
        statements=session.scalars(visible(Statement, who).where(Statement.status != "draft")
                                   .order_by(Statement.ends_at.desc()).limit(60)).all(),
        to_answer=TO_ANSWER, costs=evidence.COSTS, done=request.args.get("done")), status


@bp.post("/console/supplier/claims/<int:claim_id>/answer")
@page(SUPPLIER)
def answer_claim(who, claim_id):
    form, outcome = request.form, request.form.get("outcome", "")
    reason = form.get("reason", "").strip() or None
    session = request_session()
    try:
        photos = _photos() if outcome == "dispute" else []  # before any transaction opens
        claim = get_visible(session, Claim, claim_id, who)
        amount = _yuan(form.get("amount", "")) if outcome == "part" else None
        if amount is not None and not 0 < amount <= claim.amount_minor:
            raise Refused(_("Accept more than 0 and at most the %(amount)s claimed.",
                            amount=yuan(claim.amount_minor, claim.currency)))
        if outcome == "dispute" and reason is None:
            raise Refused(_("Say why you dispute the claim."))
        links = [x.strip() for x in form.get("links", "").splitlines() if x.strip()]
        session.refresh(claim, with_for_update=True)
        claims.answer(session, claim, "accept" if outcome == "part" else outcome, who.actor,
                      amount_minor=amount, reason=reason, evidence=links + [
                          store_photo(hub().settings.var_dir, x) for x in photos])
    except (ApiError, Refused) as e:
        session.rollback()
        return supplier_account(errors={claim_id: _message(e)}, status=_status(e))
    session.commit()
    return redirect(url_for("console.supplier_account", done="claim") + f"#claim-{claim_id}",
                    303)


@bp.get("/console/supplier/claims/<int:claim_id>/evidence")
@page(SUPPLIER)
def supplier_claim_evidence(who, claim_id):
    session = request_session()
    claim = get_visible(session, Claim, claim_id, who)
    response = Response(evidence.pack(session, claim, hub().settings.var_dir, for_supplier=True),
                        mimetype="application/zip")
    response.headers["Content-Disposition"] = attachment(f"claim-{claim.id}-evidence.zip")
    return response


@bp.get("/console/supplier/statements/<int:statement_id>")
@page(SUPPLIER)
def supplier_statement(who, statement_id, error=None, status=200):
    session = request_session()
    st = _statement(session, who, statement_id)
    lines = session.scalars(select(StatementLine).where(StatementLine.statement_id == st.id)
                            .order_by(StatementLine.id).limit(1000)).all()
    return render_template("console/supplier_statement.html", who=who, st=st, lines=lines,
                           error=error, form=request.form, done=request.args.get("done")), status


@bp.post("/console/supplier/statements/<int:statement_id>/answer")
@page(SUPPLIER)
def answer_statement(who, statement_id):
    session, form = request_session(), request.form
    st = _statement(session, who, statement_id)
    try:
        disputed = [] if form.get("outcome") != "dispute" else [
            _disputed(form, int(k[8:])) for k, v in form.items()
            if k.startswith("dispute.") and k[8:].isdecimal() and len(k) < 24 and v == "yes"]
        if form.get("outcome") == "dispute" and not disputed:
            raise Refused(_("Tick the lines you do not agree with."))
        session.refresh(st, with_for_update=True)
        statements.answer(session, st, who.actor, disputed,
                          form.get("reason", "").strip()[:2000] or None)
    except (ApiError, Refused) as e:
        session.rollback()
        return supplier_statement(statement_id=statement_id, error=_message(e),
                                  status=_status(e))
    session.commit()
    return redirect(url_for("console.supplier_statement", statement_id=statement_id,
                            done="answered"), 303)


@bp.get("/console/supplier/statements/<int:statement_id>/export")
@page(SUPPLIER)
def supplier_statement_export(who, statement_id):
    session = request_session()
    fmt, lang = request.args.get("format", "xlsx"), request.args.get("lang", "zh")
    if fmt not in exports.FORMATS or lang not in exports.LANGS:
        abort(404)
    st = _statement(session, who, statement_id)
    return export_file(exports.export(session, st, "statement", fmt, lang), fmt,
                       f"statement-{st.period}")


def _statement(session, who, statement_id: int) -> Statement:
    st = get_visible(session, Statement, statement_id, who)
    if st.status == "draft":  # not sent to it yet
        abort(404)
    return st


def _disputed(form, line_id: int) -> dict:
    reason = form.get(f"reason.{line_id}", "").strip()
    if not reason:
        raise Refused(_("Line %(id)s: say why you do not agree.", id=line_id))
    amount = form.get(f"amount.{line_id}", "").strip()
    return {"line_id": line_id, "reason": reason[:2000],
            **({"amount_minor": _yuan(amount)} if amount else {})}


def _yuan(text: str) -> int:
    try:
        return parse_amount(text)
    except ValueError:
        raise Refused(_("%(text)s is not an amount in yuan (12.50).", text=text[:32])) from None


def _photos() -> list[bytes]:
    photos = read_photos()
    if any(image_kind(x[:12]) is None for x in photos):
        raise Refused(_("Photos are JPEG, PNG or WebP images."))
    return photos


def _message(e: Exception) -> str:
    if not isinstance(e, ApiError):
        return str(e)
    named = e.details if e.code == "validation_error" and isinstance(e.details, dict) else {}
    return "; ".join([e.message] + [f"{k}: {' '.join(map(str, v))}" for k, v in named.items()])


def _status(e: Exception) -> int:
    return e.status if isinstance(e, ApiError) else 422
