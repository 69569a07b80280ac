"""``CJClient``: calls to CJdropshipping API 2.0 for one account, with its access token.

    client = CJClient(ctx)
    data = client.call("GET", "/shopping/order/getOrderDetail", params={"orderId": cj_id})

Every call carries ``CJ-Access-Token``; every answer is the envelope ``{code, result,
message, data, requestId}`` with ``code`` 200 for success (reference suppliers-finance
§1.1), and ``call`` answers its ``data``. Failures are classified on the HTTP status and
the envelope (``classify_answer``):

| answer                                                   | class                     |
|----------------------------------------------------------|---------------------------|
| HTTP 429, or a message about too many / too frequent calls | rate_limited (1 s; 300 s for getAccessToken, "once every 5 minutes") |
| HTTP 401, or a message saying a token is invalid/expired  | refresh_token_then_retry (then fail_config) |
| HTTP 403, or an invalid API key (no token mentioned)     | fail_config               |
| HTTP 5xx / 408, a busy/internal-error message, a non-JSON 2xx | retry                 |
| ``1600100 Param error`` and every other business refusal | fail_data                 |

Only ``1600100`` is a documented code in the stored sources; the message patterns are
best knowledge [I] and the raw answer is kept in the error.

Tokens (``CJTokens``): ``POST /authentication/getAccessToken {"apiKey"}`` answers
``openId, accessToken, accessTokenExpiryDate, refreshToken, refreshTokenExpiryDate``
(access 15 days, refresh 180 days); ``POST /authentication/refreshAccessToken
{"refreshToken"}`` renews them. The newest tokens and the ``openId`` (the webhook
signing key) are persisted through ``ctx.save_config`` before use; refreshing is
single-flight per account in the process.
"""
from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta, timezone

from connectors import bounded_json
from connectors.base import AccountContext, ConnectorError, ErrorClass
from connectors.http import HttpAdapter, budget_for

DEFAULT_BASE = "https://developers.cjdropshipping.com/api2.0/v1"
GET_TOKEN = "/authentication/getAccessToken"
REFRESH_TOKEN = "/authentication/refreshAccessToken"
PARAM_ERROR = 1600100
CHINA = timezone(timedelta(hours=8))
MARGIN = timedelta(hours=6)

_RATE = re.compile(r"too\s+many|too\s+much|too\s+frequent|rate\s*limit|qps|频繁|限流|"
                   r"once\s+every", re.I)
_TOKEN = re.compile(r"token.*(invalid|expired|illegal|not\s+exist|失效|过期|无效)|"
                    r"(invalid|expired|illegal).*token|未登录|unauthori", re.I)
_API_KEY = re.compile(r"api[\s_-]?key", re.I)
_BUSY = re.compile(r"system\s+(busy|error)|internal|timeout|timed\s+out|系统繁忙|系统异常|稍后",
                   re.I)


