"""``HttpAdapter``: the only code that speaks HTTP to an outside system.

A connector subclasses it (or uses it as is) and overrides the hooks it needs:

    class ShopClient(HttpAdapter):
        def sign(self, request): ...                 # add auth headers / signature
        def classify(self, response): ...            # None when OK, else an ErrorClass

What the base gives every connector:
  * one ``requests.Session`` with connect/read timeouts;
  * a per-account call budget (``TokenBucket``) so a published QPS limit is never
    exceeded by this process (divide the limit among processes that share an account);
  * retries of ``retry`` and ``rate_limited`` failures with exponential backoff and full
    jitter; ``Retry-After`` is honoured up to ``max_wait_s``, and a longer wait is raised
    as ``rate_limited`` with ``retry_after`` so the job reschedules instead of blocking;
  * one token refresh (``refresh_token_then_retry``) before the call is tried again (the
    refreshed call does not count as one of the ``max_attempts``);
  * every failure raised as ``ConnectorError`` with its ``ErrorClass``; redirects are not
    followed (credentials must not travel to another host) and count as ``fail_config``;
  * the outbound guard (``connectors.outbound``): a call to another scheme or to an
    internal address (loopback, private, link-local...), checked on the URL and again on
    the address connected to, is refused as ``fail_config`` before anything is sent.

Time is injectable for tests: ``HttpAdapter.sleep`` / ``TokenBucket.sleep`` and
``TokenBucket.clock`` are class attributes a constructor argument overrides, and the
jitter comes from ``self.rng``.
"""
from __future__ import annotations

import math
import random
import threading
import time
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Callable

import requests

from connectors import outbound
from connectors.base import ConnectorError, ErrorClass

DEFAULT_TIMEOUT = (5.0, 20.0)  # connect, read
# failures of the transport itself that a later try may not meet: class ``retry``
TRANSIENT_EXCEPTIONS = (requests.ConnectionError, requests.Timeout,
                        requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.ContentDecodingError)


