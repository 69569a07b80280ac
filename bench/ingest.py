"""Benchmark ``ingest``: how fast the hub acknowledges webhooks (verify the Standard
Webhooks signature, store the raw event durably in the inbox, answer 200), beside a bare
handler served by the same gunicorn and workers (the ceiling).

Set-up: a temporary ``HUB_VAR_DIR`` with a fresh SQLite database (or the database named by
``HUB_BENCH_DATABASE_URL``, e.g. PostgreSQL: migrated, then a new merchant per run), one
merchant and one ``generic_shop`` account, and gunicorn started with the command line
``hub run`` uses (``hub.cli.processes.gunicorn_command``) serving ``bench.ingest_app``. No
inbox worker runs: this measures acknowledgement only.

Load (``bench.load``, a separate process on loopback, every request signed beforehand,
unique ``webhook-id`` each) goes to ``POST /_bench/noop`` and to
``POST /webhooks/generic_shop/<account>`` with identical bytes:
* closed loop for ``closed_s`` seconds → ``requests_per_s`` (ratio hub / noop), and
  ``server_cpu_per_request`` (µs of gunicorn worker CPU per answer, from ``/proc``: the
  figure least moved by other load on the machine);
* open loop at each of ``rates`` (req/s) for ``open_s`` seconds → ``p50_ms``, ``p99_ms``
  measured from each request's scheduled time (the first rate, 500/s, is the headline;
  other rates add figures named ``p99_ms@<rate>/s``).
Noop and hub phases alternate for ``rounds`` (closed) and ``open_rounds`` (open) rounds
and each figure is the median over its rounds, so a burst of unrelated load on the machine
moves one round, not the figure. Every phase is printed as it finishes.
Then gunicorn is killed with SIGKILL and ``inbox_rows`` (rows stored) is compared with the
number of 2xx answers the hub gave: anything acknowledged must be there. A mismatch, or
any non-2xx answer or transport error, fails the benchmark.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.harness import BenchmarkFailed, Figure, benchmark
from bench.load import ROOT, run_load
from bench.payloads import new_secret

LOOPBACK = ("127.0.0.1", "::1", "localhost")  # the benchmarks' servers (HUB_OUTBOUND_ALLOW)

TARGET_RATIO, TARGET_P99_MS = 0.5, 50.0


def receiver_missing() -> str | None:
    """Why the hub cannot receive generic_shop webhooks yet, or None when it can."""
    from connectors.base import Connector
    from connectors.generic_shop import GenericShop

    if importlib.util.find_spec("hub.web.webhooks") is None:
        return "hub/web/webhooks.py (the webhook receiver) does not exist yet"
    if GenericShop.verify_webhook is Connector.verify_webhook:
        return "connectors.generic_shop has no verify_webhook yet"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BenchHub:
    """A migrated database with one generic_shop account, and gunicorn serving it."""

    def __init__(self, database_url: str | None = None, app: str = "bench.ingest_app:app"):
        self.app = app
        self.var_dir = Path(tempfile.mkdtemp(prefix="hub-bench-"))
        self.database_url = database_url or f"sqlite:///{self.var_dir / 'hub.db'}"
        self.port = _free_port()
        self.secret_key = secrets.token_urlsafe(40)
        self.webhook_secret = new_secret()
        self.proc: subprocess.Popen | None = None
        self.account_id: int | None = None

    @property
    def dialect(self) -> str:
        return self.database_url.split(":", 1)[0].split("+", 1)[0]

    def env(self) -> dict:
        return dict(os.environ, HUB_VAR_DIR=str(self.var_dir), HUB_DATABASE_URL=self.database_url,
                    HUB_SECRET_KEY=self.secret_key, HUB_HOST="127.0.0.1", HUB_PORT=str(self.port),
                    HUB_ENV="development", HUB_LOG_LEVEL="WARNING",
                    HUB_OUTBOUND_ALLOW=",".join(LOOPBACK),
                    PYTHONPATH=os.pathsep.join(p for p in (str(ROOT),
                                                           os.environ.get("PYTHONPATH")) if p))

    def settings(self):
        from hub.core.config import Settings

        return Settings.from_env(database_url=self.database_url, var_dir=self.var_dir,
                                 secret_key=self.secret_key, host="127.0.0.1", port=self.port,
                                 env="development", log_level="WARNING",
                                 outbound_allow=LOOPBACK)

    @contextlib.contextmanager
    def provisioned(self):
        """Migrate, then yield ``(session, merchant, shop)``: a new merchant with a
        generic_shop account, in one transaction that commits when the block ends."""
        from connectors import outbound
        from hub.core import crypto, migrate
        from hub.parties.accounts import add_account
        from hub.core.db import Database
        from hub.models import Merchant

        settings = self.settings()
        migrate.upgrade(self.database_url)
        crypto.configure(settings.secret_key, settings.old_secret_keys)
        outbound.configure(settings.outbound_allow)  # the benchmarks' servers are local
        db = Database(self.database_url)
        try:
            with db.session() as s:
                merchant = Merchant(name=f"bench {self.var_dir.name}")
                s.add(merchant)
                s.flush()
                shop = add_account(s, merchant.id, "generic_shop", "bench shop",
                                   {"webhook_secret": self.webhook_secret}, actor="bench")
                yield s, merchant, shop
        finally:
            db.dispose()

    def set_aside_unprocessed(self) -> int:
        """Mark this run's never-processed rows ``ignored``, so a later run on the same
        (PostgreSQL) database does not process them."""
        from sqlalchemy import update

        from hub.core.db import Database
        from hub.models import InboxEvent

        db = Database(self.database_url)
        try:
            with db.session() as s:
                return s.execute(update(InboxEvent).where(
                    InboxEvent.account_id == self.account_id,
                    InboxEvent.status == "received").values(status="ignored")).rowcount
        finally:
            db.dispose()

    def prepare(self) -> None:
        with self.provisioned() as (_session, _merchant, shop):
            self.account_id = shop.id

    def start(self, timeout: float = 30) -> None:
        from hub.cli.processes import gunicorn_command

        cmd = gunicorn_command(self.settings(), app=self.app)
        self.log = open(self.var_dir / "gunicorn.log", "wb")
        self.proc = subprocess.Popen(cmd, env=self.env(), cwd=ROOT, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchmarkFailed(f"gunicorn exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchmarkFailed(f"gunicorn did not become healthy: {self.log_tail()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        return (self.var_dir / "gunicorn.log").read_text(errors="replace")[-3000:]

    def worker_cpu(self) -> dict[int, float]:
        """CPU seconds used so far by each gunicorn worker (Linux ``/proc``; else empty)."""
        if not self.proc:
            return {}
        tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        found = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.proc.pid:  # ppid
                found[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / tick
        return found

    def crash(self) -> None:
        """SIGKILL the whole gunicorn process group: no graceful flush of anything."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def inbox_rows(self) -> int:
        from sqlalchemy import func, select

        from hub.core.db import Database
        from hub.models import InboxEvent

        db = Database(self.database_url)
        try:
            with db.session(readonly=True) as s:
                return s.scalar(select(func.count()).select_from(InboxEvent)
                                .where(InboxEvent.account_id == self.account_id))
        finally:
            db.dispose()

    def close(self) -> None:
        self.crash()
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.var_dir, ignore_errors=True)


