"""Returns: the list, a case with its evidence, and the merchant's decisions on it
(``hub.domain.returns.decisions``: pushed to the platform through the outbox).

| page | who | what |
|---|---|---|
| ``GET /console/returns?status=&kind=&q=`` | staff | newest first |
| ``GET /console/returns/<id>`` | staff | the request (reason, the buyer's words, photos), the goods, the policy's verdict, inspections with their photos and grade, the return file's timeline, and what may be decided now |
| ``POST /console/returns/<id>/approve`` · ``/refund`` | staff | approve the request / refund once the goods are back |
| ``GET/POST /console/returns/<id>/reject?as=`` | staff | with one of the platform's reasons for this case; ``as=partial``: offer the buyer a part (the platform's way: a rejection the buyer answers by asking that amount); ``as=dispute``: refuse the goods that came back, the inspection in words |
| ``GET /console/returns/<id>/photos/<sha256>`` | staff | an inspection's photo |
"""
from __future__ import annotations

from flask import abort, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from hub.core.china import yuan
from hub.core.errors import ApiError
from hub.domain.reasons import taxonomy
from hub.domain.returns import decisions, inspection
from hub.domain.returns.casefile import casefile
from hub.domain.sheets.statements import parse_amount
from hub.models import Account, Inspection, PolicyDecision, ReturnCase
from hub.models.returns import RETURN_KINDS, RETURN_STATUSES
from hub.parties import after_sale_lists
from hub.web.console.kit import console_blueprint as bp
from hub.web.console.kit import page
from hub.web.console.words import timeline_words
from hub.web.context import hub, request_session
from hub.web.kit.scope import get_visible, visible

LIMIT = 100
REFUNDABLE = ("received", "inspected")
COMING_BACK = ("return_in_transit", "received", "inspected")  # a receipt to refuse
MODES = ("reject", "partial", "dispute")  # a partial refund or a dispute is a rejection
CONDITIONS_ZH = {"intact": "完好", "damaged": "破损", "missing_parts": "缺件",
                 "wrong_item": "非我司商品", "empty": "空包", "used": "已使用"}


@bp.get("/console/returns")
@page()
def returns(who):
    stmt = visible(ReturnCase, who)
    status, kind = request.args.get("status"), request.args.get("kind")
    q = request.args.get("q", "").strip()[:64]
    if status in RETURN_STATUSES:
        stmt = stmt.where(ReturnCase.status == status)
    if kind in RETURN_KINDS:
        stmt = stmt.where(ReturnCase.kind == kind)
    if q:
        stmt = stmt.where(ReturnCase.platform_return_id.startswith(q, autoescape=True))
    rows = request_session().scalars(stmt.order_by(ReturnCase.id.desc()).limit(LIMIT)).all()
    return render_template("console/returns.html", who=who, cases=rows, status=status,
                           kind=kind, q=q, statuses=RETURN_STATUSES, kinds=RETURN_KINDS,
                           reason=_reason, limit=LIMIT)


def _reason(code: str) -> str:
    return taxonomy.label(code, str(get_locale()))


@bp.get("/console/returns/<int:case_id>")
@page()
def return_page(who, case_id):
    session = request_session()
    case = get_visible(session, ReturnCase, case_id, who)
    looked = session.scalars(select(Inspection).where(
        Inspection.merchant_id == who.merchant_id, Inspection.return_case_id == case.id)
        .order_by(Inspection.id)).all()
    verdicts = session.scalars(select(PolicyDecision).where(
        PolicyDecision.merchant_id == who.merchant_id, PolicyDecision.return_case_id == case.id)
        .order_by(PolicyDecision.id)).all()
    timeline = casefile(session, case)["timeline"]
    shop = session.get(Account, case.shop_account_id)
    return render_template(
        "console/return.html", who=who, case=case, inspections=looked, verdicts=verdicts,
        shop=shop, reason=_reason(case.reason_code), chinese=str(get_locale()) == "zh",
        timeline=[(e, timeline_words(e)) for e in reversed(timeline)],
        can_approve=case.status == "requested", can_reject=case.status in (
            "requested", "return_in_transit", "received", "inspected"),
        can_refund=case.kind == "return_refund" and case.status in REFUNDABLE,
        can_dispute=case.kind in decisions.GOODS_BACK and case.status in COMING_BACK,
        decided=request.args.get("decided"))