class TokenBucket:
    """``rate`` calls per second on average, bursts up to ``capacity``.

    ``acquire`` reserves a token even when none is free (the balance goes negative) and
    sleeps until its slot, so concurrent callers queue in order and in any window of
    ``t`` seconds at most ``rate * t + capacity`` calls go through.
    """

    clock = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)

    def __init__(self, rate: float, capacity: float | None = None, clock=None, sleep=None):
        if not rate > 0:
            raise ValueError(f"a token bucket needs a positive rate, got {rate!r}")
        self.rate = float(rate)
        self.capacity = float(capacity if capacity is not None else max(1.0, rate))
        self.tokens = self.capacity
        if clock is not None:
            self.clock = clock
        if sleep is not None:
            self.sleep = sleep
        self.updated = self.clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is free; returns the seconds waited."""
        with self._lock:
            now = self.clock()
            elapsed = max(0.0, now - self.updated)  # a clock that steps back refills nothing
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
            self.updated = max(now, self.updated)
            self.tokens -= 1
            wait = 0.0 if self.tokens >= 0 else -self.tokens / self.rate
        if wait:
            self.sleep(wait)
        return wait


_buckets: dict[str, TokenBucket] = {}
_buckets_lock = threading.Lock()


def budget_for(key: str, qps: float) -> TokenBucket:
    """One shared bucket per key (e.g. ``kuaishou:app:<appkey>`` or ``...:shop:<id>``)."""
    with _buckets_lock:
        bucket = _buckets.get(key)
        if bucket is None or bucket.rate != qps:
            bucket = _buckets[key] = TokenBucket(qps)
        return bucket


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date
    (``now`` is the current epoch time, for tests). None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000" parses naive; HTTP-dates are always GMT
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def default_classify(response: requests.Response) -> ErrorClass | None:
    code = response.status_code
    if code < 300:
        return None
    if code < 400:  # not followed: a moved API means the configured URL is wrong
        return ErrorClass.FAIL_CONFIG
    if code == 429:
        return ErrorClass.RATE_LIMITED
    if code in (408, 425) or code >= 500:
        return ErrorClass.RETRY
    if code in (401, 403):
        return ErrorClass.FAIL_CONFIG
    return ErrorClass.FAIL_DATA


def excerpt(response: requests.Response, limit: int = 500) -> str:
    try:
        return response.text[:limit]
    except Exception:  # undecodable body
        return repr(response.content[:limit])


class HttpAdapter:
    max_attempts = 4           # calls per request, the first included
    base_backoff_s = 0.5
    max_backoff_s = 30.0
    max_wait_s = 60.0          # longest Retry-After we sleep through in place
    timeout = DEFAULT_TIMEOUT
    sleep = staticmethod(time.sleep)

    def __init__(self, base_url: str = "", budget: list[TokenBucket] | None = None,
                 session: requests.Session | None = None,
                 refresh_token: Callable[[], None] | None = None, sleep=None,
                 rng: random.Random | None = None):
        self.base_url = base_url.rstrip("/")
        self.budget = budget or []
        self.session = outbound.guard(session or requests.Session())
        self._refresh_token = refresh_token
        if sleep is not None:
            self.sleep = sleep
        self.rng = rng or random.Random()

    # -- hooks ------------------------------------------------------------------------------
    def sign(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request

    def classify(self, response: requests.Response) -> ErrorClass | None:
        return default_classify(response)

    def error_message(self, response: requests.Response) -> str:
        return f"HTTP {response.status_code} from {response.request.method} {response.url}"

    # -- calling ----------------------------------------------------------------------------
    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)] (attempt 0 = first retry)."""
        ceiling = min(self.max_backoff_s, self.base_backoff_s * 2.0 ** min(attempt, 60))
        return self.rng.uniform(0, ceiling)

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        """Call, retrying as the error class says; return the response or raise
        ``ConnectorError``."""
        url = path if path.startswith(("http://", "https://")) else \
            f"{self.base_url}/{path.lstrip('/')}"
        refreshed = False
        failures = 0
        while True:
            response, error = self._attempt(method, url, kwargs)
            if error is None:
                return response
            cls = error.error_class
            if (cls is ErrorClass.REFRESH_TOKEN_THEN_RETRY and not refreshed
                    and self._refresh_token is not None):
                self._refresh_token()  # a ConnectorError from the refresh propagates as is
                refreshed = True
                continue
            failures += 1
            if cls not in (ErrorClass.RETRY, ErrorClass.RATE_LIMITED):
                raise error
            if failures >= self.max_attempts:
                raise _with_message(error, f"{error.message} (gave up after {failures} attempts)")
            if error.retry_after is not None:
                wait = error.retry_after
                if wait > self.max_wait_s:  # reschedule rather than block a worker
                    raise _with_message(error, f"{error.message}; Retry-After {wait:.0f}s exceeds "
                                        f"{self.max_wait_s:.0f}s", ErrorClass.RATE_LIMITED)
            else:
                wait = self.backoff(failures - 1)
            self.sleep(wait)

    def _attempt(self, method, url, kwargs):
        """One call: ``(response, None)`` when it succeeded, else ``(response, error)``."""
        for bucket in self.budget:
            bucket.acquire()
        kwargs = dict(kwargs)
        timeout = kwargs.pop("timeout", self.timeout)
        problem = outbound.url_problem(url)
        if problem:
            return None, ConnectorError(ErrorClass.FAIL_CONFIG, f"refused to call {url}: {problem}")
        try:  # preparing fails on a malformed URL: that is the account's config
            prepared = self.session.prepare_request(requests.Request(method, url, **kwargs))
        except requests.RequestException as e:
            return None, ConnectorError(ErrorClass.FAIL_CONFIG, f"cannot call {url}: {e}")
        prepared = self.sign(prepared)
        try:
            response = self.session.send(prepared, timeout=timeout, allow_redirects=False)
        except outbound.OutboundRefused as e:
            return None, ConnectorError(ErrorClass.FAIL_CONFIG, f"{e} ({url})")
        except TRANSIENT_EXCEPTIONS as e:
            return None, ConnectorError(ErrorClass.RETRY, f"{type(e).__name__} calling {url}")
        except requests.RequestException as e:
            return None, ConnectorError(ErrorClass.FAIL_CONFIG, f"cannot call {url}: {e}")
        cls = self.classify(response)
        if cls is None:
            return response, None
        return response, ConnectorError(cls, self.error_message(response),
                              retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                              status_code=response.status_code,
                              response_excerpt=excerpt(response))


def _with_message(error: ConnectorError, message: str,
                  error_class: ErrorClass | None = None) -> ConnectorError:
    """The error of this attempt (subclass and extra attributes kept), reworded."""
    error.args = (message,)
    error.message = message
    if error_class is not None:
        error.error_class = ErrorClass(error_class)
    return error
