"""The merchant's shops: the list, "Link a ... shop", a shop's page.

| page | who | what |
|---|---|---|
| ``GET /console/shops`` | staff | each shop: status, authorization, open alerts, backfill |
| ``GET /console/shops/link`` | merchant_admin | which kind of shop to link |
| ``GET/POST /console/shops/link/<connector>`` | merchant_admin | app credentials + name → the platform |
| ``GET /console/shops/<id>`` | staff | one shop: authorization, alerts, progress per stream |
| ``POST /console/shops/<id>/reauthorize`` | merchant_admin | to the platform again |

Any connector declaring ``oauth_link`` can be linked; its form is built from its
``link_fields`` as its config schema declares them (``link_form``).
"""
from __future__ import annotations

from flask import abort, redirect, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from hub.parties import linking
from hub.web.console.kit import console_blueprint as bp
from hub.web.console.kit import page
from hub.web.console.link_form import form_fields, form_values, visible_values
from hub.core.errors import ApiError
from hub.models import Account
from hub.parties.shop_status import account_report
from hub.web.context import hub, request_session

ADMIN = frozenset({"merchant_admin"})


@bp.get("/console/shops")
@page()
def shops(who):
    session = request_session()
    accounts = session.scalars(select(Account).where(
        Account.merchant_id == who.merchant_id, Account.kind == "platform").order_by(Account.id))
    rows = [account_report(session, account) for account in accounts]
    return render_template("console/shops.html", who=who, shops=rows, kinds=_kinds())


def _kinds() -> list[tuple[str, str]]:
    """(connector, what to call one of its shops) for each connector that links by OAuth."""
    return [(name, linking.title(cls)) for name, cls in linking.linkable().items()]


def _connector(connector: str):
    cls = linking.linkable().get(connector)
    if cls is None:
        abort(404)
    return cls


def _link_form(who, cls, values=None, errors=None, message=None, status=200):
    fields = form_fields(cls)
    return render_template("console/link.html", who=who, connector=cls.name,
                           title=linking.title(cls), help=cls.link_help, fields=fields,
                           values=visible_values(fields, values), errors=errors or {},
                           message=message,
                           callback_url=linking.redirect_uri(hub().settings, cls.name)), status


@bp.get("/console/shops/link")
@page(ADMIN)
def link_choice(who):
    return render_template("console/link_choice.html", who=who, kinds=_kinds())


@bp.get("/console/shops/link/<connector>")
@page(ADMIN)
def link_form(who, connector):
    return _link_form(who, _connector(connector))


@bp.post("/console/shops/link/<connector>")
@page(ADMIN)
def link_submit(who, connector):
    cls = _connector(connector)
    fields = form_fields(cls)
    values, errors = form_values(fields, request.form)
    if errors:
        return _link_form(who, cls, values, errors, _("Please correct the marked fields."), 422)
    credentials = {k: v for k, v in values.items() if k != "name"}
    session = request_session()
    try:
        started = linking.start_link(session, hub().settings, who.merchant_id,
                                     f"{who.actor}:console", cls.name, values["name"],
                                     credentials)
        session.commit()
    except ApiError as e:
        session.rollback()
        errors = e.details if isinstance(e.details, dict) else {}
        message = _("Please correct the marked fields.") if errors else e.message
        return _link_form(who, cls, values, errors, message, e.status)
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
                                            and account.connector in linking.linkable()
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
