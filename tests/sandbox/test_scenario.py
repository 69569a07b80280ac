"""The Kuaishou sandbox's seeded scenario generator (sandbox/kuaishou/scenario.py)."""
from __future__ import annotations

import time

import pytest
import requests

from sandbox.kuaishou import serve
from sandbox.kuaishou.model import EXCHANGE, REFUND_ONLY, RETURN_REFUND
from sandbox.kuaishou.scenario import DELIVER, Scenario, plan
from sandbox.kuaishou.state import State

from .ks_helpers import wait_for

SHARES = {"refund_before_shipment": 0.2, "refund_after_shipment": 0.3, "exchanges": 0.1,
          "risky": 0.2}


def _world() -> State:
    state = State()  # no push service: nothing leaves the process
    state.add_shop()
    return state


def _ship(state: State, oid: int) -> None:
    """What the platform records when the hub's goods.deliver is accepted."""
    with state.lock:
        order = state.orders[oid]
        order.status = 40
        state.record_action(DELIVER, "app", order.seller_id, {"orderId": oid}, 1, oid=oid)


def _shape(status: dict) -> list:
    return [(o["sku"], o["num"], o["gift"], o["hold"], o["fate"], o["handlingWay"])
            for o in status["orders"]]


def test_the_plan_is_deterministic_by_seed():
    assert plan(7, 50, **SHARES) == plan(7, 50, **SHARES)
    assert plan(7, 50, **SHARES) != plan(8, 50, **SHARES)


def test_shares_are_respected_and_held_orders_are_not_waiting_for_a_shipment():
    orders = plan(3, 40, **SHARES)
    fates = [o["fate"] for o in orders]
    assert fates.count("refund_before_shipment") == 8
    assert fates.count("refund_after_shipment") == 12
    assert fates.count("exchange") == 4
    held = [o for o in orders if o["hold"]]
    assert len(held) == 8
    assert all(o["fate"] not in ("refund_after_shipment", "exchange") for o in held)
    assert any(o["gift"] for o in orders)
    with pytest.raises(ValueError):
        plan(1, 10, refund_before_shipment=0.7, refund_after_shipment=0.5)
    with pytest.raises(ValueError):
        plan(1, 10, risky=1.5)


def test_a_run_creates_paid_orders_and_refunds_before_and_after_shipment():
    runs = []
    for _ in range(2):
        state = _world()
        sc = Scenario(state, seed=11, orders=20, interval_s=0, refund_delay_s=0,
                      ship_wait_s=30, tick_s=0.01, **SHARES).start()
        # the "hub" ships every order waiting for a shipment
        wait_for(lambda: sc.status()["created"] == 20, 5)
        for entry in sc.status()["orders"]:
            if entry["fate"] in ("refund_after_shipment", "exchange"):
                _ship(state, entry["oid"])
        assert sc.wait(5)
        status = sc.status()
        assert status["errors"] == []
        assert all(state.orders[o["oid"]].status in (30, 40, 80) for o in status["orders"])
        ways = {o["fate"]: set() for o in status["orders"]}
        for o in status["orders"]:
            ways[o["fate"]].add(o["handlingWay"])
            if o["fate"]:
                assert state.refunds[o["refundId"]].order.oid == o["oid"]
        assert ways["refund_before_shipment"] == {REFUND_ONLY}
        assert ways["refund_after_shipment"] == {RETURN_REFUND}
        assert ways["exchange"] == {EXCHANGE}
        assert ways[None] == {None}
        assert status["states"] == {"created": 8, "refunded": 10, "exchange_opened": 2}
        assert any(state.orders[o["oid"]].gifts for o in status["orders"])
        runs.append(_shape(status))
    assert runs[0] == runs[1]  # same seed, same world


def test_refunds_after_shipment_wait_for_the_hubs_shipment():
    state = _world()
    sc = Scenario(state, seed=1, orders=4, refund_after_shipment=0.5, interval_s=0,
                  ship_wait_s=30, tick_s=0.01).start()
    wait_for(lambda: sc.status()["created"] == 4, 5)
    time.sleep(0.2)
    assert not state.refunds and sc.running
    waiting = [o for o in sc.status()["orders"] if o["fate"]]
    _ship(state, waiting[0]["oid"])
    wait_for(lambda: len(state.refunds) == 1, 5)
    sc.stop()
    assert not sc.running
    assert len(state.refunds) == 1


def test_stop_ends_a_trickle_at_once():
    state = _world()
    sc = Scenario(state, seed=5, orders=100, interval_s=0.2, tick_s=0.01).start()
    wait_for(lambda: sc.status()["created"] >= 2, 5)
    started = time.monotonic()
    sc.stop()
    assert time.monotonic() - started < 1
    assert not sc.running
    made = len(state.orders)
    time.sleep(0.5)
    assert len(state.orders) == made < 100


def test_control_endpoint_starts_reports_and_stops():
    server, base = serve(port=0, config={"pushTimeFactor": 0.001})
    try:
        url = f"{base}/_sandbox/scenario"
        assert requests.post(url, json={"orders": 3}).status_code == 409  # no shop yet
        requests.post(f"{base}/_sandbox/shops", json={}).raise_for_status()
        assert requests.post(url, json={"orders": 3, "bogus": 1}).status_code == 400
        assert requests.post(url, json={"orders": 3, "risky": 2}).status_code == 400
        answer = requests.post(url, json={"seed": 2, "orders": 50, "interval_s": 0.1,
                                          "refund_before_shipment": 0.5,
                                          "refund_delay_s": 0})
        assert answer.status_code == 201, answer.text
        wait_for(lambda: requests.get(url).json()["created"] >= 3, 5)
        wait_for(lambda: len(requests.get(f"{base}/_sandbox/orders").json()) >= 3, 5)
        stopped = requests.post(f"{url}/stop").json()
        assert stopped["running"] is False
        made = requests.get(url).json()["created"]
        time.sleep(0.3)
        assert requests.get(url).json()["created"] == made < 50
        assert requests.get(url).json()["params"]["seed"] == 2
    finally:
        server.stop()
