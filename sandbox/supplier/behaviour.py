"""What the sandbox supplier does with each notice, and when.

A ``Worker`` thread runs every action at its due time, one at a time, so an order's
shipping and its stop-ship answer never race. The ``Brain`` decides:

* ``order_dispatch`` → after ``accept_delay_s`` accept it (or reject it when
  ``accept_orders`` is off), then after ``ship_delay_s`` ship it: a fresh tracking number
  for ``carrier`` (registered in the courier sandbox when ``courier_url`` is set) handed
  back through the API (at once, or — ``report_tracking`` off, a supplier that reports in
  batches — only when asked);
* ``stop_ship`` → after ``stop_ship_delay_s``: not shipped yet → accept (the pending
  shipping is cancelled); already shipped → reject, with the tracking;
* ``return_notice`` → confirm receipt (condition, grade, notes, the returned SKU as the
  scanned barcode, and a generated
  PNG photo) per ``return_mode``; ``tracking_notice`` → recorded, and a delivered return
  parcel triggers the receipt when ``return_mode`` is ``on_delivery``;
* ``claim_notice`` → the claim is acknowledged at once, then after ``claim_delay_s``
  answered: accepted (all of it) when its ``amount_minor`` is at most
  ``claim_accept_up_to_minor``, else disputed with ``claim_dispute_reason``; a notice
  that the claim was ``withdrawn`` calls off its answer;
* ``statement_notice`` → a statement ``sent`` is confirmed after ``claim_delay_s`` (a
  closed one is only recorded);
* every notice is acknowledged (``acknowledge``) once handled.
"""
from __future__ import annotations

import heapq
import itertools
import threading
import time
import traceback

from sandbox.supplier import parcels
from sandbox.supplier.hub_client import HubClient
from sandbox.supplier.state import SupplierState, now_iso


