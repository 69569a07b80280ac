"""Inbound side of the generic shop connector: verifying a webhook delivery, and turning a
stored event body back into records.

A delivery is the hub JSON v1 envelope ``{"type": "order.updated", "data": {...}}`` signed
per Standard Webhooks; its ``webhook-id`` is the event id. Verification runs on the raw
bytes: a missing, forged or stale signature is ``bad_signature`` (401); a correctly
signed body that is not JSON or not the envelope is ``unparseable`` (400). An envelope
with a ``type`` the hub does not know is accepted and stored (later ignored), so a shop
adding event types never makes its deliveries fail.

Poll-sourced inbox events store the same envelope (``{"type": ..., "data": record}``), so
``records_for_event`` serves both.
"""
from __future__ import annotations

from datetime import datetime, timezone

from connectors import bounded_json
from connectors import standard_webhooks
from connectors.base import (
    ConnectorError, ErrorClass, Record, WebhookEvent, bad_signature, unparseable,
)

# event type -> record entity
EVENT_ENTITIES = {"order.updated": "order", "return.updated": "return",
                  "tracking.updated": "tracking"}
TOLERANCE_S = 300
MAX_ID_LEN = 191       # inbox_events.external_event_id
MAX_TYPE_LEN = 128     # inbox_events.event_type


def _envelope(body: bytes) -> dict | None:
    """The parsed envelope, or None when the body is not one."""
    try:
        data = bounded_json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if (isinstance(data, dict) and isinstance(data.get("type"), str)
            and 0 < len(data["type"]) <= MAX_TYPE_LEN and isinstance(data.get("data"), dict)):
        return data
    return None


def verify(secret: str, headers: dict[str, str], body: bytes,
           now: float | None = None) -> list[WebhookEvent]:
    try:
        event_id = standard_webhooks.verify([secret], headers, body, TOLERANCE_S, now=now)
    except standard_webhooks.SignatureError as e:
        raise bad_signature(str(e)) from None
    if len(event_id) > MAX_ID_LEN:
        raise unparseable(f"webhook-id is longer than {MAX_ID_LEN} characters")
    envelope = _envelope(body)
    if envelope is None:
        raise unparseable('body is not the hub JSON envelope {"type": "...", "data": {...}}')
    return [WebhookEvent(external_event_id=event_id, event_type=envelope["type"], body=body)]


def _updated_at(data: dict) -> datetime | None:
    try:
        value = datetime.fromisoformat(data["updated_at"])
    except (KeyError, TypeError, ValueError):
        return None
    return value.astimezone(timezone.utc) if value.tzinfo else None


def records_for_event(event_type: str, body: bytes) -> list[Record]:
    """The records in a stored envelope; an event type the hub does not handle has none."""
    entity = EVENT_ENTITIES.get(event_type)
    if entity is None:
        return []
    envelope = _envelope(body)
    if envelope is None:
        raise ConnectorError(ErrorClass.FAIL_DATA,
                             f"stored {event_type} body is not the hub JSON envelope")
    data = envelope["data"]
    if entity == "tracking":
        carrier = str(data.get("carrier") or "").strip().lower()  # as the mapper has it
        external_id = f"{carrier}:{str(data.get('tracking_number') or '').strip()}"
    else:
        ident = data.get("id")
        if isinstance(ident, bool) or not isinstance(ident, (str, int)) or not str(ident):
            raise ConnectorError(ErrorClass.FAIL_DATA, f"{event_type} record has no id")
        external_id = str(ident)
    return [Record(entity=entity, external_id=external_id, payload=data,
                   updated_at=_updated_at(data))]
