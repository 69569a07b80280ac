"""The summary ``hub demo`` prints: what happened to every order, with its key times and
money, and the totals — read back from the hub's database and the sandboxes' records
once the scenario (``demo.command.Scenario``) has run.

    summary = collect(env, scenario)   # a JSON-able dict (``hub demo --json`` prints it)
    print(render(summary))             # the same for people

Money is stored in fen and shown in yuan (``yuan(4590) == "¥45.90"``). Times are UTC ISO
8601 in the JSON, and seconds since the scenario started (``t_s``) in both. The courier
sandbox runs on a simulated clock (days pass in a second), so parcel events are placed
at the moment the hub learned of them, not at the courier's own time.
"""
from __future__ import annotations

import statistics
from datetime import datetime, timezone

from sqlalchemy import select

from demo import books

ROLE_TITLES = {
    "stopped": "refunded before shipment",
    "too_late": "refunded after shipment (parcel already out for delivery)",
    "intercepted": "refunded after shipment (parcel still in transit)",
    "delivered": "shipped and delivered",
    "returned": "delivered, then returned by the buyer",
    "exchanged": "delivered, then exchanged (the supplier sends a replacement)",
    "repaired": "delivered, then repaired by the supplier and sent back",
    "reshipped": "delivered with a part missing, then sent again (补发)",
    "lost": "shipped, then lost by the courier (claimed from it)",
}
KINDS = {10: "refund only", 1: "return and refund", 3: "exchange", 4: "reship", 5: "repair"}


def yuan(minor: int | None) -> str:
    if minor is None:
        return "-"
    sign = "-" if minor < 0 else ""
    minor = abs(int(minor))
    return f"{sign}¥{minor // 100:,}.{minor % 100:02d}"


def _utc(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, timezone.utc)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class _Timeline:
    def __init__(self, start: datetime):
        self.start, self.events = start, []

    def add(self, when, what: str) -> None:
        at = _utc(when)
        if at is not None:
            self.events.append({"at": at.isoformat(timespec="milliseconds"),
                                "t_s": round((at - self.start).total_seconds(), 3),
                                "what": what})

    def sorted(self) -> list[dict]:
        return sorted(self.events, key=lambda e: e["t_s"])


def _hub_rows(env) -> dict:
    from hub.domain.returns import stock
    from hub.models import (
        Alert, AuditEntry, Fulfilment, InboxEvent, Inspection, Order, OutboxMessage,
        PolicyDecision, ReturnCase, Shipment,
    )

    def rows(model, *where):
        return s.scalars(select(model).where(model.merchant_id == env.ids["merchant"], *where)
                         .order_by(model.id))

    with env.session() as s:
        orders = {o.platform_order_id: {
            "id": o.id, "status": o.status, "total_minor": o.total_minor, "paid_at": o.paid_at,
            "lines": [(x.sku, x.title, x.quantity) for x in o.lines]}
            for o in rows(Order)}
        fulfilments = {f.order_id: {k: getattr(f, k) for k in (
            "id", "status", "supplier_reference", "expected_return", "requested_at",
            "accepted_at", "shipped_at", "cancel_requested_at", "cancel_answered_at",
            "cancel_reject_reason")} for f in rows(Fulfilment, Fulfilment.purpose == "order")}
        second = [(f.purpose, f.status) for f in rows(Fulfilment, Fulfilment.purpose != "order")]
        shipments = {x.fulfilment_id: {k: getattr(x, k) for k in (
            "id", "carrier", "tracking_number", "status", "interception_status",
            "subscription_status")} for x in rows(Shipment, Shipment.direction == "outbound")}
        cases = {c.platform_return_id: {k: getattr(c, k) for k in (
            "id", "kind", "status", "refund_minor", "order_id")}
            for c in rows(ReturnCase)}
        inspections = {i.return_case_id: {k: getattr(i, k) for k in (
            "condition", "grade", "notes", "received_at", "photos", "disposition")}
            for i in rows(Inspection)}
        verdicts = [(d.outcome, d.rule, d.acted) for d in rows(PolicyDecision)]
        kinds = [c.kind for c in rows(ReturnCase)]
        held = stock.balances(s, env.ids["merchant"])
        audit = [(a.action, a.entity, a.entity_id, a.at) for a in rows(AuditEntry)]
        alerts = [{"kind": a.kind, "severity": a.severity, "message": a.message}
                  for a in rows(Alert)]
        liability = books.liability(s, env.ids["merchant"], rows)
        finance = books.finance(rows)
        inbox_failed = len(list(rows(InboxEvent, InboxEvent.status == "failed")))
        outbox_dead = len(list(rows(OutboxMessage, OutboxMessage.status == "dead")))
    return {"orders": orders, "fulfilments": fulfilments, "shipments": shipments,
            "cases": cases, "inspections": inspections, "audit": audit, "alerts": alerts,
            "inbox_failed": inbox_failed, "outbox_dead": outbox_dead, "liability": liability,
            "finance": finance,
            "returns": _returns(kinds, verdicts, inspections, second, held, audit)}


