"""``hub suppliers rotate-secret SUPPLIER_ID [--retire] [--json]``: the signing secrets of
a supplier's hub webhooks.

The supplier's channel account must be of a connector that declares the
``secret_rotation`` capability (``rotate_secret`` / ``retire_secret``, see
``connectors.base``). Without ``--retire`` a new secret is added to it and printed once
(give it to the supplier); the old ones keep signing, so every delivery carries both
signatures until the supplier has switched. ``--retire`` then drops the oldest. The config
is stored encrypted; the audit log records the change, never a secret.
"""
from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import with_appcontext

from connectors import registry
from connectors.capabilities import RotationError
from hub.cli.common import fail
from hub.models import Account, Supplier, audit

CAPABILITY = "secret_rotation"


def _rotating(connector: str):
    """The connector class when it declares secret rotation, else None."""
    try:
        cls = registry.get(connector)
    except registry.UnknownConnector:
        return None
    return cls if CAPABILITY in cls.capabilities else None


def rotate(session, supplier_id: int, retire: bool, actor: str = "cli") -> dict:
    """Rotate (or retire) in the caller's transaction; raises ``RotationError``/``LookupError``."""
    supplier = session.get(Supplier, supplier_id)
    if supplier is None:
        raise LookupError(f"supplier {supplier_id} does not exist")
    account = session.get(Account, supplier.channel_account_id) \
        if supplier.channel_account_id else None
    cls = _rotating(account.connector) if account is not None else None
    if cls is None:
        kinds = " or ".join(n for n, c in registry.all().items() if CAPABILITY in c.capabilities)
        raise LookupError(f"supplier {supplier_id} has no {kinds or 'rotating'} channel account")
    change = cls.retire_secret(account.config) if retire else cls.rotate_secret(account.config)
    account.config = change.config
    audit.record(session, account.merchant_id, actor,
                 "account.secret_retired" if retire else "account.secret_added", "account",
                 account.id, {"supplier_id": supplier.id, "active_secrets": change.active})
    return {"id": account.id, "supplier_id": supplier.id, "active_secrets": change.active,
            "secret": change.secret, "retired": change.retired}


@click.command("rotate-secret", help="Add a webhook signing secret for a supplier (both sign "
                                     "until --retire drops the oldest).")
@click.argument("supplier_id", type=int)
@click.option("--retire", is_flag=True, help="drop the oldest secret instead")
@click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")
@with_appcontext
def rotate_secret_command(supplier_id, retire, as_json):
    db = current_app.extensions["hub"].db
    try:
        with db.session() as s:
            result = rotate(s, supplier_id, retire)
    except (LookupError, RotationError) as e:
        fail(str(e), as_json)
    if as_json:
        click.echo(json.dumps(result))
    elif retire:
        click.echo(f"oldest secret retired; {result['active_secrets']} active on account "
                   f"{result['id']}")
    else:
        click.echo(f"{result['secret']}\n(shown once: give it to the supplier; "
                   f"{result['active_secrets']} secrets now sign every webhook until "
                   f"`hub suppliers rotate-secret {supplier_id} --retire`)")
