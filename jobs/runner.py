"""The job runner: APScheduler 3 as the trigger, database tables as the queue.

``Runner`` is the small interface the rest of the hub sees (``run_forever``, ``wake``,
``stop``). ``InProcessRunner`` is the embedded engine: worker threads that drain each
job while it finds work, then sleep until woken or until the job's interval passes.
With ``scheduler=True`` it also starts the one APScheduler of the deployment, which only
wakes jobs on their schedule — the work itself is claimed from tables with leases, so any
number of ``hub worker`` processes can share a PostgreSQL database, and a distributed
engine can later replace this class without touching the jobs.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable, Protocol

log = logging.getLogger(__name__)
# APScheduler logs every wake-up at INFO; the runner's own lines say what matters
logging.getLogger("apscheduler").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Job:
    """``run(app, owner)`` does one batch and returns how many items it handled."""

    name: str
    run: Callable[..., int]
    interval_s: float = 1.0


class Runner(Protocol):
    def run_forever(self) -> None: ...
    def wake(self, job_name: str | None = None) -> None: ...
    def stop(self) -> None: ...


class InProcessRunner:
    def __init__(self, app, jobs: list[Job], owner: str, scheduler: bool = True):
        self.app, self.jobs, self.owner = app, jobs, owner
        self.with_scheduler = scheduler
        self._events = {job.name: threading.Event() for job in jobs}
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._scheduler = None

    def wake(self, job_name: str | None = None) -> None:
        for name, event in self._events.items():
            if job_name in (None, name):
                event.set()

    def _loop(self, job: Job) -> None:
        event = self._events[job.name]
        while not self._stopping.is_set():
            try:
                with self.app.app_context():
                    done = job.run(self.app, self.owner)
            except Exception:  # a failing batch must not kill the worker
                log.exception("job batch failed", extra={"job": job.name})
                done = 0
            if done:
                continue  # more work may be waiting: drain before sleeping
            woken = event.wait(timeout=None if self.with_scheduler else job.interval_s)
            if woken:
                event.clear()

    def start(self) -> None:
        if self.with_scheduler:
            from apscheduler.schedulers.background import BackgroundScheduler

            self._scheduler = BackgroundScheduler(timezone="UTC")
            for job in self.jobs:
                self._scheduler.add_job(self.wake, "interval", seconds=job.interval_s,
                                        args=[job.name], id=job.name, coalesce=True,
                                        max_instances=1)
            self._scheduler.start()
        for job in self.jobs:
            thread = threading.Thread(target=self._loop, args=(job,), name=f"job-{job.name}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("runner started", extra={"owner": self.owner,
                                          "jobs": [j.name for j in self.jobs],
                                          "scheduler": self.with_scheduler})

    def run_forever(self) -> None:
        self.start()
        self._stopping.wait()
        self._join()

    def stop(self) -> None:
        self._stopping.set()
        self.wake()

    def _join(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        for thread in self._threads:
            thread.join(timeout=10)
