"""The standard connector test suite: a base class every connector's tests subclass.

    class TestMyShopContract(ConnectorSuite):           # pytest collects Test* subclasses
        connector_cls = MyShop
        config = {...}                                  # a valid config
        signature_vectors = [SignatureVector(...)]      # headers, raw body, valid or not
        fixtures_dir = Path(".../fixtures/myshop")      # <case>.json + <case>.golden.json
        poll_lookback = timedelta(seconds=60)           # the overlap the streams re-read
        error_cases = [(ErrorClass.FAIL_CONFIG, ErrorResponse(401)), ...]

        def make_record(self, stream, n, updated_at): ...   # an outside record
        def expect_page(self, rsps, stream, *, since, page, records=(), last=True,
                        error=None): ...                    # register the exact request
        def cursor_time(self, cursor): ...                  # the cursor's high-water mark

What it runs, like Airbyte's and Meltano's standard tests (shared/reference §2):
declaration (describe, config schema, registry); **webhook**: every signature vector,
and a forged body, each signed header removed or altered → rejected; **fixtures**: each
recorded payload maps to its golden normalised JSON (``UPDATE_GOLDEN=1`` rewrites them);
**poll**: pagination ends at the last page, a failure mid-stream leaves the cursor of the
last completed slice, two runs re-read the lookback overlap without duplicating anything
(by inbox key and by ``hub.pipeline.sync.apply`` bindings), a 429 with Retry-After is waited out,
and each error class comes from its response; **optional capabilities** (OAuth linking,
authorization status, platform return messages, courier subscription and interception
payloads, secret rotation): ``tests.connector_capabilities``, mixed in. All HTTP goes
through ``responses`` with every registered call asserted as made; no time is real
(sleeps are recorded).

A part whose capability the connector does not declare is skipped with the reason; a
declared capability without the data to test it fails.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import ClassVar

import pytest
import responses

from connectors import registry
from connectors.base import (KINDS, AccountContext, ConfigInvalid, Connector, ConnectorError,
                             ErrorClass, WebhookRejected)
from connectors.http import HttpAdapter, TokenBucket
from tests.connector_capabilities import CapabilitySuite

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
STEP = timedelta(seconds=20)
_account_ids = itertools.count(900_000)


@dataclass(frozen=True)
class SignatureVector:
    name: str
    headers: dict
    body: bytes
    valid: bool
    now: float | None = None              # the verifier's clock for time-bound signatures
    reason: str | None = None             # expected WebhookRejected.reason when invalid
    event_ids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ErrorResponse:
    status: int
    headers: dict = field(default_factory=dict)
    body: str = ""


def plain(value):
    """hub.values dataclasses as JSON-ready data: dataclasses.asdict, times isoformat (UTC)."""
    if dataclasses.is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        assert value.utcoffset() == timedelta(0), f"{value} is not UTC"
        return value.isoformat()
    return value


def _mutate(text: str) -> str:
    """The same text with one character near the middle changed."""
    chars = list(text)
    for i in sorted(range(len(chars)), key=lambda i: abs(i - len(chars) // 2)):
        c = chars[i]
        if c.isdigit():
            chars[i] = str((int(c) + 1) % 10)
        elif c.isalpha() and c.isascii():
            chars[i] = "b" if c == "a" else ("B" if c == "A" else ("a" if c.islower() else "A"))
        else:
            continue
        return "".join(chars)
    return text + "x"


class ConnectorSuite(CapabilitySuite):
    connector_cls: ClassVar[type[Connector]]
    config: ClassVar[dict] = {}
    signature_vectors: ClassVar[list[SignatureVector]] = []
    signed_headers: ClassVar[tuple[str, ...] | None] = None  # default: a valid vector's headers
    fixtures_dir: ClassVar[Path | None] = None
    poll_lookback: ClassVar[timedelta] = timedelta(0)
    error_cases: ClassVar[list[tuple[ErrorClass, ErrorResponse]]] = [
        (ErrorClass.RETRY, ErrorResponse(503, body="busy")),
        (ErrorClass.RATE_LIMITED, ErrorResponse(429, {"Retry-After": "3600"})),
        (ErrorClass.FAIL_CONFIG, ErrorResponse(401, body="bad credentials")),
        (ErrorClass.FAIL_CONFIG, ErrorResponse(403, body="forbidden")),
        (ErrorClass.FAIL_DATA, ErrorResponse(400, body="bad request")),
    ]

    # -- hooks a subclass with poll streams implements ---------------------------------------
    def make_record(self, stream: str, n: int, updated_at: datetime) -> dict:
        raise NotImplementedError("return record number n of the stream, as the API sends it")

    def expect_page(self, rsps, stream: str, *, since: datetime | None, page: int,
                    records=(), last: bool = True, error: ErrorResponse | None = None) -> None:
        """Register the response to page ``page`` (0 = first) of a run that asks from
        ``since`` (None: a backfill), matching the exact request the connector must make."""
        raise NotImplementedError

    def cursor_time(self, cursor: dict) -> datetime | None:
        raise NotImplementedError("read the high-water mark out of a saved cursor")

    # -- hooks with defaults -----------------------------------------------------------------
    def context(self) -> AccountContext:
        return AccountContext(account_id=next(_account_ids), merchant_id=1, name="suite",
                              config=self.connector_cls.validate_config(dict(self.config)))

    def verify(self, connector: Connector, headers: dict, body: bytes, now: float | None):
        """``verify_webhook`` with the clock frozen at ``now``."""
        if now is None:
            return connector.verify_webhook(dict(headers), body)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(time, "time", lambda: now)
            return connector.verify_webhook(dict(headers), body)

    def fixture_event(self, path: Path) -> tuple[str, bytes]:
        """(event type, stored body) of a recorded payload; default: the hub envelope."""
        body = path.read_bytes()
        return json.loads(body)["type"], body

    def normalise(self, connector: Connector, path: Path) -> list[dict]:
        event_type, body = self.fixture_event(path)
        out = []
        for r in connector.records_for_event(event_type, body):
            values = connector.map_record(r)
            out.append({"record": {"entity": r.entity, "external_id": r.external_id,
                                   "updated_at": plain(r.updated_at)},
                        "type": None if values is None else type(values).__name__,
                        "values": plain(values)})
        return out

    # -- plumbing ------------------------------------------------------------------------------
    def _declares(self, capability: str) -> None:
        if capability not in self.connector_cls.capabilities:
            pytest.skip(f"{self.connector_cls.name} does not declare {capability!r}")

    def _cases(self) -> list[Path]:
        if self.fixtures_dir is None:
            return []
        return sorted(p for p in Path(self.fixtures_dir).glob("*.json")
                      if not p.name.endswith(".golden.json"))

    def pytest_generate_tests(self, metafunc):
        params = {
            "vector": (self.signature_vectors, lambda v: v.name),
            "case": (self._cases(), lambda p: p.stem),
            "stream": ([s.name for s in self.connector_cls(self.context()).streams()], str),
            "error_case": (
                [(c, r) for c, r in self.error_cases]
                + [(c, None) for c in ErrorClass if c not in dict(self.error_cases)],
                lambda cr: f"{cr[0].value}-{cr[1].status if cr[1] else 'none'}"),
        }
        for name, (values, ident) in params.items():
            if name in metafunc.fixturenames:
                metafunc.parametrize(name, values or [None],
                                     ids=[ident(v) for v in values] or ["none"])

    @pytest.fixture
    def slept(self, monkeypatch) -> list[float]:
        slept: list[float] = []
        monkeypatch.setattr(HttpAdapter, "sleep", staticmethod(slept.append))
        monkeypatch.setattr(TokenBucket, "sleep", staticmethod(lambda s: None))
        return slept

    @pytest.fixture
    def connector(self, slept) -> Connector:
        return self.connector_cls(self.context())

    @pytest.fixture
    def rsps(self):
        with responses.RequestsMock(assert_all_requests_are_fired=True) as r:
            yield r

    # -- declaration ---------------------------------------------------------------------------
    def test_declaration(self):
        cls = self.connector_cls
        assert cls.name and cls.kind in KINDS
        assert registry.get(cls.name) is cls, "the connector is not found by the registry"
        described = json.loads(json.dumps(cls.describe()))
        assert described["name"] == cls.name
        assert described["config_schema"]["type"] == "object"
        for secret in cls.secret_fields():
            assert described["config_schema"]["properties"][secret]["writeOnly"] is True

    def test_config_is_validated(self):
        self.connector_cls.validate_config(dict(self.config))
        with pytest.raises(ConfigInvalid):
            self.connector_cls.validate_config({**self.config, "no_such_setting_x": 1})

    # -- webhooks ------------------------------------------------------------------------------
    def _vectors(self, valid: bool) -> list[SignatureVector]:
        self._declares("webhook")
        found = [v for v in self.signature_vectors if v.valid is valid]
        assert found, f"declares webhooks but supplies no {'valid' if valid else 'invalid'} vector"
        return found

    def test_signature_vector(self, connector, vector):
        self._declares("webhook")
        assert vector is not None, "declares webhooks but supplies no signature vectors"
        if vector.valid:
            events = self.verify(connector, vector.headers, vector.body, vector.now)
            assert events and all(e.external_event_id and e.event_type for e in events)
            if vector.event_ids is not None:
                assert tuple(e.external_event_id for e in events) == vector.event_ids
            return
        with pytest.raises(WebhookRejected) as exc:
            self.verify(connector, vector.headers, vector.body, vector.now)
        assert 400 <= exc.value.status < 500
        if vector.reason:
            assert exc.value.reason == vector.reason

    def test_forged_body_is_rejected(self, connector):
        for v in self._vectors(True):
            for forged in (v.body[:-1] + bytes([v.body[-1] ^ 1]), v.body + b" ", b""):
                with pytest.raises(WebhookRejected) as exc:
                    self.verify(connector, v.headers, forged, v.now)
                assert exc.value.reason == "bad_signature", (v.name, forged[:40])
                assert exc.value.status == 401

    def test_missing_or_altered_signature_is_rejected(self, connector):
        for v in self._vectors(True):
            names = self.signed_headers or tuple(v.headers)
            cases = [({}, "no headers")]
            for name in names:
                cases.append(({k: x for k, x in v.headers.items() if k != name}, f"no {name}"))
                cases.append(({**v.headers, name: _mutate(v.headers[name])}, f"altered {name}"))
            for headers, label in cases:
                with pytest.raises(WebhookRejected) as exc:
                    self.verify(connector, headers, v.body, v.now)
                assert exc.value.reason == "bad_signature", (v.name, label)

    # -- recorded fixtures ---------------------------------------------------------------------
    def test_fixture_maps_to_golden(self, connector, case):
        if not ({"webhook", "poll"} & set(self.connector_cls.capabilities)):
            pytest.skip(f"{self.connector_cls.name} takes in no records")
        assert case is not None, f"no recorded fixtures in {self.fixtures_dir}"
        got = self.normalise(connector, case)
        assert got, f"{case.name} produced no records"
        golden = case.with_name(case.stem + ".golden.json")
        if os.environ.get("UPDATE_GOLDEN"):
            golden.write_text(json.dumps(got, ensure_ascii=False, indent=2) + "\n")
        assert golden.exists(), f"{golden.name} is missing (UPDATE_GOLDEN=1 writes it)"
        assert got == json.loads(golden.read_text())

    # -- polling -------------------------------------------------------------------------------
    def _stream(self, connector, stream):
        self._declares("poll")
        assert stream is not None, "declares poll but its streams() is empty with this config"
        return next(s for s in connector.streams() if s.name == stream)

    def _records(self, stream, first: int, count: int, start=T0) -> list[dict]:
        return [self.make_record(stream, n, start + STEP * n) for n in range(first, first + count)]

    def _serve(self, rsps, stream, pages: list[list[dict]], since=None) -> None:
        for i, page in enumerate(pages):
            self.expect_page(rsps, stream, since=since, page=i, records=page,
                             last=i == len(pages) - 1)

    def test_pagination_ends_at_the_last_page(self, connector, rsps, stream):
        st = self._stream(connector, stream)
        pages = [self._records(stream, 0, 2), self._records(stream, 2, 2),
                 self._records(stream, 4, 1)]
        self._serve(rsps, stream, pages)
        slices = list(st.read({}))
        assert len(rsps.calls) == 3  # and no fourth call: it would fail unregistered
        records = [r for s in slices for r in s.records]
        assert [r.payload for r in records] == [r for p in pages for r in p]
        marks = [self.cursor_time(s.cursor) for s in slices]
        assert marks == sorted(marks) and marks[-1] == T0 + STEP * 4

    def test_cursor_stays_at_the_last_completed_slice(self, connector, rsps, stream):
        st = self._stream(connector, stream)
        first = self._records(stream, 0, 2)
        self.expect_page(rsps, stream, since=None, page=0, records=first, last=False)
        self.expect_page(rsps, stream, since=None, page=1, error=ErrorResponse(500))
        saved: dict = {}
        with pytest.raises(ConnectorError) as exc:
            for s in st.read({}):
                saved = s.cursor  # what the hub stores once the slice is committed
        assert exc.value.error_class is ErrorClass.RETRY
        assert self.cursor_time(saved) == T0 + STEP  # the newest record of page 0 only
        # the next run resumes from there, minus the overlap, and reads what was missed
        _next_run(rsps)
        resume = self.cursor_time(saved) - self.poll_lookback
        served = [r for n, r in enumerate(self._records(stream, 0, 4)) if T0 + STEP * n >= resume]
        self.expect_page(rsps, stream, since=resume, page=0, records=served)
        again = [r.payload for s in st.read(saved) for r in s.records]
        assert again == served and self._records(stream, 2, 2) == again[-2:]

    def test_overlap_is_reread_without_duplicates(self, connector, rsps, stream, app, database):
        from jobs.poll import event_id  # the key the hub stores polled records under

        st = self._stream(connector, stream)
        self._serve(rsps, stream, [self._records(stream, 0, 3), self._records(stream, 3, 3)])
        run1, cursor = [], {}
        for s in st.read({}):
            run1 += s.records
            cursor = s.cursor
        high = self.cursor_time(cursor)
        assert high == T0 + STEP * 5
        _next_run(rsps)
        since = high - self.poll_lookback
        overlap = [r for n, r in enumerate(self._records(stream, 0, 6)) if T0 + STEP * n >= since]
        fresh = self._records(stream, 6, 1) + [self.make_record(stream, 2, high + STEP * 2)]
        self.expect_page(rsps, stream, since=since, page=0, records=overlap, last=False)
        self.expect_page(rsps, stream, since=since, page=1, records=fresh)
        run2 = [r for s in st.read(cursor) for r in s.records]

        keys1, keys2 = {event_id(r) for r in run1}, {event_id(r) for r in run2}
        assert keys1 & keys2 == {event_id(r) for r in run1 if r.updated_at >= since}
        assert keys1 & keys2, "the lower bound is inclusive: the newest record is read again"
        assert len(keys1 | keys2) == 6 + 2 and len(keys2 - keys1) == 2

        from sqlalchemy import func, select

        from hub.pipeline import sync
        from hub.models import Account, Binding, Merchant

        with database.session() as s:
            merchant = Merchant(name="suite")
            s.add(merchant)
            s.flush()
            account = Account(merchant_id=merchant.id, connector=self.connector_cls.name,
                              kind=self.connector_cls.kind, name="suite",
                              config=connector.config)
            s.add(account)
            s.flush()
            values = [v for v in (connector.map_record(r) for r in run1 + run2) if v is not None]
            if not values:
                return  # the connector maps nothing itself: the inbox keys above suffice
            outcomes = [sync.apply(s, account, v) for v in values]
            distinct = {(v.entity, v.external_id) for v in values}
            assert len(distinct) == 7  # records 0..6; record 2 came twice, updated
            assert outcomes.count("created") == len(distinct)
            bound = s.scalar(select(func.count()).select_from(Binding)
                             .where(Binding.account_id == account.id))
            assert bound == len(distinct)

    def test_429_with_retry_after_is_waited_out(self, connector, rsps, stream, slept):
        st = self._stream(connector, stream)
        records = self._records(stream, 0, 2)
        self.expect_page(rsps, stream, since=None, page=0,
                         error=ErrorResponse(429, {"Retry-After": "3"}))
        self.expect_page(rsps, stream, since=None, page=0, records=records)
        assert [r.payload for s in st.read({}) for r in s.records] == records
        assert 3.0 in slept and len(rsps.calls) == 2

    def test_error_class_comes_from_its_response(self, connector, rsps, stream, error_case):
        st = self._stream(connector, stream)
        error_class, response = error_case
        if response is None:
            pytest.skip(f"{self.connector_cls.name} declares no response that is "
                        f"{error_class.value}")
        self.expect_page(rsps, stream, since=None, page=0, error=response)
        with pytest.raises(ConnectorError) as exc:
            list(st.read({}))
        assert exc.value.error_class is error_class
        if error_class is ErrorClass.RATE_LIMITED:
            assert exc.value.retry_after is not None


def _next_run(rsps) -> None:
    """Check every response registered so far was used, then start afresh."""
    unused = [(m.method, m.url) for m in rsps.registered() if m.call_count == 0]
    assert not unused, f"registered but never requested: {unused}"
    rsps.reset()
