"""``Kuaidi100Client``: the HTTP adapter for Kuaidi100's subscribe, real-time query,
interception and pickup-booking calls. Each method makes exactly one request
(``max_attempts = 1``): the outbox retries pushes and records every attempt; a query is
never retried in place.

* ``subscribe(param)`` — ``POST {poll_base_url}/poll``, form ``schema=json`` and
  ``param`` (the key travels inside ``param``; no sign). Answers ``(return_code, body)``
  with ``200`` (subscribed) or ``501`` (already subscribed: Kuaidi100 is still polling
  the number, so this is success too); other codes raise (``RETURN_CODES``).
* ``query(param)`` — ``POST {poll_base_url}/poll/query.do``, form ``customer``, ``sign``
  = UPPER(MD5(param + key + customer)), ``param``. Rate-limited to one call per second
  per Kuaidi100 customer through a shared ``TokenBucket`` (the caller waits for its
  slot). A fallback for a user-initiated look-up or a reconciliation of one parcel —
  Kuaidi100 asks that it never be used to poll; the hub has no loop over it.
* ``intercept(param)`` — ``POST {api_base_url}/label/order``, form ``key``,
  ``method=interceptOrder``, ``t`` (ms), ``param``, ``sign`` = UPPER(MD5(param + t + key
  + secret)). The result arrives later by callback.
* ``book(param)`` — 商家寄件 (官方寄件): ``POST {poll_base_url}/order/borderapi.do``, form
  ``key``, ``method=bOrder``, ``t``, ``param``, ``sign`` signed like an interception.
  Answers ``data {taskId, orderId, kuaidinum}``; the same ``thirdOrderId`` within 48 h
  answers the first booking again.

Interceptions and bookings answer ``result`` / ``returnCode``: 5xx (but 503, a bad sign)
is ``retry``, the key codes ``fail_config``, anything else ``fail_data``.
"""
from __future__ import annotations

import time

from connectors.base import ConnectorError, ErrorClass
from connectors.http import HttpAdapter, TokenBucket, budget_for, excerpt
from connectors.kuaidi100 import signing

# Kuaidi100 returnCode -> how the hub treats it (subscribe codes [V]; query codes [V3])
RETURN_CODES = {
    "200": None, "501": None,                    # subscribe: ok / already subscribed
    "500": ErrorClass.RETRY,                     # subscribe: server error
    "429": ErrorClass.RATE_LIMITED,              # query: too frequent (sandbox's code)
    "502": ErrorClass.RETRY,                     # query: server busy
    "503": ErrorClass.FAIL_CONFIG,               # query: sign verification failed
    "600": ErrorClass.FAIL_CONFIG,               # bad key
    "601": ErrorClass.FAIL_CONFIG,               # key expired / no balance
    "400": ErrorClass.FAIL_DATA,                 # query: incomplete data / bad company
    "408": ErrorClass.FAIL_DATA,                 # query: phone check failed
    "700": ErrorClass.FAIL_DATA,                 # subscribe: bad data or callback
    "701": ErrorClass.FAIL_DATA,                 # subscribe: company refused
    "702": ErrorClass.FAIL_DATA,                 # subscribe: company not detected
}
QUERY_NOT_FOUND = "500"     # on the query API "500" means 查询无结果 (no result yet)


def _json(response) -> dict:
    try:
        data = response.json()
    except ValueError:
        raise ConnectorError(ErrorClass.RETRY, "Kuaidi100 answered with a body that is not JSON",
                             status_code=response.status_code,
                             response_excerpt=excerpt(response)) from None
    if not isinstance(data, dict):
        raise ConnectorError(ErrorClass.RETRY, "Kuaidi100 answered with JSON that is not an "
                             "object", status_code=response.status_code,
                             response_excerpt=excerpt(response))
    return data


def _fail(response, data: dict, code: str, default: ErrorClass) -> ConnectorError:
    cls = RETURN_CODES.get(code, default) or default
    return ConnectorError(cls, f"Kuaidi100 returnCode {code}: {data.get('message') or ''}".strip(),
                          status_code=response.status_code, response_excerpt=excerpt(response))


class Kuaidi100Client(HttpAdapter):
    max_attempts = 1

    def __init__(self, config: dict, *, query_bucket: TokenBucket | None = None,
                 clock=time.time, **kwargs):
        super().__init__("", **kwargs)
        self.config = config
        self.poll_base = config["poll_base_url"].rstrip("/")
        self.api_base = config["api_base_url"].rstrip("/")
        self.query_bucket = query_bucket or budget_for(
            f"kuaidi100:query:{config['customer']}", float(config.get("query_qps") or 1.0))
        self.clock = clock

    def subscribe(self, param: dict) -> tuple[str, dict]:
        response = self.request("POST", f"{self.poll_base}/poll",
                                data={"schema": "json", "param": signing.dumps(param)})
        data = _json(response)
        code = str(data.get("returnCode") or ("200" if data.get("result") is True else ""))
        if code in ("200", "501"):
            return code, data
        raise _fail(response, data, code, ErrorClass.RETRY)

    def query(self, param: dict) -> dict | None:
        """The tracking result (``lastResult`` shape), or None when Kuaidi100 has none."""
        text = signing.dumps(param)
        form = {"customer": self.config["customer"],
                "sign": signing.query_sign(text, self.config["key"], self.config["customer"]),
                "param": text}
        self.query_bucket.acquire()       # at most one query per second per customer
        response = self.request("POST", f"{self.poll_base}/poll/query.do", data=form)
        data = _json(response)
        if data.get("result") is False or ("returnCode" in data and "data" not in data):
            code = str(data.get("returnCode") or "")
            if code == QUERY_NOT_FOUND:
                return None
            raise _fail(response, data, code, ErrorClass.FAIL_DATA)
        return data

    def intercept(self, param: dict) -> dict:
        return self._signed("interception", f"{self.api_base}/label/order", "interceptOrder",
                            param)

    def book(self, param: dict) -> dict:
        return self._signed("a pickup booking", f"{self.poll_base}/order/borderapi.do",
                            "bOrder", param)

    def _signed(self, what: str, url: str, method: str, param: dict) -> dict:
        """One call signed MD5(param + t + key + secret); the answer when it succeeded."""
        secret = self.config.get("secret")
        if not secret:
            raise ConnectorError(ErrorClass.FAIL_CONFIG, f"{what} needs the account's "
                                 "Kuaidi100 'secret' (label API); set it in the config")
        text = signing.dumps(param)
        t = str(int(self.clock() * 1000))
        form = {"key": self.config["key"], "method": method, "t": t, "param": text,
                "sign": signing.label_sign(text, t, self.config["key"], secret)}
        response = self.request("POST", url, data=form)
        data = _json(response)
        code = str(data.get("returnCode") or data.get("code") or "")
        ok = data.get("result") is True or data.get("success") is True or code == "200"
        if ok:
            return data
        default = ErrorClass.RETRY if code.startswith("5") and code not in ("503",) \
            else ErrorClass.FAIL_DATA
        raise _fail(response, data, code, default)