def _returns(kinds, verdicts, inspections, second, held, audit) -> dict:
    """The after-sales in numbers: kinds, the policy's verdicts, grades and dispositions,
    prepaid labels, second dispatches, the returns stock."""
    return {
        "cases_by_kind": books.count(kinds),
        "policy_verdicts": books.count(f"{outcome}:{rule}" for outcome, rule, _ in verdicts),
        "approved_by_policy": sum(1 for outcome, _, acted in verdicts
                                  if outcome == "approve" and acted),
        "labels_booked": sum(1 for a in audit if a[0] == "return_case.return_label_booked"),
        "inspections_by_grade": books.count(i["grade"] or "-" for i in inspections.values()),
        "dispositions": books.count(i["disposition"] or "-" for i in inspections.values()),
        "second_dispatches": books.count(f"{purpose}:{status}" for purpose, status in second),
        "returns_stock_units": sum(b["quantity"] for b in held),
    }


def _first(audit, action: str, entity: str, entity_id) -> datetime | None:
    return next((at for a, e, i, at in audit if (a, e, i) == (action, entity, entity_id)), None)


def collect(env, scenario) -> dict:
    hub = _hub_rows(env)
    start = datetime.fromtimestamp(scenario.started, timezone.utc)
    latencies = {x["fulfilment_id"]: x for x in env.stop_ship_latencies()}
    supplier_orders = {o["fulfilment_id"]: o for o in env.supplier_ctl("GET", "/orders")}
    decisions = env.ks("GET", "/refund-decisions")
    deliveries = env.ks("GET", "/deliveries")
    orders = []
    for plan in scenario.orders:
        oid = str(plan["oid"])
        order = hub["orders"][oid]
        f = hub["fulfilments"].get(order["id"]) or {}
        ship = hub["shipments"].get(f.get("id"))
        t = _Timeline(start)
        sku, title, quantity = order["lines"][0]
        t.add(order["paid_at"], f"paid on the platform: {title} x{quantity}, "
                                f"{yuan(order['total_minor'])}")
        t.add(f.get("requested_at"), "allocated and dispatched to the supplier")
        t.add(f.get("accepted_at"), f"accepted by the supplier ({f.get('supplier_reference')})")
        mine = supplier_orders.get(f.get("id")) or {}
        if mine.get("shipped_at"):
            t.add(mine["shipped_at"], f"shipped by the supplier: {mine['carrier']} "
                                      f"{mine['tracking_number']}")
        if f.get("shipped_at") and not f.get("cancel_requested_at"):
            t.add(f["shipped_at"], "tracking handed back to the hub")
        for d in deliveries:
            if str(d["oid"]) == oid:
                t.add(d["atMs"], f"shipment pushed to the platform ({d['expressNo']})")
        refund = case = None
        if plan.get("refund_id"):
            ks_refund = env.ks("GET", f"/refunds/{plan['refund_id']}")
            case = hub["cases"].get(str(plan["refund_id"])) or {}
            detail = ks_refund["refund"]
            refund = {"platform_refund_id": str(plan["refund_id"]),
                      "kind": KINDS.get(detail["handlingWay"], str(detail["handlingWay"])),
                      "amount_minor": detail["refundFee"], "amount": yuan(detail["refundFee"]),
                      "platform_status": ks_refund["status"], "hub_status": case.get("status"),
                      "paid": ks_refund["status"] == 60}
            t.add(detail["createTime"], f"buyer asked for a refund ({refund['kind']}, "
                                        f"{refund['amount']})")
        latency = latencies.get(f.get("id"))
        if f.get("cancel_requested_at"):
            t.add(f["cancel_requested_at"], "stop-ship requested by the hub")
        if latency:
            t.add(latency["received_ms"], "stop-ship received by the supplier "
                                          f"({latency['latency_ms']:.0f} ms after the refund push)")
        if f.get("cancel_answered_at"):
            answer = "accepted: fulfilment cancelled" if f["status"] == "cancelled" else \
                f"rejected ({f.get('cancel_reject_reason')}) with the tracking"
            t.add(f["cancel_answered_at"], f"stop-ship {answer}")
        if ship:
            sid = ship["id"]
            t.add(_first(hub["audit"], "shipment.interception_requested", "shipment", sid),
                  "interception requested at the courier")
            t.add(_first(hub["audit"], "shipment.interception_succeeded", "shipment", sid),
                  "courier: interception succeeded, the parcel goes back to the sender")
            t.add(_first(hub["audit"], "shipment.interception_failed", "shipment", sid),
                  "courier: interception failed (the parcel was out for delivery)")
            t.add(_first(hub["audit"], "order.delivered", "order", order["id"]),
                  "courier: delivered")
        t.add(_first(hub["audit"], "fulfilment.expected_return", "fulfilment", f.get("id")),
              "expected return: the parcel is coming back to the supplier")
        if plan.get("return_shipped_at"):
            t.add(plan["return_shipped_at"], f"buyer shipped the goods back "
                                             f"({plan['return_tracking']})")
        inspection = hub["inspections"].get(case.get("id")) if case else None
        if inspection:
            t.add(inspection["received_at"], f"return received by the supplier: "
                                             f"{inspection['condition']}, grade "
                                             f"{inspection['grade']} ({inspection['notes']})")
        for d in decisions:
            if plan.get("refund_id") and d["refundId"] == plan["refund_id"]:
                what = {"approve": f"refund of {yuan(d['refundAmount'])} approved on the "
                                   "platform",
                        "returngoods.approve": "return approved on the platform",
                        "confirm.receipt": "receipt confirmed on the platform: buyer refunded"
                        }.get(d["decision"], d["decision"])
                t.add(d["atMs"], what)
        orders.append({
            "platform_order_id": oid, "path": plan["role"], "title": ROLE_TITLES[plan["role"]],
            "sku": sku, "product": title, "quantity": quantity,
            "amount_minor": order["total_minor"], "amount": yuan(order["total_minor"]),
            "hub_order_status": order["status"],
            "fulfilment": {k: (v.isoformat() if isinstance(v, datetime) else v)
                           for k, v in f.items()},
            "shipment": ship, "refund": refund,
            "return_receipt": ({k: (v.isoformat() if isinstance(v, datetime) else v)
                                for k, v in inspection.items()} if inspection else None),
            "stop_ship_latency_ms": latency["latency_ms"] if latency else None,
            "timeline": t.sorted()})
        orders[-1]["outcome"] = _outcome(orders[-1])
    return {"ok": True, "steps": list(scenario.steps), "orders": orders,
            "totals": _totals(hub, orders, decisions, deliveries),
            "returns": hub["returns"], "liability": hub["liability"], "finance": hub["finance"],
            "alerts": hub["alerts"], "stop_ship_latency_ms": _latency(list(latencies.values())),
            "hub_url": env.hub_url, "var_dir": str(env.var_dir) if env.keep else None}


