"""``create_app()``: the Flask app factory used by gunicorn (``hub.web.wsgi:app``), the CLI
(``hub ...``) and the tests. It wires the domain's event subscribers (``hub.wiring``)
before anything can change a row, and hangs the ``hub`` commands on ``app.cli``: every
command, the hub's own (``hub.cli``) and those of packages beside it (``demo``), comes
through the ``hub.commands`` entry point group, so the web layer imports no CLI.

Every response carries the console's security headers (``SECURITY_HEADERS``; outside
the console the policy also lets pages use inline styles, never inline scripts), and a
chunked request body over ``HUB_MAX_BODY_BYTES`` (or a view's own limit) is refused
with 413 (``HubRequest``).
"""
from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from flask import Flask, Request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

from connectors import outbound
from hub import wiring
from hub.core import crypto, logs
from hub.core.config import Settings
from hub.core.db import Database
from hub.core.errors import register_error_handlers
from hub.web import api, console, context, supplier_api, webhooks  # noqa: F401 (routes)
from hub.web.buyer_page import buyer_blueprint
from hub.web.console.kit import HEADERS
from hub.web.docs import docs_blueprint
from hub.web.health import health_blueprint
from hub.web.kit import api_blueprint

SECURITY_HEADERS = {**HEADERS, "Content-Security-Policy": (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'")}


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
    app.request_class = HubRequest
    app.after_request(_security_headers)
    app.register_blueprint(health_blueprint)
    app.register_blueprint(api_blueprint)
    app.register_blueprint(docs_blueprint)
    app.register_blueprint(webhooks.webhooks_blueprint)
    app.register_blueprint(console.console_blueprint)
    app.register_blueprint(buyer_blueprint)
    for entry in entry_points(group="hub.commands"):
        app.cli.add_command(entry.load(), entry.name)
    return app


class _StrictLimit(LimitedStream):
    """A chunked body's stream: past the limit is 413. Werkzeug's own stops reading such
    a body at the limit and hands on what it has, cut."""

    def readall(self) -> bytes:
        data = super().readall()
        if self.is_exhausted and self._stream.read(1):
            raise RequestEntityTooLarge()
        return data


class HubRequest(Request):
    @cached_property
    def stream(self):
        limit = self.max_content_length  # read now: a view may have raised it
        if self.environ.get("wsgi.input_terminated") and self.content_length is None \
                and limit is not None:
            return _StrictLimit(self.environ["wsgi.input"], limit, is_max=True)
        return get_input_stream(self.environ, max_content_length=limit)


def _security_headers(response):
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    return response
