"""Benchmark ``analytics``: the dashboard's and the analytics page's queries on a year of
``orders`` (1,000,000) with ``returns`` (100,000), on SQLite and on PostgreSQL in the same
run.

The data (``generate``, a seeded numpy generator: the same every run): one merchant, two
shops, eight suppliers, 300 SKUs (each with its supplier and its return rate, a few of them
much higher), orders placed over the last 365 days in 31 provinces with one or two lines,
each supplier's part dispatched, shipped a day or so later, a few stop-ships; returns of
lines drawn by their SKU's return rate, requested 2–12 days after the order, with a reason
of the taxonomy; most of them inspected, a tenth damaged. Written through Core inserts with
explicit ids (untimed) and ``ANALYZE``d (the statistics a running database has), then
the rollups built for every day by the job's own ``refresh`` (``rollup_s``, no target:
what a first run or a full rebuild costs).

Timed, ``repeats`` times each, on each database: the dashboard's figures
(``hub.web.console.dashboard.figures``), and the analytics page's reports for the last 30
days (by SKU, supplier, region, reasons, daily trend, scorecards, insights), for a whole
year (weekly trend, by SKU) and for one supplier. Figures: ``<db>.p50_ms`` and
``<db>.p95_ms`` of every call, target p95 ≤ 500 ms; the slowest report's p95 and each
report's timings are in ``params``. ``HUB_BENCH_DATABASE_URL`` names the PostgreSQL server
(default: ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``); a fresh database is
made on it for the run and dropped after. Without a reachable server the PostgreSQL
figures are missing (``params["postgres"]`` says why) and their targets unmet.
"""
from __future__ import annotations

import os
import secrets
import shutil
import statistics
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from bench.harness import BenchmarkFailed, Figure, benchmark

SEED = 20261205
TARGET_MS = 500
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PROVINCES = ("11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35",
             "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54",
             "61", "62", "63", "64", "65")
REASONS = ("quality.defect", "quality.damaged", "quality.not_as_described",
           "fulfilment.wrong_item", "shipping.damaged_in_transit", "buyer.size_fit",
           "buyer.changed_mind", "buyer.ordered_by_mistake", "pricing.price_difference",
           "other")
CHUNK = 50_000


@benchmark("analytics", params={"orders": 1_000_000, "returns": 100_000, "skus": 300,
                                "suppliers": 8, "days": 365, "repeats": 15},
           full={"repeats": 40})
def analytics(params):
    """Dashboard and analytics queries on 1M orders / 100k returns, SQLite and PostgreSQL."""
    data = generate(params)
    figures = []
    for name, url_of in (("sqlite", _sqlite), ("postgres", _postgres)):
        try:
            url, drop = url_of()
        except Exception as e:  # noqa: BLE001 (no server here: say so, unmet targets)
            params[name] = f"not run: {e}"
            figures += [Figure(f"{name}.p50_ms", "ms", None),
                        Figure(f"{name}.p95_ms", "ms", None, target=f"value <= {TARGET_MS}")]
            continue
        try:
            params[name] = run_on(url, data, params)
        finally:
            drop()
        every = params[name].pop("_all")
        figures += [Figure(f"{name}.p50_ms", "ms", _pct(every, 50)),
                    Figure(f"{name}.p95_ms", "ms", _pct(every, 95),
                           target=f"value <= {TARGET_MS}"),
                    Figure(f"{name}.rollup_s", "s", params[name]["rollup_s"])]
    return figures


def _pct(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))], 1)


# -- the databases ----------------------------------------------------------------------------

def _sqlite():
    folder = Path(tempfile.mkdtemp(prefix="hub-bench-analytics-"))
    return f"sqlite:///{folder / 'hub.db'}", lambda: shutil.rmtree(folder, ignore_errors=True)


def _postgres():
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(os.environ.get("HUB_BENCH_DATABASE_URL") or PG_DEFAULT)
    name = f"hub_bench_analytics_{os.getpid()}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def sql(statement):
        with admin.connect() as conn:
            conn.execute(text(statement))

    sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    sql(f'CREATE DATABASE "{name}"')

    def drop():
        sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def run_on(url: str, data: dict, params: dict) -> dict:
    from zoneinfo import ZoneInfo

    from hub.core import migrate
    from hub.core.db import Database
    from hub.models.analytics import RollupMark
    from jobs import analytics_rollup

    migrate.upgrade(url)
    db = Database(url)
    try:
        started = time.perf_counter()
        load(db, data)
        with db.engine.connect() as conn:  # the statistics autovacuum would have gathered
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        loaded_s = time.perf_counter() - started
        with db.session() as s:
            mark = RollupMark(merchant_id=1)
            s.add(mark)
            s.flush()
            mark_id = mark.id
        started = time.perf_counter()
        days = analytics_rollup.refresh(db, mark_id)
        rollup_s = time.perf_counter() - started
        timings = time_queries(db, ZoneInfo("Asia/Shanghai"), params["repeats"])
    finally:
        db.dispose()
    every = [t for times in timings.values() for t in times]
    if not every:
        raise BenchmarkFailed("no query ran")
    return {"load_s": round(loaded_s, 1), "rollup_s": round(rollup_s, 1), "days": days,
            "per_query_p95_ms": {k: _pct(v, 95) for k, v in timings.items()},
            "slowest": max(timings, key=lambda k: _pct(timings[k], 95)), "_all": every}


