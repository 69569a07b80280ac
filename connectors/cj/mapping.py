"""Pure translation of CJ ORDER and LOGISTICS messages into ``FulfilmentUpdateValues``.

ORDER ``params`` (reference §1.1 [S]): ``cjOrderId, orderNum, orderNumber, orderStatus,
logisticName, trackNumber, updateDate, ...``. The fulfilment is named twice: by
``cjOrderId`` (the supplier reference) and by our own ``orderNumber``
(``<order_number_prefix><fulfilment id>``, set when the hub created the order).

| orderStatus                       | update                                         |
|-----------------------------------|------------------------------------------------|
| ``UNSHIPPED`` (paid, to ship)     | ``accepted``                                   |
| ``SHIPPED`` / ``DELIVERED``       | ``shipped`` with ``logisticName`` + ``trackNumber`` |
| ``CANCELLED``                     | ``cancelled``                                  |
| ``CREATED`` / ``IN_CART`` / ``UNPAID`` / other | nothing (the hub already knows the order exists) |

LOGISTICS ``params``: ``orderId, logisticName, trackingNumber, trackingUrl,
trackingStatus, logisticsTrackEvents`` → ``shipped``; its time is the newest track event
(else ``updateDate``). ``carrier_for`` turns CJ's logistic names into the hub's carrier
codes (``mappings/tracking/carriers.json`` names and the aliases below); a name it does
not know is kept as a slug and flagged ``unknown_carrier:<name>``.
"""
from __future__ import annotations

import re
from datetime import datetime

from connectors.cj.client import parse_time
from hub.values import FulfilmentUpdateValues
from mappings.tracking.carriers import carriers

ALIASES = {"sf": "sf", "sf express": "sf", "顺丰": "sf", "zto": "zto", "yto": "yto",
           "sto": "sto", "yunda": "yunda", "jd": "jd", "jd logistics": "jd", "ems": "ems",
           "china ems": "ems", "china post": "chinapost", "j&t": "jitu",
           "j&t express": "jitu", "jt express": "jitu", "deppon": "deppon", "best": "best"}
ACCEPTED = {"UNSHIPPED"}
SHIPPED = {"SHIPPED", "DELIVERED"}
CANCELLED = {"CANCELLED", "CANCELED"}
EVENT_TIME_KEYS = ("eventTime", "time", "date", "acceptTime", "trackTime")


class MappingError(ValueError):
    pass


def _names() -> dict[str, str]:
    out = dict(ALIASES)
    for code, row in carriers().items():
        for name in (code, row.get("name"), row.get("name_en")):
            if name:
                out.setdefault(str(name).strip().lower(), code)
    return out


def carrier_for(logistic_name) -> tuple[str, str | None]:
    raw = "" if logistic_name is None else str(logistic_name).strip()
    found = _names().get(raw.lower())
    if found:
        return found, None
    slug = re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-")[:64] or "unknown"
    return slug, f"unknown_carrier:{raw}"


def fulfilment_id_from(params: dict, prefix: str) -> int | None:
    for key in ("orderNumber", "orderNum"):
        value = str(params.get(key) or "")
        if prefix and value.startswith(prefix) and value[len(prefix):].isdigit():
            return int(value[len(prefix):])
    return None


def _shipped(params: dict, when: datetime, reference: str, fid: int | None, number_key: str):
    number = str(params.get(number_key) or "").strip()
    if not number or not params.get("logisticName"):
        raise MappingError(f"CJ order {reference} is shipped without logisticName and "
                           f"{number_key}")
    carrier, flag = carrier_for(params["logisticName"])
    return FulfilmentUpdateValues(status="shipped", occurred_at=when, supplier_reference=reference,
                                  fulfilment_id=fid, carrier=carrier, tracking_number=number,
                                  raw_status=str(params.get("orderStatus") or
                                                 params.get("trackingStatus") or "") or None,
                                  flags=(flag,) if flag else ())


def map_order(params: dict, prefix: str) -> FulfilmentUpdateValues | None:
    reference = str(params.get("cjOrderId") or params.get("orderId") or "").strip()
    if not reference:
        raise MappingError("CJ ORDER message without cjOrderId")
    status = str(params.get("orderStatus") or "").strip().upper()
    when = (parse_time(params.get("updateDate")) or parse_time(params.get("deliveryDate"))
            or parse_time(params.get("payDate")) or parse_time(params.get("createDate")))
    if when is None:
        raise MappingError(f"CJ order {reference} has no readable updateDate")
    fid = fulfilment_id_from(params, prefix)
    if status in ACCEPTED:
        return FulfilmentUpdateValues(status="accepted", occurred_at=when,
                                      supplier_reference=reference, fulfilment_id=fid,
                                      raw_status=status)
    if status in SHIPPED:
        return _shipped(params, when, reference, fid, "trackNumber")
    if status in CANCELLED:
        return FulfilmentUpdateValues(status="cancelled", occurred_at=when,
                                      supplier_reference=reference, fulfilment_id=fid,
                                      raw_status=status, reason="cancelled at CJ")
    return None


def latest_event_time(params: dict) -> datetime | None:
    times = []
    for event in params.get("logisticsTrackEvents") or ():
        if isinstance(event, dict):
            for key in EVENT_TIME_KEYS:
                moment = parse_time(event.get(key))
                if moment is not None:
                    times.append(moment)
                    break
    return max(times) if times else parse_time(params.get("updateDate"))


def map_logistics(params: dict) -> FulfilmentUpdateValues:
    reference = str(params.get("orderId") or params.get("cjOrderId") or "").strip()
    if not reference:
        raise MappingError("CJ LOGISTICS message without orderId")
    when = latest_event_time(params)
    if when is None:
        raise MappingError(f"CJ logistics of {reference} carry no event time")
    return _shipped(params, when, reference, None, "trackingNumber")
