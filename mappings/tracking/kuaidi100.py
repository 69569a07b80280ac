"""``Kuaidi100Mapper``: Kuaidi100 push / query results and interception callbacks →
``TrackingValues``. Pure: no I/O.

* ``map_push(param)`` — the JSON object in a push's ``param`` form field:
  ``{status, message, autoCheck, comOld, comNew, lastResult{com, nu, state, ischeck,
  data[{time, ftime, context, status, statusCode, areaName, location}]}}``.
* ``map_result(last_result)`` — a ``lastResult`` or a real-time query response.
* ``map_interception(payload, received_at)`` — an interception result callback.

Event times are China time without an offset (``2022-06-30 10:34:33``) and become UTC.
Each event's status comes from its ``statusCode`` (sub-code beats main), the newest
event's also from ``lastResult.state`` (which may itself be a sub-code such as ``304``);
without a code, from the state name in ``data[].status``; an event with no status
information at all is ``in_transit`` (flagged ``uncoded_events``). Unknown codes stay
raw beside ``unknown`` and are flagged. After a carrier-code correction (``autoCheck=1``)
the carrier is ``comNew`` and the values are flagged ``carrier_corrected:<old>-><new>``
so the hub can find the shipment under its old carrier.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hub.values import TrackingEventValues, TrackingValues
from mappings.tracking import codes
from mappings.tracking.build import MappingError, tracking_values
from mappings.tracking.carriers import normalise
from mappings.tracking.monitoring import kuaidi100_monitoring

CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S")
INTERCEPT_SUCCESS = {"success", "succeeded", "succeed", "1", "true", "成功", "拦截成功"}
INTERCEPT_FAILED = {"fail", "failed", "failure", "0", "false", "失败", "拦截失败"}
INTERCEPT_PENDING = {"processing", "pending", "requested", "2", "处理中", "拦截中"}


def parse_time(value) -> datetime | None:
    """Kuaidi100's local time (China, UTC+8) as aware UTC, or None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=CHINA).astimezone(timezone.utc)
        except ValueError:
            continue
    return None


def _event(item: dict, state, flags: list[str]) -> TrackingEventValues | None:
    when = parse_time(item.get("time")) or parse_time(item.get("ftime"))
    if when is None:
        flags.append("bad_event_time")
        return None
    match = codes.kuaidi100(state=state, status_code=item.get("statusCode"),
                            status_name=item.get("status"))
    if match is None:
        status, raw = "in_transit", None
        flags.append("uncoded_events")
    else:
        status, raw = match.status, match.raw
        flags.extend(match.flags)
    context = str(item.get("context") or "")
    if "拦截" in context:
        flags.append("mentions_interception")
    location = item.get("areaName") or item.get("location") or None
    return TrackingEventValues(occurred_at=when, status=status, raw_status=raw,
                               description=context[:1000],
                               location=str(location) if location else None)


def map_result(last_result: dict, *, com: str | None = None, monitoring: str | None = None,
               flags: tuple[str, ...] = ()) -> TrackingValues:
    if not isinstance(last_result, dict):
        raise MappingError("Kuaidi100 lastResult must be a JSON object")
    number = str(last_result.get("nu") or "").strip()
    if not number:
        raise MappingError("Kuaidi100 result has no tracking number (nu)")
    carrier = normalise("kuaidi100", com or last_result.get("com"))
    out_flags = list(flags)
    events = []
    data = last_result.get("data") or []
    if not isinstance(data, list):
        raise MappingError("Kuaidi100 lastResult.data must be a list")
    state = last_result.get("state")
    for index, item in enumerate(data):     # newest first
        if not isinstance(item, dict):
            out_flags.append("bad_event")
            continue
        ev = _event(item, state if index == 0 else None, out_flags)
        if ev is not None:
            events.append(ev)
    if not data and state not in (None, ""):
        match = codes.kuaidi100(state=state)
        if match is not None:
            out_flags.extend(match.flags)
    return tracking_values(carrier, number, events, out_flags, monitoring=monitoring)


def map_push(param: dict) -> TrackingValues:
    if not isinstance(param, dict):
        raise MappingError("Kuaidi100 push param must be a JSON object")
    m = kuaidi100_monitoring(param)
    flags = []
    if not m.known:
        flags.append(f"unknown_monitoring:kuaidi100:{m.state}")
    if m.state == "abort":
        flags.append(f"monitoring_abort:{m.reason or 'unspecified'}")
    com = None
    if m.reason == "carrier_corrected":
        flags.append(f"carrier_corrected:{m.carrier_old or ''}->{m.carrier_new}")
        com = param.get("comNew")
    last = param.get("lastResult")
    if not isinstance(last, dict):
        raise MappingError("Kuaidi100 push has no lastResult object")
    return map_result(last, com=com, monitoring=m.state, flags=tuple(flags))


def interception_outcome(payload: dict) -> str | None:
    """``succeeded`` | ``failed`` | ``requested`` from a callback's status, else None."""
    for key in ("status", "interceptStatus"):
        if key in payload and payload[key] is not None:
            value = str(payload[key]).strip().lower()
            if value in INTERCEPT_SUCCESS:
                return "succeeded"
            if value in INTERCEPT_FAILED:
                return "failed"
            if value in INTERCEPT_PENDING:
                return "requested"
    return None


def map_interception(payload: dict, received_at: datetime | None = None) -> TrackingValues:
    """An interception result: on success one ``intercepted`` event (moving the parcel
    from any state), on failure no event; ``interception`` says which."""
    if not isinstance(payload, dict):
        raise MappingError("Kuaidi100 interception callback must be a JSON object")
    number = str(payload.get("kuaidinum") or payload.get("nu") or "").strip()
    if not number:
        raise MappingError("interception callback has no tracking number (kuaidinum)")
    carrier = normalise("kuaidi100", payload.get("kuaidicom") or payload.get("com"))
    outcome = interception_outcome(payload)
    flags = [] if outcome else [f"unknown_interception_status:{payload.get('status')}"]
    events = []
    if outcome == "succeeded":
        when = parse_time(payload.get("updateTime") or payload.get("time")) or received_at
        kind = str(payload.get("interceptType") or "").strip() or "UNSPECIFIED"
        if when is None:
            flags.append("interception_without_time")
        else:
            text = str(payload.get("message") or payload.get("reason") or "拦截成功")
            events.append(TrackingEventValues(occurred_at=when, status="intercepted",
                                              raw_status=f"intercept:{kind}"[:64],
                                              description=text[:1000]))
    return tracking_values(carrier, number, events, flags, interception=outcome)
