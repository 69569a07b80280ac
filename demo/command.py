"""``hub demo``: a complete scenario against the three sandboxes, end to end over real HTTP,
with the hub served exactly like ``hub run`` (gunicorn + one scheduler-and-worker process,
SQLite in a temporary ``HUB_VAR_DIR``; ``demo.env`` sets it all up).

    hub demo [--json] [--orders N] [--keep DIR]

What happens, in order (each step waits, at most ``STEP_S`` seconds, for what it needs):

1. ``N`` buyers order and pay on the sandbox platform; it pushes each order to the hub,
   which fetches it, allocates it by SKU mapping and dispatches it to the sandbox
   supplier (a signed ``order_dispatch`` webhook), which accepts it.
2. **Refunded before shipment**: the buyer asks for a refund; the hub sends a stop-ship,
   the supplier (not shipped yet) accepts it, and the hub approves the refund on the
   platform.
3. **Refunded after shipment, too late**: the supplier ships without telling the hub; the
   parcel is already out for delivery when the buyer asks for a refund. The supplier
   rejects the stop-ship with the tracking, the hub asks the courier to intercept, the
   courier refuses (out for delivery): the order becomes an expected return.
4. **Refunded after shipment, intercepted**: the same, earlier in the parcel's journey:
   the interception succeeds and the parcel goes back to the sender.
5. **Shipped**: the supplier ships the rest and hands the tracking back; the hub pushes it
   to the platform and follows each parcel at the courier to ``delivered`` (three days
   pass at the courier, whose clock is simulated); buyers confirm receipt.
6. **Returned**: some buyers send their goods back (return and refund); the merchant's
   return policy (``demo.world.AUTO_REVIEW``) approves the return at once with the
   supplier's return address, the hub books a prepaid pickup when it pays the freight (a
   quality fault), the buyer ships it (on the prepaid waybill, else their own), the
   supplier receives and grades it (intact, then damaged); an intact return is refunded
   on the platform, a damaged one is left to the merchant (alert
   ``return_needs_decision``).
7. **Every other kind** (``demo.after_sales``): an exchange, a repair and a reship, each
   on an order of its own, sent again by the supplier.
8. **Who pays**, all along: each inspected return is decided by the liability table (a
   quality fault: the supplier pays the goods at contract cost and the return freight),
   the failed stop-ship is decided, and the supplier's claims go out at once
   (``demo.world.LIABILITY``); the sandbox supplier accepts the small ones and disputes
   the large ones. A parcel the courier loses is reported by the merchant and claimed from
   the courier through its claims file (``demo.liability``). The summary counts decisions
   by rule, claims by status and the supplier's balance in the ledger.
9. **Month end** (``demo.finance``): finance builds the supplier's statement from the
   ledger and sends it (an interim one), the supplier confirms it; its own statement
   arrives as a CSV with planted differences, is imported, matched, its disputes decided
   and the period closed. The summary reports the match outcomes.

The summary (``demo.report``) lists every order with its key times and amounts, the
totals and the steps that happened; ``--json`` prints it as one JSON object. A step that
does not happen within its deadline stops the demo with exit status 1, naming the step.
"""
from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import click
from sqlalchemy import select

from demo import after_sales, finance, liability
from demo.env import DemoEnv, StepTimeout
from demo.world import PRODUCTS

MIN_ORDERS = 5
STEP_S = 20.0  # the deadline of each step
RETURN_CONDITIONS = [("intact", "A", "like new, resellable"),
                     ("damaged", "C", "box crushed, item scratched")]