def _phase(hub: BenchHub, target: str, mode: str, params: dict, tag: str, **extra) -> dict:
    path = "/_bench/noop" if target == "noop" else f"/webhooks/generic_shop/{hub.account_id}"
    spec = {"port": hub.port, "path": path, "mode": mode, "warmup_s": params["warmup_s"],
            "connections": params["connections"], "factory": "bench.payloads:signed_orders",
            "factory_args": {"secret": hub.webhook_secret, "id_prefix": f"{tag}-"}, **extra}
    cpu_before = hub.worker_cpu()
    result = run_load(spec)
    cpu_after = hub.worker_cpu()
    used = [cpu_after[pid] - cpu_before.get(pid, 0.0) for pid in sorted(cpu_after)]
    answered = result["ok"] + result["not_ok"]
    # server CPU per answered request (warm-up included): unlike a rate, hardly moved by
    # whatever else the machine is running
    result["server_cpu_us"] = sum(used) / answered * 1e6 if used and answered else None
    split = "/".join(f"{u / sum(used):.0%}" for u in used) if sum(used) > 0 else "?"
    p50, p99 = (f"{result[q]:.2f}" if result[q] is not None else "?" for q in ("p50_ms", "p99_ms"))
    what = (f"{result['requests_per_s']:6.0f} req/s" if mode == "closed" else
            f"p50 {p50:>6} ms  p99 {p99:>7} ms  at {result['requests_per_s']:4.0f}/s")
    cpu = f"{result['server_cpu_us']:.0f} us" if result["server_cpu_us"] else "?"
    print(f"  {target:>4} {mode:>6} {tag:<13} {what}  ok={result['ok']} "
          f"errors={result['not_ok'] + result['transport_errors']}  server cpu/req={cpu} "
          f"(workers {split})  sender cpu={result['sender_cpu_s']:.1f}s", flush=True)
    bad = result["not_ok"] + result["transport_errors"]
    if bad:
        raise BenchmarkFailed(f"{target} {mode} {tag}: {bad} failed requests "
                              f"(statuses {result['statuses']}, transport errors "
                              f"{result['transport_error_examples']}); see {hub.var_dir}")
    if result["abandoned"]:
        print(f"  note: {target} {tag} could not keep up with {extra.get('rate')}/s; the "
              f"sender gave up on the requests still unsent", flush=True)
    if result["exhausted"]:
        print(f"  note: {target} {tag} used all its prebuilt requests before the end; the "
              f"rate is over the {result['window_s']:.1f} s it ran", flush=True)
    return result


