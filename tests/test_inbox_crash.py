"""Crash test: an inbox worker SIGKILLed right after a slice of its batch committed (the
events' outcomes and leases are written in that commit; nothing else ran) loses nothing
and applies nothing twice. A second worker takes the rest once the dead one's leases
expire (``HUB_LEASE_SECONDS=2``, written by the claimer)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from hub.models import Binding, Fulfilment, InboxEvent, Order, OutboxMessage
from jobs import process_inbox
from tests import factories as f
from tests import supplier_helpers
from tests.conftest import TEST_OUTBOUND_ALLOW, TEST_SECRET
from tests.webhook_helpers import envelope, order_data

ROOT = Path(__file__).resolve().parent.parent
TOTAL = 40

# The worker: the process_inbox job, killed by SIGKILL as soon as a slice has committed.
WORKER = """
import os, signal
from sqlalchemy import event
from sqlalchemy.orm import Session
from hub.web.app import create_app
from jobs import process_inbox

recorded = []
real = process_inbox._record
process_inbox._record = lambda s, outcomes: (recorded.append(len(outcomes)), real(s, outcomes))
process_inbox.SLICE_S = {"sqlite": 0.0, "postgresql": 0.0}   # one event per slice

@event.listens_for(Session, "after_commit")
def die(session):
    if recorded:
        os.kill(os.getpid(), signal.SIGKILL)

app = create_app()
process_inbox.run(app, "doomed")
raise SystemExit("the worker was not killed")
"""


def test_a_worker_killed_after_a_slice_committed_loses_and_repeats_nothing(
        app, database, settings, tmp_path):
    with database.session() as s:
        m = f.merchant(s)
        shop = f.shop(s, m.id)
        f.sku_mapping(s, m.id, supplier_helpers.supplier(s, m.id, "S1").id, "SKU-1")
        for n in range(TOTAL):
            f.inbox_event(s, shop, event_type="order.updated",
                          body=envelope("order.updated", order_data(f"GS-{n}")))
    env = {**os.environ, "HUB_DATABASE_URL": settings.database_url,
           "HUB_SECRET_KEY": TEST_SECRET, "HUB_VAR_DIR": str(tmp_path / "var"),
           "HUB_ENV": "test", "HUB_LOG_LEVEL": "WARNING", "HUB_LEASE_SECONDS": "2",
           "HUB_OUTBOUND_ALLOW": ",".join(TEST_OUTBOUND_ALLOW)}
    done = subprocess.run([sys.executable, "-c", WORKER], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr[-3000:]

    by_status = _statuses(database)
    assert by_status.get("processed") == 1            # the committed slice: one event
    assert by_status.get("received") == TOTAL - 1     # the rest still leased to the dead
    time.sleep(2.1)                                    # its leases expire
    while process_inbox.run(app, "survivor"):
        pass

    assert _statuses(database) == {"processed": TOTAL}
    with database.session(readonly=True) as s:
        assert {e.attempts for e in s.scalars(select(InboxEvent))} == {1}
        for model in (Order, Binding, Fulfilment, OutboxMessage):
            assert s.scalar(select(func.count()).select_from(model)) == TOTAL, model


def _statuses(database) -> dict[str, int]:
    with database.session(readonly=True) as s:
        return dict(s.execute(select(InboxEvent.status, func.count())
                              .group_by(InboxEvent.status)).all())
