"""Classifying Kuaishou failures into the hub's error classes.

Kuaishou answers most failures with HTTP 200 and a JSON body whose ``result`` is not 1;
the reason is in ``result``, ``error_msg``, ``code``/``msg`` and ``sub_code``/``sub_msg``
(reference §5). ``classify_payload`` reads all of them (never only the HTTP status) and
answers a ``Verdict``; ``KuaishouError`` is the ``ConnectorError`` raised for it, carrying
the platform's codes, its message and the raw payload.

| what the platform says                                   | class                     | extra |
|----------------------------------------------------------|---------------------------|-------|
| ``Exceed qps limit`` / 1016 / 802000 / HTTP 429          | rate_limited (1 s)        | |
| ``Exceed quota limit`` / 1017                            | rate_limited (10 min)     | |
| 24 ``AUTHORIZATION_REVOKED``, 100200102 (discarded,      | fail_config               | ``reauthorize``, ``revoked`` |
|   revokedAuthorization, invalid refresh_token)           |                           | |
| a scope the authorization lacks (token中无scope权限)      | fail_config               | ``reauthorize`` |
| 26 主账号不存在, signature / timestamp errors, other OAuth | fail_config               | |
|   1002001xx (bad app, missing parameter, ...)            |                           | |
| access token expired / invalid (鉴权失败, TOKEN过期)      | refresh_token_then_retry  | |
| 300014 / 300017 (refund changed)                         | retry                     | ``reread``: re-read the refund first |
| 11 (shipment blocked by the platform's checks)           | fail_data                 | platform message kept |
| 300003 / 300004 / 300005 / 300019 (query window)         | fail_data                 | a bug of ours; never looped |
| HTTP 5xx / 408, 100200500, "系统繁忙"-like, non-JSON 2xx   | retry                     | |
| any other business rejection (21, 3000xx, 2001, ...)     | fail_data                 | |

The codes marked [V-3P] in the reference (1016, 802000) are third-party readings; they
are kept because a rate-limit false positive costs one short wait.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from connectors import bounded_json
from connectors.base import ConnectorError, ErrorClass
from connectors.http import retry_after_seconds

QPS_RETRY_AFTER_S = 1.0
QUOTA_RETRY_AFTER_S = 600.0
EXCERPT_LIMIT = 2000

QPS_CODES = {1016, 802000}
QUOTA_CODES = {1017}
REREAD_CODES = {300014, 300017}
WINDOW_CODES = {300003, 300004, 300005, 300019}
SHIPMENT_BLOCKED = 11
REVOKED = 24
NO_MAIN_ACCOUNT = 26
OAUTH_ACCESS_DENIED = 100200102
OAUTH_SERVER_ERROR = 100200500
OAUTH_INVALID_GRANT = 100200105

_QPS = re.compile(r"exceed\s+qps\s+limit", re.I)
_QUOTA = re.compile(r"exceed\s+quota\s+limit", re.I)
_REVOKED = re.compile(r"AUTHORIZATION_REVOKED|revokedAuthorization", re.I)
_DISCARDED = re.compile(r"refreshToken\.discarded|invalid\s+refresh_?token", re.I)
_NO_SCOPE = re.compile(r"无\s*scope|scope\s*权限|insufficient[_ ]scope", re.I)
_SIGNATURE = re.compile(r"验签失败|签名校验失败|签名错误|invalid\s+sign|sign(ature)?\s+(error|invalid|mismatch)",
                        re.I)
_ENVELOPE = re.compile(r"timestamp\s*无效|signMethod\s*无效", re.I)
_TOKEN = re.compile(r"鉴权失败|token\s*过期|token\s*失效|token\s*无效|"
                    r"access[_ ]?token\W{0,3}(is\s+)?(expired|invalid|illegal|not\s+exist)|"
                    r"(expired|invalid|illegal)\s+access[_ ]?token", re.I)
_TRANSIENT = re.compile(r"系统繁忙|系统异常|服务繁忙|内部错误|稍后重试|请重试|timed?\s*out|超时|"
                        r"system\s+(busy|error)|internal\s+(server\s+)?error|service\s+unavailable",
                        re.I)


@dataclass(frozen=True)
class Verdict:
    error_class: ErrorClass | None          # None: success
    message: str = ""
    code: int | None = None                 # the most telling platform code
    reauthorize: bool = False               # the merchant must authorize again
    revoked: bool = False                   # ... because the authorization itself is gone
    reread: bool = False                    # re-read the record, then retry the action
    retry_after: float | None = None


class KuaishouError(ConnectorError):
    """A classified Kuaishou failure with the platform's own codes and raw payload."""

    def __init__(self, verdict: Verdict, *, status_code: int | None = None,
                 payload: dict | None = None, raw: str | None = None,
                 ambiguous: bool = False):
        super().__init__(verdict.error_class, verdict.message, retry_after=verdict.retry_after,
                         status_code=status_code,
                         response_excerpt=(raw or "")[:EXCERPT_LIMIT] or None)
        self.code = verdict.code
        self.reauthorize = verdict.reauthorize
        self.revoked = verdict.revoked
        self.reread = verdict.reread
        self.payload = payload
        self.ambiguous = ambiguous   # a write may or may not have happened: re-read first


class RefundChanged(KuaishouError):
    """300014/300017: the refund moved on; re-read it and decide again before retrying."""


def _ints(*values) -> set[int]:
    found = set()
    for value in values:
        try:
            found.add(int(str(value).strip()))
        except (TypeError, ValueError):
            continue
    return found