def _outcome(o: dict) -> str:
    """Where the order ended, in a few words, from what the hub and platform recorded."""
    f, ship, refund, receipt = o["fulfilment"], o["shipment"], o["refund"], o["return_receipt"]
    closed = o["hub_order_status"] == "cancelled" and refund and refund["paid"]
    parts = ["order closed after the full refund" if closed else f"order {o['hub_order_status']}"]
    if f.get("status") == "cancelled":
        parts.append("fulfilment cancelled")
    if ship:
        parts.append(f"parcel {ship['status']}"
                     + (f" (interception {ship['interception_status']})"
                        if ship["interception_status"] != "none" else ""))
    if f.get("expected_return"):
        parts.append("expected back at the supplier")
    if receipt:
        parts.append(f"return received {receipt['condition']}")
    if refund:
        parts.append(f"{refund['amount']} refunded" if refund["paid"] else
                     f"not refunded yet (return case {refund['hub_status']}): the "
                     "merchant decides")
    return ", ".join(parts)


def _totals(hub, orders, decisions, deliveries) -> dict:
    fs = [o["fulfilment"] for o in orders]
    ships = [o["shipment"] for o in orders if o["shipment"]]
    paid = [d for d in decisions if d["decision"] in ("approve", "confirm.receipt")]
    refunded = sum(o["refund"]["amount_minor"] for o in orders
                   if o["refund"] and o["refund"]["paid"])
    by_kind: dict[str, int] = {}
    for a in hub["alerts"]:
        by_kind[a["kind"]] = by_kind.get(a["kind"], 0) + 1
    return {
        "orders": len(orders),
        "order_value": yuan(sum(o["amount_minor"] for o in orders)),
        "dispatched": sum(1 for f in fs if f.get("requested_at")),
        "accepted": sum(1 for f in fs if f.get("accepted_at")),
        "stop_ships": sum(1 for f in fs if f.get("cancel_requested_at")),
        "stop_ships_accepted": sum(1 for f in fs if f.get("status") == "cancelled"),
        "stop_ships_rejected": sum(1 for f in fs if f.get("status") == "cancel_rejected"),
        "interceptions_ok": sum(1 for x in ships if x["interception_status"] == "succeeded"),
        "interceptions_failed": sum(1 for x in ships if x["interception_status"] == "failed"),
        "expected_returns": sum(1 for f in fs if f.get("expected_return")),
        "shipments_pushed_to_platform": len({d["oid"] for d in deliveries}),
        "parcels_delivered": sum(1 for x in ships if x["status"] == "delivered"),
        "returns_received": sum(1 for o in orders if o["return_receipt"]),
        "platform_refunds_approved": len(paid),
        "refunded": yuan(refunded),
        "alerts_raised": len(hub["alerts"]),
        "alerts_by_kind": by_kind,
        "inbox_failed": hub["inbox_failed"],
        "outbox_dead": hub["outbox_dead"],
    }


