"""The merchant's users, for its administrator: invite, invite again, disable, enable.

| page | what |
|---|---|
| ``GET /console/users`` | every user: login, name, role (supplier), status, last sign-in |
| ``POST /console/users`` | invite: login, name, role, supplier → the invitation link, once |
| ``POST /console/users/<id>/invite`` | a new link for an invited user (the old one ends) |
| ``POST /console/users/<id>/disable`` · ``/enable`` | its sessions end at once |
| ``POST /console/users/<id>/totp_off`` | its authenticator is off (a lost phone): it signs in with its password, then turns a new one on |
"""
from __future__ import annotations

from flask import abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from hub.core.errors import ApiError
from hub.models import Supplier, User
from hub.models.tenancy import ROLES
from hub.parties import users
from hub.web.console.kit import console_blueprint as bp
from hub.web.console.kit import page
from hub.web.context import hub, request_session

ADMIN = frozenset({"merchant_admin"})
RULES = {"login": _l("3 to 64 characters: lower-case letters, digits, . _ @ -"),
         "role": _l("Choose a role."), "name": _l("At most 128 characters."),
         "supplier_id": _l("A supplier user names one of your suppliers; other roles none.")}


def _page(who, status=200, **extra):
    db = request_session()
    rows = db.scalars(select(User).where(User.merchant_id == who.merchant_id)
                      .order_by(User.login))
    suppliers = db.scalars(select(Supplier).where(Supplier.merchant_id == who.merchant_id)
                           .order_by(Supplier.code)).all()
    return render_template("console/users.html", who=who, users=rows, roles=ROLES,
                           suppliers=suppliers, names={s.id: s.code for s in suppliers},
                           status_name=status_name, action_name=action_name,
                           **{"errors": {}, "values": {}, **extra}), status


def _link(token: str) -> str:
    return f"{hub().settings.public_url.rstrip('/')}/console/invite/{token}"


@bp.get("/console/users")
@page(ADMIN)
def people(who):
    return _page(who)


@bp.post("/console/users")
@page(ADMIN)
def invite_user(who):
    form, db = request.form, request_session()
    values = {k: form.get(k, "").strip() for k in ("login", "name", "role", "supplier_id")}
    supplier = values["supplier_id"]
    try:
        user, token = users.create(
            db, who.merchant_id, values["login"], values["role"], who.actor,
            name=values["name"],
            supplier_id=int(supplier) if supplier.isdecimal() and len(supplier) < 16 else None)
        db.commit()
    except ApiError as e:
        db.rollback()
        errors = {k: RULES.get(k, e.message) for k in (e.details or {})} \
            if e.status == 422 else {"login": _("This login is taken.")}
        return _page(who, e.status, errors=errors, values=values)
    return _page(who, invited=user.login, link=_link(token))


def _own(who, user_id: int) -> User:
    user = request_session().get(User, user_id)
    if user is None or user.merchant_id != who.merchant_id:
        abort(404)
    return user


@bp.post("/console/users/<int:user_id>/<any(invite, disable, enable, totp_off):action>")
@page(ADMIN)
def change_user(who, user_id, action):
    db, user = request_session(), _own(who, user_id)
    if user.id == who.user_id and action == "disable":
        return _page(who, 409, message=_("You cannot disable yourself."))
    if action == "invite":
        try:
            token = users.reinvite(db, user, who.actor)
        except ApiError:
            return _page(who, 409, message=_("Only an invited user is invited again."))
        db.commit()
        return _page(who, invited=user.login, link=_link(token))
    {"disable": users.disable, "enable": users.enable,
     "totp_off": users.totp_disable}[action](db, user, who.actor)
    db.commit()
    return _page(who, message=_("%(login)s: %(status)s.", login=user.login,
                                status=status_name(user.status)))


def status_name(status: str) -> str:
    return {"invited": _("invited"), "active": _("active"), "disabled": _("disabled")
            }.get(status, status)


def action_name(action: str) -> str:
    return {"invite": _("Invite again"), "disable": _("Disable"), "enable": _("Enable"),
            "totp_off": _("Turn off its authenticator")}.get(action, action)
