"""Per-app and per-request plumbing: the hub context, the request's database session and
the authenticated principal.

Views call ``request_session()`` for a session that lives for the request (read-only for
GET and HEAD, so SQLite readers never queue behind writers) and ``principal()`` for the
caller, set by ``hub.api.endpoint``.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session

from hub.config import Settings
from hub.db import Database

@dataclass
class HubContext:
    settings: Settings
    db: Database


def init_app(app: Flask, settings: Settings, database: Database) -> None:
    app.extensions["hub"] = HubContext(settings, database)

    @app.teardown_request
    def _close_session(exc):
        session: Session | None = g.pop("hub_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()


def hub() -> HubContext:
    return current_app.extensions["hub"]


def request_session() -> Session:
    if "hub_session" not in g:
        readonly = request.method in ("GET", "HEAD")
        maker = hub().db.read_sessionmaker if readonly else hub().db.sessionmaker
        g.hub_session = maker()
    return g.hub_session
