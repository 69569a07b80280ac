"""Operator actions on the outbox: replay dead messages, cancel unsent ones, list them.

The outbox's states: ``pending`` (due at ``next_attempt_at``; being sent while leased) →
``sent``, or ``dead`` once retries are exhausted or the receiver refused it for good
(``fail_config`` / ``fail_data``); ``superseded`` when a newer message for the same entity
replaced it before it was sent; ``cancelled`` by an operator.

* ``replay(session, message, actor)``: ``dead`` → ``pending``, due now, attempt count
  reset, the SAME idempotency key (a receiver that did process an earlier try drops it);
* ``cancel(session, message, actor)``: ``pending`` or ``dead`` → ``cancelled``; refused
  while a worker holds a live lease on it (the push may be on the wire);
* ``replay_all_dead(session, actor, merchant_id)``.

Each action raises ``hub.errors.Conflict`` when the state does not allow it, and is
audited. The REST endpoints are ``hub.api.outbox_ops``; the CLI group ``hub outbox`` is
below.
"""
from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import audit
from hub.db import utcnow
from hub.errors import ApiError, Conflict
from hub.models import OutboxMessage
from hub.outbox import wake_delivery


def _release(message: OutboxMessage) -> None:
    message.lease_owner = None
    message.lease_expires_at = None


def replay(session: Session, message: OutboxMessage, actor: str,
           var_dir: Path | None = None) -> OutboxMessage:
    if message.status != "dead":
        raise Conflict(f"outbox message {message.id} is {message.status}; only dead messages "
                       "can be replayed")
    message.status = "pending"
    message.attempts = 0
    message.next_attempt_at = utcnow()
    _release(message)
    audit.record(session, message.merchant_id, actor, "outbox.replayed", "outbox_message",
                 message.id, {"idempotency_key": message.idempotency_key})
    if var_dir is not None:
        wake_delivery(session, var_dir)
    return message


def cancel(session: Session, message: OutboxMessage, actor: str) -> OutboxMessage:
    if message.status not in ("pending", "dead"):
        raise Conflict(f"outbox message {message.id} is {message.status}; only pending or "
                       "dead messages can be cancelled")
    if message.status == "pending" and message.lease_owner and message.lease_expires_at \
            and message.lease_expires_at > utcnow():
        raise Conflict(f"outbox message {message.id} is being delivered right now; "
                       "try again in a minute")
    previous = message.status
    message.status = "cancelled"
    _release(message)
    audit.record(session, message.merchant_id, actor, "outbox.cancelled", "outbox_message",
                 message.id, {"previous_status": previous})
    return message


def replay_all_dead(session: Session, actor: str, merchant_id: int | None = None,
                    var_dir: Path | None = None) -> list[int]:
    stmt = select(OutboxMessage).where(OutboxMessage.status == "dead")
    if merchant_id is not None:
        stmt = stmt.where(OutboxMessage.merchant_id == merchant_id)
    replayed = [replay(session, m, actor).id
                for m in session.scalars(stmt.order_by(OutboxMessage.id))]
    if replayed and var_dir is not None:
        wake_delivery(session, var_dir)
    return replayed


# -- CLI: hub outbox ------------------------------------------------------------------
json_option = click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")


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
    from hub.cli import db, emit

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
    from hub.cli import db, emit, fail, settings

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