def platform_message(payload: dict) -> str:
    parts = []
    for key in ("error_msg", "msg", "sub_msg", "error", "error_description"):
        value = payload.get(key)
        if value not in (None, "") and str(value) not in parts:
            parts.append(str(value))
    return "; ".join(parts)


def classify_payload(http_status: int, payload: dict | None, what: str = "kuaishou") -> Verdict:
    """The verdict for one answer. ``payload`` is the parsed JSON object, or None."""
    if payload is None:
        if http_status == 429:
            return Verdict(ErrorClass.RATE_LIMITED, f"{what}: HTTP 429",
                           retry_after=None)
        if http_status >= 500 or http_status in (408, 425) or http_status < 400:
            return Verdict(ErrorClass.RETRY, f"{what}: HTTP {http_status} without a JSON answer")
        if http_status in (401, 403):
            return Verdict(ErrorClass.FAIL_CONFIG, f"{what}: HTTP {http_status}")
        return Verdict(ErrorClass.FAIL_DATA, f"{what}: HTTP {http_status}")

    result = payload.get("result")
    codes = _ints(result, payload.get("sub_code"), payload.get("subCode"), payload.get("code"))
    primary = _ints(result)
    text = platform_message(payload)
    code = next(iter(primary), None)
    if http_status < 400 and 1 in primary:
        return Verdict(None)
    said = f"{what}: result={result}" + (f" {text}" if text else "")

    def v(cls, message=said, **kw):
        return Verdict(cls, message, code=code, **kw)

    if _QUOTA.search(text) or codes & QUOTA_CODES:
        return v(ErrorClass.RATE_LIMITED, retry_after=QUOTA_RETRY_AFTER_S)
    if _QPS.search(text) or codes & QPS_CODES or http_status == 429:
        return v(ErrorClass.RATE_LIMITED, retry_after=QPS_RETRY_AFTER_S)
    if REVOKED in primary or _REVOKED.search(text):
        return v(ErrorClass.FAIL_CONFIG, f"{said} — the merchant revoked the authorization "
                 "(or it expired): re-authorize the shop", reauthorize=True, revoked=True)
    if OAUTH_ACCESS_DENIED in codes or _DISCARDED.search(text):
        return v(ErrorClass.FAIL_CONFIG, f"{said} — the refresh token is no longer valid: "
                 "re-authorize the shop", reauthorize=True, revoked=True)
    if _NO_SCOPE.search(text):
        return v(ErrorClass.FAIL_CONFIG, f"{said} — the authorization lacks a scope this call "
                 "needs: re-authorize the shop including it", reauthorize=True)
    if NO_MAIN_ACCOUNT in primary:
        return v(ErrorClass.FAIL_CONFIG, f"{said} — not a shop token: authorize the shop")
    if _SIGNATURE.search(text):
        return v(ErrorClass.FAIL_CONFIG, f"{said} — check sign_secret and sign_method")
    if _ENVELOPE.search(text):
        return v(ErrorClass.FAIL_CONFIG, f"{said} — check sign_method and this server's clock")
    if OAUTH_SERVER_ERROR in codes:
        return v(ErrorClass.RETRY)
    if OAUTH_INVALID_GRANT in codes:
        return v(ErrorClass.FAIL_DATA, f"{said} — the authorization code is invalid or used")
    if any(100200100 <= c <= 100200199 for c in codes):
        return v(ErrorClass.FAIL_CONFIG)
    if _TOKEN.search(text):
        return v(ErrorClass.REFRESH_TOKEN_THEN_RETRY)
    if codes & REREAD_CODES:
        return v(ErrorClass.RETRY, f"{said} — re-read the refund and decide again", reread=True)
    if SHIPMENT_BLOCKED in primary:
        return v(ErrorClass.FAIL_DATA, f"Kuaishou blocked the shipment (11): {text or 'no reason given'}")
    if codes & WINDOW_CODES:
        return v(ErrorClass.FAIL_DATA, f"{said} — the query window is invalid (a bug in the "
                 "caller; not retried)")
    if http_status >= 500 or http_status in (408, 425) or _TRANSIENT.search(text):
        return v(ErrorClass.RETRY)
    if "result" not in payload:
        if http_status >= 400:
            return v(ErrorClass.FAIL_DATA if http_status not in (401, 403) else ErrorClass.FAIL_CONFIG)
        return v(ErrorClass.RETRY, f"{what}: answer without a result field")
    return v(ErrorClass.FAIL_DATA)


def parse_body(text: str) -> dict | None:
    try:
        payload = bounded_json.loads(text)
    except (TypeError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def error_for(response, what: str = "kuaishou", *, ambiguous_write: bool = False) -> KuaishouError | None:
    """The ``KuaishouError`` for a ``requests.Response``, or None when it succeeded."""
    try:
        text = response.text
    except Exception:  # undecodable body
        text = repr(response.content[:EXCERPT_LIMIT])
    payload = parse_body(text)
    verdict = classify_payload(response.status_code, payload, what)
    if verdict.error_class is None:
        return None
    if verdict.retry_after is None and verdict.error_class is ErrorClass.RATE_LIMITED:
        verdict = dataclasses.replace(
            verdict, retry_after=retry_after_seconds(response.headers.get("Retry-After")))
    cls = RefundChanged if verdict.reread else KuaishouError
    ambiguous = ambiguous_write and verdict.error_class is ErrorClass.RETRY
    return cls(verdict, status_code=response.status_code, payload=payload, raw=text,
               ambiguous=ambiguous)
