"""``create_app()``: the Flask app factory used by gunicorn (``hub.web.wsgi:app``), the CLI
(``hub ...``) and the tests. It wires the domain's event subscribers (``hub.wiring``)
before anything can change a row, and hangs the ``hub`` commands on ``app.cli``: every
command, the hub's own (``hub.cli``) and those of packages beside it (``demo``), comes
through the ``hub.commands`` entry point group, so the web layer imports no CLI.
"""
from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from flask import Flask

from connectors import outbound
from hub import wiring
from hub.core import crypto, logs
from hub.core.config import Settings
from hub.core.db import Database
from hub.core.errors import register_error_handlers
from hub.web import api, console, context, supplier_api, webhooks  # noqa: F401 (routes)
from hub.web.docs import docs_blueprint
from hub.web.health import health_blueprint
from hub.web.kit import api_blueprint


def create_app(settings: Settings | None = None, database: Database | None = None) -> Flask:
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level, settings.log_format)
    crypto.configure(settings.secret_key, settings.old_secret_keys)
    outbound.configure(settings.outbound_allow)  # what the connectors may call (README)
    wiring.wire()

    app = Flask("hub", root_path=str(Path(__file__).parent))
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, JSON_SORT_KEYS=False)
    app.json.ensure_ascii = False
    context.init_app(app, settings, database or Database(settings.database_url,
                                                         settings.sqlite_busy_timeout_ms))
    register_error_handlers(app)
    app.register_blueprint(health_blueprint)
    app.register_blueprint(api_blueprint)
    app.register_blueprint(docs_blueprint)
    app.register_blueprint(webhooks.webhooks_blueprint)
    app.register_blueprint(console.console_blueprint)
    for entry in entry_points(group="hub.commands"):
        app.cli.add_command(entry.load(), entry.name)
    return app