def time_queries(db, zone, repeats: int) -> dict[str, list[float]]:
    from hub.domain.analytics import insights, reports
    from hub.domain.analytics.reports import Filters
    from hub.web.console.dashboard import figures

    today = datetime.now(zone).date()
    month = Filters.of({}, today)
    year = Filters(today - timedelta(days=364), today)
    one = Filters(month.start, month.end, supplier_id=3)
    m = 1
    queries = {
        "dashboard": lambda s: figures(s, m, zone),
        "sku_30d": lambda s: reports.by_sku(s, m, month),
        "supplier_30d": lambda s: reports.by_supplier(s, m, month),
        "region_30d": lambda s: reports.by_region(s, m, month),
        "reasons_30d": lambda s: reports.reasons(s, m, month),
        "trend_30d": lambda s: reports.over_time(s, m, month, "day"),
        "scorecards_30d": lambda s: reports.scorecards(s, m, month),
        "insights_30d": lambda s: insights.insights(s, m, month),
        "trend_year_weekly": lambda s: reports.over_time(s, m, year, "week"),
        "sku_year": lambda s: reports.by_sku(s, m, year),
        "sku_30d_one_supplier": lambda s: reports.by_sku(s, m, one),
    }
    timings: dict[str, list[float]] = {k: [] for k in queries}
    with db.session(readonly=True) as s:
        if not reports.by_sku(s, m, month) or figures(s, m, zone)["orders_today"] is None:
            raise BenchmarkFailed("the rollups hold nothing for the last 30 days")
    for _ in range(repeats):
        for name, query in queries.items():
            with db.session(readonly=True) as s:
                started = time.perf_counter()
                query(s)
                timings[name].append((time.perf_counter() - started) * 1000)
    return timings


# -- the data -------------------------------------------------------------------------------

