"""``connectors.http``: retries with full-jitter backoff, Retry-After, error classes, the
one token refresh, and the call budget. Time is never real: sleeps are recorded and the
token bucket runs on a fake clock."""
from __future__ import annotations

import random
import threading
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest
import requests
import responses

from connectors.base import ConnectorError, ErrorClass
from connectors.http import (HttpAdapter, TokenBucket, budget_for, default_classify,
                             retry_after_seconds)

BASE = "https://api.example.test"
URL = f"{BASE}/v1/things"


class UpperRng:
    """Always the top of the jitter range, so the ceiling itself is observable."""

    def uniform(self, a, b):
        return b


class LowerRng:
    def uniform(self, a, b):
        return a


class FakeClock:
    """``sleep`` advances ``now``; nothing waits for real."""

    def __init__(self):
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as r:
        yield r


def adapter(**kwargs) -> tuple[HttpAdapter, list[float]]:
    slept: list[float] = []
    kwargs.setdefault("rng", UpperRng())
    return HttpAdapter(BASE, sleep=slept.append, **kwargs), slept


# -- backoff -------------------------------------------------------------------------------
def test_backoff_ceiling_doubles_from_base_and_stops_at_the_cap():
    a, _ = adapter()
    a.base_backoff_s, a.max_backoff_s = 0.5, 30.0
    assert [a.backoff(n) for n in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert a.backoff(10_000) == 30.0  # no overflow on absurd attempt numbers


def test_backoff_is_full_jitter_from_zero():
    a, _ = adapter(rng=LowerRng())
    assert a.backoff(5) == 0.0
    a, _ = adapter(rng=random.Random(7))
    samples = [a.backoff(3) for _ in range(2000)]
    assert all(0.0 <= x <= 4.0 for x in samples)
    # spread over the whole range, not "base + small jitter"
    assert min(samples) < 0.2 and max(samples) > 3.8
    assert len(set(samples)) > 1900
    capped = [a.backoff(20) for _ in range(500)]
    assert all(0.0 <= x <= a.max_backoff_s for x in capped)


def test_retries_sleep_the_backoff_of_each_attempt(rsps):
    for status in (503, 502, 500):
        rsps.add(responses.GET, URL, status=status)
    rsps.add(responses.GET, URL, json={"ok": True})
    a, slept = adapter()
    assert a.request("GET", "/v1/things").json() == {"ok": True}
    assert slept == [0.5, 1.0, 2.0]
    assert len(rsps.calls) == 4


# -- transient failures --------------------------------------------------------------------
TRANSIENT = [503, 500, 502, 504, 408, requests.ConnectionError("refused"),
             requests.exceptions.ReadTimeout("slow"), requests.exceptions.ConnectTimeout("x"),
             requests.exceptions.ChunkedEncodingError("cut")]


@pytest.mark.parametrize("failure", TRANSIENT, ids=lambda f: str(f) if isinstance(f, int)
                         else type(f).__name__)
def test_transient_failures_retry_then_raise_retry(rsps, failure):
    for _ in range(HttpAdapter.max_attempts):
        if isinstance(failure, int):
            rsps.add(responses.GET, URL, status=failure, body="try later")
        else:
            rsps.add(responses.GET, URL, body=failure)
    a, slept = adapter()
    with pytest.raises(ConnectorError) as exc:
        a.request("GET", URL)
    assert exc.value.error_class is ErrorClass.RETRY
    assert "after 4 attempts" in exc.value.message
    assert len(rsps.calls) == HttpAdapter.max_attempts
    assert len(slept) == HttpAdapter.max_attempts - 1
    if isinstance(failure, int):
        assert exc.value.status_code == failure and exc.value.response_excerpt == "try later"


def test_transient_failure_then_success_returns_the_response(rsps):
    rsps.add(responses.GET, URL, body=requests.ConnectionError("reset"))
    rsps.add(responses.GET, URL, json={"n": 1})
    a, slept = adapter()
    assert a.request("GET", URL).json() == {"n": 1}
    assert len(slept) == 1


# -- Retry-After ---------------------------------------------------------------------------
def test_retry_after_seconds_is_waited_out(rsps):
    rsps.add(responses.GET, URL, status=429, headers={"Retry-After": "7"})
    rsps.add(responses.GET, URL, json={"ok": True})
    a, slept = adapter()
    assert a.request("GET", URL).status_code == 200
    assert slept == [7.0]


def test_retry_after_on_503_is_honoured_too(rsps):
    rsps.add(responses.GET, URL, status=503, headers={"Retry-After": "5"})
    rsps.add(responses.GET, URL, json={})
    a, slept = adapter()
    a.request("GET", URL)
    assert slept == [5.0]


def test_retry_after_http_date_in_the_past_retries_at_once(rsps):
    rsps.add(responses.GET, URL, status=429,
             headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    rsps.add(responses.GET, URL, json={})
    a, slept = adapter()
    a.request("GET", URL)
    assert slept == [0.0]


@pytest.mark.parametrize("header", ["120", "Fri, 31 Dec 2099 23:59:59 GMT"])
def test_retry_after_beyond_max_wait_is_raised_as_rate_limited(rsps, header):
    rsps.add(responses.GET, URL, status=429, headers={"Retry-After": header})
    a, slept = adapter()
    with pytest.raises(ConnectorError) as exc:
        a.request("GET", URL)
    assert exc.value.error_class is ErrorClass.RATE_LIMITED
    assert exc.value.retry_after > a.max_wait_s
    if header == "120":
        assert exc.value.retry_after == 120.0
    assert slept == [] and len(rsps.calls) == 1


def test_long_retry_after_on_503_becomes_rate_limited(rsps):
    rsps.add(responses.GET, URL, status=503, headers={"Retry-After": "3600"})
    a, _ = adapter()
    with pytest.raises(ConnectorError) as exc:
        a.request("GET", URL)
    assert exc.value.error_class is ErrorClass.RATE_LIMITED
    assert exc.value.retry_after == 3600.0 and exc.value.status_code == 503


def test_rate_limited_every_time_raises_after_max_attempts_with_retry_after(rsps):
    for _ in range(HttpAdapter.max_attempts):
        rsps.add(responses.GET, URL, status=429, headers={"Retry-After": "2"})
    a, slept = adapter()
    with pytest.raises(ConnectorError) as exc:
        a.request("GET", URL)
    assert exc.value.error_class is ErrorClass.RATE_LIMITED
    assert exc.value.retry_after == 2.0
    assert slept == [2.0] * (HttpAdapter.max_attempts - 1)


def test_429_without_retry_after_backs_off(rsps):
    rsps.add(responses.GET, URL, status=429)
    rsps.add(responses.GET, URL, status=429)
    rsps.add(responses.GET, URL, json={})
    a, slept = adapter()
    a.request("GET", URL)
    assert slept == [0.5, 1.0]


def test_retry_after_parsing():
    now = datetime(2026, 11, 1, 8, 0, 0, tzinfo=timezone.utc).timestamp()
    later = format_datetime(datetime(2026, 11, 1, 8, 0, 30, tzinfo=timezone.utc), usegmt=True)
    assert retry_after_seconds(later, now=now) == 30.0
    # "-0000" parses to a naive datetime; it is still GMT, not local time
    assert retry_after_seconds("Sun, 01 Nov 2026 08:01:00 -0000", now=now) == 60.0
    assert retry_after_seconds("Sun, 01 Nov 2026 07:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds(" 12 ") == 12.0
    assert retry_after_seconds("1.5") == 1.5
    assert retry_after_seconds("-3") == 0.0
    for junk in (None, "", "soon", "nan", "inf", "Mon, 99 Foo 2026"):
        assert retry_after_seconds(junk) is None


# -- permanent failures --------------------------------------------------------------------
@pytest.mark.parametrize("status,cls", [
    (401, ErrorClass.FAIL_CONFIG), (403, ErrorClass.FAIL_CONFIG),
    (400, ErrorClass.FAIL_DATA), (404, ErrorClass.FAIL_DATA), (409, ErrorClass.FAIL_DATA),
    (422, ErrorClass.FAIL_DATA), (301, ErrorClass.FAIL_CONFIG), (302, ErrorClass.FAIL_CONFIG),
])
def test_permanent_failures_are_not_retried(rsps, status, cls):
    headers = {"Location": "https://elsewhere.test/"} if status < 400 else {}
    rsps.add(responses.GET, URL, status=status, headers=headers, body="nope")
    a, slept = adapter()
    with pytest.raises(ConnectorError) as exc:
        a.request("GET", URL)
    assert exc.value.error_class is cls
    assert exc.value.status_code == status
    assert slept == [] and len(rsps.calls) == 1  # the redirect target is never called


def test_default_classify_success_codes():
    for code in (200, 201, 204):
        r = requests.Response()
        r.status_code = code
        assert default_classify(r) is None


def test_invalid_url_is_fail_config():
    a, _ = adapter()
    with pytest.raises(ConnectorError) as exc:
        a.request("GET", "http://")
    assert exc.value.error_class is ErrorClass.FAIL_CONFIG


# -- token refresh -------------------------------------------------------------------------
class TokenAdapter(HttpAdapter):
    """401 with ``token expired`` in the body asks for a refresh; other 401s are config."""

    def __init__(self, refreshes: list, new_tokens=("t2",), fail_refresh=False, **kwargs):
        self.token = "t1"
        self._new_tokens = list(new_tokens)

        def refresh():
            refreshes.append(self.token)
            if fail_refresh:
                raise ConnectorError(ErrorClass.FAIL_CONFIG, "refresh token revoked")
            self.token = self._new_tokens.pop(0)

        super().__init__(BASE, refresh_token=refresh, sleep=lambda s: None, rng=UpperRng(),
                         **kwargs)

    def sign(self, request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request

    def classify(self, response):
        if response.status_code == 401 and "token expired" in response.text:
            return ErrorClass.REFRESH_TOKEN_THEN_RETRY
        return super().classify(response)


def test_refresh_is_called_once_and_the_call_retried_with_the_new_token(rsps):
    rsps.add(responses.GET, URL, status=401, body="token expired")
    rsps.add(responses.GET, URL, json={"ok": True})
    refreshes: list = []
    a = TokenAdapter(refreshes)
    assert a.request("GET", URL).json() == {"ok": True}
    assert refreshes == ["t1"]
    assert [c.request.headers["Authorization"] for c in rsps.calls] == ["Bearer t1", "Bearer t2"]


def test_a_second_expiry_after_refreshing_is_raised_not_refreshed_again(rsps):
    rsps.add(responses.GET, URL, status=401, body="token expired")
    rsps.add(responses.GET, URL, status=401, body="token expired")
    refreshes: list = []
    a = TokenAdapter(refreshes, new_tokens=("t2", "t3"))
    with pytest.raises(ConnectorError) as exc:
        a.request("GET", URL)
    assert exc.value.error_class is ErrorClass.REFRESH_TOKEN_THEN_RETRY
    assert refreshes == ["t1"]
    assert len(rsps.calls) == 2


def test_refresh_on_the_last_attempt_still_retries_the_call(rsps):
    rsps.add(responses.GET, URL, status=503)
    rsps.add(responses.GET, URL, status=401, body="token expired")
    rsps.add(responses.GET, URL, json={"ok": 1})
    refreshes: list = []
    a = TokenAdapter(refreshes)
    a.max_attempts = 2
    assert a.request("GET", URL).json() == {"ok": 1}
    assert refreshes == ["t1"]


def test_without_a_refresh_hook_the_class_reaches_the_caller(rsps):
    rsps.add(responses.GET, URL, status=401, body="token expired")
    a = TokenAdapter([])
    a._refresh_token = None
    with pytest.raises(ConnectorError) as exc:
        a.request("GET", URL)
    assert exc.value.error_class is ErrorClass.REFRESH_TOKEN_THEN_RETRY
    assert len(rsps.calls) == 1


def test_a_failing_refresh_propagates_its_own_class(rsps):
    rsps.add(responses.GET, URL, status=401, body="token expired")
    refreshes: list = []
    a = TokenAdapter(refreshes, fail_refresh=True)
    with pytest.raises(ConnectorError) as exc:
        a.request("GET", URL)
    assert exc.value.error_class is ErrorClass.FAIL_CONFIG
    assert refreshes == ["t1"] and len(rsps.calls) == 1


def test_plain_401_is_fail_config_without_refreshing(rsps):
    rsps.add(responses.GET, URL, status=401, body="bad key")
    refreshes: list = []
    with pytest.raises(ConnectorError) as exc:
        TokenAdapter(refreshes).request("GET", URL)
    assert exc.value.error_class is ErrorClass.FAIL_CONFIG and refreshes == []


# -- the call budget -----------------------------------------------------------------------
def _assert_window_bound(times: list[float], rate: float, capacity: float) -> None:
    times = sorted(times)
    for i in range(len(times)):
        for j in range(i, len(times)):
            calls, window = j - i + 1, times[j] - times[i]
            assert calls <= rate * window + capacity + 1e-9, (i, j, calls, window)


@pytest.mark.parametrize("rate,capacity,seed", [
    (5.0, None, 1), (5.0, 1.0, 2), (0.5, 3.0, 3), (20.0, 20.0, 4), (2.0, 10.0, 5)])
def test_token_bucket_never_exceeds_rate_times_window_plus_capacity(rate, capacity, seed):
    clock = FakeClock()
    bucket = TokenBucket(rate, capacity, clock=clock, sleep=clock.sleep)
    rng = random.Random(seed)
    times = []
    for _ in range(300):
        if rng.random() < 0.3:  # idle now and then, so the bucket refills partly or fully
            clock.now += rng.choice([0.01, 0.1, 0.5, 2.0, 30.0])
        bucket.acquire()
        times.append(clock())
    _assert_window_bound(times, rate, bucket.capacity)


def test_token_bucket_allows_a_burst_then_paces_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(4.0, 2.0, clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(6)]
    assert waits[:2] == [0.0, 0.0]
    assert waits[2:] == pytest.approx([0.25] * 4)
    clock.now += 10  # a long idle refills to capacity, not beyond
    assert [bucket.acquire() for _ in range(3)] == pytest.approx([0.0, 0.0, 0.25])


def test_token_bucket_reserves_distinct_slots_for_concurrent_callers():
    clock = FakeClock()  # frozen: every thread asks at the same instant
    bucket = TokenBucket(10.0, 3.0, clock=clock, sleep=lambda s: None)
    waits: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(12)

    def call():
        start.wait()
        w = bucket.acquire()
        with lock:
            waits.append(w)

    threads = [threading.Thread(target=call) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([0.0] * 3 + [0.1 * k for k in range(1, 10)])
    _assert_window_bound([clock.now + w for w in waits], 10.0, 3.0)


def test_token_bucket_rejects_a_zero_rate():
    with pytest.raises(ValueError):
        TokenBucket(0)


def test_budget_for_shares_one_bucket_per_key():
    a = budget_for("test:shared:1", 3)
    assert budget_for("test:shared:1", 3) is a
    assert budget_for("test:shared:2", 3) is not a
    assert budget_for("test:shared:1", 7).rate == 7.0


def test_adapter_spends_the_budget_before_every_call(rsps):
    for _ in range(3):
        rsps.add(responses.GET, URL, json={})
    clock = FakeClock()
    bucket = TokenBucket(2.0, 1.0, clock=clock, sleep=clock.sleep)
    a, _ = adapter(budget=[bucket])
    for _ in range(3):
        a.request("GET", URL)
    assert clock.slept == pytest.approx([0.5, 0.5])


def test_errors_keep_their_subclass_and_attributes_when_rewritten(rsps):
    class ShopError(ConnectorError):
        pass

    class ShopAdapter(HttpAdapter):
        def _attempt(self, method, url, kwargs):
            response, error = super()._attempt(method, url, kwargs)
            if error is not None:
                error = ShopError(error.error_class, error.message, retry_after=error.retry_after,
                                  status_code=error.status_code)
                error.platform_code = "E42"
            return response, error

    rsps.add(responses.GET, URL, status=503, headers={"Retry-After": "900"})
    with pytest.raises(ShopError) as exc:
        ShopAdapter(BASE, sleep=lambda s: None).request("GET", URL)
    assert exc.value.error_class is ErrorClass.RATE_LIMITED and exc.value.platform_code == "E42"
    assert "exceeds" in str(exc.value) and exc.value.retry_after == 900.0
