"""The 厂家代发 calls (``open.dropshipping.*``) the hub makes, over ``KuaishouClient``.

    api = DropshipApi(client, factory_code="F001")
    item = api.find_merchant_order("2607602240240301", begin_ms, end_ms)   # or None
    api.allocate(item["dropshippingOrderCode"])
    api.cancel_allocation(code, "buyer refunded")
    data = api.factory_page(begin_ms, end_ms, cursor="")

Every call is signed and classified by ``connectors.kuaishou`` (same envelope, same
signing, same error classes). Method names and request fields are from the reference
(suppliers-finance §1.3, kuaishou §2.3) and the official schema descriptions quoted in
third-party SDKs [S]; the answers' field names are not documented in the stored sources,
so reading them is tolerant and kept here, in one place (``*_KEYS``) [I]:

* a page is ``data`` with a ``cursor`` (``"nomore"`` at the end) and one list of records;
* a record names its 代发 order ``dropshippingOrderCode`` (merchant side) and/or
  ``allocateOrderCode`` (factory side), its trade order ``oid`` / ``orderId``, its state
  ``dropshippingStatus`` / ``allocateStatus`` and the factory's waybill as the strings
  ``expressCompanyCode`` + ``waybillCode``.
"""
from __future__ import annotations

from typing import Iterator

from connectors.base import ConnectorError, ErrorClass
from connectors.kuaishou.client import NOMORE, KuaishouClient

ALLOCATE = "open.dropshipping.order.batch.allocate"
# 商家批量取消分配代发订单 — "商家取消已分配给厂家的代发订单": the platform-native stop-ship
# (reference suppliers-finance §1.3, [S] ks_shop_api / kwaishop-php-sdk / pydantic models).
CANCEL_ALLOCATION = "open.dropshipping.order.batch.allocate.cancel"
MERCHANT_LIST = "open.dropshipping.order.merchant.list"
MERCHANT_DETAIL = "open.dropshipping.order.merchant.detail"
FACTORY_LIST = "open.dropshipping.order.list"
FACTORY_DETAIL = "open.dropshipping.order.detail.query"

# merchant list dropshippingStatus: 0 all, 1 待分配, 2 已取消分配, 3 已分配未回传, 4 已分配已回传
UNALLOCATED, ALLOCATION_CANCELLED, ALLOCATED, SHIPPED = 1, 2, 3, 4
# factory list allocateStatus: 2 已取消, 3 已分配未回传, 4 已回传 (same numbers)
MERCHANT_WINDOW_MS = 29 * 86_400_000      # "间隔小于30天"
FACTORY_WINDOW_MS = 29 * 60_000           # "与结束时间间隔小于30分钟"
FACTORY_MAX_AGE_MS = 60 * 86_400_000      # "不能小于60天前"
PAGE_SIZE = 50
MAX_PAGES = 200
MERCHANT_QUERY_TYPE = "PAY_TIME"          # [S] "PAT_TIME-按支付时间 CREATE_TIME-按创建时间"

CODE_KEYS = ("dropshippingOrderCode", "allocateOrderCode")
ORDER_ID_KEYS = ("oid", "orderId", "tradeOrderId")
STATUS_KEYS = ("dropshippingStatus", "allocateStatus")
FACTORY_KEYS = ("factoryCode",)


def first(item: dict, keys) -> object:
    for key in keys:
        value = item.get(key)
        if value not in (None, ""):
            return value
    return None


def text(item: dict, keys) -> str | None:
    value = first(item, keys)
    return None if value is None else str(value).strip() or None


def status_of(item: dict) -> int | None:
    try:
        return int(str(first(item, STATUS_KEYS)).strip())
    except (TypeError, ValueError):
        return None


def records_in(data) -> list[dict]:
    """The records of a page: ``data`` itself when a list, else its (first) list of objects."""
    if isinstance(data, list):
        return [x for x in data if isinstance(x, dict)]
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, list) and all(isinstance(x, dict) for x in value):
                return list(value)
    return []


def record_of(data) -> dict:
    """One record out of a detail answer: ``data`` when it names a code, else the first
    object inside it that does."""
    if isinstance(data, dict):
        if first(data, CODE_KEYS) is not None:
            return data
        for value in data.values():
            if isinstance(value, dict) and first(value, CODE_KEYS) is not None:
                return value
            if isinstance(value, list) and value and isinstance(value[0], dict):
                return value[0]
    return {}


