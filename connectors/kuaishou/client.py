"""``KuaishouClient``: signed calls to the Kuaishou open API for one linked shop.

    client = KuaishouClient(config, account_id, tokens)    # tokens: a TokenManager
    data = client.call("open.order.detail", {"oid": 2607602240240301})

``call`` serialises ``params`` once, wraps it in the signed envelope (``signing``), picks
the verb from the reference's table (GET for reads, POST for actions; always
``application/x-www-form-urlencoded``, everything in the body for POST) and answers the
response's ``data``. The path is the method with dots as slashes
(``open.order.cursor.list`` → ``/open/order/cursor/list``).

Each attempt is signed afresh (new timestamp, the current access token) and first takes a
token from two buckets: ``kuaishou:app:<appkey>:<method>`` (the app's per-API limit,
shared by every shop of the app in this process) and ``kuaishou:shop:<account_id>:<method>``
(the per-user limit). Published limits are built in (``PUBLISHED_QPS``); other APIs use
``qps_default``; ``qps_overrides`` sets any method; ``qps_fraction`` is this process's share
when several processes call for the same app.

Failures are ``KuaishouError`` (see ``errors``). Two rules beyond ``HttpAdapter``:
* a revoked authorization (24) is recorded on the account (``tokens.mark_revoked``) so
  ``authorization_status`` shows it and no further call is tried until re-authorization;
* a rejected access token is refreshed once (single-flight, ``oauth.TokenManager``); a
  second rejection right after a refresh is ``fail_config`` (re-authorize);
* a write (ship, refund decision) that fails ambiguously (timeout, 5xx) is not retried in
  place: it is raised with ``ambiguous=True`` so the caller re-reads before trying again;
  300014/300017 are raised at once as ``RefundChanged`` (``reread=True``).

The helpers below (``list_orders``, ``fetch_refund``, ``deliver``, ...) name the calls the
pipeline needs; they check query windows locally so a window bug never reaches the API.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator

from connectors.base import ConnectorError, ErrorClass
from connectors.http import HttpAdapter, TokenBucket, budget_for
from connectors.kuaishou.errors import KuaishouError, Verdict, error_for, parse_body
from connectors.kuaishou.signing import HMAC_SHA256, dump_param, envelope

DEFAULT_API_BASE = "https://openapi.kwaixiaodian.com"
NOMORE = "nomore"
DAY_MS = 86_400_000
ORDER_WINDOW_MAX_MS = 7 * DAY_MS
REFUND_WINDOW_MAX_MS = 1 * DAY_MS
LOOKBACK_MAX_MS = 90 * DAY_MS
LOOKBACK_SAFETY_MS = 10 * 60_000

GET_METHODS = frozenset({
    "open.order.cursor.list", "open.order.detail", "open.seller.order.refund.pcursor.list",
    "open.seller.order.refund.detail", "open.refund.reject.reason",
    "open.refund.comment.basic.list", "open.address.seller.list",
})
POST_METHODS = frozenset({
    "open.seller.order.goods.deliver", "open.seller.order.logistics.update",
    "open.seller.order.goods.logistics.append", "open.seller.order.refund.approve",
    "open.seller.order.refund.returngoods.approve", "open.seller.order.refund.confirm.receipt",
    "open.refund.reject", "open.refund.confirm.and.send", "open.refund.direct.refund",
    "open.refund.submit.returnInfo", "open.order.decrypt.batch",
})
# Calls that change something on the platform: never blindly repeated after a timeout.
WRITE_METHODS = POST_METHODS - {"open.order.decrypt.batch"}
# (per app, per shop) calls per second, reference §5 [V S1 API限流说明].
PUBLISHED_QPS: dict[str, tuple[float, float]] = {
    "open.order.cursor.list": (300.0, 300.0),
    "open.order.decrypt.batch": (100.0, 100.0),
}
DEFAULT_QPS = 10.0


def api_path(method: str) -> str:
    return "/" + method.strip().replace(".", "/")


def verb_for(method: str) -> str:
    """GET for the reference's read APIs, POST otherwise (form-encoded either way)."""
    return "GET" if method in GET_METHODS else "POST"


