"""What needs a person: ``GET /alerts`` and ``POST /alerts/<id>/resolve``.

Suppliers see only the alerts raised for them (an order they have not answered in time,
a tracking number the platform refused)."""
from __future__ import annotations

from hub.web.kit import api_blueprint as bp
from hub.web.kit import schemas as s
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.pagination import paginate
from hub.web.kit.scope import get_visible, visible
from hub.models import Alert
from hub.models.alerts import handled
from hub.web.context import request_session

READERS = {"merchant_admin", "operator", "finance", "supplier"}


@bp.get("/alerts")
@endpoint(roles=READERS, query=s.AlertListArgs, response=s.AlertOut, many=True,
          summary="Alerts that need a person", tags=["alerts"])
def list_alerts(args):
    stmt = visible(Alert, principal())
    if args["open"]:
        stmt = stmt.where(Alert.resolved_at.is_(None))
    if args.get("kind"):
        stmt = stmt.where(Alert.kind == args["kind"])
    return paginate(request_session(), stmt, Alert.id, args)


@bp.post("/alerts/<int:alert_id>/resolve")
@endpoint(roles={"merchant_admin", "operator"}, response=s.AlertOut,
          summary="Mark an alert as handled", tags=["alerts"])
def resolve_alert(alert_id):
    who, session = principal(), request_session()
    alert = handled(session, get_visible(session, Alert, alert_id, who), who.actor)
    session.commit()
    return alert
