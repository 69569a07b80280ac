"""The merchant's dashboard: what needs someone today, each figure a link to its page.

| page | who | what |
|---|---|---|
| ``GET /console/dashboard`` | staff | today's orders (the merchant's day), open stop-ships, returns awaiting a decision, open alerts by severity (the critical ones listed), dead messages |
"""
from __future__ import annotations

from datetime import datetime, time

from flask import render_template
from flask_babel import get_timezone
from sqlalchemy import func, select

from hub.models import Alert, Fulfilment, Order, OutboxMessage, ReturnCase
from hub.models.alerts import SEVERITIES
from hub.web.console.kit import console_blueprint as bp
from hub.web.console.kit import page
from hub.web.context import request_session

AWAITING = ("requested",)  # a return the merchant has to decide


def figures(session, merchant_id: int, zone) -> dict:
    midnight = datetime.combine(datetime.now(zone).date(), time(), zone)

    def count(model, *where):
        return session.scalar(select(func.count()).select_from(model).where(
            model.merchant_id == merchant_id, *where))

    alerts = dict(session.execute(select(Alert.severity, func.count()).where(
        Alert.merchant_id == merchant_id, Alert.resolved_at.is_(None))
        .group_by(Alert.severity)).all())
    return {
        "orders_today": count(Order, Order.placed_at >= midnight),
        "stop_ships": count(Fulfilment, Fulfilment.status == "cancel_requested"),
        "returns_awaiting": count(ReturnCase, ReturnCase.status.in_(AWAITING)),
        "alerts": {severity: alerts.get(severity, 0) for severity in reversed(SEVERITIES)},
        "dead_messages": count(OutboxMessage, OutboxMessage.status == "dead"),
        "critical": session.scalars(select(Alert).where(
            Alert.merchant_id == merchant_id, Alert.resolved_at.is_(None),
            Alert.severity == "critical").order_by(Alert.created_at.desc()).limit(10)).all(),
    }


@bp.get("/console/dashboard")
@page()
def dashboard(who):
    return render_template("console/dashboard.html", who=who,
                           figures=figures(request_session(), who.merchant_id, get_timezone()))
