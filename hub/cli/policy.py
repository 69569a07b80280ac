"""``hub policy show | edit | preview | publish --merchant ID``: the return policy from a
shell, as the API has it (``hub.domain.policy``).

    hub policy show --merchant 1 [--version N]     the version in force (or N) and history
    hub policy edit --merchant 1 FILE [--note ..]  FILE (JSON) becomes a new draft version
    hub policy preview --merchant 1 FILE [--days 30]
    hub policy publish --merchant 1 N

``hub policy show --merchant 1 --json | jq .document > policy.json`` gives a file to
edit. A document that is not valid prints every bad field and exits 1, writing nothing.
"""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup
from marshmallow import ValidationError

from hub.cli.common import db, emit, fail, json_option
from hub.core.db import iso
from hub.core.errors import ApiError

merchant_option = click.option("--merchant", "merchant_id", type=int, required=True)


@click.group("policy", cls=AppGroup, help="The merchant's return policy.")
def policy_group():
    pass


@policy_group.command("show", help="The version in force (or --version N) and the history.")
@merchant_option
@click.option("--version", type=int)
@json_option
def show(merchant_id, version, as_json):
    from hub.domain.policy import versions

    with db().session(readonly=True) as s:
        try:
            current = versions.get(s, merchant_id, version) if version else \
                versions.in_force(s, merchant_id)
        except ApiError as e:
            fail(e.message, as_json)
        rows = [{"version": r.version, "status": r.status, "note": r.note,
                 "created_by": r.created_by, "published_at": iso(r.published_at)}
                for r in versions.history(s, merchant_id)]
    data = {"in_force_version" if not version else "version": current.version,
            "document": current.document, "versions": rows}
    lines = [f"v{r['version']:<4} {r['status']:<9} {r['note'] or ''}" for r in rows]
    emit(as_json, data, f"in force: v{current.version}" + "".join("\n" + x for x in lines))


@policy_group.command("edit", help="FILE (a JSON policy document) becomes a new draft.")
@merchant_option
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--note")
@json_option
def edit(merchant_id, path, note, as_json):
    from hub.domain.policy import versions

    document = _read(path, as_json)
    with db().session() as s:
        try:
            row = versions.edit(s, merchant_id, document, "cli", note)
        except ValidationError as bad:
            fail(f"the policy document is not valid: {bad.messages}", as_json, details=bad.messages)
        version = row.version
    emit(as_json, {"version": version, "status": "draft"},
         f"draft v{version} written; publish it with: hub policy publish "
         f"--merchant {merchant_id} {version}")


@policy_group.command("preview", help="What FILE would have decided on recent cases.")
@merchant_option
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--days", type=click.IntRange(1, 90), default=30)
@json_option
def preview(merchant_id, path, days, as_json):
    from hub.domain.policy import review

    document = _read(path, as_json)
    with db().session(readonly=True) as s:
        try:
            result = review.preview(s, merchant_id, document, days)
        except ValidationError as bad:
            fail(f"the policy document is not valid: {bad.messages}", as_json)
    lines = [f"{result['cases']} cases in {days} days; in force v{result['current_version']}: "
             f"{result['counts']['current']}; this document: {result['counts']['candidate']}"]
    lines += [f"  {c['platform_return_id']}: {c['current']['rule']} -> "
              f"{c['candidate']['outcome']} ({c['candidate']['why_en']})"
              for c in result["changed"]]
    emit(as_json, result, "\n".join(lines))


@policy_group.command("publish", help="Put draft version N in force.")
@merchant_option
@click.argument("version", type=int)
@json_option
def publish(merchant_id, version, as_json):
    from hub.domain.policy import versions

    with db().session() as s:
        try:
            versions.publish(s, merchant_id, version, "cli")
        except ApiError as e:
            fail(e.message, as_json)
    emit(as_json, {"version": version, "status": "published"}, f"v{version} is in force")


def _read(path: str, as_json: bool):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (ValueError, UnicodeDecodeError) as e:
        fail(f"{path} is not JSON: {e}", as_json)
