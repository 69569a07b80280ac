"""Delivering the courier sandbox's pushes the way Kuaidi100 does: a form POST of
``param`` (+ ``sign``) to the subscriber's callback URL, success only on the exact
acknowledgement ``{"result":true,"returnCode":"200","message":"成功"}`` (compared as
parsed JSON), else up to 3 retries ``retry_interval_s`` apart (Kuaidi100: 35 minutes;
scalable here). Every attempt is logged for read-back.

One worker thread takes jobs from a queue ordered by due time, so a push waiting for its
retry does not hold back the others (a realistic source of out-of-order arrivals).
"""
from __future__ import annotations

import heapq
import itertools
import threading
import time

import requests

ACK = {"result": True, "returnCode": "200", "message": "成功"}
RETRIES = 3


class Pusher:
    def __init__(self, retry_interval_s: float = 2.0, timeout_s: float = 20.0):
        self.retry_interval_s = retry_interval_s
        self.timeout_s = timeout_s
        self.log: list[dict] = []
        self._heap: list[tuple[float, int, dict]] = []
        self._seq = itertools.count(1)
        self._cond = threading.Condition()
        self._busy = 0
        self._stopped = False
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._run, name="courier-sandbox-pusher",
                                        daemon=True)
        self._thread.start()

    def enqueue(self, kind: str, url: str, form: dict, meta: dict | None = None) -> dict:
        entry = {"id": next(self._seq), "kind": kind, "url": url, "form": form,
                 "meta": meta or {}, "attempts": [], "state": "pending"}
        with self._cond:
            self.log.append(entry)
            heapq.heappush(self._heap, (time.monotonic(), entry["id"], entry))
            self._cond.notify_all()
        return entry

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued or in flight; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def clear(self) -> None:
        with self._cond:
            self._heap.clear()
            self.log = []

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        self._session.close()

    # -- worker ------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = (self._heap[0][0] - time.monotonic()) if self._heap else None
                    self._cond.wait(wait if wait is None else max(0.0, min(wait, 0.5)))
                if self._stopped:
                    return
                _, _, entry = heapq.heappop(self._heap)
                self._busy += 1
            try:
                ok = self._attempt(entry)
            finally:
                with self._cond:
                    self._busy -= 1
                    if ok:
                        entry["state"] = "acked"
                    elif len(entry["attempts"]) <= RETRIES:
                        entry["state"] = "retrying"
                        heapq.heappush(self._heap, (time.monotonic() + self.retry_interval_s,
                                                    entry["id"], entry))
                    else:
                        entry["state"] = "failed"
                    self._cond.notify_all()

    def _attempt(self, entry: dict) -> bool:
        record = {"at": time.time()}
        try:
            response = self._session.post(entry["url"], data=entry["form"],
                                          timeout=self.timeout_s, allow_redirects=False)
            record.update(status=response.status_code, body=response.text[:500])
            try:
                ok = response.status_code == 200 and response.json() == ACK
            except ValueError:
                ok = False
        except requests.RequestException as e:
            record.update(status=None, body=f"{type(e).__name__}: {e}"[:500])
            ok = False
        record["ok"] = ok
        entry["attempts"].append(record)
        return ok
