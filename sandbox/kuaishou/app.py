"""The Flask application of the simulated platform.

``create_app(config)`` builds one platform: its ``State``, the push service (started at
once; stop it with ``app.extensions["ks_sandbox"].push.stop()`` or through
``sandbox.kuaishou.serve``), the QPS limiter and the four blueprints -- OAuth
(``/oauth/...``, ``/oauth2/...``), the API gateway (``/open/...``) and the control API
(``/_sandbox/...``, with the seeded scenario generator of ``scenario.py``). Unknown paths and internal failures answer JSON, never a trace.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from . import control, control_orders, gateway, oauth, scenario
from .push import PushService
from .ratelimit import QpsLimiter
from .state import Config, State

log = logging.getLogger("sandbox.kuaishou")


def create_app(config: dict | None = None, state: State | None = None) -> Flask:
    state = state or State(Config.from_dict(config))
    app = Flask("sandbox.kuaishou")
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    app.extensions["ks_sandbox"] = state
    app.extensions["ks_initial_config"] = state.config.to_json()
    app.extensions["ks_limiter"] = QpsLimiter()
    if state.push is None:
        state.push = PushService(state)
        state.push.start()
    for blueprint in (oauth.bp, gateway.bp, control.bp, control_orders.bp, scenario.bp):
        app.register_blueprint(blueprint)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        return jsonify({"error": err.name, "message": err.description, "path": request.path}), err.code

    @app.errorhandler(Exception)
    def _internal(err: Exception):
        log.exception("sandbox failure on %s %s", request.method, request.path)
        return jsonify({"result": 100200500, "error": "server_error",
                        "error_msg": "系统繁忙，请稍后重试"}), 500

    return app
