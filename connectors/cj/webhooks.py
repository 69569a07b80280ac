"""CJ webhooks: verifying a delivery and turning a stored one back into records.

CJ signs each POST with the header ``sign`` = Base64(HMAC-SHA256(key = the account's
``openId`` as text, message = the raw request body)) (reference §1.1 [V]). It is checked
on the raw bytes with ``hmac.compare_digest`` before anything is parsed: a missing or
wrong signature, or one that cannot be checked (no ``open_id`` configured yet), is
``bad_signature`` (401, quarantined). A signed body that is not the envelope ``{messageId, type, messageType,
openId, params}`` is ``unparseable`` (400); an envelope for another ``openId`` too.

The event id is ``messageId`` and the event type ``<type>.<messageType>`` lower-cased
(``order.update``, ``logistics.update``, ``product.insert`` ...): a redelivery of the same
message is stored once. ORDER and LOGISTICS messages become records
(``cj_order`` / ``cj_logistics``); every other type is stored and ignored.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from connectors import bounded_json
from connectors.base import (ConnectorError, ErrorClass, Record, WebhookEvent, bad_signature,
                             unparseable)
from connectors.cj.client import parse_time

ENTITIES = {"order": "cj_order", "logistics": "cj_logistics"}
MAX_ID = 191


def signature(open_id: str, body: bytes) -> str:
    digest = hmac.new(str(open_id).encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def envelope(body: bytes) -> dict | None:
    try:
        data = bounded_json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("messageId") in (None, ""):
        return None
    if not isinstance(data.get("type"), str) or not data["type"].strip():
        return None
    if not isinstance(data.get("params"), (dict, list)):
        return None
    return data


def verify(open_id: str | None, headers: dict[str, str], body: bytes) -> list[WebhookEvent]:
    given = {k.lower(): v for k, v in headers.items()}.get("sign")
    if not open_id:
        raise bad_signature("this CJ account has no open_id yet: the delivery cannot be "
                            "verified (get an access token first)")
    if not given:
        raise bad_signature("the sign header is missing")
    if not hmac.compare_digest(signature(open_id, body).encode(), given.strip().encode()):
        raise bad_signature("the sign header does not match the body")
    data = envelope(body)
    if data is None:
        raise unparseable("body is not a CJ message {messageId, type, messageType, params}")
    if data.get("openId") not in (None, "") and str(data["openId"]) != str(open_id):
        raise unparseable("the message is for another CJ openId")
    event_id = str(data["messageId"])
    if len(event_id) > MAX_ID:
        raise unparseable(f"messageId is longer than {MAX_ID} characters")
    kind = f"{data['type']}.{data.get('messageType') or 'update'}".lower()[:128]
    return [WebhookEvent(external_event_id=event_id, event_type=kind, body=body)]


def records_for_event(event_type: str, body: bytes) -> list[Record]:
    entity = ENTITIES.get(event_type.partition(".")[0])
    if entity is None:
        return []
    data = envelope(body)
    if data is None:
        raise ConnectorError(ErrorClass.FAIL_DATA, f"stored {event_type} body is not a CJ "
                                                   "message")
    items = data["params"] if isinstance(data["params"], list) else [data["params"]]
    records = []
    for params in items:
        if not isinstance(params, dict):
            raise ConnectorError(ErrorClass.FAIL_DATA, f"{event_type} params are not objects")
        ident = params.get("cjOrderId") or params.get("orderId") or ""
        records.append(Record(entity=entity, external_id=str(ident), payload=params,
                              updated_at=parse_time(params.get("updateDate"))))
    return records
