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
    from sqlalchemy.exc import OperationalError

    from hub.core.config import ConfigError

    try:
        cli.main(prog_name="hub")
    except ConfigError as e:  # a bad HUB_* setting: say which, without a traceback
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except OperationalError as e:  # e.g. run outside the project folder: var/ is relative
        click.echo(f"error: {_database_problem(e)}", err=True)
        sys.exit(2)


def _database_problem(error) -> str:
    """One line: which database could not be used, and what to set."""
    from sqlalchemy.engine import make_url

    from hub.core.config import Settings

    settings = Settings.from_env()
    url = make_url(settings.database_url).render_as_string(hide_password=True)
    reason = str(getattr(error, "orig", error)).splitlines()[0]
    return (f"cannot use the database {url} ({reason}); run hub in the project folder, or "
            f"set HUB_VAR_DIR (now {settings.var_dir}) or HUB_DATABASE_URL")
