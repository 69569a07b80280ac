"""Inbound side of Kuaidi100: verifying a push, its event id, and stored events → records.

A push is ``application/x-www-form-urlencoded`` with ``param`` (JSON) and ``sign`` =
UPPER(MD5(param + salt)) over the raw ``param`` value exactly as received; compared in
constant time. A body that is not a form, lacks ``param`` or ``sign``, or whose sign
does not match is ``bad_signature`` (401); a correctly signed ``param`` that is not a
JSON object of a known kind is ``unparseable`` (400). Kinds: ``tracking`` (has ``lastResult``) and ``interception`` (an interception
result callback: ``kuaidinum`` + ``interceptType`` / ``orderId``).

Event ids make redeliveries duplicates in the inbox:
* tracking — hash of com, nu, the monitoring ``status`` and the newest event's
  ``data[0].time`` + ``context``: a re-push of the same history is the same event; a
  change of monitoring state (an abort after the same history) is a new one;
* interception — hash of orderId, taskId and the outcome status.
"""
from __future__ import annotations

import hashlib
from urllib.parse import parse_qs

from connectors import bounded_json
from connectors.base import (
    ConnectorError, ErrorClass, Record, WebhookEvent, bad_signature, unparseable,
)
from connectors.kuaidi100 import signing
from mappings.tracking.carriers import normalise
from mappings.tracking.kuaidi100 import interception_outcome, parse_time

ACK = '{"result":true,"returnCode":"200","message":"成功"}'.encode("utf-8")
ACK_CONTENT_TYPE = "application/json;charset=UTF-8"


def failure_ack(status: int, message: str) -> bytes:
    return signing.dumps({"result": False, "returnCode": str(status),
                          "message": message[:200]}).encode("utf-8")


def parse_form(body: bytes) -> dict[str, str]:
    """The form fields, or {} when the body is not a UTF-8 form (nothing to verify)."""
    try:
        text = body.decode("utf-8")
        form = parse_qs(text, keep_blank_values=True, max_num_fields=50, encoding="utf-8",
                        errors="strict")
    except (UnicodeDecodeError, ValueError):
        return {}
    return {k: v[0] for k, v in form.items() if v}


def kind_of(obj) -> str | None:
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("lastResult"), dict):
        return "tracking"
    if obj.get("kuaidinum") and (obj.get("interceptType") or obj.get("orderId")):
        return "interception"
    return None


def _digest(*parts) -> str:
    return hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts)
                          .encode("utf-8")).hexdigest()[:40]


def event_id(kind: str, obj: dict) -> str:
    if kind == "tracking":
        last = obj["lastResult"]
        data = last.get("data") or [{}]
        newest = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        return "k100t:" + _digest(last.get("com"), last.get("nu"), obj.get("status"),
                                  newest.get("time"), newest.get("context"))
    return "k100i:" + _digest(obj.get("orderId"), obj.get("taskId"), obj.get("kuaidinum"),
                              obj.get("status") or obj.get("interceptStatus"))


def verify(salt: str, headers: dict[str, str], body: bytes) -> list[WebhookEvent]:
    form = parse_form(body)
    param = form.get("param")
    if param is None or not signing.verify_push(param, form.get("sign"), salt):
        # no form, no param or no sign: nothing verifiable came, which is a bad signature
        raise bad_signature("form fields param and sign missing, or sign is not "
                            "MD5(param + salt)")
    try:
        obj = bounded_json.loads(param)
    except ValueError:
        raise unparseable("param is not JSON") from None
    kind = kind_of(obj)
    if kind is None:
        raise unparseable("param is neither a tracking push (lastResult) nor an "
                          "interception result (kuaidinum, interceptType)")
    return [WebhookEvent(external_event_id=event_id(kind, obj), event_type=kind,
                         body=param.encode("utf-8"))]


def _load(event_type: str, body: bytes) -> dict:
    try:
        obj = bounded_json.loads(body)
    except (ValueError, UnicodeDecodeError):
        obj = None
    if kind_of(obj) != event_type:
        raise ConnectorError(ErrorClass.FAIL_DATA,
                             f"stored kuaidi100 {event_type} body is not a {event_type} push")
    return obj


def records_for_event(event_type: str, body: bytes) -> list[Record]:
    if event_type not in ("tracking", "interception"):
        return []
    obj = _load(event_type, body)
    if event_type == "tracking":
        return [tracking_record(obj)]
    carrier = normalise("kuaidi100", obj.get("kuaidicom")).carrier
    external_id = str(obj.get("orderId") or f"{carrier}:{obj.get('kuaidinum')}")
    payload = {**obj, "outcome": interception_outcome(obj)}
    return [Record(entity="interception", external_id=external_id, payload=payload,
                   updated_at=parse_time(obj.get("updateTime")))]


def tracking_record(param: dict) -> Record:
    """A tracking record from a push ``param`` (or a query result wrapped as one)."""
    last = param["lastResult"]
    com = param.get("comNew") if str(param.get("autoCheck") or "") == "1" and \
        param.get("comNew") else last.get("com")
    carrier = normalise("kuaidi100", com).carrier
    data = last.get("data") or []
    newest = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    return Record(entity="tracking", external_id=f"{carrier}:{str(last.get('nu') or '').strip()}",
                  payload=param, updated_at=parse_time(newest.get("time")))
