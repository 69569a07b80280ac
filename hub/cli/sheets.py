"""``hub suppliers export`` / ``hub suppliers import``: supplier sheets from the command line.

    hub suppliers export SUPPLIER_ID --format xlsx|csv --out FILE [--json]
    hub suppliers import SUPPLIER_ID FILE [--apply-valid] [--json]

``export`` writes the supplier's pending dispatches, stop-ships, returns and claims
(``hub.domain.sheets.files``). ``import`` checks every row of a filled-in sheet and applies it
(``hub.domain.sheets.answers``): by default nothing when any row has an error (exit 1, the
per-row errors printed), with ``--apply-valid`` the rows without errors. Changes are
audited with the actor ``cli``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from hub.cli.common import db, fail, json_option, settings
from hub.core.errors import ApiError


def _supplier(session, supplier_id: int, as_json: bool):
    from hub.models import Supplier

    supplier = session.get(Supplier, supplier_id)
    if supplier is None:
        fail(f"supplier {supplier_id} does not exist", as_json, details={})
    return supplier


@click.command("export", help="Write a supplier's pending dispatches, stop-ships, returns "
                              "and claims as a sheet to fill in.")
@click.argument("supplier_id", type=int)
@click.option("--format", "kind", type=click.Choice(["xlsx", "csv"]), default="xlsx",
              show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), required=True)
@json_option
@with_appcontext
def export_command(supplier_id, kind, out, as_json):
    from hub.domain.sheets import files as spreadsheets

    with db().session(readonly=True) as s:
        supplier = _supplier(s, supplier_id, as_json)
        rows = spreadsheets.pending_rows(s, supplier)
        data = spreadsheets.to_xlsx(rows) if kind == "xlsx" else spreadsheets.to_csv(rows)
    Path(out).write_bytes(data)
    sections = {}
    for row in rows:
        sections[row["section"]] = sections.get(row["section"], 0) + 1
    result = {"supplier_id": supplier_id, "format": kind, "out": str(out), "rows": len(rows),
              "sections": sections}
    text = (f"{len(rows)} rows written to {out} ("
            + (", ".join(f"{n} {k}" for k, n in sorted(sections.items())) or "nothing pending")
            + ")")
    click.echo(json.dumps(result, ensure_ascii=False) if as_json else text)


@click.command("import", help="Check and apply a filled-in supplier sheet (XLSX or CSV).")
@click.argument("supplier_id", type=int)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--apply-valid", is_flag=True,
              help="apply the rows without errors even if other rows have errors")
@json_option
@with_appcontext
def import_command(supplier_id, file, apply_valid, as_json):
    from hub.domain.sheets.answers import import_sheet

    data = Path(file).read_bytes()
    try:
        with db().session() as s:
            supplier = _supplier(s, supplier_id, as_json)
            report = import_sheet(s, supplier, data, Path(file).name, "cli",
                                  settings().var_dir, "valid" if apply_valid else "all")
    except ApiError as e:
        fail(e.message, as_json, details=e.details or {})
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
    else:
        counts = report["counts"]
        click.echo(f"{report['rows']} rows: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        for e in report["errors"]:
            click.echo(f"  row {e['row']} {e['column']}: {e['message']}")
    if report["errors"]:
        sys.exit(1)
