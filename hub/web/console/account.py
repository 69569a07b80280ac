"""Your own account, for every role: who you are, the language, the password, and the
authenticator (TOTP) that signing in then asks for.

| page | what |
|---|---|
| ``GET /console/account`` | name, login, role (and supplier), language, password, TOTP |
| ``POST /console/account/password`` | the current password and a new one, twice |
| ``POST /console/account/totp`` | start: a secret and its QR code to scan |
| ``POST /console/account/totp/confirm`` | a code from the app turns it on |
| ``POST /console/account/totp/off`` | with the password |

A new password or TOTP turned on ends every other session of the user; this one goes on
in a new session.
"""
from __future__ import annotations

import segno
from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from hub.core.errors import ApiError
from hub.models import Supplier, User
from hub.parties import users
from hub.web.console import kit
from hub.web.console.kit import console_blueprint as bp
from hub.web.console.kit import page
from hub.web.console.sign_in import password_rule
from hub.web.context import request_session

EVERYONE = frozenset({"merchant_admin", "operator", "finance", "supplier"})


def _page(who, status=200, **extra):
    db = request_session()
    user = db.get(User, who.user_id)
    supplier = db.get(Supplier, user.supplier_id) if user.supplier_id else None
    return render_template("console/account.html", who=who, user=user, supplier=supplier,
                           totp_on=bool((user.totp or {}).get("confirmed")),
                           rule=password_rule(), **{"errors": {}, **extra}), status


@bp.get("/console/account")
@page(EVERYONE)
def account(who):
    return _page(who, done=request.args.get("done"))


@bp.post("/console/account/password")
@page(EVERYONE)
def change_password(who):
    db, form = request_session(), request.form
    user = db.get(User, who.user_id)
    if form.get("password", "") != form.get("password_again", ""):
        return _page(who, 422, errors={"password_again": _("The two passwords differ.")})
    if not users.confirm_password(db, user, form.get("current_password", "")):
        db.commit()  # the failure counts
        return _page(who, 422, errors={"current_password": _("The current password is wrong.")})
    try:
        users.set_password(db, user, form.get("password", ""), who.actor)
    except ApiError:
        db.rollback()
        return _page(who, 422, errors={"password": password_rule()})
    return _again(user, "password")


def _again(user: User, done: str):
    """Signed in anew (the change ended every session of the user, this one too)."""
    kit.start(user)
    request_session().commit()
    return redirect(url_for("console.account", done=done), 303)


@bp.post("/console/account/totp")
@page(EVERYONE)
def totp_start(who):
    db = request_session()
    user = db.get(User, who.user_id)
    secret, uri = users.totp_begin(db, user)
    db.commit()
    qr = Markup(segno.make(uri, error="m").svg_inline(scale=4, title=_("QR code")))
    return _page(who, totp_secret=secret, totp_qr=qr)


@bp.post("/console/account/totp/confirm")
@page(EVERYONE)
def totp_confirm(who):
    db = request_session()
    user = db.get(User, who.user_id)
    try:
        users.totp_confirm(db, user, request.form.get("code", ""))
    except ApiError:
        db.rollback()
        return _page(who, 422, errors={"code": _(
            "The code does not match. Enter the 6 digits your app shows now.")})
    return _again(user, "totp")


@bp.post("/console/account/totp/off")
@page(EVERYONE)
def totp_off(who):
    db = request_session()
    user = db.get(User, who.user_id)
    if not users.confirm_password(db, user, request.form.get("current_password", "")):
        db.commit()  # the failure counts
        return _page(who, 422, errors={"totp_password": _("The current password is wrong.")})
    users.totp_disable(db, user, who.actor)
    db.commit()
    return redirect(url_for("console.account", done="totp_off"), 303)
