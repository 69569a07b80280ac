"""Pruning the quarantine: rejected deliveries older than ``HUB_QUARANTINE_RETENTION_DAYS``
are deleted, a batch at a time (``hub.pipeline.inbox.prune_quarantine``)."""
from __future__ import annotations

from hub.pipeline.inbox import prune_quarantine

INTERVAL_S = 600


def run(app, owner: str) -> int:
    """One batch; the number of quarantined requests deleted."""
    ctx = app.extensions["hub"]
    with ctx.db.session() as s:
        return prune_quarantine(s, ctx.settings.quarantine_retention_days)