def parse_answer(text: str) -> dict | None:
    try:
        payload = bounded_json.loads(text)
    except (TypeError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def classify_answer(status: int, payload: dict | None, path: str = "") -> ErrorClass | None:
    token_call = path.endswith(GET_TOKEN) or path.endswith(REFRESH_TOKEN)
    if payload is None:
        if status == 429:
            return ErrorClass.RATE_LIMITED
        if status >= 500 or status in (408, 425) or status < 300:
            return ErrorClass.RETRY
        if status == 401:
            return ErrorClass.FAIL_CONFIG if token_call else ErrorClass.REFRESH_TOKEN_THEN_RETRY
        if status in (403,) or 300 <= status < 400:
            return ErrorClass.FAIL_CONFIG
        return ErrorClass.FAIL_DATA
    code, message = payload.get("code"), str(payload.get("message") or "")
    if status < 300 and str(code) == "200":
        return None
    if status == 429 or _RATE.search(message):
        return ErrorClass.RATE_LIMITED
    if status == 401 or _TOKEN.search(message):  # "Invalid API key or access token" too:
        # a new token settles it, and if the key itself is wrong getting one says so
        return ErrorClass.FAIL_CONFIG if token_call else ErrorClass.REFRESH_TOKEN_THEN_RETRY
    if _API_KEY.search(message) or status == 403:
        return ErrorClass.FAIL_CONFIG
    if status >= 500 or status in (408, 425) or _BUSY.search(message):
        return ErrorClass.RETRY
    if "code" not in payload:
        return ErrorClass.RETRY if status < 400 else ErrorClass.FAIL_DATA
    return ErrorClass.FAIL_DATA


def parse_time(value) -> datetime | None:
    """CJ times: ISO 8601 (with or without offset; none means China time), or epoch ms."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)) or str(value).strip().isdigit():
        number = int(value)
        return datetime.fromtimestamp(number / 1000 if number > 10**11 else number,
                                      tz=timezone.utc)
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=CHINA)).astimezone(timezone.utc)


class CJAuthClient(HttpAdapter):
    """The two token endpoints; no access token, one attempt each."""

    max_attempts = 1

    def classify(self, response):
        return classify_answer(response.status_code, parse_answer(response.text),
                               response.request.path_url.split("?")[0])

    def error_message(self, response) -> str:
        payload = parse_answer(response.text) or {}
        return (f"cj {response.request.path_url}: HTTP {response.status_code} "
                f"code={payload.get('code')} {payload.get('message') or ''}").strip()

    def _attempt(self, method, url, kwargs):
        response, error = super()._attempt(method, url, kwargs)
        if error is not None and error.error_class is ErrorClass.RATE_LIMITED \
                and url.endswith(GET_TOKEN) and error.retry_after is None:
            error.retry_after = 300.0  # getAccessToken: "once every 5 minutes"
        return response, error

    def grant(self, path: str, body: dict) -> dict:
        response = self.request("POST", path, json=body)
        data = (parse_answer(response.text) or {}).get("data")
        if not isinstance(data, dict) or not data.get("accessToken"):
            raise ConnectorError(ErrorClass.RETRY, f"cj {path}: a success without accessToken")
        return data


_locks: dict[int, threading.Lock] = {}
_guard = threading.Lock()


def _lock(account_id: int) -> threading.Lock:
    with _guard:
        return _locks.setdefault(account_id, threading.Lock())


class CJTokens:
    def __init__(self, ctx: AccountContext, auth: CJAuthClient, clock=None):
        self.ctx, self.auth = ctx, auth
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    def _fresh(self, cfg: dict) -> bool:
        until = parse_time(cfg.get("access_token_expires_at"))
        return bool(cfg.get("access_token")) and (until is None or until - MARGIN > self.clock())

    def access_token(self) -> str:
        if self._fresh(self.ctx.config):
            return self.ctx.config["access_token"]
        return self.refresh()

    def refresh(self, rejected: str | None = None) -> str:
        with _lock(self.ctx.account_id):
            if self.ctx.reload_config is not None:
                self.ctx.reload_config()
            cfg = self.ctx.config
            current = cfg.get("access_token")
            if current and self._fresh(cfg) and (rejected is None or current != rejected):
                return current
            refresh_until = parse_time(cfg.get("refresh_token_expires_at"))
            data = None
            if cfg.get("refresh_token") and (refresh_until is None
                                             or refresh_until > self.clock()):
                try:
                    data = self.auth.grant(REFRESH_TOKEN, {"refreshToken": cfg["refresh_token"]})
                except ConnectorError as e:
                    if e.error_class.retryable:
                        raise
            if data is None:
                if not cfg.get("api_key"):
                    raise ConnectorError(ErrorClass.FAIL_CONFIG, "cj: no usable token and no "
                                         "api_key to get one")
                data = self.auth.grant(GET_TOKEN, {"apiKey": cfg["api_key"]})
            updates = {"access_token": data["accessToken"],
                       "access_token_expires_at": _iso(data.get("accessTokenExpiryDate")),
                       "refresh_token": data.get("refreshToken") or cfg.get("refresh_token"),
                       "refresh_token_expires_at": _iso(data.get("refreshTokenExpiryDate"))
                       or cfg.get("refresh_token_expires_at")}
            if data.get("openId") not in (None, ""):
                updates["open_id"] = str(data["openId"])
            try:
                self.ctx.save_config(updates)
            except Exception as e:
                raise ConnectorError(ErrorClass.RETRY, f"cj: could not store the new tokens "
                                     f"({type(e).__name__})") from e
            self.ctx.config.update(updates)
            return updates["access_token"]


def _iso(value) -> str | None:
    moment = parse_time(value)
    return moment.isoformat() if moment else None


class CJClient(HttpAdapter):
    def __init__(self, ctx: AccountContext, tokens: CJTokens | None = None, **kwargs):
        cfg = ctx.config
        super().__init__(cfg.get("api_base_url") or DEFAULT_BASE,
                         budget=[budget_for(f"cj:{ctx.account_id}", float(cfg.get("qps") or 1.0))],
                         refresh_token=self._token_rejected, **kwargs)
        self.tokens = tokens or CJTokens(ctx, CJAuthClient(cfg.get("api_base_url") or DEFAULT_BASE))
        self._local = threading.local()

    def _token_rejected(self) -> None:
        self.tokens.refresh(rejected=getattr(self._local, "token", None))
        self._local.refreshed = True

    def sign(self, request):
        token = self.tokens.access_token()
        self._local.token = token
        request.headers["CJ-Access-Token"] = token
        return request

    def classify(self, response):
        return classify_answer(response.status_code, parse_answer(response.text),
                               response.request.path_url)

    def error_message(self, response) -> str:
        payload = parse_answer(response.text) or {}
        return (f"cj {response.request.method} {response.request.path_url.split('?')[0]}: "
                f"HTTP {response.status_code} code={payload.get('code')} "
                f"{payload.get('message') or ''}").strip()

    def call(self, method: str, path: str, **kwargs):
        """Call and answer the envelope's ``data`` (or raise ``ConnectorError``)."""
        self._local.refreshed = False
        try:
            response = self.request(method, path, **kwargs)
        except ConnectorError as e:
            if e.error_class is ErrorClass.REFRESH_TOKEN_THEN_RETRY and self._local.refreshed:
                raise ConnectorError(ErrorClass.FAIL_CONFIG, f"{e.message} — still refused "
                                     "after a new token: check the API key", status_code=e.status_code,
                                     response_excerpt=e.response_excerpt) from e
            raise
        return (parse_answer(response.text) or {}).get("data")
