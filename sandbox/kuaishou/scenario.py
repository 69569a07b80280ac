"""A seeded scenario generator: buyers ordering, paying and asking for refunds over time.

    POST /_sandbox/scenario  {"seed": 7, "orders": 20, "refund_before_shipment": 0.2,
                              "refund_after_shipment": 0.2, "exchanges": 0.1, "risky": 0.1,
                              "interval_s": 3, "sellerId"?, "products"?, "gift_share"?,
                              "refund_delay_s"?, "ship_wait_s"?}
    GET  /_sandbox/scenario  its status (plan, what happened so far)
    POST /_sandbox/scenario/stop (or DELETE /_sandbox/scenario)

Everything random is drawn from ``random.Random(seed)`` when the scenario is planned, so
the same seed gives the same orders (product, quantity, gift sub-order, do-not-ship hold)
and the same fates. Shares are exact: ``round(share * orders)`` orders get each fate; the
fates are exclusive (refund before shipment, refund after shipment, exchange, none) and
risky (held, do-not-ship) orders are drawn among those that are not waiting for a
shipment, since the hub must not ship them.

A background thread creates and pays order *i* at ``i * interval_s``; a refund before
shipment (``handlingWay`` 10) is opened ``refund_delay_s`` after payment if the hub has not
shipped it yet; a refund after shipment (``handlingWay`` 1, return and refund) or an
exchange (``handlingWay`` 3) is opened once the hub has pushed a shipment for the order
(an accepted ``goods.deliver`` in the platform's action log), or given up after
``ship_wait_s``. ``stop()`` ends the thread at once.
"""
from __future__ import annotations

import random
import threading
import time

from flask import Blueprint, current_app, jsonify

from . import orders as order_ops
from . import refunds as refund_ops
from .control import ControlError, body

bp = Blueprint("ks_scenario", __name__, url_prefix="/_sandbox")


@bp.errorhandler(ControlError)
def _control_error(err: ControlError):
    return jsonify({"error": err.message}), err.status


@bp.errorhandler(ValueError)
@bp.errorhandler(TypeError)
def _bad_input(err):
    return jsonify({"error": f"bad request: {err}"}), 400

DEFAULT_PRODUCTS = [("MUG-01", "陶瓷马克杯 ceramic mug", 3990), ("TEE-02", "纯棉T恤 cotton T-shirt", 5900),
                    ("LAMP-03", "LED 台灯 desk lamp", 12900)]
# do-not-ship holds a risky order may carry (mappings/kuaishou/orders.py reads them)
HOLDS = [{"disableDeliveryReasonCode": [1]}, {"promiseTimeZero": True},
         {"emptyEncryptedField": "mobile"}, {"riskCode": 1, "disableDeliveryReasonCode": [2]}]
FATES = ("refund_before_shipment", "refund_after_shipment", "exchange", None)
DELIVER = "open.seller.order.goods.deliver"


def plan(seed, orders: int, refund_before_shipment: float = 0.0,
         refund_after_shipment: float = 0.0, exchanges: float = 0.0, risky: float = 0.0,
         products=None, gift_share: float = 0.2) -> list[dict]:
    """The scenario's orders, deterministic from ``seed``: ``[{index, sku, title, price,
    num, gift, hold, fate}]``."""
    if not 0 <= orders <= 10_000:
        raise ValueError("orders must be 0..10000")
    shares = {"refund_before_shipment": refund_before_shipment,
              "refund_after_shipment": refund_after_shipment, "exchange": exchanges,
              "risky": risky, "gift_share": gift_share}
    for name, share in shares.items():
        if not 0 <= float(share) <= 1:
            raise ValueError(f"{name} must be a share between 0 and 1")
    counts = {f: round(float(shares[f]) * orders) for f in FATES if f}
    if sum(counts.values()) > orders:
        raise ValueError("the refund and exchange shares add up to more than 1")
    rng = random.Random(f"ks-scenario:{seed}")
    products = [tuple(p) for p in (products or DEFAULT_PRODUCTS)]
    indices = list(range(orders))
    rng.shuffle(indices)
    fate: dict[int, str | None] = {}
    at = 0
    for name in FATES[:3]:
        for i in indices[at:at + counts[name]]:
            fate[i] = name
        at += counts[name]
    # held orders are never shipped: draw them among orders not waiting for a shipment
    unshipped = sorted(i for i in range(orders)
                       if fate.get(i) not in ("refund_after_shipment", "exchange"))
    n_risky = min(round(float(risky) * orders), len(unshipped))
    held = set(rng.sample(unshipped, n_risky))
    gifts = set(rng.sample(range(orders), round(float(gift_share) * orders)))
    out = []
    for i in range(orders):
        sku, title, price = products[rng.randrange(len(products))]
        out.append({"index": i, "sku": sku, "title": title, "price": int(price),
                    "num": rng.choice((1, 1, 1, 2, 3)), "gift": i in gifts,
                    "hold": dict(rng.choice(HOLDS)) if i in held else None,
                    "fate": fate.get(i)})
    return out


