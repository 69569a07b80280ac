"""The sandbox world's life (``hub run --sandbox``): what takes days, in minutes, so every
console page soon has real data.

The courier sandbox runs its own clock (``--time-scale``, ``HUB_SANDBOX_TIME_SCALE``:
parcels are picked up, travel and are delivered in minutes, and it pushes each step to the
hub). A daemon thread, every ``HUB_SANDBOX_TICK_S`` (2 s):

* each return the hub approved is sent back by its buyer: the platform gets the return
  waybill (the hub reads it from there) and the courier carries the parcel back to the
  supplier, who receives and inspects it (every ``DAMAGED_EVERY``-th arrives damaged: the
  hub decides who is liable and claims from the supplier, who answers the claim);
* once, ``HUB_SANDBOX_STATEMENT_AFTER_S`` (240 s) in, finance builds the supplier's
  statement of the month so far and sends it early; the supplier answers it.

Each step is idempotent and a failed one is tried again on the next tick (a restarted
world picks up where the platform and the courier are).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timezone

import requests

log = logging.getLogger(__name__)
DAMAGED_EVERY = 3  # the supplier sandbox's receipts: every third return arrives damaged
SF = 4  # Kuaishou's expressCode for 顺丰速运 (SF Express); Kuaidi100 calls it shunfeng
APPROVED = 30  # a Kuaishou refund approved, waiting for the buyer's parcel


class Life(threading.Thread):
    def __init__(self, hub_url: str, urls: dict[str, str], world: dict):
        super().__init__(name="sandbox-life", daemon=True)
        self.hub_url, self.urls, self.world = hub_url, urls, world
        self.tick_s = float(os.environ.get("HUB_SANDBOX_TICK_S", "2"))
        self.statement_at = time.monotonic() + float(
            os.environ.get("HUB_SANDBOX_STATEMENT_AFTER_S", "240"))
        self.sent_back: set[int] = set()
        self.stated = False
        self.stopping = threading.Event()
        self.http = requests.Session()

    def run(self) -> None:
        while not self.stopping.wait(self.tick_s):
            for step in (self.send_returns_back, self.state_month):
                try:
                    step()
                except (requests.RequestException, RuntimeError, ValueError) as e:
                    log.warning("sandbox life: %s failed: %s", step.__name__, e)

    def stop(self) -> None:
        self.stopping.set()

    def _call(self, base: str, verb: str, path: str, headers=None, **body):
        resp = self.http.request(verb, base + path, json=body if verb != "GET" else None,
                                 timeout=10, headers=headers)
        if resp.status_code >= 400:
            raise RuntimeError(f"{verb} {path}: {resp.status_code} {resp.text[:200]}")
        return resp.json()

    def send_returns_back(self) -> None:
        ks, courier = self.urls["kuaishou"], self.urls["courier"]
        approved = {d["refundId"] for d in self._call(ks, "GET", "/_sandbox/refund-decisions")
                    if d["decision"] == "approve"} - self.sent_back
        for refund_id in sorted(approved):
            refund = self._call(ks, "GET", f"/_sandbox/refunds/{refund_id}")
            if refund.get("status") != APPROVED:
                if refund.get("status", 0) > APPROVED:  # shipped back already, or refunded
                    self.sent_back.add(refund_id)
                continue
            number = f"SF{refund_id % 10**12:012d}"
            self._call(courier, "POST", "/_sandbox/parcels", number=number, com="shunfeng")
            self._call(ks, "POST", f"/_sandbox/refunds/{refund_id}/return-shipment",
                       expressNo=number, expressCode=SF)
            self.sent_back.add(refund_id)

    def state_month(self) -> None:
        if self.stated or time.monotonic() < self.statement_at:
            return
        api = self.hub_url + "/api/v1"
        auth = {"Authorization": f"Bearer {self.world['admin_token']}"}
        month = datetime.now(timezone.utc).strftime("%Y-%m")
        made = self._call(api, "POST", "/statements", supplier_id=self.world["ids"]["supplier"],
                          period=month, headers=auth)
        for st in made["data"]:
            if st["status"] == "draft":
                self._call(api, "POST", f"/statements/{st['id']}/send?early=true",
                           headers=auth)
        self.stated = True