class Worker:
    def __init__(self, on_error):
        self._heap: list = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._running = 0
        self._stopping = False
        self._on_error = on_error
        self._thread = threading.Thread(target=self._loop, name="supplier-sandbox-worker",
                                        daemon=True)
        self._thread.start()

    def at(self, delay_s: float, label: str, fn, key=None) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay_s),
                                        next(self._seq), label, fn, key))
            self._cond.notify_all()

    def cancel(self, key) -> None:
        with self._cond:
            self._heap = [task for task in self._heap if task[4] != key]
            heapq.heapify(self._heap)
            self._cond.notify_all()

    def pending(self) -> list[dict]:
        now = time.monotonic()
        with self._cond:
            return [{"task": label, "due_in_s": round(max(0.0, due - now), 3)}
                    for due, _, label, _, _ in sorted(self._heap)]

    def idle(self, timeout: float) -> bool:
        """Wait until nothing is running and nothing is due now; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._running or (self._heap and self._heap[0][0] <= time.monotonic()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (
                        not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._stopping:
                    return
                _, _, label, fn, _ = heapq.heappop(self._heap)
                self._running += 1
            try:
                fn()
            except Exception as e:  # noqa: BLE001 (an action failing must not stop the supplier)
                self._on_error(label, e)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=10)


class Brain:
    def __init__(self, state: SupplierState):
        self.state = state
        self.client = HubClient(state)
        self.worker = Worker(self._error)

    def _error(self, label: str, error: Exception) -> None:
        self.state.act("error", task=label, error=f"{type(error).__name__}: {error}",
                       trace=traceback.format_exc(limit=3))

    def handle(self, kind: str, data: dict, webhook_id: str) -> None:
        """A verified notice (a duplicate only when ``dedupe`` is off)."""
        handler = {"order_dispatch": self._dispatch, "stop_ship": self._stop_ship,
                   "return_notice": self._return, "tracking_notice": self._tracking,
                   "claim_notice": self._claim, "statement_notice": self._statement}.get(kind)
        if handler is None:
            self.worker.at(0, f"ack {kind}", lambda: self._ack(webhook_id))
            return
        handler(data, webhook_id)

    def _ack(self, webhook_id: str) -> None:
        if self.state.get("acknowledge"):
            self.client.acknowledge(webhook_id)

    # -- orders ---------------------------------------------------------------------------------
    def _dispatch(self, data: dict, webhook_id: str) -> None:
        fid = int(data["fulfilment_id"])
        order = self.state.order(fid)
        with self.state.lock:
            order["platform_order_id"] = (data.get("order") or {}).get("platform_order_id")
            order["dispatched_at"] = order["dispatched_at"] or now_iso()
            order["phone_masked"] = ((data.get("order") or {}).get("buyer") or {}).get(
                "phone_masked")
        self.worker.at(self.state.get("accept_delay_s"), f"answer order {fid}",
                       lambda: self._answer_order(fid, webhook_id))

    def _answer_order(self, fid: int, webhook_id: str) -> None:
        order = self.state.order(fid)
        if order["state"] == "stopped":
            self._ack(webhook_id)
            return
        if not self.state.get("accept_orders"):
            status, _ = self.client.reject(fid, self.state.get("reject_reason"))
            if status == 200:
                order["state"] = "rejected"
            self._ack(webhook_id)
            return
        status, _ = self.client.accept(fid, f"SBX-{fid}")
        if status == 200 and order["state"] in ("new", "accepted"):
            order["state"], order["accepted_at"] = "accepted", order["accepted_at"] or now_iso()
            if self.state.get("auto_ship"):
                self.worker.at(self.state.get("ship_delay_s"), f"ship order {fid}",
                               lambda: self.ship(fid), key=("ship", fid))
        self._ack(webhook_id)

    def ship(self, fid: int, force: bool = False) -> None:
        order = self.state.order(fid)
        if order["state"] != "accepted" and not (force and order["state"] == "new"):
            return
        carrier = self.state.get("carrier")
        number = parcels.tracking_number(carrier)
        with self.state.lock:  # the parcel has left: whatever the hub says, it is shipped
            order.update(state="shipped", carrier=carrier, tracking_number=number,
                         shipped_at=now_iso())
        if self.state.get("courier_url"):
            phone = order.get("phone_masked") or ""
            self.client.register_parcel(number, parcels.KUAIDI100[carrier],
                                        self.state.get("courier_scenario"),
                                        phone[-4:] if phone[-4:].isdigit() else None)
        if self.state.get("report_tracking"):
            self.report(fid)

    def report(self, fid: int) -> None:
        order = self.state.order(fid)
        if order["tracking_number"]:
            self.client.tracking(fid, order["carrier"], order["tracking_number"])

    def report_now(self, fid: int) -> None:
        self.worker.at(0, f"report tracking of order {fid}", lambda: self.report(fid))

    def ship_now(self, fid: int) -> None:
        self.worker.cancel(("ship", fid))
        self.worker.at(0, f"ship order {fid} now", lambda: self.ship(fid, force=True))

    # -- stop-ship ------------------------------------------------------------------------------
    def _stop_ship(self, data: dict, webhook_id: str) -> None:
        fid = int(data["fulfilment_id"])
        order = self.state.order(fid)
        with self.state.lock:
            order["stop_ship"] = {"received_at": now_iso(), "reason": data.get("reason"),
                                  "answer": None}
        self.worker.at(self.state.get("stop_ship_delay_s"), f"answer stop-ship {fid}",
                       lambda: self._answer_stop_ship(fid, webhook_id))

    def _answer_stop_ship(self, fid: int, webhook_id: str) -> None:
        order = self.state.order(fid)
        if order["state"] == "shipped":
            self.client.stop_ship(fid, False, order["carrier"], order["tracking_number"])
            answer = "rejected"
        else:
            self.worker.cancel(("ship", fid))
            order["state"] = "stopped"
            self.client.stop_ship(fid, True)
            answer = "accepted"
        with self.state.lock:
            (order["stop_ship"] or {}).update(answer=answer, answered_at=now_iso())
        self._ack(webhook_id)

    # -- returns --------------------------------------------------------------------------------
    def _return(self, data: dict, webhook_id: str) -> None:
        rid = data.get("return_case_id")
        if rid is None:  # a parcel coming back with no return case: nothing to confirm yet
            self.worker.at(0, "ack return notice", lambda: self._ack(webhook_id))
            return
        case = self.state.return_case(int(rid))
        with self.state.lock:
            case["notices"] += 1
            case["fulfilment_id"] = data.get("fulfilment_id")
            case["tracking"] = data.get("tracking") or case["tracking"]
            case["skus"] = [line["sku"] for line in data.get("lines") or []] or case.get("skus")
        mode = self.state.get("return_mode")
        if mode == "on_notice" or (mode == "on_tracking" and data.get("tracking")):
            self.worker.at(self.state.get("return_delay_s"), f"receive return {rid}",
                           lambda: self.receive(int(rid)), key=("receive", int(rid)))
        self.worker.at(0, f"ack return notice {rid}", lambda: self._ack(webhook_id))

    def _tracking(self, data: dict, webhook_id: str) -> None:
        rid = data.get("return_case_id")
        if (rid is not None and data.get("status") == "delivered"
                and self.state.get("return_mode") == "on_delivery"):
            self.worker.at(self.state.get("return_delay_s"), f"receive return {rid}",
                           lambda: self.receive(int(rid)), key=("receive", int(rid)))
        self.worker.at(0, "ack tracking notice", lambda: self._ack(webhook_id))

    def receive(self, rid: int) -> None:
        case = self.state.return_case(rid)
        if case["state"] == "received" and self.state.get("dedupe"):
            return
        every = self.state.get("damaged_every")
        damaged = bool(every) and rid % every == 0
        fields = {"condition": "damaged" if damaged else self.state.get("return_condition"),
                  "grade": "C" if damaged else self.state.get("return_grade"),
                  "notes": "外箱压坏，商品破损 / box crushed, goods broken" if damaged
                  else self.state.get("return_notes"),
                  # the warehouse scans the label of what came back: the SKU it shipped
                  "barcode": (case.get("skus") or [f"SBX{rid:010d}"])[0],
                  "checklist": {"counted": True}}
        status, answer = self.client.receipt(rid, fields, parcels.photo_png(seed=rid))
        if status == 200 and isinstance(answer, dict):
            with self.state.lock:
                case.update(state="received", inspection_id=answer.get("id"),
                            received_at=now_iso())

    def receive_now(self, rid: int) -> None:
        self.worker.cancel(("receive", rid))
        self.worker.at(0, f"receive return {rid} now", lambda: self.receive(rid))

    # -- claims ---------------------------------------------------------------------------------
    def _claim(self, data: dict, webhook_id: str) -> None:
        cid = int(data["claim_id"])
        claim = self.state.claim(cid)
        with self.state.lock:
            claim["notices"] += 1
            claim.update({k: data.get(k) for k in ("fulfilment_id", "amount_minor", "currency",
                                                   "reason", "answer_by")})
        if data.get("status") == "withdrawn":  # the merchant took it back: nothing to answer
            self.worker.cancel(("claim", cid))
            with self.state.lock:
                claim["state"] = "withdrawn"
            self.worker.at(0, f"ack claim notice {cid}", lambda: self._ack(webhook_id))
            return
        self.worker.at(0, f"acknowledge claim {cid}", lambda: self._acknowledge_claim(cid))
        self.worker.at(self.state.get("claim_delay_s"), f"answer claim {cid}",
                       lambda: self._answer_claim(cid, webhook_id), key=("claim", cid))

    def _statement(self, data: dict, webhook_id: str) -> None:
        sid = int(data["statement_id"])
        statement = self.state.statement(sid)
        with self.state.lock:
            statement["notices"] += 1
            statement.update({k: data.get(k) for k in ("period", "status", "closing_minor")})
        if data.get("status") == "sent":
            self.worker.at(self.state.get("claim_delay_s"), f"confirm statement {sid}",
                           lambda: self.client.confirm_statement(sid))
        self.worker.at(0, f"ack statement notice {sid}", lambda: self._ack(webhook_id))

    def _acknowledge_claim(self, cid: int) -> None:
        status, _ = self.client.acknowledge_claim(cid)
        claim = self.state.claim(cid)
        if status == 200:
            with self.state.lock:
                claim["acknowledged_at"] = claim["acknowledged_at"] or now_iso()
                if claim["state"] == "new":
                    claim["state"] = "acknowledged"

    def _answer_claim(self, cid: int, webhook_id: str) -> None:
        claim = self.state.claim(cid)
        if claim["state"] in ("accepted", "disputed", "withdrawn") and self.state.get("dedupe"):
            self._ack(webhook_id)
            return
        amount = claim["amount_minor"]
        if isinstance(amount, int) and amount <= self.state.get("claim_accept_up_to_minor"):
            outcome = "accept"
            status, _ = self.client.answer_claim(cid, outcome)
        else:
            outcome = "dispute"
            status, _ = self.client.answer_claim(
                cid, outcome, reason=self.state.get("claim_dispute_reason"))
        if status == 200:
            with self.state.lock:
                claim.update(state="accepted" if outcome == "accept" else "disputed",
                             outcome=outcome, answered_at=now_iso())
        self._ack(webhook_id)
