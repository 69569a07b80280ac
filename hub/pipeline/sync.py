"""Applying mapped values to the common model, idempotently, through bindings.

``apply(session, account, values)`` hands ``values`` to the handler registered for its
type (``register``, called by ``hub.wiring``; the domain rooms own the handlers) and
answers what it did: ``created``, ``updated``, ``skipped_older`` (the stored record is
newer: an old update arriving late changes nothing) or ``ignored``. A handler runs in a
savepoint and returns ``(outcome, event)``; the event (``hub.pipeline.events``) is
published after it, in the same transaction, so subscribers' writes commit with the
change. Bindings ``(connector, account, entity, external_id)`` are unique: when two
workers race to create the same record, one insert fails and ``apply`` raises a
retryable ``ConnectorError`` — the event is retried and then finds the binding. A
batch applies without the savepoint (``savepoint=False``) and is undone whole when
anything raises. ``preload`` reads what a batch needs with one query per kind (the
preloaders registered with the handlers; ``preload_bindings`` for ``upsert``).
"""
from __future__ import annotations

from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors.base import ConnectorError, ErrorClass
from hub.core.db import memo, utcnow
from hub.models import Account, Binding
from hub.pipeline import events

Handler = Callable[[Session, Account, object], "tuple[str, events.Event | None]"]
Preloader = Callable[[Session, Account, list], None]
_handlers: dict[type, Handler] = {}
_preloaders: dict[type, Preloader] = {}


def register(value_type: type, handler: Handler, *, preload: Preloader | None = None) -> None:
    """``preload(session, account, values)`` reads what a batch of ``values`` needs, one
    query per kind, into ``hub.core.db.memo`` (``preload_bindings`` for ``upsert``)."""
    _handlers[value_type] = handler
    if preload is not None:
        _preloaders[value_type] = preload


def reset() -> None:
    _handlers.clear()
    _preloaders.clear()


def preload(session: Session, account: Account, values: list) -> None:
    """Run each value type's preloader over the ``values`` of that type."""
    by_type: dict[type, list] = {}
    for v in values:
        by_type.setdefault(type(v), []).append(v)
    for value_type, group in by_type.items():
        if value_type in _preloaders:
            _preloaders[value_type](session, account, group)


def handled_types() -> list[str]:
    return [f"{t.__name__} -> {h.__module__}.{h.__name__}" for t, h in _handlers.items()]


def apply(session: Session, account: Account, values, *, savepoint: bool = True) -> str:
    """Apply ``values``; without ``savepoint`` (a batch that is undone whole on any
    error) a concurrent insert raises the ``IntegrityError`` itself."""
    if not _handlers:  # a process that never wired itself: retry, never lose the event
        raise RuntimeError("nothing can be applied: hub.wiring.wire() was not called")
    handler = _handlers.get(type(values))
    if handler is None:
        raise ConnectorError(ErrorClass.FAIL_DATA, f"cannot apply {type(values).__name__}")
    if not savepoint:
        outcome, event = handler(session, account, values)
    else:
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
    key = (account.id, values.entity, values.external_id)
    bindings = memo(session).get("bindings", {})
    if key in bindings:
        binding = bindings[key]
    else:
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
    session.add(row)  # its id is known now (hub.core.ids); it is written at the next flush
    binding = Binding(merchant_id=account.merchant_id, connector=account.connector,
                      account_id=account.id, entity=values.entity,
                      external_id=values.external_id, internal_id=row.id,
                      remote_updated_at=remote, synced_at=utcnow())
    session.add(binding)
    bindings[key] = binding
    return "created", row


def preload_bindings(session: Session, account: Account, values: list) -> None:
    """Read (and lock, in a stable order on PostgreSQL) the bindings of ``values``, one
    query per entity, so ``upsert`` asks nothing more of the database for them in this
    transaction."""
    by_entity: dict[str, set[str]] = {}
    for v in values:
        by_entity.setdefault(v.entity, set()).add(v.external_id)
    bindings = memo(session).setdefault("bindings", {})
    for entity, external_ids in sorted(by_entity.items()):
        # one entity per query, in the unique index's order (also the stable order rows
        # are locked in): SQLite's planner then searches that index, where an IN over
        # entities, or ordering by id, would walk every binding of the account
        found = session.scalars(locked(session, select(Binding).where(
            Binding.connector == account.connector, Binding.account_id == account.id,
            Binding.entity == entity, Binding.external_id.in_(external_ids))
            .order_by(Binding.external_id)))
        bindings.update({(account.id, b.entity, b.external_id): b for b in found})
        bindings.update({(account.id, entity, x): None for x in external_ids
                         if (account.id, entity, x) not in bindings})
