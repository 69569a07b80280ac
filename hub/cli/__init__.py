"""The ``hub`` command (``python -m hub.cli`` too).

Every command takes ``--json`` for scripts: a created object prints ``{"id": ...}``, a
token ``{"token": ...}``, a list a JSON array of objects with ``id`` and ``name``.
Packages beside the hub add commands through the ``hub.commands`` entry point group
(``hub demo`` and ``hub seed-demo`` come from ``demo``), so the hub imports none of them.
"""
from __future__ import annotations

import sys
from importlib.metadata import entry_points

import click
from flask.cli import FlaskGroup, routes_command, shell_command

from hub.cli.admin import accounts_group, db_group, merchants_group, suppliers_group, tokens_group
from hub.cli.connectors import connectors_group
from hub.cli.inbox import inbox_group
from hub.cli.outbox import outbox_group
from hub.cli.run import run_command, scheduler_command, worker_command
from hub.cli.sync import sync_command
from hub.web.app import create_app

COMMANDS = [worker_command, scheduler_command, db_group, merchants_group, tokens_group,
            accounts_group, suppliers_group, run_command, outbox_group, inbox_group,
            connectors_group, sync_command]


def plugin_commands() -> list[click.Command]:
    return [ep.load() for ep in entry_points(group="hub.commands")]


def register(app) -> None:
    for command in COMMANDS + plugin_commands():
        app.cli.add_command(command)


cli = FlaskGroup(create_app=create_app, add_default_commands=False,
                 help="Dropship Hub. Set-up: `hub db upgrade`; serve: `hub run`.")
cli.add_command(shell_command)
cli.add_command(routes_command)


def main() -> None:
    from hub.core.config import ConfigError

    try:
        cli.main(prog_name="hub")
    except ConfigError as e:  # a bad HUB_* setting: say which, without a traceback
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
