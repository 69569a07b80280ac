"""Dropship Hub: connects shop platforms, dropship suppliers and couriers.

``create_app()`` is the Flask app factory used by gunicorn (``hub.wsgi:app``), the CLI
(``hub ...`` or ``flask --app hub ...``) and the tests.
"""
from __future__ import annotations

from flask import Flask

from hub.config import Settings
from hub.db import Database


def create_app(settings: Settings | None = None, database: Database | None = None) -> Flask:
    from hub import cli, console, crypto, logs, web, webhooks
    from hub import fulfilment, returns_flow, stopship  # noqa: F401 (hub.sync listeners)
    from hub import platform_actions  # noqa: F401 (hub.outbox.on_result hooks)
    from hub.api import api_blueprint
    from hub.docs import docs_blueprint
    from hub.errors import register_error_handlers
    from hub.health import health_blueprint

    settings = settings or Settings.from_env()
    logs.configure(settings.log_level, settings.log_format)
    crypto.configure(settings.secret_key, settings.old_secret_keys)

    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, JSON_SORT_KEYS=False)
    app.json.ensure_ascii = False
    web.init_app(app, settings, database or Database(settings.database_url,
                                                     settings.sqlite_busy_timeout_ms))
    register_error_handlers(app)
    app.register_blueprint(health_blueprint)
    app.register_blueprint(api_blueprint)
    app.register_blueprint(docs_blueprint)
    app.register_blueprint(webhooks.webhooks_blueprint)
    app.register_blueprint(console.console_blueprint)
    cli.register(app)
    return app
