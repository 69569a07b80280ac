"""The sandbox supplier's memory: its configuration, every webhook delivery that arrived
(with the time it arrived), every call it made to the hub, and what it believes about each
order, return and claim. Thread-safe; ``reset()`` forgets everything but the connection
settings.

Configuration (``GET|PUT /_sandbox/config``, or ``serve(**config)``):

| key | default | meaning |
|---|---|---|
| ``hub_url``, ``token`` | — | the hub, and the supplier API token to answer with |
| ``secrets`` | ``[]`` | the ``whsec_`` secrets deliveries may be signed with |
| ``tolerance_s`` | 300 | how old (or new) a ``webhook-timestamp`` may be |
| ``accept_orders`` | true | accept each dispatched order (false: reject with ``reject_reason``) |
| ``accept_delay_s`` | 0 | wait before answering an order |
| ``auto_ship`` / ``ship_delay_s`` | true / 1.0 | ship this long after accepting |
| ``report_tracking`` | true | hand the tracking back as soon as it ships (false: only when asked — a stop-ship rejection, or ``POST /_sandbox/orders/<id>/report``) |
| ``carrier`` | ``sf`` | the carrier it ships with (see ``parcels.CARRIERS``) |
| ``courier_url`` / ``courier_scenario`` | none / ``normal`` | register each parcel in the courier sandbox |
| ``stop_ship_delay_s`` | 0 | wait before answering a stop-ship request |
| ``return_mode`` | ``on_tracking`` | confirm receipt of a return: ``on_tracking`` (its notice carries the buyer's tracking), ``on_notice``, ``on_delivery`` (a tracking notice says delivered), ``manual`` |
| ``return_delay_s``, ``return_condition``, ``return_grade``, ``return_notes`` | 0, ``intact``, ``A``, text | the receipt |
| ``damaged_every`` | 0 | every n-th return (by its id) arrives ``damaged``, grade ``C``, box crushed (0: none) |
| ``claim_delay_s`` | 0 | wait before answering a claim (it is acknowledged at once) |
| ``claim_accept_up_to_minor`` | 5000 | accept (all of) a claim of at most this many fen; dispute a larger one |
| ``claim_dispute_reason`` | text | the reason a dispute gives |
| ``acknowledge`` | true | acknowledge each notice once handled |
| ``slow_s`` | 0 | misbehaviour: answer each webhook this late |
| ``down`` | false | misbehaviour: answer every webhook 503 |
| ``garbage`` | false | misbehaviour: answer 2xx with a garbage body |
| ``answer_status`` | 200 | the status of a good answer |
| ``dedupe`` | true | false: act again on a repeated ``webhook-id`` (tests the hub's idempotency) |
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

DEFAULTS = {
    "hub_url": None, "token": None, "secrets": [], "tolerance_s": 300,
    "accept_orders": True, "reject_reason": "out of stock", "accept_delay_s": 0.0,
    "auto_ship": True, "ship_delay_s": 1.0, "report_tracking": True, "carrier": "sf",
    "courier_url": None, "courier_scenario": "normal", "stop_ship_delay_s": 0.0,
    "return_mode": "on_tracking", "return_delay_s": 0.0, "return_condition": "intact",
    "return_grade": "A", "return_notes": "received by the sandbox supplier", "damaged_every": 0,
    "claim_delay_s": 0.0, "claim_accept_up_to_minor": 5000,
    "claim_dispute_reason": "包装完好，运输途中损坏应由快递承担 / packed well; transit damage "
                            "is the courier's",
    "acknowledge": True,
    "slow_s": 0.0, "down": False, "garbage": False, "answer_status": 200, "dedupe": True,
}
RETURN_MODES = ("on_tracking", "on_notice", "on_delivery", "manual")


class ConfigError(ValueError):
    pass


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def check_config(changes: dict) -> dict:
    unknown = sorted(set(changes) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown config keys: {', '.join(unknown)}")
    if "secrets" in changes and not (isinstance(changes["secrets"], list) and all(
            isinstance(s, str) for s in changes["secrets"])):
        raise ConfigError("secrets must be a list of strings")
    if "return_mode" in changes and changes["return_mode"] not in RETURN_MODES:
        raise ConfigError(f"return_mode must be one of {', '.join(RETURN_MODES)}")
    for key in ("tolerance_s", "accept_delay_s", "ship_delay_s", "stop_ship_delay_s",
                "return_delay_s", "claim_delay_s", "slow_s"):
        if key in changes and not (isinstance(changes[key], (int, float))
                                   and changes[key] >= 0):
            raise ConfigError(f"{key} must be a number of seconds, 0 or more")
    every = changes.get("damaged_every", 0)
    if not (isinstance(every, int) and not isinstance(every, bool) and every >= 0):
        raise ConfigError("damaged_every must be a whole number, 0 or more")
    limit = changes.get("claim_accept_up_to_minor", 0)
    if not (isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0):
        raise ConfigError("claim_accept_up_to_minor must be a whole number of fen, 0 or more")
    reason = changes.get("claim_dispute_reason", "x")
    if not (isinstance(reason, str) and reason.strip() and len(reason) <= 2000):
        raise ConfigError("claim_dispute_reason must be a text of 1 to 2,000 characters")
    return changes


class SupplierState:
    def __init__(self, **config):
        self.lock = threading.RLock()
        self.config = dict(DEFAULTS)
        self.config.update(check_config(dict(config)))
        self._fresh()

    def _fresh(self) -> None:
        self.received: list[dict] = []   # every delivery, refused ones included
        self.actions: list[dict] = []    # every call to the hub (and courier)
        self.orders: dict[int, dict] = {}
        self.returns: dict[int, dict] = {}
        self.claims: dict[int, dict] = {}
        self.statements: dict[int, dict] = {}
        self.seen: set[str] = set()

    def reset(self, **config) -> None:
        with self.lock:
            keep = {k: self.config[k] for k in ("hub_url", "token", "secrets", "courier_url")}
            self.config = {**DEFAULTS, **keep, **check_config(dict(config))}
            self._fresh()

    def configure(self, changes: dict) -> dict:
        with self.lock:
            self.config.update(check_config(dict(changes)))
            return dict(self.config)

    def get(self, key):
        with self.lock:
            return self.config[key]

    # -- records ----------------------------------------------------------------------------
    def arrived(self, headers: dict) -> dict:
        """Note a delivery the moment it arrives; the handler fills in the rest."""
        entry = {"seq": None, "received_at": now_iso(), "received_epoch": time.time(),
                 "webhook_id": headers.get("webhook-id"),
                 "webhook_timestamp": headers.get("webhook-timestamp"),
                 "signatures": len((headers.get("webhook-signature") or "").split()),
                 "type": None, "data": None, "verified": None, "duplicate": False,
                 "answered": None, "error": None}
        with self.lock:
            entry["seq"] = len(self.received) + 1
            self.received.append(entry)
        return entry

    def first_time(self, webhook_id: str) -> bool:
        with self.lock:
            if webhook_id in self.seen:
                return False
            self.seen.add(webhook_id)
            return True

    def act(self, action: str, **details) -> dict:
        entry = {"seq": None, "at": now_iso(), "action": action, **details}
        with self.lock:
            entry["seq"] = len(self.actions) + 1
            self.actions.append(entry)
        return entry

    def order(self, fulfilment_id: int) -> dict:
        with self.lock:
            return self.orders.setdefault(fulfilment_id, {
                "fulfilment_id": fulfilment_id, "platform_order_id": None, "state": "new",
                "carrier": None, "tracking_number": None, "dispatched_at": None,
                "accepted_at": None, "shipped_at": None, "stop_ship": None})

    def return_case(self, return_case_id: int) -> dict:
        with self.lock:
            return self.returns.setdefault(return_case_id, {
                "return_case_id": return_case_id, "fulfilment_id": None, "notices": 0,
                "tracking": None, "state": "expected", "inspection_id": None})

    def claim(self, claim_id: int) -> dict:
        with self.lock:
            return self.claims.setdefault(claim_id, {
                "claim_id": claim_id, "fulfilment_id": None, "amount_minor": None,
                "currency": None, "reason": None, "answer_by": None, "notices": 0,
                "state": "new", "outcome": None, "acknowledged_at": None,
                "answered_at": None})

    def statement(self, statement_id: int) -> dict:
        with self.lock:
            return self.statements.setdefault(statement_id, {
                "statement_id": statement_id, "period": None, "status": None,
                "closing_minor": None, "notices": 0})

    def snapshot(self, what: str, **filters) -> list[dict]:
        with self.lock:
            rows = {"received": self.received, "actions": self.actions,
                    "orders": list(self.orders.values()),
                    "returns": list(self.returns.values()),
                    "claims": list(self.claims.values()),
                    "statements": list(self.statements.values())}[what]
            rows = [dict(r) for r in rows]
        for key, value in filters.items():
            if value is not None:
                rows = [r for r in rows if str(r.get(key)).lower() == str(value).lower()]
        return rows