def _measure(hub: BenchHub, params: dict) -> tuple[dict, dict, int]:
    """Interleaved rounds (noop, hub, noop, hub...) so that a burst of load from anything
    else on the machine hits both sides; each figure is the median over the rounds."""
    closed: dict[str, list[dict]] = {"noop": [], "hub": []}
    opened: dict[float, dict[str, list[dict]]] = {}
    acked = 0
    for r in range(params["rounds"]):
        noop = _phase(hub, "noop", "closed", params, f"closed.r{r}",
                      duration_s=params["closed_s"], cycle=True)
        # unique ids for the hub: enough for it to go 30% faster than the ceiling
        got = _phase(hub, "hub", "closed", params, f"closed.r{r}", duration_s=params["closed_s"],
                     max_rate=max(1000.0, 1.3 * noop["requests_per_s"]))
        closed["noop"].append(noop)
        closed["hub"].append(got)
        acked += got["ok"]
    for rate in params["rates"]:
        opened[rate] = {"noop": [], "hub": []}
        for r in range(params["open_rounds"]):
            for target in ("noop", "hub"):
                got = _phase(hub, target, "open", params, f"open{rate:g}.r{r}", rate=rate,
                             duration_s=params["open_s"], cycle=target == "noop")
                opened[rate][target].append(got)
                acked += got["ok"] if target == "hub" else 0
    return closed, opened, acked


@benchmark("ingest", params={"warmup_s": 1.0, "closed_s": 4.0, "rounds": 3, "open_s": 5.0,
                             "open_rounds": 2, "rates": [500], "connections": 16},
           full={"warmup_s": 2.0, "closed_s": 15.0, "open_s": 15.0,
                 "rates": [500, 250, 1000, 1500]})
def ingest(params: dict) -> list[Figure]:
    """Webhook acknowledgements per second and latency (verify + store + ack) vs a bare handler."""
    missing = receiver_missing()
    if missing:
        raise BenchmarkFailed(f"cannot benchmark ingest: {missing}")
    hub = BenchHub(os.environ.get("HUB_BENCH_DATABASE_URL") or None)
    params["database"] = hub.dialect
    params["web_workers"] = int(os.environ.get("HUB_WEB_WORKERS") or 2)
    params["cpus"] = os.cpu_count()
    params["loadavg_1m_at_start"] = round(os.getloadavg()[0], 2)  # others' load skews figures
    if params["loadavg_1m_at_start"] > (params["cpus"] or 1):
        print(f"  warning: load average {params['loadavg_1m_at_start']} on {params['cpus']} "
              f"CPUs before starting; other processes will skew these figures", flush=True)
    try:
        hub.prepare()
        hub.start()
        closed, opened, acked = _measure(hub, params)
        hub.crash()
        rows = hub.inbox_rows()
        print(f"  durability: {rows} inbox rows after SIGKILL for {acked} 2xx answers "
              f"({'OK' if rows == acked else 'MISMATCH'})", flush=True)
        if rows != acked:
            raise BenchmarkFailed(f"{acked} webhooks were acknowledged but {rows} inbox rows "
                                  f"are stored; see {hub.var_dir}")
        hub.set_aside_unprocessed()
    except BaseException:
        print(f"  gunicorn log tail:\n{hub.log_tail() if hub.proc else '(not started)'}")
        raise
    finally:
        hub.close()

    def med(runs: list[dict], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    figures = [Figure("requests_per_s", "1/s", med(closed["hub"], "requests_per_s"),
                      "noop", med(closed["noop"], "requests_per_s"), target="ratio >= 0.5")]
    if all(run["server_cpu_us"] for run in closed["hub"] + closed["noop"]):
        figures.append(Figure("server_cpu_per_request", "us", med(closed["hub"], "server_cpu_us"),
                              "noop", med(closed["noop"], "server_cpu_us")))
    for i, (rate, pair) in enumerate(opened.items()):
        suffix = "" if i == 0 else f"@{rate:g}/s"
        for q in ("p50_ms", "p99_ms"):
            figures.append(Figure(q + suffix, "ms", med(pair["hub"], q), "noop",
                                  med(pair["noop"], q)))
    figures.append(Figure("inbox_rows", "rows", rows, "2xx_answers", acked))
    ratio = figures[0].ratio or 0.0
    p99 = next(f.value for f in figures if f.metric == "p99_ms")
    verdict = "meets" if ratio >= TARGET_RATIO and p99 < TARGET_P99_MS else "MISSES"
    print(f"  target (>= {TARGET_RATIO:.0%} of the ceiling, p99 < {TARGET_P99_MS:g} ms at "
          f"{params['rates'][0]:g}/s): {verdict} — ratio {ratio:.2f}, p99 {p99:.1f} ms",
          flush=True)
    return figures
