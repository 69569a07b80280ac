"""The ``hub`` command (``python -m hub.cli`` too).

Every command takes ``--json`` for scripts: a created object prints ``{"id": ...}``, a
token ``{"token": ...}``, a list a JSON array of objects with ``id`` and ``name``.
The commands are the ``hub.commands`` entry points (``pyproject.toml``): the hub's own,
from the modules of this package, and those of packages beside it (``hub demo`` and
``hub seed-demo`` come from ``demo``); ``create_app`` hangs them all on ``app.cli``.
"""
from __future__ import annotations

import sys

import click
from flask.cli import FlaskGroup, routes_command, shell_command

from hub.web.app import create_app

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
