"""``hub demo``'s after-sales of every other kind, once their orders are delivered: an
exchange (尺码不合适), a repair (商品故障) and a reship (少件/漏发).

* **Exchange and repair** — the buyer asks on the platform; the merchant's policy
  (``demo.world.AUTO_REVIEW``) approves it at once with the supplier's return address;
  the buyer sends the goods back; the supplier receives and grades them (the exchange A:
  restocked; the repair C, which the merchant marks for repair on the supplier's quote); the
  hub dispatches the replacement or the repaired item to the supplier, which ships it and
  hands the tracking back.
* **Reship** — the merchant decides to send the missing goods again
  (``hub.domain.returns.resolutions.dispatch_again``); the supplier ships them.

Each step waits like the scenario's others (``Scenario.wait``).
"""
from __future__ import annotations

from sqlalchemy import select

KINDS = {"exchanged": (3, "尺码不合适，想换大一码", ("intact", "A", "unworn, tags on")),
         "repaired": (5, "商品故障，灯不亮了", ("damaged", "C", "switch broken, repairable")),
         "reshipped": (4, "少件/漏发，少了一个配件", None)}
ROLES = tuple(KINDS)


def play(scenario) -> None:
    for role in ROLES:
        for order in scenario.of(role):
            _after_sale(scenario, order, role)


def _after_sale(scenario, order: dict, role: str) -> None:
    env, say = scenario.env, scenario.say
    way, reason, receipt = KINDS[role]
    order["refund_id"] = env.refund(order["oid"], handling_way=way, reason=reason)
    case = scenario.wait(f"order {order['oid']}: the {role} request in the hub",
                         lambda: scenario.return_case(order["refund_id"]))
    if receipt is None:
        _dispatch_by_hand(env, case["id"])
    else:
        _goods_back(scenario, order, case, receipt)
    second = scenario.wait(f"order {order['oid']}: the second dispatch at the supplier",
                           lambda: _second(env, case["id"]))
    scenario.wait(f"order {order['oid']}: the supplier accepting the second dispatch",
                  lambda: _second(env, case["id"]).get("status") == "accepted")
    env.supplier_ctl("POST", f"/orders/{second['id']}/ship")
    env.supplier_ctl("POST", f"/orders/{second['id']}/report")
    scenario.wait(f"order {order['oid']}: the second parcel shipped and tracked",
                  lambda: _second(env, case["id"]).get("status") == "shipped")
    say(f"order {order['oid']}: {role} — {reason}; sent again by the supplier "
        f"(fulfilment {second['id']}, {second['purpose']})")


def _goods_back(scenario, order: dict, case: dict, receipt: tuple) -> None:
    env = scenario.env
    scenario.wait(f"order {order['oid']}: approved by the merchant's policy on the platform",
                  lambda: scenario.refund_status(order) == 30)
    scenario.send_back(order, case)
    scenario.wait(f"order {order['oid']}: the goods on their way back, the supplier told",
                  lambda: scenario.return_case(order["refund_id"]).get("status")
                  == "return_in_transit"
                  and [r for r in env.supplier_ctl("GET", "/returns")
                       if r["return_case_id"] == case["id"]])
    condition, grade, notes = receipt
    env.supplier_ctl("PUT", "/config", return_condition=condition, return_grade=grade,
                     return_notes=notes)
    env.supplier_ctl("POST", f"/returns/{case['id']}/receive")
    scenario.wait(f"order {order['oid']}: received and graded {grade} by the supplier",
                  lambda: scenario.return_case(order["refund_id"]).get("status")
                  in ("received", "inspected"))
    if grade == "C":
        _repair_it(env, case["id"])


def _repair_it(env, case_id: int) -> None:
    """The merchant decides the damaged goods are repaired (the supplier's quote)."""
    from hub.domain.returns import inspection
    from hub.models import Inspection

    with env.db.session() as s:
        latest = s.scalar(select(Inspection).where(Inspection.return_case_id == case_id)
                          .order_by(Inspection.id.desc()).limit(1))
        inspection.override_disposition(s, latest, "repair", "the supplier quoted ¥8.00 to "
                                        "replace the switch", "demo:merchant")


def _dispatch_by_hand(env, case_id: int) -> None:
    from hub.domain.returns import resolutions
    from hub.models import ReturnCase

    with env.db.session() as s:
        resolutions.dispatch_again(s, s.get(ReturnCase, case_id), "demo:merchant")


def _second(env, case_id: int) -> dict:
    from hub.models import Fulfilment

    with env.session() as s:
        row = s.execute(select(Fulfilment.id, Fulfilment.status, Fulfilment.purpose).where(
            Fulfilment.return_case_id == case_id)).first()
    return {} if row is None else {"id": row[0], "status": row[1], "purpose": row[2]}
