"""Wake-ups: work added in a committed transaction wakes the worker's job at once, long
before its polling interval; a rolled-back one wakes nobody."""
from __future__ import annotations

import threading
import time

import pytest

from hub.core.wakeup import Listener, notify
from jobs.runner import InProcessRunner, Job


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def listener(database, settings):
    heard: list[str] = []
    got = threading.Event()

    def on_wake(channel):
        heard.append(channel)
        got.set()

    lst = Listener(database, settings.var_dir, on_wake)
    lst.start()
    time.sleep(0.3 if database.is_postgres else 0.1)  # LISTEN / bind before notifying
    yield heard, got
    lst.stop()


def test_commit_wakes_the_listener(database, settings, listener):
    heard, got = listener
    with database.session() as s:
        notify(s, "inbox", settings.var_dir)
    assert got.wait(10), "no wake-up after commit"
    assert heard == ["inbox"]


def test_rollback_wakes_nobody(database, settings, listener):
    heard, got = listener
    with pytest.raises(RuntimeError):
        with database.session() as s:
            notify(s, "outbox", settings.var_dir)
            raise RuntimeError("business change failed")
    with database.session() as s:  # a later commit proves the channel is live
        notify(s, "inbox", settings.var_dir)
    assert got.wait(10)
    assert "outbox" not in heard


def test_runner_runs_a_woken_job_before_its_interval(app, database, settings):
    runs: list[float] = []
    job = Job("process_inbox", lambda _app, _owner: runs.append(time.monotonic()) and 0,
              interval_s=3600)
    runner = InProcessRunner(app, [job], owner="test", scheduler=False)
    lst = Listener(database, settings.var_dir,
                   on_wake=lambda ch: runner.wake({"inbox": "process_inbox"}.get(ch)))
    lst.start()
    runner.start()
    try:
        assert _wait_for(lambda: len(runs) == 1)  # the first pass on start
        time.sleep(0.3 if database.is_postgres else 0.1)
        with database.session() as s:
            notify(s, "inbox", settings.var_dir)
        assert _wait_for(lambda: len(runs) >= 2), "the job was not woken"
    finally:
        lst.stop()
        runner.stop()
        runner._join()