def _decide(who, case_id: int, decide, done: str):
    session = request_session()
    case = get_visible(session, ReturnCase, case_id, who)
    session.refresh(case, with_for_update=True)  # two decisions are taken one by one
    try:
        decide(session, case)
    except ApiError as e:
        session.rollback()
        abort(e.status, e.message)
    session.commit()
    return redirect(url_for("console.return_page", case_id=case_id, decided=done), 303)


@bp.post("/console/returns/<int:case_id>/approve")
@page()
def approve_return(who, case_id):
    return _decide(who, case_id, lambda s, case: decisions.approve(
        s, case, who.actor, var_dir=hub().settings.var_dir), "approve")


@bp.post("/console/returns/<int:case_id>/refund")
@page()
def refund_return(who, case_id):
    return _decide(who, case_id, lambda s, case: decisions.refund(
        s, case, who.actor, var_dir=hub().settings.var_dir), "refund")


@bp.route("/console/returns/<int:case_id>/reject", methods=["GET", "POST"])
@page()
def reject_return(who, case_id):
    session = request_session()
    case = get_visible(session, ReturnCase, case_id, who)
    mode = request.values.get("as") if request.values.get("as") in MODES else "reject"
    if request.method == "POST":
        code = request.form.get("reason_code", "").strip()[:64]
        note = request.form.get("description", "").strip()
        if not code:
            abort(422, _("Choose the platform's reason."))
        if mode == "partial":
            note = _offer(case, request.form.get("amount", "")) + note
        return _decide(who, case_id, lambda s, c: decisions.reject(
            s, c, who.actor, code, note[:500] or None, var_dir=hub().settings.var_dir),
            "reject" if mode == "reject" else mode)
    shop = session.get(Account, case.shop_account_id)
    session.expunge(shop)
    try:
        reasons, error = after_sale_lists.reject_reasons(hub().db, shop,
                                                         case.platform_return_id), None
    except ApiError as e:
        reasons, error = [], e.message
    return render_template("console/reject.html", who=who, case=case, reasons=reasons,
                           error=error, mode=mode, evidence=_evidence(session, case)
                           if mode == "dispute" else "")


def _offer(case: ReturnCase, text: str) -> str:
    """A partial refund on the platform is a rejection that offers the buyer an amount
    (the buyer changes the request to it): the offer's words, for the buyer."""
    try:
        amount = parse_amount(text)
    except ValueError:
        abort(422, _("%(text)s is not an amount in yuan (12.50).", text=text[:32]))
    if not 0 < amount < case.refund_minor:
        abort(422, _("Offer more than 0 and less than the %(amount)s asked.",
                     amount=yuan(case.refund_minor, case.currency)))
    offered = yuan(amount, case.currency)
    return f"商家同意部分退款 {offered}，请将退款金额修改为 {offered} 后重新提交。"


def _evidence(session, case: ReturnCase) -> str:
    """The inspection in words, for disputing the receipt with the platform."""
    found = session.scalars(select(Inspection).where(
        Inspection.merchant_id == case.merchant_id, Inspection.return_case_id == case.id)
        .order_by(Inspection.id.desc()).limit(1)).first()
    if found is None:
        return ""
    said = f"验货结果：{CONDITIONS_ZH.get(found.condition, found.condition)}"
    if found.grade:
        said += f"，{found.grade} 级"
    if found.notes:
        said += f"；{found.notes}"
    return said + f"（{len(found.photos or [])} 张验货照片存档）。"


@bp.get("/console/returns/<int:case_id>/photos/<digest>")
@page()
def photo(who, case_id, digest):
    session = request_session()
    case = get_visible(session, ReturnCase, case_id, who)
    shown = {p for x in session.scalars(select(Inspection.photos).where(
        Inspection.merchant_id == who.merchant_id, Inspection.return_case_id == case.id))
        for p in x or []}
    if digest not in shown:
        abort(404)
    path = inspection.photo_path(hub().settings.var_dir, digest)
    kind = inspection.image_kind(path.read_bytes()[:12]) if path.is_file() else None
    if kind is None:
        abort(404)
    return send_file(path, mimetype=f"image/{kind}", max_age=3600)
