"""``hub sync SHOP_ID [--json] [--wait] [--timeout S]``: run one account's poll streams now,
in the foreground, with a progress bar.

Each stream is claimed with the same leases the workers use (``jobs.poll.claim_account``),
so no worker runs it meanwhile, and run by ``jobs.poll.poll_one`` — exactly what the poll
job does: records go to the inbox, the cursor and progress are saved after every slice.
While it runs, the progress the stream reports (``PollState.progress``: ``percent``,
``position``, ``records``) is drawn on stderr: a redrawn bar on a terminal, a line per
10 % otherwise. A stream a worker is running right now is left alone (``busy``).

``--wait`` waits for busy streams, and runs a stream again after its back-off when it
stopped on a retryable error (``retry``, ``rate_limited``), until every stream completed
or ``--timeout`` seconds passed. Then a summary per stream: outcome, records read and new
events stored by this command, progress, last error. ``--json`` prints
``{"id", "name", "connector", "streams": [...]}``. Exit status 1 when a stream failed or
stayed busy.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from datetime import datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from hub.cli.common import fail
from hub.core.db import utcnow
from hub.models import Account, PollState
from hub.parties.shop_status import stream_report

RETRYABLE = {"retry", "rate_limited", "refresh_token_then_retry"}
WIDTH = 30
REDRAW_S = 0.2


def _iso(value):
    return value.isoformat() if isinstance(value, datetime) else value


class ProgressLine:
    """One stream's progress on stderr: redrawn in place on a terminal, else a line each
    time it passes another 10 %."""

    def __init__(self):
        self.tty = sys.stderr.isatty()
        self.step: int | None = None
        self.width = 0

    def draw(self, report: dict, final: bool = False) -> None:
        percent, name = report["percent"], report["stream"]
        if percent is None:
            spin = "running" if not final else "done" if report["done"] else "stopped"
            text = f"{name:<12} [{'.' * WIDTH}] {spin:>7}"
            step = None
        else:
            filled = int(WIDTH * percent / 100)
            text = f"{name:<12} [{'#' * filled}{'-' * (WIDTH - filled)}] {percent:5.1f}%"
            step = int(percent // 10)
        text += f"  {report['records']} records"
        if report["position"]:
            text += f"  at {report['position']}"
        if self.tty:
            click.echo("\r" + text.ljust(self.width), err=True, nl=final)
            self.width = len(text)
        elif final or (step is not None and step != self.step):
            click.echo(text, err=True)
            self.step = step


def _report(db, state_id: int) -> dict:
    with db.session(readonly=True) as s:
        return stream_report(s.get(PollState, state_id))


def _run_one(db, settings, state_id: int, owner: str) -> tuple[str, dict, dict]:
    """Run one claimed stream in a thread while drawing its progress; answers the
    outcome, the stream's final report and what this run read (records, new events)."""
    from jobs import poll

    before = _report(db, state_id)
    result: dict = {}

    def target():
        try:
            result["outcome"] = poll.poll_one(db, settings, state_id, owner)
        except Exception as e:  # a database failure: reported, the lease expires
            result["error"] = e

    thread = threading.Thread(target=target, name=f"hub-sync-{state_id}", daemon=True)
    line = ProgressLine()
    thread.start()
    while thread.is_alive():
        thread.join(REDRAW_S)
        report = _report(db, state_id)
        if report["progress"].get("run_started_at") != before["progress"].get("run_started_at"):
            line.draw(report)
    if "error" in result:
        raise click.ClickException(f"stream {before['stream']} failed: "
                                   f"{type(result['error']).__name__}: {result['error']}")
    report = _report(db, state_id)
    ran = report["progress"].get("run_started_at") != before["progress"].get("run_started_at")
    line.draw(report, final=True)
    counts = {"records": report["records"] if ran else 0,
              "new_events": report["new_events"] if ran else 0}
    return result["outcome"], report, counts


def _pause(db, account_id: int, names: list[str], deadline: float) -> None:
    """Until the earliest back-off of ``names`` ends (1 s for busy ones), within deadline."""
    from sqlalchemy import select

    with db.session(readonly=True) as s:
        due = list(s.scalars(select(PollState.next_run_at).where(
            PollState.account_id == account_id, PollState.stream.in_(names))))
    wait = min([max(0.0, (d - utcnow()).total_seconds()) for d in due] or [1.0])
    time.sleep(max(0.5, min(wait, deadline - time.monotonic())))


