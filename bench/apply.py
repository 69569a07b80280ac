"""Benchmark ``apply``: SQL statements the inbox job spends per event, counted, not timed,
so a regression in statement count shows without noise.

Set-up (in this process): a fresh SQLite database in a temporary ``HUB_VAR_DIR`` (or
``HUB_BENCH_DATABASE_URL``: migrated, then a new merchant per run), the app built by
``create_app``, one merchant with a ``generic_shop`` shop, a supplier the benchmark SKU
maps to, reached on a ``hub_webhook`` channel (so every order is allocated and its
dispatch queued in the outbox) and a Kuaidi100 account.

1. ``orders`` new paid orders are stored in the inbox as webhook events, then the
   ``process_inbox`` job runs until none is left; every statement the database driver
   executes in that time is counted (``SAVEPOINT`` and ``RELEASE`` included; ``BEGIN``
   and ``COMMIT`` too, on both dialects: they are round trips), as are ORM flushes.
   ``statements_per_order`` is their number over ``orders``.
2. each order's parcel is registered (not counted), then one Kuaidi100 push per parcel
   (its first two scans) is stored and processed the same way: ``statements_per_push``.

The benchmark fails unless every order exists once with its fulfilment and every parcel
holds its two scans. The profile (statements by kind and table) is written with the
figures, so what a regression added is visible.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from bench.harness import BenchmarkFailed, Figure, benchmark

TARGET_PER_ORDER = 4.0
SKU = "BENCH-SKU"
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN)\s+\"?(\w+)", re.I)


def order_body(i: int) -> bytes:
    import json

    return json.dumps({"type": "order.updated", "data": {
        "id": f"AP{i:08d}", "status": "paid", "updated_at": "2026-11-01T16:05:00+08:00",
        "currency": "CNY", "total_minor": 1990, "paid_minor": 1990,
        "buyer": {"phone_cipher": "#enc#1", "phone_masked": "138****5678"},
        "lines": [{"id": "L1", "sku": SKU, "quantity": 1, "unit_price_minor": 1990}]}},
        ensure_ascii=False).encode()


class Counted:
    """Statements (by kind and table), commits and flushes on an engine, while active."""

    def __init__(self, engine):
        from sqlalchemy import event
        from sqlalchemy.orm import Session

        self.statements, self.commits, self.flushes = Counter(), 0, 0
        self.active = False

        @event.listens_for(engine, "before_cursor_execute")
        def _statement(conn, cursor, sql, params, context, executemany):
            if self.active:
                head = sql.lstrip().split(None, 1)[0].upper()
                table = _TABLE.search(sql)
                self.statements[f"{head} {table.group(1) if table else ''}".strip()] += 1

        @event.listens_for(engine, "commit")
        def _commit(conn):
            if self.active:
                self.commits += 1

        @event.listens_for(Session, "after_flush")
        def _flush(session, context):
            if self.active:
                self.flushes += 1

    @contextmanager
    def counting(self):
        self.statements.clear()
        self.commits = self.flushes = 0
        self.active = True
        try:
            yield self
        finally:
            self.active = False

    @property
    def total(self) -> int:
        return sum(self.statements.values()) + self.commits


class _World:
    def __init__(self, database_url: str | None):
        self.var_dir = Path(tempfile.mkdtemp(prefix="hub-bench-apply-"))
        self.database_url = database_url or f"sqlite:///{self.var_dir / 'hub.db'}"

    def __enter__(self):
        from connectors import outbound
        from hub.core import crypto, migrate
        from hub.core.config import Settings
        from hub.web.app import create_app

        self._keyring = crypto._keyring
        settings = Settings.from_env(database_url=self.database_url, var_dir=self.var_dir,
                                     secret_key=secrets.token_urlsafe(40), env="development",
                                     public_url="http://127.0.0.1:9", log_level="WARNING",
                                     outbound_allow=("127.0.0.1",))
        migrate.upgrade(self.database_url)
        self.app = create_app(settings)
        outbound.configure(settings.outbound_allow)
        self.db = self.app.extensions["hub"].db
        self.counted = Counted(self.db.engine)
        return self

    def __exit__(self, *exc):
        from hub.core import crypto

        self.db.dispose()
        crypto._keyring = self._keyring
        shutil.rmtree(self.var_dir, ignore_errors=True)

    def provision(self) -> None:
        from hub.models import Merchant, SkuMapping, Supplier
        from hub.parties.accounts import add_account

        from bench.tracking import SALT

        with self.db.session() as s:
            merchant = Merchant(name=f"bench {self.var_dir.name}")
            s.add(merchant)
            s.flush()
            self.merchant_id = merchant.id
            self.shop = add_account(s, merchant.id, "generic_shop", "bench shop",
                                    {"webhook_secret": "whsec_" + "A" * 32}, actor="bench")
            self.courier = add_account(s, merchant.id, "kuaidi100", "bench courier", {
                "key": "bench-key", "customer": "BENCH", "salt": SALT,
                "poll_base_url": "http://127.0.0.1:9", "api_base_url": "http://127.0.0.1:9"},
                actor="bench")
            channel = add_account(s, merchant.id, "hub_webhook", "bench supplier channel", {
                "endpoint_url": "http://127.0.0.1:9/webhook",
                "secrets": ["whsec_" + "B" * 32]}, actor="bench")
            supplier = Supplier(merchant_id=merchant.id, code="BENCH", name="bench supplier",
                                channel_account_id=channel.id)
            s.add(supplier)
            s.flush()
            s.add(SkuMapping(merchant_id=merchant.id, sku=SKU, supplier_id=supplier.id))
            s.flush()
            s.expunge_all()

    def store(self, account, events) -> None:
        from hub.pipeline import inbox

        with self.db.session() as s:
            inbox.store(s, account, events, var_dir=self.var_dir)

    def process(self) -> int:
        from jobs import process_inbox

        owner = f"bench-apply-{os.getpid()}"
        done = 0
        while n := process_inbox.run(self.app, owner):
            done += n
        return done

    def register_parcels(self) -> list[str]:
        from sqlalchemy import select

        from bench.tracking import number
        from hub.domain.tracking import shipments
        from hub.models import Fulfilment, Order

        numbers = []
        with self.db.session() as s:
            rows = s.execute(select(Order.id, Fulfilment.id).join(
                Fulfilment, Fulfilment.order_id == Order.id)
                .where(Order.merchant_id == self.merchant_id).order_by(Order.id)).all()
            for i, (order_id, fulfilment_id) in enumerate(rows):
                numbers.append(number(f"AP{self.merchant_id}x", i))
                shipments.register_shipment(s, merchant_id=self.merchant_id, carrier="yto",
                                            tracking_number=numbers[-1], direction="outbound",
                                            order_id=order_id, fulfilment_id=fulfilment_id,
                                            var_dir=None)
        return numbers

    def check(self, orders: int) -> None:
        from sqlalchemy import func, select

        from hub.models import Fulfilment, Order, TrackingEvent

        with self.db.session(readonly=True) as s:
            mine = self.merchant_id
            n_orders = s.scalar(select(func.count(func.distinct(Order.platform_order_id)))
                                .where(Order.merchant_id == mine))
            n_rows = s.scalar(select(func.count()).select_from(Order)
                              .where(Order.merchant_id == mine))
            fulfilled = s.scalar(select(func.count()).select_from(Fulfilment)
                                 .where(Fulfilment.merchant_id == mine))
            scans = s.scalar(select(func.count()).select_from(TrackingEvent)
                             .where(TrackingEvent.merchant_id == mine))
        if (n_orders, n_rows, fulfilled, scans) != (orders, orders, orders, 2 * orders):
            raise BenchmarkFailed(f"{n_rows} order rows ({n_orders} distinct), {fulfilled} "
                                  f"fulfilments, {scans} scans for {orders} orders")


def _profile(counted: Counted, per: int) -> dict:
    return {kind: round(n / per, 2) for kind, n in counted.statements.most_common(40)}


@benchmark("apply", params={"orders": 1_000})
def apply(params: dict) -> list[Figure]:
    """SQL statements per order and per tracking push applied by the inbox job (counted)."""
    from bench.tracking import SALT, push_body
    from connectors.base import WebhookEvent
    from connectors.kuaidi100.webhooks import verify

    n = int(params["orders"])
    with _World(os.environ.get("HUB_BENCH_DATABASE_URL") or None) as world:
        params["database"] = world.db.engine.dialect.name
        world.provision()
        world.store(world.shop, [WebhookEvent(f"ap-{world.merchant_id}-{i}", "order.updated",
                                              order_body(i)) for i in range(n)])
        with world.counted.counting() as c:
            if (done := world.process()) != n:
                raise BenchmarkFailed(f"{done} of {n} order events processed")
        per_order, order_flushes = c.total / n, c.flushes / n
        params.update(order_profile=_profile(c, n), order_commits=round(c.commits / n, 2))
        numbers = world.register_parcels()
        world.store(world.courier, [event for nu in numbers
                                    for event in verify(SALT, {}, push_body(nu, 2))])
        with world.counted.counting() as c:
            if (done := world.process()) != n:
                raise BenchmarkFailed(f"{done} of {n} pushes processed")
        per_push, push_flushes = c.total / n, c.flushes / n
        params.update(push_profile=_profile(c, n), push_commits=round(c.commits / n, 2))
        world.check(n)
    for name in ("order_profile", "push_profile"):
        print(f"  {name}: {params[name]}", flush=True)
    return [Figure("statements_per_order", "1", per_order,
                   target=f"value <= {TARGET_PER_ORDER:g}"),
            Figure("statements_per_push", "1", per_push),
            Figure("flushes_per_order", "1", order_flushes),
            Figure("flushes_per_push", "1", push_flushes)]
