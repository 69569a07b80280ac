"""``hub inbox``: the operator's view of the inbox from the command line.

    hub inbox list [--status S] [--merchant ID] [--limit N] [--json]
    hub inbox replay ID [--json]
    hub inbox replay --all-failed [--merchant ID] [--json]

``replay`` queues a ``failed`` or ``ignored`` event again (due now, attempts reset,
audited as actor ``cli``); ``--all-failed`` does it for every failed event, optionally of
one merchant. The rules are those of ``hub.pipeline.inbox.replay``, shared with the API.
"""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import defer

from hub.cli.common import db, emit, fail, json_option
from hub.models.pipeline import INBOX_STATUSES


def _row(e) -> dict:
    return {"id": e.id, "name": f"{e.connector}:{e.external_event_id}",
            "merchant_id": e.merchant_id, "account_id": e.account_id,
            "event_type": e.event_type, "source": e.source, "status": e.status,
            "attempts": e.attempts, "received_at": e.received_at.isoformat(),
            "next_attempt_at": e.next_attempt_at.isoformat(),
            "error_class": e.error_class, "error_message": e.error_message}


@click.group("inbox", cls=AppGroup, help="Inbox events: list them, replay failed ones.")
def inbox_group():
    pass


@inbox_group.command("list", help="Inbox events, newest first (bodies are never shown).")
@click.option("--status", type=click.Choice(INBOX_STATUSES))
@click.option("--merchant", "merchant_id", type=int)
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True)
@json_option
def inbox_list(status, merchant_id, limit, as_json):
    from hub.models import InboxEvent

    stmt = select(InboxEvent).options(defer(InboxEvent.body), defer(InboxEvent.headers))
    if status:
        stmt = stmt.where(InboxEvent.status == status)
    if merchant_id is not None:
        stmt = stmt.where(InboxEvent.merchant_id == merchant_id)
    with db().session(readonly=True) as s:
        rows = [_row(e) for e in s.scalars(stmt.order_by(InboxEvent.id.desc()).limit(limit))]
    emit(as_json, rows, "\n".join(
        f"{r['id']}\t{r['status']}\t{r['attempts']}\t{r['name']}\t{r['event_type']}"
        f"\t{r['error_class'] or ''}" for r in rows) or "no inbox events")


@inbox_group.command("replay", help="Queue a failed or ignored event again (due now, "
                                    "attempts reset); or every failed one with --all-failed.")
@click.argument("event_id", type=int, required=False)
@click.option("--all-failed", is_flag=True, help="replay every failed event")
@click.option("--merchant", "merchant_id", type=int, help="with --all-failed: one merchant's")
@json_option
def inbox_replay(event_id, all_failed, merchant_id, as_json):
    from hub.core.errors import ApiError
    from hub.models import InboxEvent
    from hub.pipeline import inbox

    if (event_id is None) == (not all_failed):
        fail("give an event ID or --all-failed (not both)", as_json)
    if merchant_id is not None and not all_failed:
        fail("--merchant goes with --all-failed", as_json)
    ctx = current_app.extensions["hub"]
    stmt = select(InboxEvent).options(defer(InboxEvent.body))
    if all_failed:
        stmt = stmt.where(InboxEvent.status == "failed")
        if merchant_id is not None:
            stmt = stmt.where(InboxEvent.merchant_id == merchant_id)
    else:
        stmt = stmt.where(InboxEvent.id == event_id)
    if ctx.db.is_postgres:
        stmt = stmt.with_for_update()
    try:
        with ctx.db.session() as s:
            events = list(s.scalars(stmt.order_by(InboxEvent.id)))
            if not all_failed and not events:
                fail(f"inbox event {event_id} does not exist", as_json)
            for event in events:
                inbox.replay(s, event, "cli", var_dir=ctx.settings.var_dir)
            ids = [e.id for e in events]
    except ApiError as e:
        fail(e.message, as_json)
    if all_failed:
        emit(as_json, {"replayed": len(ids), "ids": ids},
              f"{len(ids)} failed inbox events queued again")
    else:
        emit(as_json, {"id": event_id, "status": "received"},
              f"inbox event {event_id} queued again")
