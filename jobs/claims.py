"""Claiming work from a table with leases.

``claim(db, Model, due, owner, lease_s, limit)`` marks up to ``limit`` due rows as held
by ``owner`` until ``now + lease_s`` and returns their ids. Rows whose lease has expired
(their worker died) are due again. On PostgreSQL the candidate rows are locked with
``FOR UPDATE SKIP LOCKED``, so concurrent workers never wait for or take the same rows;
on SQLite the claim runs in a ``BEGIN IMMEDIATE`` transaction, which serialises writers.
``release`` clears the lease of a finished row (in the caller's transaction).
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select, update

from hub.core.db import Database, utcnow


def claim(db: Database, model, due, owner: str, lease_s: float, limit: int) -> list[int]:
    now = utcnow()
    with db.session() as s:
        stmt = (select(model.id)
                .where(due, or_(model.lease_expires_at.is_(None), model.lease_expires_at < now))
                .order_by(model.id).limit(limit))
        if db.is_postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        ids = list(s.scalars(stmt))
        if ids:
            s.execute(update(model).where(model.id.in_(ids))
                      .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_s)))
    return ids


def release(row) -> None:
    row.lease_owner = None
    row.lease_expires_at = None
