"""``hub connectors``: which connectors this installation has, and how to configure them.

    hub connectors list [--json]

Lists the built-ins and every connector installed through the ``hub.connectors``
entry-point group: name, kind, title, capabilities and the config schema as JSON Schema
(secret fields are ``writeOnly``). A plugin that fails to load is logged and left out.
"""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from connectors import registry
from hub.cli.common import json_option


@click.group("connectors", cls=AppGroup, help="Installed connectors (built-in and plugins).")
def connectors_group():
    pass


@connectors_group.command("list", help="Name, kind, capabilities and config schema of each.")
@json_option
def connectors_list(as_json):
    rows = [cls.describe() for cls in registry.all().values()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo("no connectors")
        return
    for row in rows:
        schema = row["config_schema"]
        required = set(schema.get("required", []))
        fields = ", ".join(f"{name}{'*' if name in required else ''}"
                           for name in schema.get("properties", {}))
        click.echo(f"{row['name']}\t{row['kind']}\t{','.join(row['capabilities'])}\t"
                   f"{row['title']}\n    config: {fields or '-'}")
