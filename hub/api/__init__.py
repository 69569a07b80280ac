"""The REST API under ``/api/v1``: one blueprint, views grouped by concern."""
from flask import Blueprint

api_blueprint = Blueprint("api", __name__, url_prefix="/api/v1")

from hub.api import admin, alerts, inbox_ops, outbox_ops, records, shops, tracking_ops  # noqa: E402,F401 (registers the routes)
from hub.api import spreadsheets  # noqa: E402,F401 (supplier sheets)
from hub.api import returns_ops  # noqa: E402,F401 (deciding returns)
from hub import supplier_api  # noqa: E402,F401 (the supplier API: /api/v1/supplier/...)