class Scenario:
    """One run of a plan against a platform ``State``, in a background thread."""

    def __init__(self, state, seed=0, orders: int = 10, refund_before_shipment: float = 0.0,
                 refund_after_shipment: float = 0.0, exchanges: float = 0.0,
                 risky: float = 0.0, interval_s: float = 0.0, seller_id: int | None = None,
                 products=None, gift_share: float = 0.2, refund_delay_s: float = 1.0,
                 ship_wait_s: float = 600.0, tick_s: float = 0.1):
        if interval_s < 0 or refund_delay_s < 0 or ship_wait_s < 0:
            raise ValueError("interval_s, refund_delay_s and ship_wait_s must be >= 0")
        self.state, self.seed = state, seed
        self.params = {"seed": seed, "orders": orders,
                       "refund_before_shipment": refund_before_shipment,
                       "refund_after_shipment": refund_after_shipment, "exchanges": exchanges,
                       "risky": risky, "interval_s": interval_s, "gift_share": gift_share,
                       "refund_delay_s": refund_delay_s, "ship_wait_s": ship_wait_s}
        self.plan = plan(seed, orders, refund_before_shipment, refund_after_shipment,
                         exchanges, risky, products, gift_share)
        self.interval_s, self.refund_delay_s = float(interval_s), float(refund_delay_s)
        self.ship_wait_s, self.tick_s = float(ship_wait_s), tick_s
        self.seller_id = seller_id
        self.created: list[dict] = []      # per created order: plan entry + oid, refund...
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.started_at: float | None = None
        self.finished = False
        self.thread = threading.Thread(target=self._run, name="ks-sandbox-scenario", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "Scenario":
        self.started_at = time.monotonic()
        self.thread.start()
        return self

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout)

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def wait(self, timeout: float) -> bool:
        """Wait until the scenario has finished (or stopped); True if it did."""
        self.thread.join(timeout)
        return not self.thread.is_alive()

    # -- the thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            next_i = 0
            while not self._stop.is_set():
                now = time.monotonic() - self.started_at
                while next_i < len(self.plan) and now >= next_i * self.interval_s:
                    self._create(self.plan[next_i], now)
                    next_i += 1
                    if self._stop.is_set():
                        return
                pending = self._advance(now)
                if next_i >= len(self.plan) and not pending:
                    return
                self._stop.wait(self.tick_s)
        except Exception as exc:  # a sandbox's generator must never take the platform down
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.finished = True

    def _shop(self):
        s = self.state
        if self.seller_id is not None:
            shop = s.shops.get(int(self.seller_id))
        else:
            shop = s.default_shop()
        if shop is None:
            raise RuntimeError("the scenario needs a shop")
        return shop

    def _create(self, spec: dict, now: float) -> None:
        opts = {"paid": True, "expressFee": 600,
                "item": {"skuNick": spec["sku"], "itemTitle": spec["title"],
                         "price": spec["price"], "num": spec["num"]}}
        if spec["gift"]:
            opts["gift"] = True
        opts.update(spec["hold"] or {})
        entry = {**spec, "oid": None, "refundId": None, "handlingWay": None,
                 "state": "created", "at_s": round(now, 3), "due_s": None}
        with self.state.lock:
            try:
                order = order_ops.create_order(self.state, self._shop(), opts)
            except Exception as exc:
                entry["state"] = f"error: {exc}"
                self.errors.append(f"order {spec['index']}: {exc}")
                order = None
            if order is not None:
                entry["oid"] = order.oid
        if spec["fate"] == "refund_before_shipment":
            entry["state"], entry["due_s"] = "refund_pending", now + self.refund_delay_s
        elif spec["fate"] in ("refund_after_shipment", "exchange"):
            entry["state"], entry["due_s"] = "awaiting_shipment", now + self.ship_wait_s
        with self._lock:
            self.created.append(entry)

    def _shipped(self, oid: int) -> bool:
        return any(a["ok"] and a["method"] == DELIVER and a.get("oid") == oid
                   for a in reversed(self.state.actions))

    def _refund(self, entry: dict, way: int) -> None:
        with self.state.lock:
            order = self.state.orders.get(entry["oid"])
            try:
                refund = refund_ops.create_refund(self.state, order, {"handlingWay": way})
            except Exception as exc:
                entry["state"] = f"refund refused: {exc}"
                return
            entry["refundId"], entry["handlingWay"] = refund.refund_id, way
            entry["state"] = "refunded" if way != refund_ops.EXCHANGE else "exchange_opened"

    def _advance(self, now: float) -> int:
        """Open the refunds that are due; answer how many are still waiting."""
        pending = 0
        with self._lock:
            entries = [e for e in self.created if e["state"] in ("refund_pending",
                                                                  "awaiting_shipment")]
        for e in entries:
            if self._stop.is_set():
                break
            if e["oid"] is None:
                continue
            if e["state"] == "refund_pending":
                if now >= e["due_s"]:
                    with self.state.lock:
                        shipped = self._shipped(e["oid"])
                    e["shipped_first"] = shipped  # the hub was faster than the buyer
                    self._refund(e, refund_ops.REFUND_ONLY)
                else:
                    pending += 1
            else:
                with self.state.lock:
                    shipped = self._shipped(e["oid"])
                if shipped:
                    way = refund_ops.EXCHANGE if e["fate"] == "exchange" else \
                        refund_ops.RETURN_REFUND
                    self._refund(e, way)
                elif now >= e["due_s"]:
                    e["state"] = "never_shipped"
                else:
                    pending += 1
        return pending

    # -- reading ---------------------------------------------------------------------------------
    def status(self) -> dict:
        with self._lock:
            created = [dict(e) for e in self.created]
        counts: dict[str, int] = {}
        for e in created:
            counts[e["state"]] = counts.get(e["state"], 0) + 1
        return {"running": self.running, "finished": self.finished, "params": self.params,
                "planned": len(self.plan), "created": len(created), "states": counts,
                "errors": list(self.errors), "orders": created}


