"""``hub users``: the people who sign in to the console (``hub.parties.users``).

    hub users create --merchant ID LOGIN --role R [--supplier ID] [--name N]
                                            asks for the password (or --password-stdin)
    hub users invite --merchant ID LOGIN --role R [--supplier ID] [--name N]
                                            prints the invitation link (three days)
    hub users list --merchant ID
    hub users disable LOGIN | enable LOGIN | password LOGIN

``create`` is how the first administrator of a merchant gets in; after that an
administrator invites the others from the console (Users) or with ``invite``. Every change
is audited with the actor ``cli``.
"""
from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from hub.cli.common import db, emit, fail, json_option, settings
from hub.core.errors import ApiError

ACTOR = "cli"


@click.group("users", cls=AppGroup, help="People who sign in to the console.")
def users_group():
    pass


def _who(function):
    function = click.option("--merchant", "merchant_id", type=int, required=True)(function)
    function = click.argument("login")(function)
    function = click.option("--role", required=True, type=click.Choice(
        ["merchant_admin", "operator", "finance", "supplier"]))(function)
    function = click.option("--supplier", "supplier_id", type=int,
                            help="the supplier a supplier user is bound to")(function)
    return click.option("--name", default="", help="the person's name")(function)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("password", hide_input=True, confirmation_prompt=True)


def _create(merchant_id, login, role, supplier_id, name, password, as_json):
    from hub.parties import users

    try:
        with db().session() as s:
            user, token = users.create(s, merchant_id, login, role, ACTOR, name=name,
                                       supplier_id=supplier_id, password=password)
            return _row(user), token
    except ApiError as e:
        fail(e.message, as_json, details=e.details)


@users_group.command("create", help="A user with a password (the first administrator).")
@_who
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@json_option
def create(merchant_id, login, role, supplier_id, name, password_stdin, as_json):
    row, _ = _create(merchant_id, login, role, supplier_id, name, _password(password_stdin),
                     as_json)
    emit(as_json, row, f"user {row['login']} ({row['role']}) created: sign in at "
                       f"{_base()}/console/sign-in")


@users_group.command("invite", help="A user who sets its own password from a link.")
@_who
@json_option
def invite(merchant_id, login, role, supplier_id, name, as_json):
    row, token = _create(merchant_id, login, role, supplier_id, name, None, as_json)
    link = f"{_base()}/console/invite/{token}"
    emit(as_json, {**row, "invitation": link},
         f"user {row['login']} ({row['role']}) invited; send them this link (it works once, "
         f"for three days; shown only now):\n{link}")


@users_group.command("list", help="A merchant's users.")
@click.option("--merchant", "merchant_id", type=int, required=True)
@json_option
def list_users(merchant_id, as_json):
    from hub.models import User

    with db().session(readonly=True) as s:
        rows = [_row(u) for u in s.scalars(select(User).where(User.merchant_id == merchant_id)
                                           .order_by(User.login))]
    emit(as_json, rows, "\n".join(
        f"{r['login']:<24} {r['role']:<15} {r['status']:<9} {r['name']}"
        + (f" (supplier {r['supplier_id']})" if r["supplier_id"] else "")
        + f"  last sign-in {r['last_sign_in_at'] or 'never'}" for r in rows) or "no users")


def _change(name: str, help_text: str, command: str | None = None):
    """``hub users disable|enable|password|totp-off LOGIN`` (``users.<name>``)."""
    @users_group.command(command or name, help=help_text)
    @click.argument("login")
    @click.option("--password-stdin", is_flag=True, hidden=name != "password",
                  help="read the new password from standard input")
    @json_option
    def command(login, password_stdin, as_json):
        from hub.models import User
        from hub.parties import users

        password = _password(password_stdin) if name == "password" else None
        try:
            with db().session() as s:
                user = s.scalar(select(User).where(User.login == login.strip().lower()))
                if user is None:
                    fail(f"there is no user {login}", as_json)
                if name == "password":
                    users.set_password(s, user, password, ACTOR)
                else:
                    getattr(users, name)(s, user, ACTOR)
                row = _row(user)
        except ApiError as e:
            fail(e.message, as_json, details=e.details)
        emit(as_json, row, f"user {row['login']}: {row['status']}" + {
            "enable": "", "totp_disable": "; its authenticator is off"}.get(
            name, "; its sessions have ended"))
    return command


_change("disable", "Disable a user: it cannot sign in, its sessions end.")
_change("enable", "Enable a disabled user again.")
_change("password", "Set a user's password (its sessions end).")
_change("totp_disable", "Turn off a user's authenticator (a lost phone): it signs in with "
        "its password, then turns a new one on.", command="totp-off")


def _row(user) -> dict:
    return {"id": user.id, "merchant_id": user.merchant_id, "login": user.login,
            "name": user.name, "role": user.role, "supplier_id": user.supplier_id,
            "status": user.status, "totp": bool((user.totp or {}).get("confirmed")),
            "last_sign_in_at": user.last_sign_in_at and user.last_sign_in_at.isoformat()}


def _base() -> str:
    return settings().public_url.rstrip("/")
