"""The ``allocations`` poll stream: the factory's side of every allocation, by update time.

``open.dropshipping.order.list`` answers windows of less than 30 minutes
(``beginTime``/``endTime`` in ms, ``queryType`` 2 = update time, ``sort`` 2 = oldest
first) no older than 60 days, paged by ``cursor`` until ``"nomore"``. A run therefore
walks 29-minute windows from the saved cursor (minus ``lookback``) up to the moment the
run started (the signpost):

* **slices = pages**: each page is one ``Slice`` with the cursor to save after it;
* **cursor** ``{"updated_since": ISO}``: the newest ``updateTime`` read; once a window
  that is not the last one is read to its end, the cursor moves to that window's end even
  if it held nothing, so quiet hours are not read again; it never passes the signpost;
* **backfill**: an empty cursor starts ``backfill_minutes`` before now; a cursor older
  than the platform's 60 days starts at the oldest allowed time (``progress.gap``).

Records are ``Record(entity="allocation", external_id=<code>, updated_at=updateTime)``.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

from connectors.base import ConnectorError, ErrorClass, Record, Slice
from connectors.kuaishou.client import NOMORE
from connectors.kuaishou_dropship.api import (FACTORY_MAX_AGE_MS, FACTORY_WINDOW_MS, MAX_PAGES,
                                              DropshipApi)
from connectors.kuaishou_dropship.mapping import record_time, reference_of

ENTITY = "allocation"
SAFETY_MS = 10 * 60_000


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def parse_cursor(cursor: dict) -> datetime | None:
    value = (cursor or {}).get("updated_since")
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ConnectorError(ErrorClass.FAIL_DATA,
                             f"saved allocations cursor is unreadable: {cursor!r}") from None
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(
        tzinfo=timezone.utc)


def as_record(item: dict) -> Record:
    return Record(entity=ENTITY, external_id=reference_of(item) or "", payload=item,
                  updated_at=record_time(item))


class AllocationStream:
    def __init__(self, api: DropshipApi, *, lookback: timedelta, backfill: timedelta,
                 now: Callable[[], datetime]):
        self.api, self.lookback, self.backfill, self.now = api, lookback, backfill, now

    def read(self, cursor: dict) -> Iterator[Slice]:
        saved = parse_cursor(cursor)
        signpost = self.now().astimezone(timezone.utc)
        start = saved - self.lookback if saved else signpost - self.backfill
        oldest = signpost - timedelta(milliseconds=FACTORY_MAX_AGE_MS - SAFETY_MS)
        gap = start < oldest
        start = max(start, oldest)
        high = saved
        window_start, pages, total = to_ms(start), 0, 0
        end_ms = to_ms(signpost)
        while window_start < end_ms:
            window_end = min(window_start + FACTORY_WINDOW_MS, end_ms)
            token = ""
            while True:
                pages += 1
                if pages > MAX_PAGES:
                    raise ConnectorError(ErrorClass.FAIL_DATA, f"allocations: more than "
                                         f"{MAX_PAGES} pages in one run")
                items, nxt = self.api.factory_page(window_start, window_end, token)
                records = [as_record(item) for item in items]
                stamps = [r.updated_at for r in records if r.updated_at and r.external_id]
                if stamps:
                    newest = min(max(stamps), signpost)
                    high = newest if high is None else max(high, newest)
                done = nxt == NOMORE
                if done and window_end < end_ms:
                    boundary = from_ms(window_end)
                    high = boundary if high is None else max(high, boundary)
                total += len(records)
                yield Slice(records=records,
                            cursor={"updated_since": high.isoformat()} if high else dict(
                                cursor or {}),
                            progress={"pages": pages, "records": total, "gap": gap,
                                      "window_start": from_ms(window_start).isoformat(),
                                      "more": not (done and window_end >= end_ms)})
                if done:
                    break
                if nxt == token:
                    raise ConnectorError(ErrorClass.RETRY, "allocations cursor did not advance")
                token = nxt
            window_start = window_end