def _fail_data(message: str) -> ConnectorError:
    return ConnectorError(ErrorClass.FAIL_DATA, message)


class DropshipApi:
    def __init__(self, client: KuaishouClient, factory_code: str):
        self.client = client
        self.factory_code = factory_code

    # -- merchant side ---------------------------------------------------------------------
    def merchant_pages(self, begin_ms: int, end_ms: int, *, status: int = 0,
                       factory: bool = False) -> Iterator[list[dict]]:
        """Pages of ``order.merchant.list`` over one window of at most 29 days."""
        if end_ms - begin_ms > MERCHANT_WINDOW_MS or end_ms <= begin_ms:
            raise _fail_data(f"merchant list window {begin_ms}..{end_ms} is not 0-29 days")
        cursor = ""
        for _ in range(MAX_PAGES):
            param = {"cursor": cursor, "pageSize": PAGE_SIZE, "dropshippingStatus": status,
                     "orderStatus": 0, "refundStatus": 0, "queryType": MERCHANT_QUERY_TYPE,
                     "beginTime": int(begin_ms), "endTime": int(end_ms), "sort": 1}
            if factory:
                param["factoryCode"] = self.factory_code
            data = self.client.call(MERCHANT_LIST, param) or {}
            yield records_in(data)
            nxt = str(data.get("cursor") or NOMORE) if isinstance(data, dict) else NOMORE
            if nxt == NOMORE:
                return
            if nxt == cursor:
                raise ConnectorError(ErrorClass.RETRY, "dropship order cursor did not advance")
            cursor = nxt
        raise _fail_data(f"more than {MAX_PAGES} pages of dropship orders in one window")

    def find_merchant_order(self, oid: str, begin_ms: int, end_ms: int, *,
                            factory: bool = False) -> dict | None:
        """The 代发 order of trade order ``oid`` (matched on ``ORDER_ID_KEYS``), or None."""
        wanted = str(oid).strip()
        for page in self.merchant_pages(begin_ms, end_ms, factory=factory):
            for item in page:
                if text(item, ORDER_ID_KEYS) == wanted and text(item, CODE_KEYS):
                    return item
        return None

    def merchant_detail(self, code: str) -> dict:
        return record_of(self.client.call(MERCHANT_DETAIL, {"dropshippingOrderCode": code}))

    def allocate(self, code: str):
        data = self.client.call(ALLOCATE, {"dropshippingOrderCodeList": [code],
                                           "factoryCode": self.factory_code})
        _raise_listed_failures(data, f"allocating {code} to factory {self.factory_code}")
        return data

    def cancel_allocation(self, code: str, reason: str):
        data = self.client.call(CANCEL_ALLOCATION, {"dropshippingOrderCodeList": [code],
                                                    "cancelAllocateReason": reason[:200]})
        _raise_listed_failures(data, f"cancelling the allocation of {code}")
        return data

    # -- factory side ----------------------------------------------------------------------
    def factory_page(self, begin_ms: int, end_ms: int, cursor: str = "") -> tuple[list[dict], str]:
        """One page of ``order.list`` by update time, oldest first; ``(records, next)``."""
        if not 0 < end_ms - begin_ms <= FACTORY_WINDOW_MS:
            raise _fail_data(f"factory list window {begin_ms}..{end_ms} is not 0-29 minutes")
        data = self.client.call(FACTORY_LIST, {
            "pageSize": PAGE_SIZE, "beginTime": int(begin_ms), "endTime": int(end_ms),
            "queryType": 2, "sort": 2, "cursor": cursor or ""})
        if data is not None and not isinstance(data, dict):
            raise _fail_data("dropship order page is not an object")
        data = data or {}
        return records_in(data), str(data.get("cursor") or NOMORE)

    def factory_detail(self, allocate_order_code: str) -> dict:
        return record_of(self.client.call(FACTORY_DETAIL,
                                          {"allocateOrderCode": allocate_order_code}))


def _raise_listed_failures(data, what: str) -> None:
    """A batch answer may list per-code failures (``failList``-like keys) under result 1."""
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        if "fail" in key.lower() and isinstance(value, list) and value:
            raise _fail_data(f"{what} failed: {str(value)[:300]}")
