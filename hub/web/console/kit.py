"""The console's shared parts: the blueprint, the signed-in session, the ``page``
decorator, CSRF, security headers and the friendly error pages (see the package
docstring). ``views`` and ``callback`` build on it; the package registers them."""
from __future__ import annotations

import functools
import hmac
import logging
import secrets
import time
import uuid
from datetime import datetime, timezone

from flask import (Blueprint, abort, g, redirect, render_template, request,
                   session, url_for)
from werkzeug.exceptions import HTTPException

from hub.parties import auth
from hub.core import crypto
from hub.core.crypto import SecretsUnavailable
from hub.core.errors import ApiError
from hub.parties.linking import derive_secret
from hub.web.context import request_session

log = logging.getLogger(__name__)

console_blueprint = Blueprint("console", __name__, static_folder="static",
                              static_url_path="/console/static")
CONSOLE_ROLES = frozenset({"merchant_admin", "operator"})
SESSION_HOURS = 12
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@console_blueprint.record_once
def _setup(state) -> None:
    app = state.app
    settings = app.extensions["hub"].settings
    app.secret_key = derive_secret(settings.secret_key, "console-session")
    app.config.update(
        SECRET_KEY_FALLBACKS=[derive_secret(k, "console-session")
                              for k in settings.old_secret_keys],
        SESSION_COOKIE_NAME="hub_console", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_PATH="/console",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"))
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.filters["when"] = when


def when(value) -> str:
    """A time for people: ``2026-11-02 09:30 UTC``; ``—`` when there is none."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return "—"
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M UTC")


# -- session and sign-in -------------------------------------------------------------------
def csrf_token() -> str:
    if not isinstance(session.get("csrf"), str):
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def sign_in(token: str) -> None:
    session.clear()
    session["tok"] = crypto.encrypt_json({"token": token})
    session["at"] = int(time.time())
    session["in"] = time.time()  # to the microsecond: a later sign-out ends it
    session["csrf"] = secrets.token_urlsafe(32)


def _session_token() -> str | None:
    stored = session.get("tok")
    if not isinstance(stored, str):
        return None
    try:
        token = crypto.decrypt_json(stored).get("token")
    except (SecretsUnavailable, AttributeError):
        return None
    return token if isinstance(token, str) else None


def sign_out() -> None:
    """End the session here and on the server: a copy of its cookie no longer signs in
    (``auth.sign_out``: nor does any other console session of the same token)."""
    token = _session_token()
    if token is not None:
        db_session = request_session()
        auth.sign_out(db_session, token)
        db_session.commit()
    session.clear()


def signed_in() -> auth.Principal | None:
    """The principal of the session's token, or None (not signed in, expired, revoked)."""
    if "principal" in g:
        return g.principal
    who = None
    at, since = session.get("at"), session.get("in")
    if isinstance(at, int) and 0 <= time.time() - at <= SESSION_HOURS * 3600:
        token = _session_token()
        if token is not None:
            since = since if isinstance(since, float) else float(at)
            who = auth.authenticate(request_session(), token, signed_in_at=since)
    if who is not None and who.role not in CONSOLE_ROLES:
        who = None
    g.principal = who
    return who


def page(roles=CONSOLE_ROLES):
    """A console page: signed in (else to the sign-in page) with one of ``roles``."""
    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            who = signed_in()
            if who is None:
                return redirect(url_for("console.sign_in_page", next=request.path))
            if who.role not in roles:
                abort(403, f"This page needs the role {' or '.join(sorted(roles))}; "
                           f"you are signed in as {who.role}.")
            return view(who, *args, **kwargs)
        return wrapper
    return decorate


@console_blueprint.before_request
def _check_csrf():
    if request.method != "POST":
        return None
    expected, given = session.get("csrf"), request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, given):
        abort(400, "This form expired or did not come from this console. Reload the page "
                   "and try again.")
    return None


@console_blueprint.after_request
def _headers(response):
    for key, value in HEADERS.items():
        response.headers.setdefault(key, value)
    return response


# -- errors: friendly pages ------------------------------------------------------------------
def error_page(status: int, title: str, message: str, **extra):
    return render_template("console/error.html", status=status, title=title,
                           message=message, who=g.get("principal"), **extra), status


_TITLES = {400: "Bad request", 401: "Not signed in", 403: "Not allowed", 404: "Not found",
           405: "Not allowed", 409: "Already exists", 413: "Too large", 422: "Invalid input"}


@console_blueprint.errorhandler(HTTPException)
def _http_error(e: HTTPException):
    status = e.code or 500
    message = e.description if isinstance(e.description, str) else ""
    if status == 404:
        message = "There is no such page, or it belongs to another merchant."
    return error_page(status, _TITLES.get(status, e.name), message)


@console_blueprint.errorhandler(ApiError)
def _api_error(e: ApiError):
    return error_page(e.status, _TITLES.get(e.status, "Error"), e.message)


@console_blueprint.errorhandler(Exception)
def _unexpected(e: Exception):
    ref = uuid.uuid4().hex[:12]
    log.exception("console error", extra={"error_ref": ref})
    return error_page(500, "Something went wrong", f"An internal error occurred. Reference "
                      f"{ref} (give it to your operator to find the details in the log).")
