"""Benchmark ``tracking``: Kuaidi100-style signed tracking pushes verified, stored **and
applied** (the inbox job maps each and applies it to its shipment through the status
machine, the tracking effects included) per second, beside the acknowledgement rate of
the same pushes (the ingest ceiling for this connector) and a bare handler.

Set-up (``TrackingHub``, a ``bench.ingest.BenchHub``): a fresh SQLite database in a
temporary ``HUB_VAR_DIR`` (or ``HUB_BENCH_DATABASE_URL``), one merchant with a shop, a
Kuaidi100 account with a salt, and ``parcels`` paid orders whose shipments are
registered through ``hub.domain.tracking.shipments.register_shipment`` (their ``subscribe`` pushes stay
queued: no delivery worker runs). gunicorn serves ``bench.ingest_app`` as in ``ingest``.

Phases, one after the other:

1. ``noop``: closed loop on ``POST /_bench/noop`` for ``closed_s`` → the bare ceiling;
2. ``pipeline``: one inbox worker process (``python -m bench.tracking``: the
   ``process_inbox`` job in a loop, as ``hub run``'s worker runs it) is started, then
   every push of the journey is sent — ``steps`` pushes per parcel (full history, newest
   first, signed UPPER(MD5(param + salt)); the last one signed for, monitoring
   ``shutdown``), all parcels' first step, then all their second... over 16 keep-alive
   connections. ``pushes_per_s`` = pushes / (last ``processed_at`` − first
   ``received_at``) of their inbox rows. It fails unless every push was acknowledged,
   every inbox row is ``processed`` (or ``ignored``: a later full-history push of the
   same parcel was applied first, so it brought nothing new), each parcel holds exactly
   ``steps`` tracking events and ends ``delivered`` with its order ``delivered``;
3. ``ack``: the worker stopped, a closed loop of new pushes (other parcels) for
   ``closed_s`` → ``ack_per_s``: verify + store + answer only. These rows are then marked
   ``ignored``, so a later run on the same PostgreSQL database does not process them.

Figures: ``pushes_per_s`` (baseline ``ack_per_s``: how much of the ingest rate survives
processing), ``ack_per_s`` (baseline ``noop``), ``worker_cpu_per_push`` (µs of the worker
process's CPU per push; steadier than a rate on a busy machine).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

from bench.harness import BenchmarkFailed, Figure, benchmark
from bench.ingest import BenchHub
from bench.load import ROOT, run_load

CHINA = timezone(timedelta(hours=8))
SALT = "bench-salt-0123456789abcdef"
START = datetime(2026, 11, 2, 9, 0, tzinfo=CHINA)
JOURNEY = [("101", "商家已下单，等待快递员揽收", 0), ("103", "【杭州余杭营业部】快递员已揽收", 60),
           ("1002", "快件已从【杭州转运中心】发出，发往【上海转运中心】", 240),
           ("1001", "快件已到达【上海浦东派件网点】", 1200),
           ("5", "快件正在派送中，派送员：王师傅", 1500),
           ("301", "快件已签收，签收人：本人", 1620)]
NAMES = {"101": "已下单", "103": "已揽收", "1002": "干线", "1001": "到达派件城市", "5": "派件",
         "301": "本人签收"}


def number(prefix: str, i: int) -> str:
    return f"{prefix}{i:08d}"


def push_body(nu: str, steps: int) -> bytes:
    """A Kuaidi100 push of a parcel's first ``steps`` scans, signed with ``SALT``."""
    data = []
    for code, context, minutes in reversed(JOURNEY[:steps]):
        when = (START + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S")
        data.append({"time": when, "ftime": when, "context": context, "status": NAMES[code],
                     "statusCode": code, "areaName": None, "location": ""})
    done = steps == len(JOURNEY)
    status = "shutdown" if done else "polling"
    param = json.dumps({"status": status, "billstatus": "", "message": "", "autoCheck": "0",
                        "comOld": "", "comNew": "", "lastResult": {
                            "message": "ok", "nu": nu, "ischeck": "1" if done else "0",
                            "condition": "00", "com": "yuantong", "status": "200",
                            "state": data[0]["statusCode"], "data": data}},
                       ensure_ascii=False, separators=(",", ":"))
    sign = hashlib.md5((param + SALT).encode("utf-8")).hexdigest().upper()
    return urlencode({"param": param, "sign": sign}).encode("ascii")


def signed_pushes(n: int, prefix: str, parcels: int, steps: int, first: int = 0,
                  cycle_steps: bool = False) -> list[tuple[dict, bytes]]:
    """Load factory: step-major pushes for parcels ``first..first+parcels`` (``n`` is the
    load generator's wish; the journey decides how many there are). ``cycle_steps``: as
    many as ``n`` asks, parcel after parcel, one push each (for the ack loop)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cycle_steps:
        return [(headers, push_body(number(prefix, first + i), 1 + i % steps))
                for i in range(n)]
    return [(headers, push_body(number(prefix, first + p), k))
            for k in range(1, steps + 1) for p in range(parcels)]


class TrackingHub(BenchHub):
    """The bench hub with a Kuaidi100 account and registered shipments."""

    def prepare_tracking(self, parcels: int) -> None:
        from hub.domain.tracking import shipments as tracking
        from hub.parties.accounts import add_account
        from hub.models import Fulfilment, Order, OrderLine, Supplier

        with self.provisioned() as (s, merchant, shop):
            self.merchant_id = merchant.id
            self.account_id = add_account(s, merchant.id, "kuaidi100", "bench courier", {
                "key": "bench-key", "customer": "BENCH", "salt": SALT,
                "poll_base_url": "http://127.0.0.1:9", "api_base_url": "http://127.0.0.1:9"},
                actor="bench").id
            supplier = Supplier(merchant_id=merchant.id, code="BENCH", name="bench supplier")
            s.add(supplier)
            s.flush()
            for i in range(parcels):
                order = Order(merchant_id=merchant.id, shop_account_id=shop.id,
                              platform_order_id=f"B{i:08d}", status="paid",
                              total_minor=1990, paid_minor=1990,
                              buyer_phone_masked="138****5678",
                              lines=[OrderLine(merchant_id=merchant.id, sku="SKU-1",
                                               unit_price_minor=1990, total_minor=1990)])
                s.add(order)
                s.flush()
                fulfilment = Fulfilment(merchant_id=merchant.id, order_id=order.id,
                                        supplier_id=supplier.id, status="shipped")
                s.add(fulfilment)
                s.flush()
                tracking.register_shipment(s, merchant_id=merchant.id, carrier="yto",
                                           tracking_number=number("YT", i),
                                           direction="outbound", order_id=order.id,
                                           fulfilment_id=fulfilment.id, var_dir=None)

    def start_worker(self, expected: int, timeout_s: float) -> subprocess.Popen:
        spec = json.dumps({"account_id": self.account_id, "expected": expected,
                           "timeout_s": timeout_s})
        proc = subprocess.Popen([sys.executable, "-m", "bench.tracking", "--worker", spec],
                                env=self.env(), cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        return proc

    def check(self, parcels: int, steps: int) -> dict:
        """The pipeline's rows: timing, and whether everything was applied."""
        from sqlalchemy import func, select

        from hub.core.db import Database
        from hub.models import InboxEvent, Order, Shipment, TrackingEvent

        db = Database(self.database_url)
        try:
            with db.session(readonly=True) as s:
                rows = s.execute(select(InboxEvent.status, func.count(), func.min(
                    InboxEvent.received_at), func.max(InboxEvent.processed_at))
                    .where(InboxEvent.account_id == self.account_id)
                    .group_by(InboxEvent.status)).all()
                mine = self.merchant_id      # a PostgreSQL bench database keeps old runs
                events = dict(s.execute(select(TrackingEvent.shipment_id, func.count())
                                        .where(TrackingEvent.merchant_id == mine)
                                        .group_by(TrackingEvent.shipment_id)).all())
                statuses = dict(s.execute(select(Shipment.status, func.count())
                                          .where(Shipment.merchant_id == mine)
                                          .group_by(Shipment.status)).all())
                orders = dict(s.execute(select(Order.status, func.count())
                                        .where(Order.merchant_id == mine)
                                        .group_by(Order.status)).all())
        finally:
            db.dispose()
        by_status = {status: count for status, count, _, _ in rows}
        first = min((r[2] for r in rows), default=None)
        last = max((r[3] for r in rows if r[3] is not None), default=None)
        return {"inbox": by_status, "first": first, "last": last,
                "events_ok": len(events) == parcels and set(events.values()) == {steps},
                "shipments": statuses, "orders": orders}


def _phase_line(name: str, result: dict) -> None:
    print(f"  {name:>8}: {result['requests_per_s']:6.0f} req/s  ok={result['ok']} "
          f"errors={result['not_ok'] + result['transport_errors']}", flush=True)


def _load(hub: TrackingHub, path: str, params: dict, factory: str, args: dict,
          duration_s: float, **extra) -> dict:
    spec = {"port": hub.port, "path": path, "mode": "closed", "warmup_s": params["warmup_s"],
            "connections": params["connections"], "factory": factory, "factory_args": args,
            "duration_s": duration_s, **extra}
    result = run_load(spec)
    bad = result["not_ok"] + result["transport_errors"]
    if bad:
        raise BenchmarkFailed(f"{path}: {bad} failed requests ({result['statuses']}, "
                              f"{result['transport_error_examples']}); see {hub.var_dir}")
    return result


@benchmark("tracking", params={"parcels": 400, "steps": 6, "closed_s": 4.0, "warmup_s": 1.0,
                               "connections": 16},
           full={"parcels": 2000, "closed_s": 10.0})
def tracking_benchmark(params: dict) -> list[Figure]:
    """Tracking pushes verified, stored and applied per second vs acknowledged only."""
    parcels, steps = params["parcels"], params["steps"]
    total = parcels * steps
    hub = TrackingHub(os.environ.get("HUB_BENCH_DATABASE_URL") or None)
    params["database"] = hub.dialect
    params["cpus"] = os.cpu_count()
    params["loadavg_1m_at_start"] = round(os.getloadavg()[0], 2)
    worker = None
    try:
        started = time.monotonic()
        hub.prepare_tracking(parcels)
        print(f"  set-up: {parcels} shipments registered in {time.monotonic() - started:.1f} s",
              flush=True)
        hub.start()
        path = f"/webhooks/kuaidi100/{hub.account_id}"
        noop = _load(hub, "/_bench/noop", params, "bench.tracking:signed_pushes",
                     {"prefix": "NP", "parcels": 64, "steps": steps}, params["closed_s"],
                     cycle=True)
        _phase_line("noop", noop)
        worker = hub.start_worker(total, timeout_s=300)
        sent = _load(hub, path, {**params, "warmup_s": 0.0}, "bench.tracking:signed_pushes",
                     {"prefix": "YT", "parcels": parcels, "steps": steps}, 300.0,
                     max_rate=total / 300.0 + 1)
        out, err = worker.communicate(timeout=330)
        if worker.returncode != 0:
            raise BenchmarkFailed(f"inbox worker failed: {err[-2000:]}")
        report = json.loads(out.strip().splitlines()[-1])
        if sent["ok"] != total:
            raise BenchmarkFailed(f"{sent['ok']} of {total} pushes acknowledged")
        got = hub.check(parcels, steps)
        print(f"  pipeline: inbox {got['inbox']}, shipments {got['shipments']}, "
              f"orders {got['orders']}", flush=True)
        settled = {k: v for k, v in got["inbox"].items() if k not in ("processed", "ignored")}
        if sum(got["inbox"].values()) != total or settled or not got["events_ok"] \
                or got["shipments"] != {"delivered": parcels} \
                or got["orders"] != {"delivered": parcels}:
            raise BenchmarkFailed(f"pushes were not all applied: {got}; see {hub.var_dir}")
        span = (got["last"] - got["first"]).total_seconds()
        pushes_per_s = total / span if span > 0 else float("inf")
        print(f"  pipeline: {total} pushes applied in {span:.1f} s = {pushes_per_s:.0f}/s "
              f"(worker cpu {report['cpu_s']:.1f} s)", flush=True)
        ack = _load(hub, path, params, "bench.tracking:signed_pushes",
                    {"prefix": "AK", "parcels": 0, "steps": steps, "cycle_steps": True},
                    params["closed_s"], max_rate=max(1000.0, 1.3 * noop["requests_per_s"]))
        _phase_line("ack", ack)
        hub.set_aside_unprocessed()
    except BaseException:
        print(f"  gunicorn log tail:\n{hub.log_tail() if hub.proc else '(not started)'}")
        raise
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
        hub.close()
    return [Figure("pushes_per_s", "1/s", pushes_per_s, "ack_per_s", ack["requests_per_s"],
                   target="ratio >= 0.5"),
            Figure("ack_per_s", "1/s", ack["requests_per_s"], "noop", noop["requests_per_s"]),
            Figure("worker_cpu_per_push", "us", report["cpu_s"] / total * 1e6)]


def worker_main(spec: dict) -> None:
    """The inbox worker of the pipeline phase: ``process_inbox`` until ``expected`` rows
    of the account are done (or the timeout), then its CPU seconds as JSON."""
    from sqlalchemy import func, select

    from hub.web.app import create_app
    from hub.models import InboxEvent
    from jobs import process_inbox

    app = create_app()
    db = app.extensions["hub"].db
    deadline = time.monotonic() + spec["timeout_s"]
    done_stmt = select(func.count()).select_from(InboxEvent).where(
        InboxEvent.account_id == spec["account_id"], InboxEvent.status != "received")
    done, busy_cpu = 0, 0.0
    while done < spec["expected"] and time.monotonic() < deadline:
        cpu = time.process_time()
        if process_inbox.run(app, "bench-worker") == 0:
            time.sleep(0.005)
            with db.session(readonly=True) as s:
                done = s.scalar(done_stmt)
        else:                     # CPU of the batches that did work, not of idle polling
            busy_cpu += time.process_time() - cpu
    print(json.dumps({"done": done, "cpu_s": busy_cpu}))


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    worker_main(json.loads(sys.argv[2]))
