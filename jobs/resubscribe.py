"""Re-subscribing parcels a courier stopped tracking (Kuaidi100 ``abort``).

When a push says monitoring ``abort`` ("3天查询无记录", "60天无变化"), ``hub.domain.tracking.shipments``
sets the shipment's ``resubscribe_after`` (30 minutes later, Kuaidi100's rule).
This job, every minute, queues a new ``subscribe`` push for each shipment whose wait is
over — or gives up with alert ``tracking_stopped`` when the month's 4 subscriptions are
used. The version of each re-subscription is its due time, so two workers racing on
the same shipment queue one message (and on PostgreSQL rows are claimed with
``SKIP LOCKED``). See ``hub.domain.tracking.shipments.resubscribe_due``.
"""
from __future__ import annotations

from hub.core.db import utcnow
from hub.domain.tracking.shipments import resubscribe_due


def run(app, owner: str) -> int:
    """One batch; the number of shipments re-subscribed or given up."""
    ctx = app.extensions["hub"]
    with ctx.db.session() as s:
        return resubscribe_due(s, utcnow(), ctx.settings.var_dir)
