"""Per-app and per-user QPS limits per API (reference §5, K1008).

A sliding one-second window (real time, not the simulated clock) per
``(appkey, method)`` and per ``(appkey, seller, method)``. A call over either limit is
refused with the documented message, e.g.

    Exceed qps limit, KEY [apiId:open.order.cursor.list;appkey:ks123], MAX_QPS [300.0]
    Exceed qps limit, KEY [apiId:open.order.cursor.list;appkey:ks123;primaryUserId:42], MAX_QPS [1.0]

(the per-user form follows the per-user quota message of K1008). Refused calls do not
count. Limits come from ``Config.qps``/``Config.default_qps`` at each call.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class QpsLimiter:
    def __init__(self):
        self._lock = threading.Lock()
        self._windows: dict[tuple, deque] = defaultdict(deque)

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()

    def check(self, method: str, app_key: str, seller_id: int | None,
              app_qps: int, user_qps: int) -> str | None:
        """Record the call and answer ``None``, or answer the refusal message."""
        now = time.monotonic()
        app_key_ = ("app", app_key, method)
        user_key = ("user", app_key, seller_id, method)
        with self._lock:
            app_window = self._trim(self._windows[app_key_], now)
            if app_qps > 0 and len(app_window) >= app_qps:
                return (f"Exceed qps limit, KEY [apiId:{method};appkey:{app_key}], "
                        f"MAX_QPS [{float(app_qps)}]")
            user_window = self._trim(self._windows[user_key], now) if seller_id else None
            if user_window is not None and user_qps > 0 and len(user_window) >= user_qps:
                return (f"Exceed qps limit, KEY [apiId:{method};appkey:{app_key};"
                        f"primaryUserId:{seller_id}], MAX_QPS [{float(user_qps)}]")
            app_window.append(now)
            if user_window is not None:
                user_window.append(now)
        return None

    @staticmethod
    def _trim(window: deque, now: float) -> deque:
        while window and now - window[0] >= 1.0:
            window.popleft()
        return window
