"""``hub db|merchants|tokens|accounts|suppliers``: setting the hub up by hand."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup
from sqlalchemy import select

from hub.cli.common import db, emit, fail, json_option, settings
from hub.cli.sheets import export_command, import_command
from hub.cli.supplier_secrets import rotate_secret_command
from hub.parties import auth


# -- db -----------------------------------------------------------------------------------
@click.group("db", cls=AppGroup, help="Database schema.")
def db_group():
    pass


@db_group.command("upgrade", help="Apply all migrations (creates the SQLite file if needed).")
@json_option
def db_upgrade(as_json):
    from hub.core import migrate

    migrate.upgrade(settings().database_url)
    emit(as_json, {"status": "ok"}, "database is up to date")


@db_group.command("check", help="Fail when the models and the migrations differ.")
@json_option
def db_check(as_json):
    from hub.core import migrate
    from hub.models import Base

    diffs = migrate.pending_diffs(settings().database_url, Base.metadata)
    if diffs:
        fail(f"models and migrations differ: {diffs}", as_json)
    emit(as_json, {"status": "ok"}, "models and migrations agree")


@db_group.command("rotate-secrets", help="Re-encrypt stored credentials under HUB_SECRET_KEY.")
@json_option
def db_rotate(as_json):
    from hub.core.crypto import SecretsUnavailable
    from hub.core.db import rotate_secrets
    from hub.models import Base

    try:
        with db().engine.begin() as conn:
            count = rotate_secrets(conn, Base.metadata)
    except SecretsUnavailable as e:
        fail(f"{e}; nothing was changed", as_json)
    emit(as_json, {"rotated": count}, f"re-encrypted {count} stored secrets")


# -- merchants and tokens ----------------------------------------------------------------
@click.group("merchants", cls=AppGroup, help="Merchants (tenants).")
def merchants_group():
    pass


@merchants_group.command("create")
@click.argument("name")
@json_option
def merchants_create(name, as_json):
    from hub.models import Merchant

    if not name.strip():
        fail("the merchant name must not be empty", as_json)
    with db().session() as s:
        merchant = Merchant(name=name.strip())
        s.add(merchant)
        s.flush()
        merchant_id = merchant.id
    name = name.strip()
    emit(as_json, {"id": merchant_id, "name": name}, f"merchant {merchant_id} created: {name}")


@merchants_group.command("list")
@json_option
def merchants_list(as_json):
    from hub.models import Merchant

    with db().session(readonly=True) as s:
        rows = [{"id": m.id, "name": m.name} for m in s.scalars(select(Merchant).order_by(Merchant.id))]
    emit(as_json, rows, "\n".join(f"{r['id']}\t{r['name']}" for r in rows) or "no merchants")


@click.group("tokens", cls=AppGroup, help="API tokens.")
def tokens_group():
    pass


@tokens_group.command("create")
@click.option("--merchant", "merchant_id", type=int, required=True)
@click.option("--role", type=click.Choice(sorted(auth.ALL_ROLES)), required=True)
@click.option("--supplier", "supplier_id", type=int, help="required for --role supplier")
@click.option("--name", default="", help="a label to recognise the token by")
@click.option("--expires-in-days", type=click.IntRange(1, 3650),
              help="the token stops working after this many days (default: never)")
@json_option
def tokens_create(merchant_id, role, supplier_id, name, expires_in_days, as_json):
    from datetime import timedelta

    from hub.core.db import utcnow
    from hub.models import audit

    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    try:
        with db().session() as s:
            row, token = auth.issue_token(s, merchant_id, role, supplier_id, name, expires_at)
            audit.record(s, merchant_id, "cli", "token.created", "api_token", row.id,
                         {"role": role, "expires_at": expires_at and expires_at.isoformat()})
    except auth.TokenError as e:
        fail(str(e), as_json)
    emit(as_json, {"token": token}, f"{token}\n(shown once: store it now)")


@tokens_group.command("list", help="A merchant's tokens (never the tokens themselves).")
@click.option("--merchant", "merchant_id", type=int, required=True)
@json_option
def tokens_list(merchant_id, as_json):
    from hub.models import ApiToken

    def when(value):
        return value.isoformat() if value else None

    with db().session(readonly=True) as s:
        rows = [{"id": t.id, "name": t.name, "role": t.role, "supplier_id": t.supplier_id,
                 "prefix": t.prefix, "created_at": when(t.created_at),
                 "last_used_at": when(t.last_used_at), "expires_at": when(t.expires_at),
                 "revoked_at": when(t.revoked_at)}
                for t in s.scalars(select(ApiToken).where(ApiToken.merchant_id == merchant_id)
                                   .order_by(ApiToken.id))]
    emit(as_json, rows, "\n".join(
        f"{r['id']}\thub_{r['prefix']}_…\t{r['role']}\t{r['name']}\tlast used "
        f"{r['last_used_at'] or 'never'}\texpires {r['expires_at'] or 'never'}"
        + ("\trevoked" if r["revoked_at"] else "") for r in rows) or "no tokens")


@tokens_group.command("revoke", help="Revoke a token by its id (hub tokens list).")
@click.argument("token_id", type=int)
@json_option
def tokens_revoke(token_id, as_json):
    from hub.models import ApiToken, audit

    with db().session() as s:
        row = s.get(ApiToken, token_id)
        if row is None:
            fail(f"there is no token {token_id}", as_json)
        if row.revoked_at is None:
            auth.revoke(s, row)
            audit.record(s, row.merchant_id, "cli", "token.revoked", "api_token", row.id, {})
    emit(as_json, {"id": token_id, "status": "revoked"}, f"token {token_id} revoked")


# -- accounts and suppliers --------------------------------------------------------------
@click.group("accounts", cls=AppGroup,
             help="Connector accounts: linked shops, supplier channels, couriers.")
def accounts_group():
    pass


@accounts_group.command("add")
@click.argument("connector")
@click.option("--merchant", "merchant_id", type=int, required=True)
@click.option("--name", required=True)
@click.option("--config", "config_json", default="{}", help="the connector config as JSON")
@json_option
def accounts_add(connector, merchant_id, name, config_json, as_json):
    from hub.parties.accounts import add_account
    from hub.core.errors import ApiError

    try:
        config = json.loads(config_json)
    except json.JSONDecodeError as e:
        fail(f"--config is not valid JSON: {e}", as_json)
    if not isinstance(config, dict):
        fail("--config must be a JSON object", as_json)
    try:
        with db().session() as s:
            account = add_account(s, merchant_id, connector, name, config, "cli")
            account_id = account.id
    except ApiError as e:
        fail(f"{e.message} {json.dumps(e.details, ensure_ascii=False) if e.details else ''}".strip(),
             as_json)
    path = f"/webhooks/{connector}/{account_id}"
    emit(as_json, {"id": account_id, "webhook_url": settings().public_url + path},
         f"account {account_id} added; webhook URL {settings().public_url}{path}")


@accounts_group.command("list")
@click.option("--merchant", "merchant_id", type=int, required=True)
@json_option
def accounts_list(merchant_id, as_json):
    from hub.models import Account

    with db().session(readonly=True) as s:
        rows = [{"id": a.id, "name": a.name, "connector": a.connector, "kind": a.kind,
                 "status": a.status}
                for a in s.scalars(select(Account).where(Account.merchant_id == merchant_id)
                                   .order_by(Account.id))]
    emit(as_json, rows, "\n".join(
        f"{r['id']}\t{r['connector']}\t{r['kind']}\t{r['status']}\t{r['name']}" for r in rows)
        or "no accounts")


@click.group("suppliers", cls=AppGroup, help="Suppliers.")
def suppliers_group():
    pass


@suppliers_group.command("add")
@click.option("--merchant", "merchant_id", type=int, required=True)
@click.option("--code", required=True)
@click.option("--name", required=True)
@click.option("--sla-hours", type=click.IntRange(1, 720), default=24)
@click.option("--channel-account", "channel_account_id", type=int)
@json_option
def suppliers_add(merchant_id, code, name, sla_hours, channel_account_id, as_json):
    from sqlalchemy.exc import IntegrityError

    from hub.models import audit
    from hub.models import Account, Merchant, Supplier

    try:
        with db().session() as s:
            if s.get(Merchant, merchant_id) is None:
                fail(f"merchant {merchant_id} does not exist", as_json)
            if channel_account_id is not None:
                account = s.get(Account, channel_account_id)
                if account is None or account.merchant_id != merchant_id:
                    fail(f"account {channel_account_id} does not exist", as_json)
            supplier = Supplier(merchant_id=merchant_id, code=code, name=name,
                                sla_hours=sla_hours, channel_account_id=channel_account_id)
            s.add(supplier)
            s.flush()
            audit.record(s, merchant_id, "cli", "supplier.created", "supplier", supplier.id,
                         {"code": code})
            supplier_id = supplier.id
    except IntegrityError:
        fail(f"merchant {merchant_id} already has a supplier with code {code!r}", as_json)
    emit(as_json, {"id": supplier_id, "name": name}, f"supplier {supplier_id} created: {name}")


@suppliers_group.command("list")
@click.option("--merchant", "merchant_id", type=int, required=True)
@json_option
def suppliers_list(merchant_id, as_json):
    from hub.models import Supplier

    with db().session(readonly=True) as s:
        rows = [{"id": x.id, "name": x.name, "code": x.code, "sla_hours": x.sla_hours}
                for x in s.scalars(select(Supplier).where(Supplier.merchant_id == merchant_id)
                                   .order_by(Supplier.id))]
    emit(as_json, rows, "\n".join(f"{r['id']}\t{r['code']}\t{r['name']}" for r in rows)
         or "no suppliers")


for _command in (rotate_secret_command, export_command, import_command):
    suppliers_group.add_command(_command)
