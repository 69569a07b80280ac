"""``hub demo``'s lost parcel: the courier loses one (the courier sandbox's ``lost``
scenario: picked up, then no scan for days, 超时未更新), the merchant reports it lost, and
the liability table charges the courier up to its cap (three times the freight when
uninsured) and the rest to the merchant. The carrier's claims file goes out and the
courier's acceptance is recorded: its compensation is in the ledger.

The supplier's claims (the quality faults, the late shipment) go out by themselves as they
are decided (``demo.world.LIABILITY``); the sandbox supplier accepts the small ones and
disputes the large ones, and the demo waits for every answer.
"""
from __future__ import annotations

from sqlalchemy import select

ROLES = ("lost",)
DAY = 24 * 60
ACTOR = "demo:merchant"


def play(scenario) -> None:
    for order in scenario.of(*ROLES):
        _lose(scenario, order)
    scenario.wait("every claim to the supplier answered (accepted or disputed)",
                  lambda: not _waiting(scenario.env))


def _waiting(env) -> int:
    from sqlalchemy import func

    from hub.models import Claim

    with env.session() as s:
        return s.scalar(select(func.count()).select_from(Claim).where(
            Claim.merchant_id == env.ids["merchant"], Claim.counterparty_kind == "supplier",
            Claim.status.in_(("draft", "sent", "acknowledged"))))


def _lose(scenario, order: dict) -> None:
    env = scenario.env
    env.supplier_ctl("PUT", "/config", courier_scenario="lost")
    env.supplier_ctl("POST", f"/orders/{order['fid']}/ship")
    env.supplier_ctl("POST", f"/orders/{order['fid']}/report")
    env.supplier_ctl("PUT", "/config", courier_scenario="normal")
    scenario.wait(f"order {order['oid']}: the parcel subscribed at the courier",
                  lambda: scenario.shipment(order).get("subscription") == "subscribed")
    env.courier("POST", "/advance", minutes=4 * DAY)
    scenario.wait(f"order {order['oid']}: the parcel stalled at the courier",
                  lambda: scenario.shipment(order).get("status") == "exception")
    claim = _report_lost(env, order["fid"])
    scenario.say(f"order {order['oid']}: parcel lost by the courier; the merchant reported "
                 f"it, the courier's claims file went out and it accepted "
                 f"{claim['accepted_minor']} fen of {claim['total_minor']}")


def _report_lost(env, fulfilment_id: int) -> dict:
    """The merchant's steps: decide, send the carrier's claims file, record its answer."""
    from hub.domain.liability import claims, couriers, decisions
    from hub.models import Shipment

    merchant = env.ids["merchant"]
    with env.db.session() as s:
        parcel = s.scalar(select(Shipment).where(Shipment.fulfilment_id == fulfilment_id,
                                                 Shipment.direction == "outbound"))
        decision = decisions.decide(s, merchant, "lost_parcel", parcel.id, ACTOR)
        _csv, sent = couriers.claims_file(s, merchant, parcel.carrier, ACTOR)
        for claim in sent:
            claims.answer(s, claim, "accept", f"courier:{parcel.carrier}")
        return {"total_minor": decision.total_minor,
                "accepted_minor": sum(c.accepted_minor for c in sent)}
