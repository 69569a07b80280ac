"""``hub outbox list|replay``: the operator's view of the outbox (rules: ``hub.pipeline.outbox_admin``)."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from hub.cli.common import db, emit, fail, json_option, settings
from hub.core.errors import ApiError
from hub.models import OutboxMessage
from hub.pipeline.outbox_admin import replay, replay_all_dead


def _row(m: OutboxMessage) -> dict:
    return {"id": m.id, "name": f"{m.topic} {m.entity}:{m.entity_id}", "merchant_id":
            m.merchant_id, "account_id": m.account_id, "topic": m.topic, "status": m.status,
            "attempts": m.attempts, "next_attempt_at": m.next_attempt_at.isoformat(),
            "last_error_class": m.last_error_class, "idempotency_key": m.idempotency_key}


@click.group("outbox", cls=AppGroup, help="The outbox: list messages, replay dead ones.")
def outbox_group():
    pass


@outbox_group.command("list", help="Outbox messages, newest first.")
@click.option("--status", type=click.Choice(["pending", "sent", "dead", "superseded",
                                             "cancelled"]))
@click.option("--merchant", "merchant_id", type=int)
@click.option("--limit", type=click.IntRange(1, 10000), default=100)
@json_option
def outbox_list(status, merchant_id, limit, as_json):
    stmt = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
    if merchant_id is not None:
        stmt = stmt.where(OutboxMessage.merchant_id == merchant_id)
    with db().session(readonly=True) as s:
        rows = [_row(m) for m in s.scalars(stmt)]
    emit(as_json, rows, "\n".join(
        f"{r['id']}\t{r['status']}\t{r['topic']}\tattempts={r['attempts']}\t"
        f"{r['last_error_class'] or ''}" for r in rows) or "no outbox messages")


@outbox_group.command("replay", help="Send a dead message again (same idempotency key): "
                                     "`replay ID` or `replay --all-dead [--merchant ID]`.")
@click.argument("message_id", type=int, required=False)
@click.option("--all-dead", is_flag=True, help="replay every dead message")
@click.option("--merchant", "merchant_id", type=int, help="with --all-dead: one merchant's")
@json_option
def outbox_replay(message_id, all_dead, merchant_id, as_json):
    if (message_id is None) == (not all_dead):
        fail("give a message ID or --all-dead (not both)", as_json)
    if merchant_id is not None and not all_dead:
        fail("--merchant only goes with --all-dead", as_json)
    var_dir = settings().var_dir
    if all_dead:
        with db().session() as s:
            ids = replay_all_dead(s, "cli", merchant_id, var_dir)
        emit(as_json, {"replayed": len(ids), "ids": ids},
             f"replayed {len(ids)} dead message(s)" + (f": {ids}" if ids else ""))
        return
    try:
        with db().session() as s:
            message = s.get(OutboxMessage, message_id)
            if message is None:
                raise ApiError(f"outbox message {message_id} not found", code="not_found")
            replay(s, message, "cli", var_dir)
    except ApiError as e:
        fail(e.message, as_json)
    emit(as_json, {"id": message_id, "status": "pending"},
         f"outbox message {message_id} replayed; it is due now")
