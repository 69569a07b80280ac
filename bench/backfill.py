"""Benchmark ``backfill``: how fast a newly linked Kuaishou shop's history becomes orders —
``orders`` paid orders (10,000; 100,000 with ``--full``) seeded in the Kuaishou sandbox,
spread evenly over the last ``spread_days`` (89: inside the platform's 90-day limit),
pulled through the real ``orders`` poll stream and processed into normalised, stored
orders — beside a raw download of the same pages (the I/O floor).

Set-up (in this process; nothing is mocked): the Kuaishou sandbox on loopback (a werkzeug
threaded server, real HTTP), a fresh SQLite database in a temporary ``HUB_VAR_DIR`` (with
``HUB_BENCH_DATABASE_URL``: a fresh PostgreSQL database on that server, dropped after), the
app built by ``hub.web.app.create_app``, one merchant and the shop linked the operator's way
(``hub.parties.accounts.add_account``, tokens from the platform console) with ``backfill_days``
90 and 7-day order windows (the connector's defaults). The **rate limits are raised** on
both sides so they are not what is measured: the sandbox's ``defaultQps`` and per-API
``qps`` to ``qps`` (100,000), the connector's ``qps_overrides`` for the four list/detail
APIs to 10,000 and ``qps_default`` to 1,000 (the config schema's maxima) — far above the
few hundred calls per second one poll thread makes.
The ``returns`` stream is read in 24-hour windows (the API's maximum; 90 list calls, no
refunds exist) so the order figure is not mostly empty refund windows.

* ``raw_download`` (baseline): the same ``orders`` stream object of the same connector
  (same ``KuaishouClient``: signing, token buckets, the session) read from an empty cursor,
  every page fetched (plus ``open.order.detail`` for an element the mapper could not use
  as it is — none here: the sandbox's list elements are complete), records counted and
  dropped: no inbox, no mapping, no database.
* ``orders_per_s``: the hub's own worker loop (``jobs.runner.InProcessRunner`` with the
  ``poll`` and ``process_inbox`` jobs, woken by ``hub.core.wakeup`` like ``hub worker``) from
  its start until every seeded order exists as an ``Order`` row: each page stored as inbox
  events (one transaction per page, with the cursor), the events applied in batches by
  ``jobs.process_inbox``.

The benchmark fails unless every seeded order exists exactly once (one ``Order`` row per
platform order id, the set equal to the seeded one), one inbox event per order, none
failed — and the raw download saw each exactly once too.
"""
from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from bench.harness import BenchmarkFailed, Figure, benchmark

DAY_MS = 86_400_000
TARGET_RATIO = 0.3  # issue 11 (stretch: 0.7)
MESSAGE_KEY = "AAECAwQFBgcICQoLDA0ODw=="
CONNECTOR_QPS, CONNECTOR_QPS_DEFAULT = 10_000, 1_000  # the config's maxima
METHODS = ("open.order.cursor.list", "open.order.detail",
           "open.seller.order.refund.pcursor.list", "open.seller.order.refund.detail")


