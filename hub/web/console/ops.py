"""What needs the merchant's staff: the alerts inbox, dead messages with replay, and the
link from any alert to the page of its subject.

| page | who | what |
|---|---|---|
| ``GET /console/alerts?severity=&kind=`` | staff | open alerts, the worst first, each with the action it needs |
| ``POST /console/alerts/<id>/resolve`` | staff | marked as handled (audited) |
| ``GET /console/open/<entity>/<id>`` | staff | to the page of an alert's subject |
| ``GET /console/messages`` | staff | dead outbox messages: to whom, why they died |
| ``POST /console/messages/<id>/replay`` | staff | sent again, same idempotency key |
"""
from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, select

from hub.core.errors import ApiError
from hub.models import Account, Alert, Fulfilment, OutboxMessage, Shipment
from hub.models.alerts import SEVERITIES, handled
from hub.pipeline import outbox_admin
from hub.web.console.kit import console_blueprint as bp
from hub.web.console.kit import page
from hub.web.context import hub, request_session
from hub.web.kit.scope import get_visible, visible

LIMIT = 200
ACTIONS = {  # alert kind → what a person does about it
    "shop_reauthorize": _l("Re-authorize the shop."),
    "platform_rejected_tracking": _l("Correct the tracking number."),
    "supplier_sla_breached": _l("Chase the supplier for its answer."),
    "supplier_answer_not_applied": _l("Check the supplier's answer against the order."),
    "refund_needs_decision": _l("Decide the refund."),
    "return_needs_decision": _l("Decide the return."),
    "return_decision_failed": _l("Decide again: the platform refused the decision."),
    "return_wrong_item": _l("Dispute the return with the platform, with the inspection."),
    "claim_overdue": _l("Chase the claim, or write it off."),
    "claim_disputed": _l("Answer the supplier's dispute of the claim."),
    "stop_ship_failed": _l("Intercept the parcel, or expect it back."),
    "stop_ship_no_tracking": _l("Ask the supplier for the tracking number."),
    "interception_failed": _l("Call the courier, or expect the parcel back."),
    "interception_unavailable": _l("Call the courier, or expect the parcel back."),
    "order_held": _l("Check the held order before anything ships."),
    "sku_unmapped": _l("Map the SKU to a supplier."),
    "fulfilment_rejected": _l("Give the order to another supplier."),
    "supplier_has_no_channel": _l("Give the supplier a channel."),
    "supplier_notice_failed": _l("Replay the message once the supplier's endpoint works."),
    "supplier_terms_invalid": _l("Fix the supplier's contract terms."),
    "tracking_subscription_failed": _l("Check the courier account."),
    "tracking_stopped": _l("Check the courier account."),
    "no_courier_account": _l("Add a courier account."),
    "parcel_problem": _l("Ask the courier about the parcel."),
    "parcel_returning": _l("Expect the parcel back."),
    "after_sale_undispatched": _l("Dispatch the replacement."),
}


def action_of(kind: str) -> str:
    return str(ACTIONS.get(kind, _l("Look into it.")))


@bp.get("/console/alerts")
@page()
def alerts(who):
    stmt = visible(Alert, who).where(Alert.resolved_at.is_(None))
    severity, kind = request.args.get("severity"), request.args.get("kind")
    if severity in SEVERITIES:
        stmt = stmt.where(Alert.severity == severity)
    if kind:
        stmt = stmt.where(Alert.kind == kind[:64])
    worst = case({s: n for n, s in enumerate(reversed(SEVERITIES))}, value=Alert.severity)
    rows = request_session().scalars(stmt.order_by(worst, Alert.created_at.desc())
                                     .limit(LIMIT)).all()
    return render_template("console/alerts.html", who=who, alerts=rows, action_of=action_of,
                           severity=severity, kind=kind, severities=SEVERITIES, limit=LIMIT)


@bp.post("/console/alerts/<int:alert_id>/resolve")
@page()
def resolve_alert(who, alert_id):
    session = request_session()
    handled(session, get_visible(session, Alert, alert_id, who), who.actor)
    session.commit()
    return redirect(request.form.get("back") if request.form.get("back", "").startswith(
        "/console/alerts") else url_for("console.alerts"), 303)


@bp.get("/console/open/<entity>/<int:entity_id>")
@page()
def open_subject(who, entity, entity_id):
    """The page of an alert's subject."""
    session = request_session()
    if entity == "order":
        return redirect(url_for("console.order", order_id=entity_id))
    if entity in ("fulfilment", "shipment"):
        row = get_visible(session, Fulfilment if entity == "fulfilment" else Shipment,
                          entity_id, who)
        if getattr(row, "return_case_id", None) and entity == "shipment":
            entity, entity_id = "return_case", row.return_case_id  # a return parcel
        elif row.order_id:
            return redirect(url_for("console.order", order_id=row.order_id))
    if entity == "return_case":
        return redirect(url_for("console.return_page", case_id=entity_id))
    if entity == "account":
        account = get_visible(session, Account, entity_id, who)
        if account.kind == "platform":
            return redirect(url_for("console.shop", account_id=account.id))
    abort(404)


@bp.get("/console/messages")
@page()
def messages(who):
    session = request_session()
    rows = session.scalars(visible(OutboxMessage, who).where(OutboxMessage.status == "dead")
                           .order_by(OutboxMessage.id.desc()).limit(LIMIT)).all()
    names = dict(session.execute(select(Account.id, Account.name).where(
        Account.merchant_id == who.merchant_id)).all())
    return render_template("console/messages.html", who=who, messages=rows, names=names,
                           replayed=request.args.get("replayed"), limit=LIMIT)


@bp.post("/console/messages/<int:message_id>/replay")
@page()
def replay_message(who, message_id):
    session = request_session()
    message = get_visible(session, OutboxMessage, message_id, who)
    try:
        outbox_admin.replay(session, message, who.actor, hub().settings.var_dir)
    except ApiError:
        session.rollback()
        abort(409, _("Only a dead message is sent again."))
    session.commit()
    return redirect(url_for("console.messages", replayed=message.id), 303)
