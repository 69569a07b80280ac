"""``GET /healthz``: 200 when the database answers, 503 otherwise."""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text

from hub.web.context import hub

health_blueprint = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@health_blueprint.get("/healthz")
def healthz():
    try:
        with hub().db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as e:  # the database is down: say so, never raise
        log.warning("health check failed", extra={"error": type(e).__name__})
        return jsonify({"status": "unavailable", "database": "unreachable"}), 503
    return jsonify({"status": "ok", "database": "ok"})