class _World:
    """The Kuaishou sandbox with one shop holding the seeded orders, and an in-process hub
    (database migrated, the shop linked) in a temporary var dir."""

    def __init__(self, qps: int):
        self.qps = qps
        self.var_dir = Path(tempfile.mkdtemp(prefix="hub-bench-backfill-"))
        self.server_url = os.environ.get("HUB_BENCH_DATABASE_URL")
        self.database_url = self._fresh_database() if self.server_url \
            else f"sqlite:///{self.var_dir / 'hub.db'}"
        self.server = None
        self.app = None
        self._keyring = None

    def __enter__(self):
        return self

    def _admin(self, sql: str) -> str:
        """Run ``sql`` on the bench server's maintenance database; the run's own name."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        url = make_url(self.server_url)
        name = f"{url.database}_backfill_{os.getpid()}"
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(sql.format(name=name)))
        admin.dispose()
        return url.set(database=name).render_as_string(hide_password=False)

    def _fresh_database(self) -> str:
        """A new database beside ``HUB_BENCH_DATABASE_URL``'s for this run (the poll job
        reads every account: other runs' would be in its way); dropped in ``stop``."""
        self._admin('DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return self._admin('CREATE DATABASE "{name}"')

    def __exit__(self, *exc):
        self.stop()

    def start(self, orders: int, spread_ms: int) -> list[str]:
        import requests

        from sandbox.kuaishou import serve

        self.server, self.ks_url = serve(port=0, config={
            "defaultQps": [self.qps, self.qps],
            "qps": {m: [self.qps, self.qps] for m in METHODS}})
        http = requests.Session()

        def ks(path, **body):
            r = http.post(f"{self.ks_url}/_sandbox{path}", json=body, timeout=600)
            if r.status_code >= 400:
                raise RuntimeError(f"sandbox {path}: {r.status_code} {r.text[:300]}")
            return r.json()

        app = ks("/apps", messageKey=MESSAGE_KEY)
        shop = ks("/shops", shopName="benchmark shop")
        tokens = ks(f"/shops/{shop['sellerId']}/authorize", appKey=app["appKey"])
        oids: list[str] = []
        left = orders
        while left:  # the control API makes at most 100,000 per call
            n = min(left, 100_000)
            made = ks("/orders/bulk", count=n, paid=True, push=False, spreadMs=spread_ms,
                      sellerId=shop["sellerId"],
                      item={"skuNick": "BENCH-SKU", "itemTitle": "基准测试商品", "price": 3990})
            oids += [str(o) for o in made["oids"]]
            left -= n
        http.close()
        self._link(app, shop, tokens)
        return oids

    def _link(self, app: dict, shop: dict, tokens: dict) -> None:
        from hub.web.app import create_app
        from hub.core import crypto, migrate
        from hub.parties.accounts import add_account
        from hub.core.config import Settings
        from demo.world import iso_in
        from hub.models import Merchant

        settings = Settings.from_env(database_url=self.database_url, var_dir=self.var_dir,
                                     secret_key=secrets.token_urlsafe(40), env="development",
                                     public_url="http://127.0.0.1:9", log_level="WARNING",
                                     outbound_allow=("127.0.0.1", "::1", "localhost"))
        migrate.upgrade(self.database_url)
        self._keyring = crypto._keyring
        self.app = create_app(settings)
        self.db = self.app.extensions["hub"].db
        with self.db.session() as s:
            merchant = Merchant(name="Benchmark merchant")
            s.add(merchant)
            s.flush()
            self.account_id = add_account(s, merchant.id, "kuaishou", "benchmark shop", {
                "app_key": app["appKey"], "app_secret": app["appSecret"],
                "sign_secret": app["signSecret"], "message_key": MESSAGE_KEY,
                "api_base_url": self.ks_url, "oauth_base_url": self.ks_url,
                "access_token": tokens["access_token"],
                "refresh_token": tokens["refresh_token"],
                "access_token_expires_at": iso_in(172_800),
                "refresh_token_expires_at": iso_in(180 * 86_400),
                "backfill_days": 90, "order_window_days": 7, "refund_window_hours": 24,
                "qps_default": CONNECTOR_QPS_DEFAULT,
                "qps_overrides": {m: CONNECTOR_QPS for m in METHODS}}, actor="bench").id

    def connector(self):
        from hub.parties.accounts import connector_for
        from hub.models import Account

        with self.db.session(readonly=True) as s:
            account = s.get(Account, self.account_id)
            s.expunge(account)
        return connector_for(self.db, account, "http://127.0.0.1:9")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.app is not None:
            self.app.extensions["hub"].db.dispose()
            self.app = None
        if self._keyring is not None:
            from hub.core import crypto

            crypto._keyring, self._keyring = self._keyring, None
        if self.server_url:
            self._admin('DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(self.var_dir, ignore_errors=True)


def raw_download(world: _World) -> tuple[float, dict]:
    """The ``orders`` stream's pages from an empty cursor, nothing kept: (seconds, counts)."""
    from connectors.kuaishou.webhooks import order_is_complete

    connector = world.connector()
    stream = next(st for st in connector.streams() if st.name == "orders")
    seen: dict[str, int] = {}
    pages = details = 0
    started = time.perf_counter()
    for slc in stream.read({}):
        pages += 1
        for record in slc.records:
            if not order_is_complete(record.payload):  # what processing would fetch
                connector.client.fetch_order(record.external_id)
                details += 1
            seen[record.external_id] = seen.get(record.external_id, 0) + 1
    return time.perf_counter() - started, {"pages": pages, "details": details, "seen": seen}


def _counts(world: _World) -> dict:
    from sqlalchemy import func, select

    from hub.models import InboxEvent, Order

    with world.db.session(readonly=True) as s:
        orders = s.scalar(select(func.count()).select_from(Order))
        events = dict(s.execute(select(InboxEvent.status, func.count())
                                .group_by(InboxEvent.status)).all())
    return {"orders": orders, "events": events}


def hub_backfill(world: _World, expected: int, deadline_s: float) -> tuple[float, dict]:
    """The worker's ``poll`` + ``process_inbox`` jobs until ``expected`` orders exist."""
    import socket as _socket

    from hub.core.wakeup import Listener
    from jobs import poll, process_inbox
    from jobs.runner import InProcessRunner, Job

    owner = f"{_socket.gethostname()}:{os.getpid()}:bench"
    runner = InProcessRunner(world.app, [Job("poll", poll.run, interval_s=1),
                                         Job("process_inbox", process_inbox.run, interval_s=1)],
                             owner, scheduler=False)
    listener = Listener(world.db, world.var_dir, on_wake=lambda channel: runner.wake(
        {"inbox": "process_inbox"}.get(channel)))
    listener.start()
    started = time.perf_counter()
    runner.start()
    last_print = started
    try:
        while True:
            asked = time.perf_counter()
            counts = _counts(world)
            now = time.perf_counter()
            if counts["orders"] >= expected:
                elapsed = now - started
                break
            if now - started > deadline_s:
                raise BenchmarkFailed(f"{counts['orders']} of {expected} orders after "
                                      f"{deadline_s:g} s (inbox: {counts['events']})")
            if now - last_print >= 10:
                print(f"  ... {counts['orders']:,} orders after {now - started:.0f} s "
                      f"(inbox {counts['events']})", flush=True)
                last_print = now
            # counting is O(rows) on SQLite: at most a tenth of a core, so the benchmark's
            # own checks do not slow what they measure on large runs
            time.sleep(max(0.05, 10 * (now - asked)))
    finally:
        runner.stop()
        listener.stop()
        for thread in getattr(runner, "_threads", []):
            thread.join(timeout=30)
    return elapsed, _counts(world)


def _check_exactly_once(world: _World, oids: list[str], counts: dict) -> None:
    from sqlalchemy import func, select

    from hub.models import Order

    with world.db.session(readonly=True) as s:
        rows = s.execute(select(Order.platform_order_id, func.count())
                         .group_by(Order.platform_order_id)).all()
    got = dict(rows)
    twice = [o for o, n in got.items() if n != 1]
    missing = set(oids) - set(got)
    extra = set(got) - set(oids)
    failed = counts["events"].get("failed", 0)
    events = sum(counts["events"].values())
    if twice or missing or extra or failed or events != len(oids):
        raise BenchmarkFailed(
            f"orders not stored exactly once: {len(missing)} missing, {len(twice)} more than "
            f"once, {len(extra)} unexpected; inbox events {counts['events']} for {len(oids)} "
            f"orders")


@benchmark("backfill",
           params={"orders": 10_000, "spread_days": 89, "qps": 100_000, "deadline_s": 600.0},
           full={"orders": 100_000, "deadline_s": 3600.0})
def backfill(params: dict) -> list[Figure]:
    """A shop's 90-day order history: polled, processed and stored (in-process, SQLite)."""
    n = int(params["orders"])
    params.update(database=(os.environ.get("HUB_BENCH_DATABASE_URL") or "sqlite").split(":")[0],
                  cpus=os.cpu_count(),
                  loadavg_1m_at_start=round(os.getloadavg()[0], 2),
                  rate_limits=(f"raised: sandbox {params['qps']:,} QPS per API, connector "
                               f"{CONNECTOR_QPS:,} (list/detail APIs), {CONNECTOR_QPS_DEFAULT:,} "
                               "default"),
                  returns_window_hours=24)
    with _World(int(params["qps"])) as world:
        t = time.perf_counter()
        oids = world.start(n, int(params["spread_days"]) * DAY_MS)
        print(f"  {n:,} orders seeded over {params['spread_days']} days in "
              f"{time.perf_counter() - t:.1f} s", flush=True)
        raw_s, raw = raw_download(world)
        dup = [o for o, c in raw["seen"].items() if c != 1]
        if set(raw["seen"]) != set(oids) or dup:
            raise BenchmarkFailed(f"raw download saw {len(raw['seen'])} distinct orders "
                                  f"({len(dup)} more than once) of {n}")
        raw_rate = n / raw_s
        print(f"  raw download: {raw['pages']} pages, {raw['details']} details, "
              f"{raw_s:.2f} s = {raw_rate:,.0f} orders/s", flush=True)
        hub_s, counts = hub_backfill(world, n, float(params["deadline_s"]))
        _check_exactly_once(world, oids, counts)
    rate = n / hub_s
    params.update(raw_pages=raw["pages"], raw_details=raw["details"],
                  raw_s=round(raw_s, 3), hub_s=round(hub_s, 3))
    print(f"  hub backfill: {n:,} orders in {hub_s:.1f} s = {rate:,.0f} orders/s "
          f"({rate / raw_rate:.3f} of the raw download)", flush=True)
    return [Figure("orders_per_s", "1/s", rate, "raw_download", raw_rate,
                   target=f"ratio >= {TARGET_RATIO}")]
