"""Poll streams of the generic shop: ``orders`` and ``returns``, the backstop for webhooks.

``GET {base_url}/hub/<stream>?updated_since=<ISO>&cursor=<c>`` answers
``{"data": [records], "next_cursor": "..." | null}`` in ascending ``updated_at``, with
``updated_since`` inclusive (see README.md beside this file).

* **Cursor state** ``{"updated_since": ISO}``: the highest ``updated_at`` seen so far.
  An empty state is a backfill from the beginning (no ``updated_since``).
* **Overlap**: a run starts ``LOOKBACK`` (60 s) before the saved cursor, so a record
  committed late on the shop's side with an older ``updated_at`` is still read. The
  records of the overlap are read again; the hub drops them by their inbox key
  ``poll:<entity>:<id>:<updated_at>``.
* **Slices = pages**: each page is one ``Slice`` carrying its records and the cursor to
  save once the page is stored, so a failure mid-stream resumes after the last stored page.
* **Signpost**: the cursor never moves past the time the run started, so one record with
  a clock-skewed future ``updated_at`` cannot make every later change invisible.
* A page that is not the documented shape is ``fail_data``; a record inside it without a
  usable ``id`` or ``updated_at`` is passed on as is (the inbox will fail it visibly) and
  does not move the cursor.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

from connectors.base import ConnectorError, ErrorClass, PollStream, Record, Slice
from connectors.generic_shop.client import GenericShopClient

LOOKBACK = timedelta(seconds=60)
MAX_PAGES_PER_RUN = 10_000  # a guard against a server that never ends its pagination
ENTITIES = {"orders": "order", "returns": "return"}
log = logging.getLogger(__name__)


def iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat()


def parse_time(value) -> datetime | None:
    """An aware UTC datetime from ISO 8601 with an offset (``Z`` accepted), else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else None


def _record(entity: str, item: dict) -> Record:
    ident = item.get("id")
    usable = isinstance(ident, (str, int)) and not isinstance(ident, bool) and str(ident) != ""
    return Record(entity=entity, external_id=str(ident) if usable else "", payload=item,
                  updated_at=parse_time(item.get("updated_at")))


class ShopStream:
    """One endpoint of the shop read page by page from a saved cursor."""

    def __init__(self, client: GenericShopClient, name: str, *, lookback: timedelta = LOOKBACK,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.client, self.name, self.entity = client, name, ENTITIES[name]
        self.lookback, self.now = lookback, now

    def start(self, cursor: dict) -> tuple[datetime | None, datetime | None]:
        """(saved high-water mark, where this run asks from)."""
        saved = parse_time((cursor or {}).get("updated_since"))
        if (cursor or {}).get("updated_since") is not None and saved is None:
            raise ConnectorError(ErrorClass.FAIL_DATA,
                                 f"saved {self.name} cursor is unreadable: {cursor!r}")
        return saved, (saved - self.lookback if saved else None)

    def read(self, cursor: dict) -> Iterator[Slice]:
        saved, since = self.start(cursor)
        signpost = self.now()
        high = saved
        params = {"updated_since": iso(since)} if since else {}
        page_token: str | None = None
        seen_tokens: set[str] = set()
        total = 0
        for page in range(1, MAX_PAGES_PER_RUN + 1):
            query = dict(params, cursor=page_token) if page_token else params
            items, next_token = self._page(query)
            records = [_record(self.entity, item) for item in items]
            stamps = [r.updated_at for r in records if r.updated_at and r.external_id]
            if stamps:
                newest = min(max(stamps), signpost)
                high = newest if high is None else max(high, newest)
            total += len(records)
            yield Slice(records=records,
                        cursor={"updated_since": iso(high)} if high else dict(cursor or {}),
                        progress={"pages": page, "records": total,
                                  "since": iso(since) if since else None,
                                  "more": bool(next_token)})
            if not next_token:
                return
            if next_token in seen_tokens:
                raise ConnectorError(ErrorClass.FAIL_DATA, f"{self.name}: next_cursor "
                                     f"{next_token!r} repeats; pagination would never end")
            seen_tokens.add(next_token)
            page_token = next_token
        raise ConnectorError(ErrorClass.FAIL_DATA,
                             f"{self.name}: more than {MAX_PAGES_PER_RUN} pages in one run")

    def _page(self, query: dict) -> tuple[list[dict], str | None]:
        response = self.client.request("GET", f"/hub/{self.name}", params=query)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ConnectorError(ErrorClass.FAIL_DATA,
                                 f"{self.name} page is not {{\"data\": [...], \"next_cursor\"}}",
                                 status_code=response.status_code,
                                 response_excerpt=response.text[:500])
        items = body["data"]
        if not all(isinstance(item, dict) for item in items):
            raise ConnectorError(ErrorClass.FAIL_DATA,
                                 f"{self.name} page holds something other than records")
        token = body.get("next_cursor")
        if token is not None and not isinstance(token, (str, int)):
            raise ConnectorError(ErrorClass.FAIL_DATA, f"{self.name} next_cursor is not a string")
        return items, (str(token) if token not in (None, "") else None)


def shop_streams(connector) -> list[PollStream]:
    """The account's streams, or none when it has no ``base_url`` to poll."""
    config = connector.config
    if not config.get("base_url"):
        return []
    client = GenericShopClient(connector.ctx)
    interval = float(config.get("poll_interval_s") or 300)
    return [PollStream(name=name, read=ShopStream(client, name).read, interval_s=interval)
            for name in ENTITIES]