def plan(n: int) -> list[str]:
    """The path of each of ``n`` orders: two refunded after shipment (one too late, one
    intercepted), a third of the rest refunded before shipment, the others delivered, of
    which half (at least one) are returned."""
    if n < MIN_ORDERS:
        raise ValueError(f"the scenario needs at least {MIN_ORDERS} orders")
    rest = n - 2
    before = max(1, rest // 3)
    delivered = rest - before
    returned = max(1, delivered // 2)
    return (["stopped"] * before + ["too_late", "intercepted"]
            + ["returned"] * returned + ["delivered"] * (delivered - returned))


class Scenario:
    """Drives the sandboxes through the scenario; ``orders`` keeps what it learned and
    ``steps`` every step that happened (``{"step", "t_s"}``)."""

    def __init__(self, env: DemoEnv, n: int, say=print):
        self.env, self.say = env, say
        self.orders = [{"role": role, "product": PRODUCTS[i % len(PRODUCTS)]}
                       for i, role in enumerate(plan(n) + list(after_sales.ROLES)
                                                 + list(liability.ROLES))]
        self.started = time.time()
        self.steps: list[dict] = []

    def run(self) -> None:
        self.orders_flow_in()
        self.refund_before_shipment()
        self.refund_too_late()
        self.refund_intercepted()
        self.ship_the_rest()
        self.returns()
        after_sales.play(self)
        liability.play(self)
        finance.play(self)

    def of(self, *roles) -> list[dict]:
        return [o for o in self.orders if o["role"] in roles]

    def wait(self, what: str, predicate, detail=None):
        value = self.env.wait(what, predicate, STEP_S, detail=detail)
        self.steps.append({"step": what, "t_s": round(time.time() - self.started, 3)})
        return value

    # -- reading the hub ------------------------------------------------------------------------
    def fulfilment(self, order: dict) -> dict:
        from hub.models import Fulfilment, Order

        with self.env.session() as s:
            row = s.execute(select(Fulfilment.id, Fulfilment.status, Fulfilment.expected_return)
                            .join(Order, Order.id == Fulfilment.order_id)
                            .where(Order.merchant_id == self.env.ids["merchant"],
                                   Order.platform_order_id == str(order["oid"]))).first()
        return {} if row is None else {"id": row[0], "status": row[1], "expected_return": row[2]}

    def shipment(self, order: dict) -> dict:
        from hub.models import Shipment

        with self.env.session() as s:
            row = s.execute(select(Shipment.status, Shipment.interception_status,
                                   Shipment.subscription_status)
                            .where(Shipment.fulfilment_id == order["fid"],
                                   Shipment.direction == "outbound")).first()
        return {} if row is None else {"status": row[0], "interception": row[1],
                                       "subscription": row[2]}

    def return_case(self, refund_id: int) -> dict:
        from hub.models import ReturnCase

        with self.env.session() as s:
            row = s.execute(select(ReturnCase.id, ReturnCase.status, ReturnCase.freight_payer)
                            .where(ReturnCase.merchant_id == self.env.ids["merchant"],
                                   ReturnCase.platform_return_id == str(refund_id))).first()
        return {} if row is None else {"id": row[0], "status": row[1], "freight_payer": row[2]}

    def send_back(self, order: dict, case: dict) -> str:
        """The buyer ships the goods back: on the prepaid waybill the hub booked when it
        pays the freight, else on their own; the waybill number."""
        from hub.domain.returns.labels import HUB_PAYS
        from hub.models import Shipment

        def label():
            with self.env.session() as s:
                return s.scalar(select(Shipment.tracking_number).where(
                    Shipment.return_case_id == case["id"], Shipment.direction == "return"))
        if self.return_case(order["refund_id"]).get("freight_payer") in HUB_PAYS:
            number = self.wait(f"order {order['oid']}: a prepaid return pickup booked at the "
                               "courier", label)
        else:
            number = "SF" + "".join(random.choice("0123456789") for _ in range(13))
        shipped = self.env.ks("POST", f"/refunds/{order['refund_id']}/return-shipment",
                              expressNo=number, expressCode=4)
        order["return_tracking"], order["return_shipped_at"] = number, shipped["updateTime"]
        return number

    def refund_status(self, order: dict) -> int:
        return self.env.ks("GET", f"/refunds/{order['refund_id']}")["status"]

    # -- the steps --------------------------------------------------------------------------------
    def orders_flow_in(self) -> None:
        for order in self.orders:
            order["oid"] = self.env.new_order(order["product"])
        self.say(f"{len(self.orders)} orders created and paid on the platform")

        def accepted(order: dict) -> bool:
            row = self.fulfilment(order)
            if row.get("status") == "accepted":
                order["fid"] = row["id"]
            return "fid" in order
        self.wait("every order pushed to the hub, dispatched to the supplier and accepted",
                  lambda: all([accepted(o) for o in self.orders]),
                  detail=lambda: f"{sum('fid' in o for o in self.orders)} of "
                                 f"{len(self.orders)} accepted")
        self.say("  every order was pushed to the hub, dispatched and accepted by the supplier")

    def refund_before_shipment(self) -> None:
        group = self.of("stopped")
        for order in group:
            order["refund_id"] = self.env.refund(order["oid"])
        self.say(f"{len(group)} buyer(s) ask for a refund before shipment")
        self.wait("stop-ship accepted by the supplier for every refund before shipment",
                  lambda: all(self.fulfilment(o).get("status") == "cancelled" for o in group))
        self.wait("the refund approved on the platform for every order stopped before "
                  "shipment", lambda: all(self.refund_status(o) == 60 for o in group))
        self.say("  stop-ship accepted, fulfilment cancelled, refund approved on the platform")

    def _ship_quietly(self, order: dict) -> str:
        """The supplier ships without telling the hub; the parcel's tracking number."""
        env = self.env
        env.supplier_ctl("POST", f"/orders/{order['fid']}/ship")

        def registered():
            mine = [o["tracking_number"] for o in env.supplier_ctl("GET", "/orders")
                    if o["fulfilment_id"] == order["fid"] and o["tracking_number"]]
            return mine and any(a.get("ok") and a["tracking_number"] == mine[0] for a in
                                env.supplier_ctl("GET", "/actions", action="courier_parcel")) \
                and mine[0]
        order["tracking"] = self.wait(f"order {order['oid']}: the supplier shipping it and "
                                      "registering the parcel at the courier", registered)
        return order["tracking"]

    def refund_too_late(self) -> None:
        env = self.env
        for order in self.of("too_late"):
            number = self._ship_quietly(order)
            env.courier("POST", f"/parcels/{number}/fast_forward", steps=5)
            state = env.courier("GET", f"/parcels/{number}")["state"]
            self.say(f"order {order['oid']}: shipped as {number} without telling the hub, "
                     f"already out for delivery (courier state {state}); the buyer asks for a "
                     "refund")
            order["refund_id"] = env.refund(order["oid"])
            self.wait(f"order {order['oid']}: stop-ship rejected with the tracking, "
                      "interception refused by the courier, expected return",
                      lambda: self.fulfilment(order).get("expected_return")
                      and self.shipment(order).get("interception") == "failed")
            self.wait(f"order {order['oid']}: the supplier told to expect the parcel back",
                      lambda: [r for r in env.supplier_ctl("GET", "/received",
                                                           type="return_notice")
                               if r["data"]["fulfilment_id"] == order["fid"]
                               and r["data"]["expected_return"]])
            self.say("  stop-ship rejected with the tracking; interception failed: expected "
                     "return, supplier told")

    def refund_intercepted(self) -> None:
        for order in self.of("intercepted"):
            number = self._ship_quietly(order)
            self.say(f"order {order['oid']}: shipped as {number} without telling the hub, in "
                     "transit; the buyer asks for a refund")
            order["refund_id"] = self.env.refund(order["oid"])
            self.wait(f"order {order['oid']}: stop-ship rejected with the tracking and the "
                      "parcel intercepted",
                      lambda: self.shipment(order).get("interception") == "succeeded")
            self.say("  stop-ship rejected with the tracking; interception succeeded: the "
                     "parcel goes back to the sender")

    def ship_the_rest(self) -> None:
        env, group = self.env, self.of("delivered", "returned", *after_sales.ROLES)
        for order in group:
            env.supplier_ctl("POST", f"/orders/{order['fid']}/ship")
            env.supplier_ctl("POST", f"/orders/{order['fid']}/report")
        self.say(f"{len(group)} order(s) shipped by the supplier, tracking handed back")
        self.wait("every shipment pushed to the platform and subscribed at the courier",
                  lambda: all(env.ks("GET", "/deliveries", oid=o["oid"])
                              and self.shipment(o).get("subscription") == "subscribed"
                              for o in group))
        env.courier("POST", "/advance", minutes=3 * 24 * 60)
        self.say("  three days pass at the courier")
        self.wait("every shipped parcel tracked to delivered, the intercepted one back at the "
                  "sender", lambda: all(self.shipment(o).get("status") == "delivered"
                                        for o in group)
                  and all(self.shipment(o).get("status") == "returned"
                          for o in self.of("intercepted")))
        for order in group:
            env.ks("POST", f"/orders/{order['oid']}/receive")
        self.say("  every parcel delivered, buyers confirmed receipt on the platform; the "
                 "intercepted parcel is back at the sender")

    def returns(self) -> None:
        env = self.env
        for i, order in enumerate(self.of("returned")):
            condition, grade, notes = RETURN_CONDITIONS[i % len(RETURN_CONDITIONS)]
            order["refund_id"] = env.refund(order["oid"], handling_way=1, reason="商品质量问题")
            case = self.wait(f"order {order['oid']}: the return request in the hub",
                             lambda: self.return_case(order["refund_id"]))
            self.wait(f"order {order['oid']}: the return approved on the platform by the "
                      "merchant's policy", lambda: self.refund_status(order) == 30)
            number = self.send_back(order, case)
            self.wait(f"order {order['oid']}: the return on its way in the hub, the return "
                      "notice at the supplier",
                      lambda: self.return_case(order["refund_id"]).get("status")
                      == "return_in_transit"
                      and [r for r in env.supplier_ctl("GET", "/returns")
                           if r["return_case_id"] == case["id"]])
            env.supplier_ctl("PUT", "/config", return_condition=condition,
                             return_grade=grade, return_notes=notes)
            env.supplier_ctl("POST", f"/returns/{case['id']}/receive")
            self.wait(f"order {order['oid']}: the supplier's receipt of the return in the hub",
                      lambda: self.return_case(order["refund_id"]).get("status")
                      in ("received", "inspected", "refunded"))
            if condition == "intact":
                self.wait(f"order {order['oid']}: the return refunded on the platform",
                          lambda: self.refund_status(order) == 60)
            self.say(f"order {order['oid']}: sent back by the buyer ({number}), received by "
                     f"the supplier {condition} (grade {grade})"
                     + ("; refunded on the platform" if condition == "intact"
                        else "; left to the merchant"))


def _usable(keep_dir: str | None) -> None:
    if keep_dir and Path(keep_dir).exists() and any(Path(keep_dir).iterdir()):
        raise click.UsageError(f"--keep {keep_dir}: the directory must be new or empty")


@click.command("demo", help="Run a complete scenario against the sandbox platform, courier "
                            "and supplier, with the hub served like `hub run`, and print what "
                            "happened.")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@click.option("--orders", "n", type=click.IntRange(MIN_ORDERS, 60), default=8, show_default=True,
              help="how many orders the buyers place")
@click.option("--keep", "keep_dir", type=click.Path(file_okay=False),
              help="run in this (new or empty) directory instead of a temporary one, and "
                   "keep it: database, logs, photos")
def demo_command(as_json, n, keep_dir):
    from demo import report as demo_report

    def say(text: str) -> None:
        click.echo(text, err=True)

    _usable(keep_dir)
    started = time.monotonic()
    try:
        with DemoEnv(keep_dir, log=say) as env:
            try:
                env.start()
                scenario = Scenario(env, n, say)
                scenario.run()
                summary = demo_report.collect(env, scenario)
            except (StepTimeout, RuntimeError):
                say(env.log_tail())
                raise
    except (StepTimeout, RuntimeError) as e:
        message = f"the demo stopped: {e}"
        if as_json:
            click.echo(json.dumps({"ok": False, "error": message}, ensure_ascii=False))
        click.echo(f"error: {message}", err=True)
        sys.exit(1)
    summary["runtime_s"] = round(time.monotonic() - started, 1)
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
    else:
        click.echo(demo_report.render(summary))
