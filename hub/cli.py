"""The ``hub`` command (also ``flask --app hub ...`` for everything but ``run``).

Every command takes ``--json`` for scripts: a created object prints ``{"id": ...}``, a
token ``{"token": ...}``, a list a JSON array of objects with ``id`` and ``name``.
"""
from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import (AppGroup, FlaskGroup, routes_command, shell_command,
                       with_appcontext)
from sqlalchemy import select

from hub import auth, create_app
from hub.cli_connectors import connectors_group
from hub.demo import demo_command
from hub.cli_inbox import inbox_group
from hub.cli_supplier_secrets import rotate_secret_command
from hub.cli_sheets import export_command, import_command
from hub.cli_sync import sync_command
from hub.outbox_admin import outbox_group

json_option = click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")


def emit(as_json: bool, data, text: str) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, default=str) if as_json else text)


def fail(message: str, as_json: bool = False, code: int = 1):
    if as_json:
        click.echo(json.dumps({"error": message}, ensure_ascii=False))
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(code)


def db():
    return current_app.extensions["hub"].db


def settings():
    return current_app.extensions["hub"].settings


# -- db -----------------------------------------------------------------------------------
@click.group("db", cls=AppGroup, help="Database schema.")
def db_group():
    pass


@db_group.command("upgrade", help="Apply all migrations (creates the SQLite file if needed).")
@json_option
def db_upgrade(as_json):
    from hub import migrate

    migrate.upgrade(settings().database_url)
    emit(as_json, {"status": "ok"}, "database is up to date")


@db_group.command("check", help="Fail when the models and the migrations differ.")
@json_option
def db_check(as_json):
    from hub import migrate

    diffs = migrate.pending_diffs(settings().database_url)
    if diffs:
        fail(f"models and migrations differ: {diffs}", as_json)
    emit(as_json, {"status": "ok"}, "models and migrations agree")


@db_group.command("rotate-secrets", help="Re-encrypt stored credentials under HUB_SECRET_KEY.")
@json_option
def db_rotate(as_json):
    from hub.crypto import SecretsUnavailable
    from hub.db import rotate_secrets
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
@json_option
def tokens_create(merchant_id, role, supplier_id, name, as_json):
    from hub import audit

    try:
        with db().session() as s:
            row, token = auth.issue_token(s, merchant_id, role, supplier_id, name)
            audit.record(s, merchant_id, "cli", "token.created", "api_token", row.id,
                         {"role": role})
    except auth.TokenError as e:
        fail(str(e), as_json)
    emit(as_json, {"token": token}, f"{token}\n(shown once: store it now)")


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
    from hub.accounts import add_account
    from hub.errors import ApiError

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

    from hub import audit
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


@click.command("seed-demo", help="Create a demo merchant with suppliers, orders, returns, "
                                 "shipments and one token per role.")
@json_option
@with_appcontext
def seed_demo(as_json):
    from hub.demo_data import seed

    with db().session() as s:
        result = seed(s)
    lines = [f"demo merchant {result['merchant_id']} seeded "
             f"({result['orders']} orders, {result['returns']} returns); tokens:"]
    lines += [f"  {role:<15} {token}" for role, token in result["tokens"].items()]
    emit(as_json, {"id": result["merchant_id"], **result}, "\n".join(lines))


@click.command("run", help="Migrate, then serve the hub (gunicorn) and run one scheduler-"
                           "and-worker process; Ctrl-C stops both. With --sandbox (what "
                           "`make run` uses) also start the three sandboxes, link a sandbox "
                           "shop, courier and supplier to a demo merchant and trickle orders "
                           "in; HUB_SANDBOX=0 turns --sandbox off.")
@click.option("--sandbox", is_flag=True,
              help="also run the sandbox platform, courier and supplier, linked and busy")
@with_appcontext
def run_command(sandbox: bool):
    import os

    from hub.processes import run_all

    if os.environ.get("HUB_SANDBOX", "").strip().lower() in ("0", "false", "no", "off"):
        sandbox = False
    sys.exit(run_all(settings(), sandbox=sandbox))


def _run_worker(with_scheduler: bool) -> None:
    import os
    import signal
    import socket

    from jobs.registry import default_jobs
    from jobs.runner import InProcessRunner

    from hub.wakeup import Listener

    owner = f"{socket.gethostname()}:{os.getpid()}"
    runner = InProcessRunner(current_app._get_current_object(), default_jobs(), owner,
                             scheduler=with_scheduler)
    listener = Listener(db(), settings().var_dir, on_wake=lambda channel: runner.wake(
        {"inbox": "process_inbox", "outbox": "deliver_outbox"}.get(channel)))
    listener.start()

    def stop(*_):
        listener.stop()
        runner.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runner.run_forever()


@click.command("worker", help="Drain the inbox and outbox and run polls. Start as many as "
                              "you like on PostgreSQL; work is claimed with leases.")
@click.option("--scheduler", "with_scheduler", is_flag=True,
              help="also be the deployment's one scheduler (hub run does this)")
@with_appcontext
def worker_command(with_scheduler):
    _run_worker(with_scheduler)


@click.command("scheduler", help="The deployment's one scheduler, with a worker in the same "
                                 "process. Run exactly one.")
@with_appcontext
def scheduler_command():
    _run_worker(True)


suppliers_group.add_command(rotate_secret_command)
for _sheet_command in (export_command, import_command):
    suppliers_group.add_command(_sheet_command)
COMMANDS = [worker_command, scheduler_command, db_group, merchants_group, tokens_group, accounts_group, suppliers_group,
            seed_demo, run_command, outbox_group, inbox_group, connectors_group, sync_command,
            demo_command]


def register(app) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)


cli = FlaskGroup(create_app=create_app, add_default_commands=False,
                 help="Dropship Hub. Set-up: `hub db upgrade`; serve: `hub run`.")
cli.add_command(shell_command)
cli.add_command(routes_command)


def main() -> None:
    from hub.config import ConfigError

    try:
        cli.main(prog_name="hub")
    except ConfigError as e:  # a bad HUB_* setting: say which, without a traceback
        click.echo(f"error: {e}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
