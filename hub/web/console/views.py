"""Console pages: sign-in/out, the shops list, "Link a Kuaishou shop", a shop's page.

| page | who | what |
|---|---|---|
| ``GET/POST /console/sign-in`` | anyone | paste an API token (merchant_admin or operator) |
| ``POST /console/sign-out`` | signed in | forget the token |
| ``GET /console/shops`` | signed in | each shop: status, authorization, open alerts, backfill |
| ``GET/POST /console/shops/link`` | merchant_admin | app credentials + name → the platform |
| ``GET /console/shops/<id>`` | signed in | one shop: authorization, alerts, progress per stream |
| ``POST /console/shops/<id>/reauthorize`` | merchant_admin | to the platform again |
"""
from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from sqlalchemy import select

from connectors import registry
from hub.parties import auth, linking
from hub.web.console import console_blueprint as bp
from hub.web.console import SESSION_HOURS, page, sign_in, signed_in
from hub.core.errors import ApiError
from hub.models import Account
from hub.parties.shop_status import account_report
from hub.web.context import hub, request_session

ADMIN = frozenset({"merchant_admin"})
TEXT_FIELDS = ("name", "app_key", "app_secret", "sign_secret", "message_key", "sign_method",
               "api_base_url", "oauth_base_url")
SECRET_FIELDS = ("app_secret", "sign_secret", "message_key")  # never sent back to the page
MAX_FIELD = 2000


def _default_scopes() -> tuple[str, ...]:
    """The connector's default scopes (the form's checkboxes)."""
    field = registry.get(linking.CONNECTOR).config_schema().fields["scopes"]
    return tuple(field.load_default)


def _next_url() -> str:
    target = request.values.get("next", "")
    if target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("console.shops")


@bp.get("/console")
@bp.get("/console/")
def home():
    return redirect(url_for("console.shops"))


@bp.get("/console/sign-in")
def sign_in_page():
    if signed_in() is not None:
        return redirect(_next_url())
    return render_template("console/sign_in.html", next=_next_url(), error=None,
                           hours=SESSION_HOURS)


@bp.post("/console/sign-in")
def sign_in_submit():
    token = request.form.get("token", "").strip()
    who = auth.authenticate(request_session(), token) if 0 < len(token) <= 200 else None
    if who is None:
        return render_template("console/sign_in.html", next=_next_url(), hours=SESSION_HOURS,
                               error="That token is unknown or revoked. Paste a current "
                                     "API token (hub tokens create)."), 401
    if who.role not in ("merchant_admin", "operator"):
        return render_template("console/sign_in.html", next=_next_url(), hours=SESSION_HOURS,
                               error=f"A {who.role} token cannot use the console; use a "
                                     "merchant_admin or operator token."), 403
    sign_in(token)
    return redirect(_next_url(), 303)


@bp.post("/console/sign-out")
def sign_out():
    from flask import session

    session.clear()
    return redirect(url_for("console.sign_in_page"), 303)


@bp.get("/console/shops")
@page()
def shops(who):
    session = request_session()
    accounts = session.scalars(select(Account).where(
        Account.merchant_id == who.merchant_id, Account.kind == "platform").order_by(Account.id))
    rows = [account_report(session, account) for account in accounts]
    return render_template("console/shops.html", who=who, shops=rows)


def _form_values() -> dict:
    values = {k: request.form.get(k, "").strip()[:MAX_FIELD] for k in TEXT_FIELDS}
    values["scopes"] = [s for s in request.form.getlist("scopes") if s in _default_scopes()]
    return values


def _link_form(who, values=None, errors=None, message=None, status=200):
    values = {k: v for k, v in (values or {}).items() if k not in SECRET_FIELDS}
    values.setdefault("scopes", list(_default_scopes()))
    return render_template("console/link.html", who=who, values=values, errors=errors or {},
                           message=message, all_scopes=_default_scopes(),
                           callback_url=linking.redirect_uri(hub().settings)), status


@bp.get("/console/shops/link")
@page(ADMIN)
def link_form(who):
    return _link_form(who)


@bp.post("/console/shops/link")
@page(ADMIN)
def link_submit(who):
    values = _form_values()
    credentials = {k: v for k, v in values.items() if k != "name"}
    if not credentials["scopes"]:
        return _link_form(who, values, {"scopes": ["Choose at least one scope."]},
                          "Please correct the marked fields.", 422)
    session = request_session()
    try:
        started = linking.start_link(session, hub().settings, who.merchant_id,
                                     f"{who.actor}:console", values["name"], credentials)
        session.commit()
    except ApiError as e:
        session.rollback()
        errors = e.details if isinstance(e.details, dict) else {}
        message = "Please correct the marked fields." if errors else e.message
        return _link_form(who, values, errors, message, e.status)
    return redirect(started.authorize_url, 303)


def _own_account(who, account_id: int) -> Account:
    account = request_session().get(Account, account_id)
    if account is None or account.merchant_id != who.merchant_id:
        abort(404)
    return account


@bp.get("/console/shops/<int:account_id>")
@page()
def shop(who, account_id):
    account = _own_account(who, account_id)
    report = account_report(request_session(), account)
    return render_template("console/shop.html", who=who, shop=report,
                           can_reauthorize=(who.role == "merchant_admin"
                                            and account.connector == linking.CONNECTOR
                                            and account.status != "linking"),
                           linked=request.args.get("linked"))


@bp.post("/console/shops/<int:account_id>/reauthorize")
@page(ADMIN)
def reauthorize(who, account_id):
    _own_account(who, account_id)
    session = request_session()
    started = linking.start_reauthorization(session, hub().settings, who.merchant_id,
                                            f"{who.actor}:console", account_id)
    session.commit()
    return redirect(started.authorize_url, 303)


@bp.route("/console/<path:rest>", methods=["GET", "POST"])
def not_found(rest):
    abort(404)
