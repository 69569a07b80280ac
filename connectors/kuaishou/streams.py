"""Poll streams of a Kuaishou shop: ``orders`` and ``returns``, the backstop for pushes.

Both list APIs only answer bounded time windows within the last 90 days (reference §2.1,
§3.1, §5), so each stream walks windows by **update time** (``queryType=2``), oldest
first (``sort=2``), paging each window with its cursor until ``"nomore"``:

* ``orders``: ``open.order.cursor.list`` in windows of ``order_window_days`` (≤ 7);
* ``returns``: ``open.seller.order.refund.pcursor.list`` in windows of
  ``refund_window_hours`` (default 1, ≤ 24; the platform may shrink it in promotions).

The records are the list elements. Completing them is left to processing
(``webhooks.records_for_event``): an order element lacking a block the mapper reads gets
``open.order.detail``, a refund always gets ``open.seller.order.refund.detail`` — once
per new record version, since the inbox drops what the overlap reads again.

**Cursor** ``{"since_ms": int, "backfill": {"from": ms, "to": ms}}``: ``since_ms`` is the
high-water mark — every change up to it has been read. It moves per slice (= page):
within a window to the newest ``updateTime`` seen (safe because pages come oldest first
and the lower bound is inclusive), and to the window's **end only once its last page
("nomore") is stored** — a failure mid-window resumes inside that window, never after
it. It never passes the run's start (the signpost), so nothing from a clock-skewed record
can hide later changes.

**Overlap**: a run asks from ``since_ms - LOOKBACK_MS`` (5 min, inclusive), so records
committed late on the platform are still read; what is read again is dropped by the
inbox key ``poll:<entity>:<id>:<updated_at>``.

**Backfill**: a first run (no cursor) reads the last ``backfill_days`` (default 90, never
before the platform's 90-day limit). Every slice reports ``progress`` =
``{"backfill_from", "backfill_to", "position" (ISO), "percent" (0-100), "done",
"window_from", "window_to"}``; ``jobs.poll`` stores it on the ``PollState``. The backfill
bounds stay in the cursor, so a backfill interrupted by an error resumes where it was.
A cursor older than the 90-day limit (a shop not polled for months) restarts at the
limit with ``gap: true`` in the progress.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Callable, Iterator

from connectors.base import ConnectorError, ErrorClass, PollStream, Record, Slice
from connectors.kuaishou.client import DAY_MS, NOMORE, KuaishouClient
from connectors.kuaishou.webhooks import order_record, refund_record

HOUR_MS = 3_600_000
LOOKBACK_MS = 5 * 60_000
MAX_PAGES_PER_WINDOW = 10_000  # a guard against a cursor that never ends
log = logging.getLogger(__name__)


def iso_ms(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat()


def _ms(value) -> int | None:
    if isinstance(value, bool) or value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _safe(make: Callable[[dict], Record], entity: str, item: dict) -> Record:
    """A record for a list element; one without a usable id is passed on with an empty
    id so the inbox fails it visibly (and it never moves the cursor)."""
    try:
        return make(item)
    except ConnectorError:
        return Record(entity, "", item if isinstance(item, dict) else {"raw": item})


class WindowStream:
    """One list API of the shop, read window by window from a saved cursor."""

    def __init__(self, client: KuaishouClient, name: str, entity: str, *, window_ms: int,
                 backfill_ms: int, pages: Callable[[int, int], Iterator[tuple[list, str]]],
                 make: Callable[[dict], Record], lookback_ms: int = LOOKBACK_MS):
        self.client, self.name, self.entity = client, name, entity
        self.window_ms, self.backfill_ms, self.lookback_ms = window_ms, backfill_ms, lookback_ms
        self.pages, self.make = pages, make

    def _start(self, cursor: dict, now: int) -> tuple[int | None, dict, int, bool]:
        """(high-water mark, backfill bounds, where this run asks from, gap?)."""
        cursor = cursor or {}
        since = _ms(cursor.get("since_ms"))
        if cursor.get("since_ms") is not None and since is None:
            raise ConnectorError(ErrorClass.FAIL_DATA,
                                 f"saved {self.name} cursor is unreadable: {cursor!r}")
        earliest = self.client.earliest_begin_ms()
        backfill = cursor.get("backfill")
        if not (isinstance(backfill, dict) and _ms(backfill.get("from")) is not None
                and _ms(backfill.get("to")) is not None):
            backfill = None
        if backfill is None:
            start = max(now - self.backfill_ms, earliest) if since is None else since
            backfill = {"from": start, "to": now}
        begin = since - self.lookback_ms if since is not None else _ms(backfill["from"])
        gap = begin < earliest
        if gap:
            log.warning("kuaishou %s cursor is older than the 90-day limit; restarting there",
                        self.name)
        return since, {"from": _ms(backfill["from"]), "to": _ms(backfill["to"])}, \
            max(begin, earliest), gap

    def _progress(self, high: int | None, backfill: dict, begin: int, end: int,
                  gap: bool) -> dict:
        position = high if high is not None else backfill["from"]
        span = max(1, backfill["to"] - backfill["from"])
        percent = min(100.0, max(0.0, (position - backfill["from"]) * 100.0 / span))
        done = position >= backfill["to"]
        progress = {"backfill_from": iso_ms(backfill["from"]), "backfill_to": iso_ms(backfill["to"]),
                    "position": iso_ms(position), "percent": 100.0 if done else round(percent, 1),
                    "done": done, "window_from": iso_ms(begin), "window_to": iso_ms(end)}
        if gap:
            progress["gap"] = True
        return progress

    def read(self, cursor: dict) -> Iterator[Slice]:
        now = self.client.now_ms()  # the signpost: no window and no mark goes past it
        high, backfill, begin, gap = self._start(cursor, now)
        while begin < now:
            end = min(begin + self.window_ms, now)
            for page, (items, next_cursor) in enumerate(self.pages(begin, end), start=1):
                records = [_safe(self.make, self.entity, item) for item in items]
                stamps = [int(r.updated_at.timestamp() * 1000) for r in records
                          if r.external_id and r.updated_at is not None]
                if next_cursor == NOMORE:
                    newest = end           # the window is done: all of it has been read
                else:
                    newest = min(max(stamps), end) if stamps else None
                if newest is not None:
                    high = newest if high is None else max(high, newest)
                state = {"since_ms": high, "backfill": dict(backfill)}
                if high is None:
                    state.pop("since_ms")
                yield Slice(records=records, cursor=state,
                            progress=self._progress(high, backfill, begin, end, gap))
                if page >= MAX_PAGES_PER_WINDOW:
                    raise ConnectorError(ErrorClass.FAIL_DATA, f"{self.name}: more than "
                                         f"{MAX_PAGES_PER_WINDOW} pages in one window")
            begin = end


def shop_streams(connector) -> list[PollStream]:
    """``orders`` and ``returns`` of the account (none without an access or refresh token)."""
    config = connector.config
    if not (config.get("access_token") or config.get("refresh_token")):
        return []
    client = connector.client
    backfill_ms = int(config.get("backfill_days") or 90) * DAY_MS
    interval = float(config.get("poll_interval_s") or 300)

    def orders(begin, end):
        return client.iter_orders(begin, end, "", query_type=2, sort=2)

    def refunds(begin, end):
        return client.iter_refunds(begin, end, "", query_type=2, sort=2)

    streams = {
        "orders": WindowStream(client, "orders", "order", pages=orders, make=order_record,
                               window_ms=int(config.get("order_window_days") or 7) * DAY_MS,
                               backfill_ms=backfill_ms),
        "returns": WindowStream(client, "returns", "return", pages=refunds, make=refund_record,
                                window_ms=int(config.get("refund_window_hours") or 1) * HOUR_MS,
                                backfill_ms=backfill_ms),
    }
    return [PollStream(name=name, read=stream.read, interval_s=interval)
            for name, stream in streams.items()]
