"""The console's shared parts: the blueprint, the signed-in session, the ``page``
decorator, CSRF, security headers and the friendly error pages (see the package
docstring). The pages build on it; the package registers them."""
from __future__ import annotations

import functools
import hmac
import logging
import secrets
import uuid
from urllib.parse import urlsplit

from flask import (Blueprint, abort, g, redirect, render_template, request,
                   session, url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from hub.core import crypto
from hub.core.crypto import SecretsUnavailable
from hub.core.errors import ApiError
from hub.models import User
from hub.parties import users
from hub.parties.auth import Principal
from hub.parties.linking import derive_secret
from hub.web.console import i18n
from hub.web.console.i18n import role_name
from hub.web.context import request_session

log = logging.getLogger(__name__)

console_blueprint = Blueprint("console", __name__, static_folder="static",
                              static_url_path="/console/static")
STAFF = frozenset({"merchant_admin", "operator"})  # the merchant's own pages
UPLOADS: dict[str, int] = {}  # endpoint → the body it may take (its module sets it)
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
    i18n.init(app)


# -- session and sign-in -------------------------------------------------------------------
def csrf_token() -> str:
    if not isinstance(session.get("csrf"), str):
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def start(user: User) -> None:
    """Sign ``user`` in: a new server-side session, its secret encrypted in the cookie."""
    old = _secret()
    if old is not None:  # signing in again: the session before ends
        users.end_session(request_session(), old)
    secret = users.start_session(request_session(), user)
    lang = session.get("lang")
    session.clear()
    session.update(sid=crypto.encrypt_json({"s": secret}), lang=lang)
    session["csrf"] = secrets.token_urlsafe(32)


def _secret() -> str | None:
    stored = session.get("sid")
    if not isinstance(stored, str):
        return None
    try:
        secret = crypto.decrypt_json(stored).get("s")
    except (SecretsUnavailable, AttributeError):
        return None
    return secret if isinstance(secret, str) else None


def end() -> None:
    """End the session on the server: a copy of its cookie no longer signs in."""
    secret = _secret()
    if secret is not None:
        db_session = request_session()
        users.end_session(db_session, secret)
        db_session.commit()
    session.clear()


def signed_in() -> Principal | None:
    """The principal of the session, or None (not signed in, ended, expired, disabled)."""
    if "principal" not in g:
        secret = _secret()
        g.principal = users.session_principal(request_session(), secret) if secret else None
    return g.principal


def page(roles=STAFF):
    """A console page: signed in (else to the sign-in page) with one of ``roles``."""
    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            who = signed_in()
            if who is None:
                return redirect(url_for("console.sign_in_page", next=_back_to()))
            if who.role not in roles:
                abort(403, _("This page is not for your role (%(role)s).",
                             role=role_name(who.role)))
            return view(who, *args, **kwargs)
        return wrapper
    return decorate


def _back_to() -> str | None:
    """Where to go once signed in: this page; for a form sent, the page it was sent from
    (its action answers only POST)."""
    if request.method == "GET":
        return request.path
    came = urlsplit(request.referrer or "")
    same = came.netloc in ("", request.host) and came.path.startswith("/console/")
    return came.path if same else None


@console_blueprint.before_request
def _check_csrf():
    if request.method != "POST":
        return None
    if request.endpoint in UPLOADS:  # before the form is read: a photo is larger than a form
        request.max_content_length = UPLOADS[request.endpoint]
    expected, given = session.get("csrf"), request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected.encode(),
                                                                given.encode()):
        abort(400, _("This form expired or did not come from this console. Reload the page "
                     "and try again."))
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


_TITLES = {400: _l("Bad request"), 401: _l("Not signed in"), 403: _l("Not allowed"),
           404: _l("Not found"), 405: _l("Not allowed"), 409: _l("Conflict"),
           413: _l("Too large"), 422: _l("Invalid input"), 429: _l("Too many attempts")}


@console_blueprint.errorhandler(HTTPException)
def _http_error(e: HTTPException):
    status = e.code or 500
    message = e.description if isinstance(e.description, str) else ""
    if status == 404:
        message = _("There is no such page, or it belongs to another merchant.")
    return error_page(status, _TITLES.get(status, e.name), message)


@console_blueprint.errorhandler(ApiError)
def _api_error(e: ApiError):
    return error_page(e.status, _TITLES.get(e.status, _("Error")), e.message)


@console_blueprint.errorhandler(Exception)
def _unexpected(e: Exception):
    ref = uuid.uuid4().hex[:12]
    log.exception("console error", extra={"error_ref": ref})
    return error_page(500, _("Something went wrong"), _(
        "An internal error occurred. Reference %(ref)s (give it to your operator to find the "
        "details in the log).", ref=ref))
