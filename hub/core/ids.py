"""Primary keys handed out when a row is added to a session, not when it is flushed.

A row's ``id`` is known the moment it is ``session.add``-ed (or cascaded in), so code that
names it — a binding, an audit entry, an outbox key, a fulfilment line — needs no flush
first, and a batch's rows of one table go to the database in one multi-row ``INSERT`` at
its single flush. Ids come from the same place the database would take them:

* PostgreSQL: the column's sequence, a block at a time (``nextval`` over
  ``generate_series``; blocks double from 1 to ``MAX_BLOCK`` within a transaction). Ids
  a transaction does not use are gaps, as with any rolled-back insert.
* SQLite: ``max(id) + 1`` and up, read once per table and transaction. Writers hold the
  database lock (``BEGIN IMMEDIATE``) for the whole transaction, so no one else inserts
  meanwhile; a rollback (a savepoint's too) forgets the counter (``hub.core.db.memo``).

Rows with an ``id`` set already keep it. A model that is also inserted through Core
statements (whose rows the SQLite counter would not see) opts out with
``__preassigned_ids__ = False``. A flush orders its inserts by ``relationship()``s, not
by foreign keys: a column set to the id of a row not yet written needs a relationship
between the two models (``FulfilmentLine.order_line``), or a flush first.
"""
from __future__ import annotations

import functools
import itertools
from typing import Iterator

from sqlalchemy import event, func, inspect, select, text
from sqlalchemy.orm import Session

from hub.core.db import memo

MAX_BLOCK = 256
_NEXTVAL = text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                "FROM generate_series(1, :n)")


def next_id(session: Session, table) -> int:
    blocks = memo(session).setdefault("ids", {})
    size, ids = blocks.get(table.name, (0, iter(())))
    value = next(ids, None)
    if value is None:
        size = min(MAX_BLOCK, max(1, 2 * size))
        with session.no_autoflush:  # the row being added is pending, without its id yet
            ids = _reserve(session, table, size)
        blocks[table.name] = (size, ids)
        value = next(ids)
    return value


def _reserve(session: Session, table, n: int) -> Iterator[int]:
    if session.get_bind().dialect.name == "postgresql":
        return iter(session.execute(_NEXTVAL, {"table": table.name, "n": n}).scalars().all())
    # SQLite: one read per table and transaction (see the module doc)
    return itertools.count((session.execute(select(func.max(table.c.id))).scalar() or 0) + 1)


@functools.lru_cache(maxsize=None)
def _table(cls):
    """The table whose ``id`` a new ``cls`` row gets here, or None (see the module doc)."""
    mapper = inspect(cls)
    if getattr(cls, "__preassigned_ids__", True) and len(mapper.primary_key) == 1 \
            and mapper.primary_key[0].name == "id":
        return mapper.local_table
    return None


@event.listens_for(Session, "transient_to_pending")
def _assign(session: Session, obj) -> None:
    table = _table(type(obj))
    if table is not None and obj.id is None:
        obj.id = next_id(session, table)
