"""What every ``hub`` command shares: ``--json``, printing a result or an error, and the
running app's database and settings."""
from __future__ import annotations

import json
import sys

import click
from flask import current_app

json_option = click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")


def emit(as_json: bool, data, text: str) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, default=str) if as_json else text)


def fail(message: str, as_json: bool = False, code: int = 1, details=None):
    """Print the error (JSON ``{"error", "details"}`` with ``--json``) and exit ``code``;
    a sheet's row errors (``details["errors"]``) are listed one a line."""
    if as_json:
        body = {"error": message, **({"details": details} if details is not None else {})}
        click.echo(json.dumps(body, ensure_ascii=False))
    else:
        click.echo(f"error: {message}", err=True)
        for e in (details or {}).get("errors", []) if isinstance(details, dict) else []:
            click.echo(f"  row {e['row']} {e['column']}: {e['message']}", err=True)
    sys.exit(code)


def db():
    return current_app.extensions["hub"].db


def settings():
    return current_app.extensions["hub"].settings
