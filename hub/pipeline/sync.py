"""Applying mapped values to the common model, idempotently, through bindings.

``apply(session, account, values)`` hands ``values`` to the handler registered for its
type (``register``, called by ``hub.wiring``; the domain rooms own the handlers) and
answers what it did: ``created``, ``updated``, ``skipped_older`` (the stored record is
newer: an old update arriving late changes nothing) or ``ignored``. A handler runs in a
savepoint and returns ``(outcome, event)``; the event (``hub.pipeline.events``) is
published after it, in the same transaction, so subscribers' writes commit with the
change. Bindings ``(connector, account, entity, external_id)`` are unique: when two
workers race to create the same record, one insert fails and ``apply`` raises a
retryable ``ConnectorError`` — the event is retried and then finds the binding.
"""
from __future__ import annotations

from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors.base import ConnectorError, ErrorClass
from hub.core.db import utcnow
from hub.models import Account, Binding
from hub.pipeline import events

Handler = Callable[[Session, Account, object], "tuple[str, events.Event | None]"]
_handlers: dict[type, Handler] = {}


def register(value_type: type, handler: Handler) -> None:
    _handlers[value_type] = handler


def reset() -> None:
    _handlers.clear()


def handled_types() -> list[str]:
    return [f"{t.__name__} -> {h.__module__}.{h.__name__}" for t, h in _handlers.items()]


def apply(session: Session, account: Account, values) -> str:
    if not _handlers:  # a process that never wired itself: retry, never lose the event
        raise RuntimeError("nothing can be applied: hub.wiring.wire() was not called")
    handler = _handlers.get(type(values))
    if handler is None:
        raise ConnectorError(ErrorClass.FAIL_DATA, f"cannot apply {type(values).__name__}")
    try:
        with session.begin_nested():
            outcome, event = handler(session, account, values)
    except IntegrityError:
        raise ConnectorError(ErrorClass.RETRY, f"concurrent write to {values.entity} "
                             f"{values.external_id}; retrying") from None
    if event is not None:
        events.publish(session, event)
    return outcome


def locked(session: Session, stmt):
    """``stmt`` with ``FOR UPDATE`` on PostgreSQL (SQLite serialises writers anyway)."""
    return stmt.with_for_update() if session.get_bind().dialect.name == "postgresql" else stmt


def lock(session: Session, row):
    """``row`` re-read under its row lock (PostgreSQL), so a status transition is computed
    from what concurrent transactions committed, never from a stale read."""
    if session.get_bind().dialect.name == "postgresql":
        session.flush()  # what this transaction changed is written, not refreshed away
        session.refresh(row, with_for_update=True)
    return row


def upsert(session, account, values, model, fields: dict, merge=None):
    """The binding logic every record shares: returns ``(outcome, row)`` with ``fields``
    set on the row (None when the record is older than the stored one).
    ``merge(row, fields) -> fields`` adjusts what is set on an existing row."""
    binding = session.scalar(locked(session, select(Binding).where(
        Binding.connector == account.connector, Binding.account_id == account.id,
        Binding.entity == values.entity, Binding.external_id == values.external_id)))
    remote = values.remote_updated_at
    if binding is not None:
        if remote and binding.remote_updated_at and remote < binding.remote_updated_at:
            return "skipped_older", None
        row = lock(session, session.get(model, binding.internal_id))
        if merge is not None:
            fields = merge(row, fields)
        for key, value in fields.items():
            setattr(row, key, value)
        binding.remote_updated_at = remote or binding.remote_updated_at
        binding.synced_at = utcnow()
        return "updated", row
    row = model(merchant_id=account.merchant_id, **fields)
    session.add(row)
    session.flush()
    session.add(Binding(merchant_id=account.merchant_id, connector=account.connector,
                        account_id=account.id, entity=values.entity,
                        external_id=values.external_id, internal_id=row.id,
                        remote_updated_at=remote, synced_at=utcnow()))
    session.flush()
    return "created", row
