"""Keeping the analytics rollups (``hub.domain.analytics.rollup``) current.

One batch (``run(app, owner)``, every 60 s): every merchant gets a ``RollupMark``; up to
``BATCH`` marks not refreshed for ``INTERVAL_S`` are claimed with a lease, and for each the
days that rows changed since its ``rolled_to`` touch are rebuilt, one transaction per run
of consecutive days (``rollup.SPAN_DAYS`` at most: a short write each), in the merchant's
time zone. Only then does ``rolled_to`` move, to
the time this run began: a worker that dies midway leaves it, and the next run rebuilds
those days again. ``OVERLAP`` covers a transaction that commits after the run began with
an ``updated_at`` from before (its rows are read again next time).
"""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from hub.core.db import utcnow
from hub.domain.analytics import rollup
from hub.models import Merchant
from hub.models.analytics import RollupMark
from jobs.claims import claim, kept, release

INTERVAL_S = 60
LEASE_S = 300
BATCH = 10
OVERLAP = timedelta(minutes=5)


def run(app, owner: str) -> int:
    """One batch; the number of merchants whose rollups were brought up to date."""
    db = app.extensions["hub"].db
    _mark_new_merchants(db)
    due = or_(RollupMark.refreshed_at.is_(None),
              RollupMark.refreshed_at < utcnow() - timedelta(seconds=INTERVAL_S))
    ids = claim(db, RollupMark, due, owner, LEASE_S, BATCH)
    with kept(db, RollupMark, ids, owner, LEASE_S):
        for mark_id in ids:
            refresh(db, mark_id, owner)
    return len(ids)


def refresh(db, mark_id: int, owner: str | None = None) -> int:
    """Rebuild the days changed since the mark; the number of days rebuilt."""
    started = utcnow()
    with db.session() as s:
        mark = s.get(RollupMark, mark_id)
        merchant_id, since = mark.merchant_id, mark.rolled_to
        zone = ZoneInfo(s.get(Merchant, merchant_id).time_zone)
        days = rollup.changed_days(s, merchant_id, since and since - OVERLAP, zone)
    for first, last in rollup.spans(days):
        with db.session() as s:
            rollup.rebuild(s, merchant_id, first, last, zone)
    with db.session() as s:
        mark = s.get(RollupMark, mark_id)
        if owner is None or mark.lease_owner == owner:  # else another took it over
            mark.rolled_to, mark.refreshed_at = started, utcnow()
            release(mark)
    return len(days)


def _mark_new_merchants(db) -> None:
    try:
        with db.session() as s:
            marked = select(RollupMark.merchant_id)
            for merchant_id in s.scalars(select(Merchant.id).where(Merchant.id.not_in(marked))):
                s.add(RollupMark(merchant_id=merchant_id))
    except IntegrityError:  # another worker marked them first
        pass
