"""Message push: the platform POSTs each event to the app's push URL (reference §4).

``PushService.publish(seller_id, event, biz_id, info, scope)`` fans an event out to
every app holding an unrevoked grant with ``scope`` on that shop (``merchant_order`` for
order events, ``merchant_refund`` for after-sale events, K4001) that has a push URL and
subscribes to the event. Each message is the JSON envelope ``{eventId, msgId, bizId,
userId, openId, appKey, event, info (a JSON *string*), createTime, updateTime}``,
encrypted (``signing.encrypt_message``) and POSTed as ``text/plain;charset=utf-8``.

Acknowledged means HTTP 200 with a JSON body whose ``result`` is 1 within
``push_timeout_s`` (3 s). Otherwise it is retried after 5, 10, 20, 30 and 60 minutes --
each delay multiplied by 60 x ``push_time_factor`` real seconds, so a test with factor
0.001 sees the whole schedule in seconds -- and then marked ``failed`` (a manual
re-push is still possible). Advancing the simulated clock moves pending retries forward
by the same scaled amount. Saving a push URL sends a heartbeat ``{"test":true}``.

Per-app misbehaviour: drop a fraction of messages, send a fraction twice, delay the
first attempt, blank the envelope openId. Every message and attempt is kept for the
control API (``GET /_sandbox/pushes``).
"""
from __future__ import annotations

import heapq
import itertools
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from .signing import encrypt_message
from .state import iso

ORDER_SCOPE = "merchant_order"
REFUND_SCOPE = "merchant_refund"
HEARTBEAT = '{"test":true}'


def _acked(text: str) -> bool:
    try:
        body = json.loads(text)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("result") in (1, "1")


class PushMessage:
    """One message to one app, with every delivery attempt made."""

    def __init__(self, msg_id: str, kind: str, app_key: str, body: str, plaintext: str,
                 created_ms: int, event: str = "", biz_id: int = 0, envelope: dict | None = None,
                 duplicate_of: str | None = None):
        self.id, self.kind, self.app_key = msg_id, kind, app_key
        self.body, self.plaintext, self.created_ms = body, plaintext, created_ms
        self.event, self.biz_id, self.envelope = event, biz_id, envelope
        self.duplicate_of = duplicate_of
        self.state = "pending"       # pending|retrying|delivered|failed|dropped|held
        self.attempts: list[dict] = []
        self.version = 0
        self.next_due: float | None = None

    def to_json(self) -> dict:
        return {"id": self.id, "kind": self.kind, "appKey": self.app_key, "event": self.event,
                "eventId": (self.envelope or {}).get("eventId"), "bizId": self.biz_id,
                "state": self.state, "createdAtMs": self.created_ms, "duplicateOf": self.duplicate_of,
                "envelope": self.envelope, "plaintext": self.plaintext, "body": self.body,
                "attempts": [dict(a) for a in self.attempts]}


