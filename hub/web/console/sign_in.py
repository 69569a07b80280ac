"""Signing in and out, an invitation accepted, the language chosen, and where each role
lands.

| page | who | what |
|---|---|---|
| ``GET /`` → ``GET /console/`` | anyone | to the signed-in user's home, else to sign in |
| ``GET/POST /console/sign-in`` | anyone | login and password (``hub.parties.users``) |
| ``POST /console/sign-in/code`` | half signed in | the authenticator's code, when TOTP is on |
| ``POST /console/sign-out`` | signed in | the session ends on the server |
| ``GET/POST /console/invite/<token>`` | invited | choose a password, then signed in |
| ``POST /console/language`` | anyone | 中文 or English (kept for a signed-in user) |
"""
from __future__ import annotations

import time

from flask import redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from hub.core.errors import ApiError
from hub.models import User
from hub.parties import users
from hub.web.console import kit
from hub.web.console.i18n import LANGUAGES
from hub.web.console.kit import console_blueprint as bp
from hub.web.context import request_session

CODE_WAIT_S = 300  # to enter the code after the password
HOMES = {"merchant_admin": "console.dashboard", "operator": "console.dashboard",
         "finance": "console.finance", "supplier": "console.portal"}


def _safe(target: str) -> bool:
    """A page of the console, never another site."""
    return target.startswith("/console/") and not target.startswith("//") and "\\" not in target


def _next_url(who=None) -> str:
    target = request.values.get("next", "")
    if _safe(target):
        return target
    return url_for(HOMES[who.role]) if who else url_for("console.sign_in_page")


@bp.get("/")
def root():
    return redirect(url_for("console.home"))  # the session cookie's path is /console


@bp.get("/console")
@bp.get("/console/")
def home():
    who = kit.signed_in()
    return redirect(url_for(HOMES[who.role]) if who else url_for("console.sign_in_page"))


def _form(error=None, status=200, login=""):
    return render_template("console/sign_in.html", next=request.values.get("next", ""),
                           error=error, login=login, hours=users.SESSION_HOURS), status


@bp.get("/console/sign-in")
def sign_in_page():
    who = kit.signed_in()
    return redirect(_next_url(who)) if who else _form()


@bp.post("/console/sign-in")
def sign_in_submit():
    db = request_session()
    login = request.form.get("login", "")[:64]
    try:
        user = users.sign_in(db, login, request.form.get("password", ""))
    except users.TotpNeeded as needed:
        db.commit()
        session["pending"] = {"user": needed.user.id, "at": time.time()}
        return _code_form()
    except users.SignInRefused as refused:
        db.commit()  # the failure counts
        return _form(_refusal(refused), refused.status, login)
    return _signed_in(user)


def _refusal(refused: users.SignInRefused) -> str:
    if refused.status == 429:
        return _("Too many wrong passwords: try again in %(minutes)s minute(s).",
                 minutes=refused.details["retry_after_s"] // 60)
    if refused.status == 403:
        return _("This account cannot sign in: ask your administrator.")
    return _("The login or the password is wrong.")


def _code_form(error=None, status=200):
    return render_template("console/sign_in_code.html", next=request.values.get("next", ""),
                           error=error), status


@bp.post("/console/sign-in/code")
def sign_in_code():
    pending, db = session.get("pending"), request_session()
    user = None
    if isinstance(pending, dict) and 0 <= time.time() - pending.get("at", 0) <= CODE_WAIT_S:
        user = db.get(User, pending.get("user"))
    if user is None:
        session.pop("pending", None)
        return _form(_("Sign in again: the code was not entered in time."), 401)
    if not users.check_code(db, user, request.form.get("code", "")):
        db.commit()  # the failure counts
        return _code_form(_("The code does not match. Enter the 6 digits your app shows now."),
                          401)
    return _signed_in(user)


def _signed_in(user: User):
    kit.start(user)
    request_session().commit()
    return redirect(_next_url(user), 303)


@bp.post("/console/sign-out")
def sign_out():
    kit.end()
    return redirect(url_for("console.sign_in_page"), 303)


@bp.route("/console/invite/<token>", methods=["GET", "POST"])
def invite(token):
    db = request_session()
    user = users.invited(db, token)
    if user is None:
        return _invite_form(None, status=404)
    if request.method == "GET":
        return _invite_form(user)
    password = request.form.get("password", "")
    if password != request.form.get("password_again", ""):
        return _invite_form(user, {"password_again": _("The two passwords differ.")}, 422)
    try:
        users.accept_invite(db, token, password)
    except ApiError as e:
        db.rollback()
        return _invite_form(users.invited(db, token), {"password": password_rule()}, e.status)
    return _signed_in(user)


def _invite_form(user, errors=None, status=200):
    return render_template("console/invite.html", user=user, errors=errors or {},
                           rule=password_rule()), status


def password_rule() -> str:
    return _("At least %(n)s characters; not your login.", n=users.MIN_PASSWORD)


@bp.post("/console/language")
def choose_language():
    lang = request.form.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang
        who = kit.signed_in()
        if who is not None:
            db = request_session()
            users.set_locale(db, db.get(User, who.user_id), lang)
            db.commit()
    target = request.form.get("next", "")
    return redirect(target if _safe(target) else url_for("console.home"), 303)
