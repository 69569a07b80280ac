"""Pure translation of 厂家代发 records into ``FulfilmentUpdateValues`` (no I/O).

A factory-side record (``open.dropshipping.order.list`` / ``detail.query``) maps by its
``allocateStatus``:

| allocateStatus        | update                                                       |
|-----------------------|--------------------------------------------------------------|
| 4 已回传 (waybill back) | ``shipped`` with ``carrier`` + ``tracking_number``          |
| 2 已取消               | ``cancelled`` (the allocation was cancelled)                  |
| 3 已分配未回传          | nothing (the allocation itself was recorded when it was pushed) |
| anything else         | nothing, the record kept raw                                 |

The fulfilment is named by ``dropshippingOrderCode`` (what the hub stored as the
supplier reference when it allocated) or, when the factory view carries only it,
``allocateOrderCode`` [I: both are described as the 代发订单 code]. Times are epoch
milliseconds (``updateTime``, else ``allocateTime``). ``expressCompanyCode`` is the
platform's string code; ``carrier_for`` turns it into the hub's carrier code (unknown
codes are kept lower-cased and flagged ``unknown_carrier:<code>``).
"""
from __future__ import annotations

from datetime import datetime, timezone

from hub.values import FulfilmentUpdateValues

# Kuaishou e-waybill express company codes seen for 代发 [I: best knowledge, extend here]
EXPRESS_COMPANIES = {
    "SF": "sf", "SFKY": "sf", "ZTO": "zto", "YTO": "yto", "STO": "sto", "YUNDA": "yunda",
    "YD": "yunda", "JD": "jd", "JDKD": "jd", "EMS": "ems", "POSTB": "chinapost",
    "YZXB": "chinapost", "JT": "jitu", "JTSD": "jitu", "JTEXPRESS": "jitu", "DBKD": "deppon",
    "DBL": "deppon", "DEPPON": "deppon", "ZJS": "zjs", "HTKY": "best", "BEST": "best",
    "FENGWANG": "fengwang", "FWX": "fengwang",
}
HUB_CARRIERS = frozenset(EXPRESS_COMPANIES.values())
TIME_KEYS = ("updateTime", "allocateTime", "createTime")


class MappingError(ValueError):
    pass


def carrier_for(code) -> tuple[str, str | None]:
    """``(hub carrier, flag or None)`` for an ``expressCompanyCode``."""
    raw = "" if code is None else str(code).strip()
    found = EXPRESS_COMPANIES.get(raw.upper())
    if found:
        return found, None
    if raw.lower() in HUB_CARRIERS:
        return raw.lower(), None
    return raw.lower(), f"unknown_carrier:{raw}"


def ms_time(value) -> datetime | None:
    try:
        ms = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    if ms <= 0:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def record_time(item: dict) -> datetime | None:
    for key in TIME_KEYS:
        moment = ms_time(item.get(key))
        if moment is not None:
            return moment
    return None


def reference_of(item: dict) -> str | None:
    for key in ("dropshippingOrderCode", "allocateOrderCode"):
        value = item.get(key)
        if value not in (None, ""):
            return str(value).strip()
    return None


def map_allocation(item: dict) -> FulfilmentUpdateValues | None:
    """The update a factory-side record means, or None when it means nothing new."""
    reference = reference_of(item)
    if not reference:
        raise MappingError("dropship record has neither dropshippingOrderCode nor "
                           "allocateOrderCode")
    raw = item.get("allocateStatus", item.get("dropshippingStatus"))
    try:
        status = int(str(raw).strip())
    except (TypeError, ValueError):
        raise MappingError(f"dropship record {reference} has no readable allocateStatus "
                           f"({raw!r})") from None
    occurred = record_time(item)
    if occurred is None:
        raise MappingError(f"dropship record {reference} has no updateTime/allocateTime")
    if status == 4:
        waybill = str(item.get("waybillCode") or "").strip()
        company = item.get("expressCompanyCode")
        if not waybill or not company:
            raise MappingError(f"dropship record {reference} is 已回传 (4) without "
                               "expressCompanyCode and waybillCode")
        carrier, flag = carrier_for(company)
        return FulfilmentUpdateValues(
            status="shipped", occurred_at=occurred, supplier_reference=reference,
            carrier=carrier, tracking_number=waybill, raw_status=str(status),
            flags=(flag,) if flag else ())
    if status == 2:
        reason = item.get("cancelAllocateReason") or item.get("cancelReason")
        return FulfilmentUpdateValues(status="cancelled", occurred_at=occurred,
                                      supplier_reference=reference, raw_status=str(status),
                                      reason=str(reason) if reason else None)
    return None
