"""``hub run|worker|scheduler``: serving the hub and running its jobs."""
from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from hub.cli.common import db, settings


@click.command("run", help="Migrate, then serve the hub (gunicorn) and run one scheduler-"
                           "and-worker process; Ctrl-C stops both. With --sandbox (what "
                           "`make run` uses) also start the three sandboxes, link a sandbox "
                           "shop, courier and supplier to a demo merchant and trickle orders "
                           "in; HUB_SANDBOX=0 turns --sandbox off.")
@click.option("--sandbox", is_flag=True,
              help="also run the sandbox platform, courier and supplier, linked and busy")
@with_appcontext
def run_command(sandbox: bool):
    import os

    from hub.cli.processes import run_all

    if os.environ.get("HUB_SANDBOX", "").strip().lower() in ("0", "false", "no", "off"):
        sandbox = False
    sys.exit(run_all(settings(), sandbox=sandbox))


def _run_worker(with_scheduler: bool) -> None:
    import os
    import signal
    import socket

    from jobs.registry import default_jobs
    from jobs.runner import InProcessRunner

    from hub.core.wakeup import Listener

    owner = f"{socket.gethostname()}:{os.getpid()}"
    runner = InProcessRunner(current_app._get_current_object(), default_jobs(), owner,
                             scheduler=with_scheduler)
    listener = Listener(db(), settings().var_dir, on_wake=lambda channel: runner.wake(
        {"inbox": "process_inbox", "outbox": "deliver_outbox"}.get(channel)))
    listener.start()

    def stop(*_):
        listener.stop()
        runner.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runner.run_forever()


@click.command("worker", help="Drain the inbox and outbox and run polls. Start as many as "
                              "you like on PostgreSQL; work is claimed with leases.")
@click.option("--scheduler", "with_scheduler", is_flag=True,
              help="also be the deployment's one scheduler (hub run does this)")
@with_appcontext
def worker_command(with_scheduler):
    _run_worker(with_scheduler)


@click.command("scheduler", help="The deployment's one scheduler, with a worker in the same "
                                 "process. Run exactly one.")
@with_appcontext
def scheduler_command():
    _run_worker(True)