class PushService:
    def __init__(self, state):
        self.state = state
        self._cv = threading.Condition()
        self._heap: list = []
        self._seq = itertools.count(1)
        self._event_seq = itertools.count(1)
        self.messages: list[PushMessage] = []
        self._by_id: dict[str, PushMessage] = {}
        self._held: list[PushMessage] = []
        self._rng = random.Random(state.config.seed)
        self._stopping = False
        self._next_heartbeat: float | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, int(self.state.config.push_workers)),
                                        thread_name_prefix="ks-push")
        self._thread = threading.Thread(target=self._loop, name="ks-push-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def reset(self) -> None:
        with self._cv:
            self._heap.clear()
            self.messages.clear()
            self._by_id.clear()
            self._held.clear()
            self._rng = random.Random(self.state.config.seed)

    # ---- publishing ---------------------------------------------------------------------
    def publish(self, seller_id: int, event: str, biz_id: int, info: dict, scope: str) -> None:
        with self.state.lock:
            shop = self.state.shops.get(seller_id)
            apps = self.state.apps_for_shop(seller_id, scope) if shop else []
            now = self.state.now_ms()
        for app in apps:
            if not app.push_url or (app.events is not None and event not in app.events):
                continue
            self._enqueue_event(app, shop, event, biz_id, info, now)

    def _enqueue_event(self, app, shop, event, biz_id, info, now) -> None:
        mis = app.misbehaviour
        with self._cv:
            n = next(self._event_seq)
            open_id = "" if self._rng.random() < mis.empty_open_id_rate else shop.open_id
            envelope = {"eventId": f"{biz_id % 1000}_{app.app_key[-4:]}_{2_375_715_000_000 + n}",
                        "msgId": f"{n % 100}_{2_375_715_000_000 + n}", "bizId": biz_id,
                        "userId": shop.seller_id, "openId": open_id, "appKey": app.app_key,
                        "event": event,
                        "info": json.dumps(info, ensure_ascii=False, separators=(",", ":")),
                        "createTime": now, "updateTime": now}
            plaintext = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
            msg = self._new("event", app.app_key, encrypt_message(plaintext, app.message_key),
                            plaintext, now, event=event, biz_id=biz_id, envelope=envelope)
            if self._rng.random() < mis.drop_rate:
                msg.state = "dropped"
                return
            self._schedule(msg, mis.delay_seconds)
            if self._rng.random() < mis.duplicate_rate:
                dup = self._new("event", app.app_key, msg.body, plaintext, now, event=event,
                                biz_id=biz_id, envelope=envelope, duplicate_of=msg.id)
                self._schedule(dup, mis.delay_seconds + 0.05)

    def heartbeat(self, app) -> PushMessage:
        """Send ``{"test":true}`` now (encrypted unless ``heartbeat_encrypted`` is off)."""
        now = self.state.now_ms()
        body = (encrypt_message(HEARTBEAT, app.message_key)
                if self.state.config.heartbeat_encrypted else HEARTBEAT)
        with self._cv:
            msg = self._new("heartbeat", app.app_key, body, HEARTBEAT, now)
            self._schedule(msg, 0)
        return msg

    def repush(self, msg_id: str) -> PushMessage | None:
        """A manual re-push (消息查询): one immediate extra attempt."""
        with self._cv:
            msg = self._by_id.get(msg_id)
            if msg is not None:
                heapq.heappush(self._heap, (time.monotonic(), next(self._seq), msg, msg.version, True))
                self._cv.notify_all()
            return msg

    def shift(self, advanced_ms: int) -> None:
        """The simulated clock jumped forward: pull pending retries forward accordingly."""
        if advanced_ms <= 0:
            return
        delta = advanced_ms / 1000 * float(self.state.config.push_time_factor)
        with self._cv:
            self._heap = [(due - delta, *rest) for due, *rest in self._heap]
            heapq.heapify(self._heap)
            self._cv.notify_all()

    def list(self, app_key=None, event=None, kind=None, state=None, biz_id=None) -> list[dict]:
        with self._cv:
            found = [m for m in self.messages
                     if (app_key is None or m.app_key == app_key)
                     and (event is None or m.event == event)
                     and (kind is None or m.kind == kind)
                     and (state is None or m.state == state)
                     and (biz_id is None or m.biz_id == biz_id)]
            return [m.to_json() for m in found]

    # ---- internals (call with self._cv held) --------------------------------------------
    def _new(self, kind, app_key, body, plaintext, now, **kw) -> PushMessage:
        msg = PushMessage(f"p{next(self._seq)}", kind, app_key, body, plaintext, now, **kw)
        self.messages.append(msg)
        self._by_id[msg.id] = msg
        return msg

    def _schedule(self, msg: PushMessage, delay_s: float) -> None:
        msg.version += 1
        msg.next_due = time.monotonic() + max(0.0, float(delay_s))
        heapq.heappush(self._heap, (msg.next_due, next(self._seq), msg, msg.version, False))
        self._cv.notify_all()

    def _loop(self) -> None:
        while True:
            send_heartbeats = False
            with self._cv:
                while not self._stopping:
                    now = time.monotonic()
                    interval = float(self.state.config.heartbeat_interval_s or 0)
                    if interval > 0 and self._next_heartbeat is None:
                        self._next_heartbeat = now + interval
                    if interval > 0 and now >= self._next_heartbeat:
                        self._next_heartbeat, send_heartbeats = now + interval, True
                        break
                    if self._heap and self._heap[0][0] <= now:
                        break
                    waits = [self._heap[0][0] - now] if self._heap else []
                    if interval > 0:
                        waits.append(self._next_heartbeat - now)
                    self._cv.wait(min(waits) if waits else 1.0)
                if self._stopping:
                    return
                due = []
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    _, _, msg, version, manual = heapq.heappop(self._heap)
                    if manual or version == msg.version:
                        due.append((msg, manual))
            if send_heartbeats:
                with self.state.lock:
                    apps = [a for a in self.state.apps.values() if a.push_url]
                for app in apps:
                    self.heartbeat(app)
            for msg, manual in due:
                try:
                    self._pool.submit(self._attempt, msg, manual)
                except RuntimeError:      # pool shut down while stopping
                    return

    def _attempt(self, msg: PushMessage, manual: bool) -> None:
        with self.state.lock:
            app = self.state.apps.get(msg.app_key)
            cfg = self.state.config
            url = app.push_url if app else None
            paused = bool(app and app.push_paused)
            now_ms = self.state.now_ms()
        if msg.kind == "event" and paused and not manual:
            with self._cv:
                msg.state = "held"
                self._held.append(msg)
            return
        started = time.monotonic()
        status, error, answer, ok = None, "", "", False
        if not url:
            error = "the app has no push URL"
        else:
            try:
                resp = requests.post(url, data=msg.body.encode("utf-8"), timeout=cfg.push_timeout_s,
                                     headers={"Content-Type": "text/plain;charset=utf-8"})
                status, answer = resp.status_code, resp.text[:300]
                resp.close()
                if status != 200:
                    error = f"HTTP {status}"
                elif time.monotonic() - started > cfg.push_timeout_s:
                    error = f"acknowledged after more than {cfg.push_timeout_s} s"
                elif not _acked(answer):
                    error = 'the answer is not {"result":1}'
                else:
                    ok = True
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
        elapsed_ms = int((time.monotonic() - started) * 1000)
        retry = [float(m) for m in cfg.push_retry_minutes]
        with self._cv:
            msg.attempts.append({"n": len(msg.attempts) + 1, "atMs": now_ms, "at": iso(now_ms),
                                 "elapsedMs": elapsed_ms, "httpStatus": status, "ok": ok,
                                 "error": error, "response": answer, "manual": manual})
            if ok:
                msg.state = "delivered"
                msg.version += 1          # cancels any retry still scheduled
            elif manual:
                if msg.state != "retrying":
                    msg.state = "failed"
            else:
                failures = sum(1 for a in msg.attempts if not a["manual"])
                if failures <= len(retry):
                    msg.state = "retrying"
                    self._schedule(msg, retry[failures - 1] * 60 * float(cfg.push_time_factor))
                else:
                    msg.state = "failed"
        if msg.kind == "heartbeat" and app is not None:
            self._after_heartbeat(app, ok, cfg.pause_on_heartbeat_failure)

    def _after_heartbeat(self, app, ok: bool, pause_on_failure: bool) -> None:
        with self.state.lock:
            if ok and app.push_paused:
                app.push_paused = False
                with self._cv:
                    held = [m for m in self._held if m.app_key == app.app_key]
                    self._held = [m for m in self._held if m.app_key != app.app_key]
                    for m in held:
                        m.state = "pending"
                        self._schedule(m, 0)
            elif not ok and pause_on_failure:
                app.push_paused = True