def generate(params: dict) -> dict:
    """Every table's rows (dicts of the columns the bench sets; ids from 1), seeded."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    n, skus, days = params["orders"], params["skus"], params["days"]
    now = datetime.now(timezone.utc).replace(microsecond=0)
    first = now - timedelta(days=days)
    sku_supplier = rng.integers(1, params["suppliers"] + 1, skus).tolist()
    sku_rate = rng.uniform(0.03, 0.12, skus)
    sku_rate[rng.choice(skus, 12, replace=False)] = 0.35  # the ones that come back
    sku_reason = rng.integers(0, len(REASONS), skus).tolist()
    offsets = np.sort(rng.integers(0, days * 86400, n)).tolist()
    shop, province = rng.integers(1, 3, n).tolist(), rng.integers(0, 31, n).tolist()
    sku_a, sku_b = rng.integers(0, skus, n).tolist(), rng.integers(0, skus, n).tolist()
    two, qty = (rng.random(n) < 0.2).tolist(), rng.integers(1, 4, n).tolist()
    ship_h, stop = rng.uniform(4, 48, 2 * n).tolist(), (rng.random(2 * n) < 0.01).tolist()
    stop_min, stopped = rng.uniform(5, 120, 2 * n).tolist(), (rng.random(2 * n) < 0.7).tolist()
    t = {k: [] for k in ("orders", "order_lines", "fulfilments", "fulfilment_lines")}
    line_placed, line_sku, line_order = [], [], []
    for i in range(n):
        at = first + timedelta(seconds=offsets[i])
        order_id = i + 1
        t["orders"].append({
            "id": order_id, "merchant_id": 1, "shop_account_id": shop[i],
            "platform_order_id": f"KS{order_id:012d}", "status": "shipped", "currency": "CNY",
            "total_minor": 3990 * qty[i], "paid_minor": 3990 * qty[i], "placed_at": at,
            "province_code": PROVINCES[province[i]] + "0000", "created_at": at,
            "updated_at": at})
        parts = {}
        for sku in ([sku_a[i], sku_b[i]] if two[i] else [sku_a[i]]):
            line_id = len(line_sku) + 1
            t["order_lines"].append({
                "id": line_id, "merchant_id": 1, "order_id": order_id, "sku": f"SKU-{sku:04d}",
                "quantity": qty[i], "unit_price_minor": 3990, "total_minor": 3990 * qty[i],
                "currency": "CNY"})
            line_placed.append(at)
            line_sku.append(sku)
            line_order.append(order_id)
            parts.setdefault(sku_supplier[sku], []).append(line_id)
        for supplier, lines in parts.items():
            k = len(t["fulfilments"])
            asked = at + timedelta(minutes=10)
            row = {"id": k + 1, "merchant_id": 1, "order_id": order_id, "supplier_id": supplier,
                   "status": "shipped", "requested_at": asked, "purpose": "order",
                   "created_at": asked, "updated_at": asked,
                   "shipped_at": asked + timedelta(hours=ship_h[k]),
                   "cancel_requested_at": None, "cancel_answered_at": None}
            if stop[k]:
                row.update(cancel_requested_at=asked + timedelta(hours=1),
                           cancel_answered_at=asked + timedelta(hours=1, minutes=stop_min[k]),
                           status="cancelled" if stopped[k] else "cancel_rejected")
                if stopped[k]:
                    row["shipped_at"] = None
            if row["shipped_at"] is not None and row["shipped_at"] > now:
                row.update(shipped_at=None, status="accepted")
            t["fulfilments"].append(row)
            base = len(t["fulfilment_lines"])
            t["fulfilment_lines"] += [{"id": base + j + 1, "merchant_id": 1,
                                       "fulfilment_id": k + 1, "order_line_id": x,
                                       "quantity": 1} for j, x in enumerate(lines)]
    weights = sku_rate[np.array(line_sku)]
    chosen = np.sort(rng.choice(len(line_sku), params["returns"], replace=False,
                                p=weights / weights.sum())).tolist()
    after_d, other = rng.uniform(2, 12, len(chosen)).tolist(), rng.random(len(chosen)).tolist()
    damaged, reason_any = rng.random(len(chosen)).tolist(), rng.integers(0, len(REASONS),
                                                                          len(chosen)).tolist()
    t.update(return_cases=[], return_lines=[], inspections=[])
    for k, line in enumerate(chosen):
        asked = min(line_placed[line] + timedelta(days=after_d[k]), now - timedelta(hours=1))
        sku = line_sku[line]
        reason = REASONS[sku_reason[sku] if other[k] < 0.6 else reason_any[k]]
        t["return_cases"].append({
            "id": k + 1, "merchant_id": 1, "shop_account_id": 1, "order_id": line_order[line],
            "platform_return_id": f"R{k + 1:012d}", "kind": "return_refund",
            "reason_code": reason, "status": "refunded", "refund_minor": 3990,
            "currency": "CNY", "requested_at": asked, "created_at": asked,
            "updated_at": asked})
        t["return_lines"].append({"id": k + 1, "merchant_id": 1, "return_case_id": k + 1,
                                  "order_line_id": line + 1, "sku": f"SKU-{sku:04d}",
                                  "quantity": 1, "reason_code": reason})
        if asked < now - timedelta(days=7) and other[k] < 0.9:
            t["inspections"].append({
                "id": len(t["inspections"]) + 1, "merchant_id": 1, "return_case_id": k + 1,
                "inspected_by": "bench", "received_at": asked + timedelta(days=5),
                "condition": "damaged" if damaged[k] < 0.1 else "intact"})
    return t


def load(db, data: dict) -> None:
    """The merchant, shops and suppliers, then every generated table in chunks."""
    from sqlalchemy import insert

    from hub.core import crypto
    from hub.core.db import Base
    from hub.models import Account, Merchant, Supplier

    kept = crypto._keyring
    crypto.configure(secrets.token_urlsafe(40))  # a shop's config is encrypted at rest
    with db.session() as s:
        s.add(Merchant(id=1, name="bench analytics"))
        s.flush()
        s.add_all([Account(id=k, merchant_id=1, connector="generic_shop", kind="platform",
                           name=f"shop {k}", config={}) for k in (1, 2)])
        s.add_all([Supplier(id=k, merchant_id=1, code=f"FAC-{k}", name=f"Factory {k}")
                   for k in range(1, 9)])
    crypto._keyring = kept
    for name, rows in data.items():
        table = Base.metadata.tables[name]
        for start in range(0, len(rows), CHUNK):
            with db.session() as s:
                s.execute(insert(table), rows[start:start + CHUNK])
