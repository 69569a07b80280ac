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
  * one token refresh (``refresh_token_then_retry``) before the call is tried again;
  * every failure raised as ``ConnectorError`` with its ``ErrorClass``.
"""
from __future__ import annotations

import random
import threading
import time
from email.utils import parsedate_to_datetime
from typing import Callable

import requests

from connectors.base import ConnectorError, ErrorClass

DEFAULT_TIMEOUT = (5.0, 20.0)  # connect, read


class TokenBucket:
    """``rate`` calls per second on average, bursts up to ``capacity``."""

    def __init__(self, rate: float, capacity: float | None = None, clock=time.monotonic,
                 sleep=time.sleep):
        self.rate = float(rate)
        self.capacity = float(capacity if capacity is not None else max(1.0, rate))
        self.tokens = self.capacity
        self.clock, self.sleep = clock, sleep
        self.updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is free; returns the seconds waited."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
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


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def default_classify(response: requests.Response) -> ErrorClass | None:
    code = response.status_code
    if code < 400:
        return None
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
    max_attempts = 4
    base_backoff_s = 0.5
    max_backoff_s = 30.0
    max_wait_s = 60.0          # longest Retry-After we sleep through in place
    timeout = DEFAULT_TIMEOUT

    def __init__(self, base_url: str = "", budget: list[TokenBucket] | None = None,
                 session: requests.Session | None = None,
                 refresh_token: Callable[[], None] | None = None, sleep=time.sleep):
        self.base_url = base_url.rstrip("/")
        self.budget = budget or []
        self.session = session or requests.Session()
        self._refresh_token = refresh_token
        self.sleep = sleep

    # -- hooks ------------------------------------------------------------------------------
    def sign(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request

    def classify(self, response: requests.Response) -> ErrorClass | None:
        return default_classify(response)

    def error_message(self, response: requests.Response) -> str:
        return f"HTTP {response.status_code} from {response.request.method} {response.url}"

    # -- calling ----------------------------------------------------------------------------
    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
        return random.uniform(0, min(self.max_backoff_s, self.base_backoff_s * 2 ** attempt))

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"
        refreshed = False
        for attempt in range(self.max_attempts):
            response, error = self._attempt(method, url, kwargs)
            if error is None:
                return response
            last = attempt == self.max_attempts - 1
            cls = error.error_class
            if cls is ErrorClass.REFRESH_TOKEN_THEN_RETRY and not refreshed and self._refresh_token:
                self._refresh_token()
                refreshed = True
                continue
            if cls is ErrorClass.RATE_LIMITED and not last:
                wait = error.retry_after if error.retry_after is not None else self.backoff(attempt)
                if wait > self.max_wait_s:
                    raise error
                self.sleep(wait)
                continue
            if cls is ErrorClass.RETRY and not last:
                self.sleep(self.backoff(attempt))
                continue
            raise error
        raise error  # pragma: no cover (loop always returns or raises)

    def _attempt(self, method, url, kwargs):
        """One call: ``(response, None)`` when it succeeded, else ``(response, error)``."""
        for bucket in self.budget:
            bucket.acquire()
        kwargs = dict(kwargs)
        timeout = kwargs.pop("timeout", self.timeout)
        prepared = self.sign(self.session.prepare_request(requests.Request(method, url, **kwargs)))
        try:
            response = self.session.send(prepared, timeout=timeout, allow_redirects=False)
        except (requests.ConnectionError, requests.Timeout) as e:
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
