"""Per-app and per-request plumbing: the hub context (settings, database, the webhook
receiver's ``AccountCache``), the request's database session and the authenticated
principal.

Views call ``request_session()`` for a session that lives for the request (read-only for
GET and HEAD, so SQLite readers never queue behind writers) and ``principal()`` for the
caller, set by ``hub.web.kit.endpoint``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session

from hub.parties.accounts import AccountCache
from hub.core.config import Settings
from hub.core.db import Database


@dataclass
class HubContext:
    settings: Settings
    db: Database
    accounts: AccountCache = field(default_factory=AccountCache)  # one per app


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