class StaticTokens:
    """A fixed access token (tests, a token pasted from the console)."""

    def __init__(self, access_token: str):
        self._token = access_token

    def access_token(self) -> str:
        return self._token

    def refresh(self, rejected: str | None = None) -> str:
        raise ConnectorError(ErrorClass.FAIL_CONFIG,
                             "the access token was rejected and this account has no refresh "
                             "token: authorize the shop")


@dataclass(frozen=True)
class _Call:
    name: str
    param: str
    write: bool


def _fail_data(message: str) -> KuaishouError:
    return KuaishouError(Verdict(ErrorClass.FAIL_DATA, message))


def _id(value: Any, name: str) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise _fail_data(f"{name} must be a Kuaishou numeric id, got {value!r}") from None
    if number <= 0:
        raise _fail_data(f"{name} must be positive, got {value!r}")
    return number


def _amount(value: Any, name: str = "refundAmount") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail_data(f"{name} must be a non-negative integer amount in fen, got {value!r}")
    return value


class KuaishouClient(HttpAdapter):
    def __init__(self, config: dict, account_id: int, tokens, *, session=None,
                 sleep=None, now_ms=None):
        super().__init__(config.get("api_base_url") or DEFAULT_API_BASE, session=session,
                         refresh_token=self._token_rejected, sleep=sleep)
        self.app_key = config["app_key"]
        self.sign_secret = config["sign_secret"]
        self.sign_method = config.get("sign_method") or HMAC_SHA256
        self.account_id = account_id
        self.tokens = tokens
        self.qps_default = float(config.get("qps_default") or DEFAULT_QPS)
        self.qps_overrides = {k: float(v) for k, v in (config.get("qps_overrides") or {}).items()}
        self.qps_fraction = float(config.get("qps_fraction") or 1.0)
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))
        self._local = threading.local()

    # -- budget -----------------------------------------------------------------------------
    def qps_for(self, method: str) -> tuple[float, float]:
        if method in self.qps_overrides:
            app = shop = self.qps_overrides[method]
        else:
            app, shop = PUBLISHED_QPS.get(method, (self.qps_default, self.qps_default))
        return app * self.qps_fraction, shop * self.qps_fraction

    def buckets_for(self, method: str) -> list[TokenBucket]:
        app, shop = self.qps_for(method)
        return [budget_for(f"kuaishou:app:{self.app_key}:{method}", app),
                budget_for(f"kuaishou:shop:{self.account_id}:{method}", shop)]

    # -- calling ----------------------------------------------------------------------------
    def call(self, method: str, params: dict | None = None, *, http_method: str | None = None):
        """Call one API method and answer its ``data`` (or raise ``KuaishouError``)."""
        verb = (http_method or verb_for(method)).upper()
        api = _Call(method, dump_param(params), method in WRITE_METHODS)
        self._local.refreshed = False
        try:
            response = self.request(verb, api_path(method), api=api)
        except KuaishouError as e:
            if e.revoked and hasattr(self.tokens, "mark_revoked"):
                self.tokens.mark_revoked(e.message)
            if e.error_class is ErrorClass.REFRESH_TOKEN_THEN_RETRY and self._local.refreshed:
                verdict = Verdict(ErrorClass.FAIL_CONFIG,
                                  f"{e.message} — still rejected after a token refresh: "
                                  "re-authorize the shop", e.code, reauthorize=True)
                raise KuaishouError(verdict, status_code=e.status_code, payload=e.payload,
                                    raw=e.response_excerpt) from e
            raise
        return (parse_body(response.text) or {}).get("data")

    def _token_rejected(self) -> None:
        self.tokens.refresh(rejected=getattr(self._local, "token", None))
        self._local.refreshed = True

    def classify(self, response):
        error = error_for(response)
        return error.error_class if error else None

    def _attempt(self, method, url, kwargs):
        kwargs = dict(kwargs)
        api: _Call | None = kwargs.pop("api", None)
        if api is None:
            return super()._attempt(method, url, kwargs)
        for bucket in self.buckets_for(api.name):
            bucket.acquire()
        token = self.tokens.access_token()
        self._local.token = token
        fields = envelope(method=api.name, appkey=self.app_key, access_token=token,
                          param=api.param, sign_secret=self.sign_secret,
                          timestamp_ms=self.now_ms(), sign_method=self.sign_method)
        kwargs["params" if method == "GET" else "data"] = fields
        response, error = super()._attempt(method, url, kwargs)
        if error is None:
            return response, None
        if response is None:  # no answer at all (timeout, connection reset)
            if api.write:
                raise KuaishouError(Verdict(error.error_class,
                                            f"kuaishou {api.name}: {error.message} — the write "
                                            "may have happened; re-read before retrying"),
                                    ambiguous=True)
            return None, error
        kerr = error_for(response, f"kuaishou {api.name}", ambiguous_write=api.write)
        if kerr is None:  # pragma: no cover (classify and error_for share one verdict)
            return response, None
        if kerr.reread or kerr.ambiguous:
            raise kerr
        return response, kerr

    # -- reads --------------------------------------------------------------------------------
    def earliest_begin_ms(self) -> int:
        """The oldest ``beginTime`` the list APIs accept now (90 days, with a safety margin)."""
        return self.now_ms() - LOOKBACK_MAX_MS + LOOKBACK_SAFETY_MS

    def check_window(self, begin_ms: int, end_ms: int, max_ms: int) -> None:
        if end_ms <= begin_ms:
            raise _fail_data(f"query window ends before it begins ({begin_ms}..{end_ms})")
        if end_ms - begin_ms > max_ms:
            raise _fail_data(f"query window {end_ms - begin_ms} ms exceeds {max_ms} ms")
        if begin_ms < self.now_ms() - LOOKBACK_MAX_MS:
            raise _fail_data("query window begins more than 90 days ago")

    def fetch_order(self, oid) -> dict:
        return self.call("open.order.detail", {"oid": _id(oid, "oid")}) or {}

    def list_orders(self, begin_ms: int, end_ms: int, cursor: str = "", *, query_type: int = 2,
                    page_size: int = 50, sort: int = 1, order_view_status: int = 1,
                    cps_type: int = 0) -> dict:
        """One page of ``open.order.cursor.list``; ``data["cursor"] == "nomore"`` at the end."""
        self.check_window(begin_ms, end_ms, ORDER_WINDOW_MAX_MS)
        return self.call("open.order.cursor.list", {
            "orderViewStatus": order_view_status, "pageSize": min(int(page_size), 50),
            "sort": sort, "queryType": query_type, "beginTime": int(begin_ms),
            "endTime": int(end_ms), "cpsType": cps_type, "cursor": cursor or ""}) or {}

    def iter_orders(self, begin_ms: int, end_ms: int, cursor: str = "", **kw) -> Iterator[tuple[list, str]]:
        """Pages ``(orderList, next_cursor)`` until ``"nomore"``."""
        while True:
            data = self.list_orders(begin_ms, end_ms, cursor, **kw)
            nxt = str(data.get("cursor") or NOMORE)
            yield list(data.get("orderList") or []), nxt
            if nxt == NOMORE:
                return
            if nxt == cursor:
                raise KuaishouError(Verdict(ErrorClass.RETRY, "order cursor did not advance"))
            cursor = nxt

    def fetch_refund(self, refund_id) -> dict:
        return self.call("open.seller.order.refund.detail",
                         {"refundId": _id(refund_id, "refundId")}) or {}

    def list_refunds(self, begin_ms: int, end_ms: int, pcursor: str = "", *,
                     current_page: int = 1, query_type: int = 2, type: int = 9,  # noqa: A002
                     page_size: int = 100, sort: int = 1, need_exchange: bool = True,
                     negotiate_status: int | None = None, status: int | None = None) -> dict:
        """One page of ``open.seller.order.refund.pcursor.list`` (window ≤ 1 day)."""
        self.check_window(begin_ms, end_ms, REFUND_WINDOW_MAX_MS)
        param = {"beginTime": int(begin_ms), "endTime": int(end_ms), "type": type,
                 "pageSize": min(int(page_size), 100), "currentPage": int(current_page),
                 "sort": sort, "queryType": query_type, "pcursor": pcursor or "",
                 "option": {"needExchange": bool(need_exchange)}}
        if negotiate_status is not None:
            param["negotiateStatus"] = negotiate_status
        if status is not None:
            param["status"] = status
        return self.call("open.seller.order.refund.pcursor.list", param) or {}

    def iter_refunds(self, begin_ms: int, end_ms: int, pcursor: str = "", **kw) -> Iterator[tuple[list, str]]:
        page = kw.pop("current_page", 1)
        while True:
            data = self.list_refunds(begin_ms, end_ms, pcursor, current_page=page, **kw)
            nxt = str(data.get("pcursor") or NOMORE)
            yield list(data.get("refundOrderInfoList") or []), nxt
            if nxt == NOMORE:
                return
            if nxt == pcursor:
                raise KuaishouError(Verdict(ErrorClass.RETRY, "refund pcursor did not advance"))
            pcursor, page = nxt, page + 1

    def reject_reasons(self, refund_id) -> list:
        data = self.call("open.refund.reject.reason", {"refundId": _id(refund_id, "refundId")})
        if isinstance(data, dict):
            for key in ("reasonList", "rejectReasonList", "list"):
                if isinstance(data.get(key), list):
                    return data[key]
        return data if isinstance(data, list) else []

    def seller_addresses(self) -> list:
        """The shop's return addresses (``addressType`` 2) [I: list key and fields read
        tolerantly; the reference has no sample]."""
        data = self.call("open.address.seller.list", {"addressType": 2})
        if isinstance(data, dict):
            for key in ("sellerAddressInfoList", "addressList", "list"):
                if isinstance(data.get(key), list):
                    return data[key]
        return data if isinstance(data, list) else []

    # -- actions (POST) -----------------------------------------------------------------------
    def deliver(self, order_id, express_no: str, express_code: int, *,
                return_address_id=None, quality_param: dict | None = None):
        param = {"orderId": _id(order_id, "orderId"), "expressNo": str(express_no).strip(),
                 "expressCode": int(express_code)}
        if return_address_id is not None:
            param["returnAddressId"] = _id(return_address_id, "returnAddressId")
        if quality_param:
            param["qualityParam"] = quality_param
        return self.call("open.seller.order.goods.deliver", param)

    def update_logistics(self, order_id, express_no: str, express_code: int, logistics_id=None):
        param = {"orderId": _id(order_id, "orderId"), "expressCode": int(express_code),
                 "expressNo": str(express_no).strip()}
        if logistics_id is not None:
            param["logisticsId"] = _id(logistics_id, "logisticsId")
        return self.call("open.seller.order.logistics.update", param)

    def approve_refund(self, refund_id, amount: int, *, status: int | None = None,
                       negotiate_status: int | None = None, handling_way: int | None = None):
        param = {"refundId": _id(refund_id, "refundId"), "refundAmount": _amount(amount)}
        if status is not None:
            param["status"] = status
        if negotiate_status is not None:
            param["negotiateStatus"] = negotiate_status
        if handling_way is not None:
            param["refundHandingWay"] = handling_way  # sic, the platform's spelling
        return self.call("open.seller.order.refund.approve", param)

    def approve_return(self, refund_id, amount: int, address_id=None):
        param = {"refundId": _id(refund_id, "refundId"), "refundAmount": _amount(amount)}
        if address_id is not None:
            param["addressId"] = _id(address_id, "addressId")
        return self.call("open.seller.order.refund.returngoods.approve", param)

    def confirm_receipt(self, refund_id, status: int | None = None, **extra):
        """Confirm the returned goods: the platform refunds at once (statuses 22/30/40)."""
        param = {"refundId": _id(refund_id, "refundId")}
        if status is not None:
            param["status"] = status
        param.update(extra)
        return self.call("open.seller.order.refund.confirm.receipt", param)

    def reject_refund(self, refund_id, reason_code: int, desc: str | None, refund_version: int,
                      images: list[str] | None = None, **extra):
        """``refund_version`` is the refund's ``updateTime`` as last read (optimistic lock)."""
        param = {"refundId": _id(refund_id, "refundId"), "reasonCode": int(reason_code),
                 "refundVersion": int(refund_version)}
        if desc:
            param["rejectDesc"] = desc
        if images:
            if len(images) > 6:
                raise _fail_data("at most 6 rejection images")
            param["rejectImages"] = list(images)
        param.update(extra)
        return self.call("open.refund.reject", param)