# ---- the control endpoint ---------------------------------------------------------------------
_KEYS = {"seed": "seed", "orders": "orders", "refund_before_shipment": "refund_before_shipment",
         "refund_after_shipment": "refund_after_shipment", "exchanges": "exchanges",
         "risky": "risky", "interval_s": "interval_s", "sellerId": "seller_id",
         "products": "products", "gift_share": "gift_share", "refund_delay_s": "refund_delay_s",
         "ship_wait_s": "ship_wait_s"}


def current(app) -> Scenario | None:
    return app.extensions.get("ks_scenario")


def stop_current(app) -> None:
    scenario = current(app)
    if scenario is not None:
        scenario.stop()


@bp.post("/scenario")
def start_scenario():
    data = body()
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ControlError(400, f"unknown scenario keys: {', '.join(unknown)}")
    kwargs = {_KEYS[k]: v for k, v in data.items()}
    for key in ("orders",):
        if key in kwargs:
            kwargs[key] = int(kwargs[key])
    for key in ("refund_before_shipment", "refund_after_shipment", "exchanges", "risky",
                "interval_s", "gift_share", "refund_delay_s", "ship_wait_s"):
        if key in kwargs:
            kwargs[key] = float(kwargs[key])
    state = current_app.extensions["ks_sandbox"]
    scenario = Scenario(state, **kwargs)  # ValueError -> 400
    with state.lock:
        if kwargs.get("seller_id") is None and state.default_shop() is None:
            raise ControlError(409, "create a shop first")
    stop_current(current_app)  # one scenario at a time: a new one replaces the old
    current_app.extensions["ks_scenario"] = scenario.start()
    return jsonify(scenario.status()), 201


@bp.get("/scenario")
def scenario_status():
    scenario = current(current_app)
    if scenario is None:
        return jsonify({"running": False, "planned": 0, "created": 0, "orders": []})
    return jsonify(scenario.status())


@bp.route("/scenario/stop", methods=["POST"])
@bp.route("/scenario", methods=["DELETE"])
def stop_scenario():
    scenario = current(current_app)
    stop_current(current_app)
    return jsonify(scenario.status() if scenario else {"running": False})
