"""The HTTP side of hub webhooks: where a delivery may go, how it is signed, and what each
answer means (the Standard Webhooks sender rules).

* **Endpoint policy**: HTTPS; plain HTTP only to a loopback address, or to any address
  outside production (``HUB_ENV`` is not ``production``), for development and sandboxes.
  Anything else is ``fail_config`` before a byte is sent.
* **Signing**: ``webhook-id`` (the outbox idempotency key, the same on every retry),
  ``webhook-timestamp`` (this try) and ``webhook-signature`` with one ``v1,`` entry per
  active secret, over ``"{id}.{timestamp}.{raw body}"``.
* **One request per push**, connect timeout 5 s, response timeout 15 s, redirects never
  followed; retries and their schedule belong to the outbox.
* **Answers**: 2xx delivered; 3xx ``fail_config`` (not followed); 401/403 ``fail_config``
  (the endpoint refuses our signature); 410 Gone ``fail_config`` (the supplier disabled
  the endpoint: the account needs attention and an alert is raised); 429/502/504
  ``rate_limited`` (throttle, never sooner than ``Retry-After``); any other answer,
  a timeout or a reset connection ``retry``.
"""
from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

import requests

from connectors.base import ConnectorError, ErrorClass
from connectors.http import HttpAdapter

CONNECT_TIMEOUT_S = 5.0
RESPONSE_TIMEOUT_S = 15.0
THROTTLE = (429, 502, 504)
USER_AGENT = "DropshipHub-Webhooks/1"


def _production() -> bool:
    return os.environ.get("HUB_ENV", "development") == "production"


def is_loopback(host: str | None) -> bool:
    host = (host or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_problem(url: str, production: bool | None = None) -> str | None:
    """Why the hub must not send to ``url``, or None when it may."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"endpoint_url {url!r} is not an http(s) URL"
    if parts.username or parts.password:
        return "endpoint_url must not carry credentials; deliveries are signed instead"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        if _production() if production is None else production:
            return (f"endpoint_url {url!r} is plain HTTP; production sends webhooks over "
                    "HTTPS only (plain HTTP is allowed to loopback addresses)")
    return None


class WebhookClient(HttpAdapter):
    max_attempts = 1   # the outbox retries, and records every try
    timeout = (CONNECT_TIMEOUT_S, RESPONSE_TIMEOUT_S)

    def classify(self, response: requests.Response) -> ErrorClass | None:
        code = response.status_code
        if code < 300:
            return None
        if code < 400 or code in (401, 403, 410):
            return ErrorClass.FAIL_CONFIG
        if code in THROTTLE:
            return ErrorClass.RATE_LIMITED
        return ErrorClass.RETRY

    def error_message(self, response: requests.Response) -> str:
        code = response.status_code
        if code == 410:
            return ("the supplier's endpoint answered 410 Gone: it is disabled. Fix the "
                    "account's endpoint_url, then replay the dead notices")
        if code in (401, 403):
            return (f"the supplier's endpoint refused the delivery ({code}): check that it "
                    "verifies with one of the account's secrets")
        if 300 <= code < 400:
            return (f"the supplier's endpoint redirects ({code} to "
                    f"{response.headers.get('Location', '?')}); redirects are not followed: "
                    "set endpoint_url to the final address")
        if code in THROTTLE:
            return f"the supplier's endpoint asks the hub to slow down ({code})"
        return f"the supplier's endpoint answered {code}"


def post(url: str, body: bytes, headers: dict) -> requests.Response:
    """One signed POST; the response when 2xx, else ``ConnectorError`` with its class."""
    problem = endpoint_problem(url)
    if problem:
        raise ConnectorError(ErrorClass.FAIL_CONFIG, problem)
    return WebhookClient().request("POST", url, data=body, headers=headers)