def _latency(rows: list[dict]) -> dict:
    values = sorted(r["latency_ms"] for r in rows)
    return {"count": len(values),
            "p50": round(statistics.median(values), 1) if values else None,
            "max": values[-1] if values else None, "values": values}


def _listed(counts: dict) -> str:
    return ", ".join(f"{k} x{v}" for k, v in counts.items()) or "-"


def render(summary: dict) -> str:
    out = ["", "What happened, order by order (t = seconds since the first order):", ""]
    for o in summary["orders"]:
        out.append(f"Order {o['platform_order_id']}  {o['product']} x{o['quantity']}  "
                   f"{o['amount']}  — {o['title']}")
        for e in o["timeline"]:
            out.append(f"  t={e['t_s']:6.2f}s  {e['what']}")
        out.append(f"  now: {o['outcome']}")
        out.append("")
    t, lat = summary["totals"], summary["stop_ship_latency_ms"]
    rows = [
        ("orders placed and paid", f"{t['orders']} ({t['order_value']})"),
        ("dispatched to the supplier / accepted", f"{t['dispatched']} / {t['accepted']}"),
        ("stop-ship requests sent", t["stop_ships"]),
        ("  accepted (not shipped yet)", t["stop_ships_accepted"]),
        ("  rejected (already shipped)", t["stop_ships_rejected"]),
        ("interceptions succeeded / failed", f"{t['interceptions_ok']} / "
                                             f"{t['interceptions_failed']}"),
        ("expected returns", t["expected_returns"]),
        ("shipments pushed to the platform", t["shipments_pushed_to_platform"]),
        ("parcels delivered", t["parcels_delivered"]),
        ("returns received by the supplier", t["returns_received"]),
        ("platform refunds approved", f"{t['platform_refunds_approved']} ({t['refunded']})"),
        ("alerts raised", f"{t['alerts_raised']} " + ", ".join(
            f"{k} x{v}" for k, v in t["alerts_by_kind"].items())),
        ("inbox events failed / outbox messages dead", f"{t['inbox_failed']} / "
                                                       f"{t['outbox_dead']}"),
        ("stop-ship latency (refund push -> supplier)",
         f"p50 {lat['p50']:.0f} ms, max {lat['max']:.0f} ms over {lat['count']}"
         if lat["count"] else "-"),
    ]
    r = summary["returns"]
    rows += [
        ("after-sales by kind", _listed(r["cases_by_kind"])),
        ("policy verdicts", _listed(r["policy_verdicts"])),
        ("  approved by the policy", r["approved_by_policy"]),
        ("prepaid return pickups booked", r["labels_booked"]),
        ("inspections by grade", _listed(r["inspections_by_grade"])),
        ("dispositions", _listed(r["dispositions"])),
        ("sent again (exchange, repair, reship)", _listed(r["second_dispatches"])),
        ("units in the returns stock", r["returns_stock_units"]),
    ]
    who = summary["liability"]
    rows += [
        ("liability decisions by rule", _listed(who["decisions_by_rule"])),
        ("claims by status", _listed(who["claims_by_status"])),
        ("  claimed / accepted", f"{yuan(who['claimed_minor'])} / "
                                 f"{yuan(who['accepted_minor'])}"),
        ("supplier balances (> 0: owed to it)", ", ".join(
            f"{code} {yuan(v)}" for code, v in who["supplier_balances"].items()) or "-"),
    ]
    money = summary["finance"]
    if money:
        rows += [
            (f"statement {money['period']}", f"{money['status']}, {money['lines']} lines, "
                                             f"closing {yuan(money['closing_minor'])}"),
            ("  the supplier's file matched", _listed(money["match_lines"])),
            ("  written off / disputes decided", f"{yuan(money['written_off_minor'])} / "
                                                 f"{money['disputes_decided']}"),
        ]
    width = max(len(r[0]) for r in rows)
    out.append("Totals")
    out += [f"  {label:<{width}}  {value}" for label, value in rows]
    if summary["alerts"]:
        out += ["", "Alerts the merchant sees:"]
        out += [f"  [{a['severity']}] {a['kind']}: {a['message']}" for a in summary["alerts"]]
    out.append("")
    out.append(f"All {len(summary['steps'])} steps happened; done in "
               f"{summary.get('runtime_s', '?')} s."
               + (f" The hub's files are kept in {summary['var_dir']} (its settings: "
                  "demo.env there)." if summary["var_dir"]
                  else " Everything was stopped and removed."))
    return "\n".join(out)
