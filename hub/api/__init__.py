"""The REST API under ``/api/v1``: one blueprint, views grouped by concern."""
from flask import Blueprint

api_blueprint = Blueprint("api", __name__, url_prefix="/api/v1")

from hub.api import admin, alerts, inbox_ops, outbox_ops, records  # noqa: E402,F401 (registers the routes)
