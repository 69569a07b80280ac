"""Crash test: a ``hub worker`` process SIGKILLed in the middle of a delivery batch loses
no message, and the receiver sees no duplicate it cannot drop by idempotency key.

A real HTTP receiver (in this process) records every request's key and holds the 5th
request unanswered until the worker is killed, so the kill lands while a push is on the
wire, mid-batch: the receiver has it, the worker never committed it. A second worker
takes over once the dead one's leases expire (both run with ``HUB_LEASE_SECONDS=2``, the
lease being written by the claimer) and re-sends that message with the same key.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from hub.models import OutboxMessage
from hub.pipeline.outbox import enqueue
from tests import factories as f
from tests.conftest import TEST_OUTBOUND_ALLOW, TEST_SECRET
from tests.http_receiver import Receiver

ROOT = Path(__file__).resolve().parent.parent
TOTAL = 30
HELD = 5  # the request on the wire when the worker dies


def _worker(settings, tmp_path, name):
    env = {**os.environ, "HUB_DATABASE_URL": settings.database_url,
           "HUB_SECRET_KEY": TEST_SECRET, "HUB_VAR_DIR": str(tmp_path / "var"),
           "HUB_ENV": "test", "HUB_LOG_LEVEL": "WARNING", "HUB_LEASE_SECONDS": "2",
           "HUB_OUTBOUND_ALLOW": ",".join(TEST_OUTBOUND_ALLOW)}
    with open(tmp_path / f"{name}.log", "wb") as log:  # the child keeps its own handle
        return subprocess.Popen([sys.executable, "-m", "hub.cli", "worker"], cwd=ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait(predicate, timeout_s, what, proc=None, log=None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"worker exited early: {log.read_text() if log else ''}")
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}: {log.read_text() if log else ''}")


def _sent(database) -> int:
    with database.session(readonly=True) as s:
        return s.scalar(select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.status == "sent"))


def test_sigkilled_worker_loses_nothing_and_duplicates_nothing(app, database, settings,
                                                               tmp_path):
    with Receiver(delay_s=0.05, hold_at=HELD) as receiver:
        with database.session() as s:
            m = f.merchant(s)
            shop = f.pushing_shop(s, m.id, receiver.url)
            messages = {}
            for i in range(TOTAL):
                payload = {"order_id": f"P{i}", "carrier": "sf", "tracking_number": f"SF{i}"}
                msg = enqueue(s, shop, "shipment", "order", i, payload, "v1")
                messages[msg.idempotency_key] = payload

        first = _worker(settings, tmp_path, "first")
        second = None
        try:
            _wait(lambda: receiver.count() >= HELD, 30, "the first pushes", first,
                  tmp_path / "first.log")
            first.send_signal(signal.SIGKILL)  # mid-batch, mid-request
            first.wait(10)
            receiver.gate.set()
            assert _sent(database) == HELD - 1  # the held one was never recorded as sent

            second = _worker(settings, tmp_path, "second")
            _wait(lambda: _sent(database) == TOTAL, 60, "every message to be sent", second,
                  tmp_path / "second.log")
        finally:
            receiver.gate.set()
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
        requests_seen = list(receiver.requests)

    with database.session(readonly=True) as s:
        assert set(s.scalars(select(OutboxMessage.status))) == {"sent"}
    seen_keys = {r["key"] for r in requests_seen}
    assert seen_keys == set(messages)  # nothing lost, nothing unknown
    for r in requests_seen:  # a re-send is the same message with the same key
        assert r["body"] == messages[r["key"]] and r["path"] == "/hub/shipments"
    # the held message was re-sent once, with its key; the receiver drops the repeat
    held_key = requests_seen[HELD - 1]["key"]
    assert len(requests_seen) == TOTAL + 1
    assert [r["key"] for r in requests_seen].count(held_key) == 2
    assert len(receiver.results) == TOTAL  # distinct keys acted on: one per message
