"""Claiming work from a table with leases.

``claim(db, Model, due, owner, lease_s, limit)`` marks up to ``limit`` due rows as held
by ``owner`` until ``now + lease_s`` and returns their ids, oldest id first (``order``:
other columns to take them by; an order an index gives keeps a long backlog cheap).
Rows whose lease has expired (their worker died) are due again. On PostgreSQL the candidate rows are locked with
``FOR UPDATE SKIP LOCKED``, so concurrent workers never wait for or take the same rows;
on SQLite the claim runs in a ``BEGIN IMMEDIATE`` transaction, which serialises writers.
``kept(db, Model, ids, owner, lease_s)`` renews those leases while a batch is worked (a
push or a thin trigger can outlast one lease), so no other worker takes a row its
owner is still working on; writes stay fenced by the owner all the same. ``release``
clears the lease of a finished row (in the caller's transaction).
"""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import or_, select, update

from hub.core.db import Database, utcnow


def claim(db: Database, model, due, owner: str, lease_s: float, limit: int,
          order=None) -> list[int]:
    now = utcnow()
    with db.session() as s:
        stmt = (select(model.id)
                .where(due, or_(model.lease_expires_at.is_(None), model.lease_expires_at < now))
                .order_by(*(order or (model.id,))).limit(limit))
        if db.is_postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        ids = list(s.scalars(stmt))
        if ids:
            s.execute(update(model).where(model.id.in_(ids))
                      .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_s)))
    return ids


log = logging.getLogger(__name__)


@contextmanager
def kept(db: Database, model, ids: list[int], owner: str, lease_s: float):
    """Renew ``owner``'s leases on ``ids`` every third of ``lease_s`` until the block ends
    (rows released or taken meanwhile are left alone)."""
    stop = threading.Event()

    def renew():
        while not stop.wait(lease_s / 3):
            try:
                with db.session() as s:
                    s.execute(update(model).where(model.id.in_(ids), model.lease_owner == owner)
                              .values(lease_expires_at=utcnow() + timedelta(seconds=lease_s)))
            except Exception:  # noqa: BLE001 (a missed renewal: the next one may work)
                log.warning("lease renewal failed", exc_info=True)

    renewer = threading.Thread(target=renew, name=f"lease-{model.__tablename__}", daemon=True)
    if ids:
        renewer.start()
    try:
        yield
    finally:
        stop.set()
        if ids:
            renewer.join()


def release(row) -> None:
    row.lease_owner = None
    row.lease_expires_at = None