@click.command("sync", help="Run a shop's poll streams now, in the foreground, with a "
                            "progress bar; then a summary per stream.")
@click.argument("account_id", metavar="SHOP_ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")
@click.option("--wait", is_flag=True, help="wait for streams a worker is running, and run "
              "streams again after retryable errors, until all completed or --timeout")
@click.option("--timeout", type=click.FloatRange(1, 86400), default=900.0, show_default=True,
              help="seconds --wait may take")
@with_appcontext
def sync_command(account_id, as_json, wait, timeout):
    from jobs import poll

    ctx = current_app.extensions["hub"]
    db, settings = ctx.db, ctx.settings
    with db.session(readonly=True) as s:
        account = s.get(Account, account_id)
        if account is None:
            fail(f"account {account_id} does not exist", as_json)
        if account.status != "active":
            fail(f"account {account_id} is {account.status}"
                  + (f" ({account.status_reason})" if account.status_reason else "")
                  + "; only active accounts are synced", as_json)
        name, connector = account.name, account.connector
    owner = f"cli-sync:{socket.gethostname()}:{os.getpid()}"
    deadline = time.monotonic() + timeout
    results: dict[str, dict] = {}
    todo: list[str] | None = None
    while True:
        ids, busy = poll.claim_account(db, account_id, owner, settings.lease_seconds, todo)
        for state_id in ids:
            outcome, report, counts = _run_one(db, settings, state_id, owner)
            done = results.setdefault(report["stream"], {"records": 0, "new_events": 0})
            done.update(outcome=outcome, report=report, records=done["records"] +
                        counts["records"], new_events=done["new_events"] + counts["new_events"])
        for stream in busy:
            results.setdefault(stream, {"records": 0, "new_events": 0, "report": None})
            results[stream]["outcome"] = "busy"
        todo = [n for n, r in results.items() if r["outcome"] == "busy"
                or r["outcome"] in RETRYABLE]
        if not wait or not todo or time.monotonic() >= deadline:
            break
        _pause(db, account_id, todo, deadline)
    _summary(db, account_id, name, connector, results, as_json)




def _summary(db, account_id, name, connector, results: dict, as_json: bool) -> None:
    from sqlalchemy import select

    with db.session(readonly=True) as s:
        latest = {st.stream: stream_report(st) for st in s.scalars(
            select(PollState).where(PollState.account_id == account_id).order_by(PollState.id))}
    rows = []
    for stream, report in latest.items():
        mine = results.get(stream, {"outcome": "not_run", "records": 0, "new_events": 0})
        rows.append({"stream": stream, "outcome": mine["outcome"], "records": mine["records"],
                     "new_events": mine["new_events"], "percent": report["percent"],
                     "done": report["done"], "position": report["position"],
                     "last_success_at": _iso(report["last_success_at"]),
                     "last_error_class": report["last_error_class"],
                     "last_error": report["last_error"],
                     "next_run_at": _iso(report["next_run_at"])})
    failed = any(r["outcome"] not in ("success", "not_run") for r in rows)
    if as_json:
        click.echo(json.dumps({"id": account_id, "name": name, "connector": connector,
                               "streams": rows}, ensure_ascii=False))
    elif not rows:
        click.echo(f"shop {account_id} ({name}, {connector}) has no poll streams")
    else:
        click.echo(f"shop {account_id} ({name}, {connector}):")
        for r in rows:
            pct = "" if r["percent"] is None else f" {r['percent']:.0f}%"
            state = "done" if r["done"] else "in progress"
            line = (f"  {r['stream']:<12} {r['outcome']:<12} {r['records']} records read, "
                    f"{r['new_events']} new events stored;{pct} {state}")
            if r["outcome"] not in ("success", "not_run") and r["last_error"]:
                line += f"\n      {r['last_error_class']}: {r['last_error']} " \
                        f"(next run {r['next_run_at']})"
            click.echo(line)
    if failed:
        sys.exit(1)
