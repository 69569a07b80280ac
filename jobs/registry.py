"""The jobs every worker runs, in one list."""
from __future__ import annotations

from jobs import (analytics_rollup, deliver_outbox, poll, process_inbox, prune_quarantine,
                  refresh_tokens, resubscribe, supplier_sla)
from jobs.runner import Job


def default_jobs() -> list[Job]:
    return [
        Job("deliver_outbox", deliver_outbox.run, interval_s=1),
        Job("poll", poll.run, interval_s=5),
        Job("process_inbox", process_inbox.run, interval_s=1),
        Job("supplier_sla", supplier_sla.run, interval_s=60),
        Job("resubscribe", resubscribe.run, interval_s=60),
        Job("refresh_tokens", refresh_tokens.run, interval_s=refresh_tokens.INTERVAL_S),
        Job("prune_quarantine", prune_quarantine.run, interval_s=prune_quarantine.INTERVAL_S),
        Job("analytics_rollup", analytics_rollup.run, interval_s=analytics_rollup.INTERVAL_S),
    ]
