"""Declaration of the AfterShip Tracking connector (see README.md beside this file).

Inbound only: AfterShip posts JSON ``{event, event_id, is_tracking_first_tag, msg, ts}``
signed with header ``aftership-hmac-sha256`` = Base64(HMAC-SHA256(webhook secret, raw
body)). ``event_id`` (UUID v4) is the inbox event id; nothing else is signed, so there
is no timestamp window — the inbox's event-id dedup stops replays of a stored event.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from marshmallow import RAISE, Schema, fields, validate

from connectors import bounded_json
from connectors.base import (
    Connector, ConnectorError, ErrorClass, Record, WebhookEvent, bad_signature, unparseable,
)
from mappings.tracking import MappingError
from mappings.tracking import aftership as mapper
from mappings.tracking.build import parse_iso
from mappings.tracking.carriers import normalise

HEADER = "aftership-hmac-sha256"
EVENTS = ("tracking_update", "edd_revise", "tracking_pending_time")


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256)
                            .digest()).decode("ascii")


class AfterShipConfig(Schema):
    class Meta:
        unknown = RAISE

    webhook_secret = fields.String(required=True, validate=validate.Length(min=1),
                                   metadata={"secret": True,
                                             "description": "webhook secret from AfterShip "
                                                            "admin (signs every delivery)"})
    api_key = fields.String(load_default=None, allow_none=True,
                            metadata={"secret": True, "description": "as-api-key (unused yet)"})


class AfterShip(Connector):
    name = "aftership"
    kind = "courier"
    title = "AfterShip Tracking webhooks"
    capabilities = ("webhook",)
    config_schema = AfterShipConfig

    def verify_webhook(self, headers, body):
        given = {k.lower(): v for k, v in headers.items()}.get(HEADER)
        if not given:
            raise bad_signature(f"header {HEADER} is missing")
        expected = signature(self.config["webhook_secret"], body)
        if not hmac.compare_digest(expected.encode("ascii"),
                                   given.encode("utf-8", "replace")):
            raise bad_signature(f"{HEADER} is not Base64 HMAC-SHA256 of the body")
        try:
            data = bounded_json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise unparseable("body is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("event"), str):
            raise unparseable("body is not an AfterShip webhook {event, event_id, msg}")
        event_id = data.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            event_id = "sha256:" + hashlib.sha256(body).hexdigest()
        return [WebhookEvent(external_event_id=event_id, event_type=data["event"], body=body)]

    def records_for_event(self, event_type, body):
        if event_type not in EVENTS:
            return []
        try:
            data = bounded_json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ConnectorError(ErrorClass.FAIL_DATA, "stored AfterShip body is not JSON") \
                from None
        msg = data.get("msg") if isinstance(data, dict) else None
        if not isinstance(msg, dict) or not msg.get("tracking_number"):
            raise ConnectorError(ErrorClass.FAIL_DATA, "AfterShip webhook has no msg "
                                 "with a tracking_number")
        carrier = normalise("aftership", msg.get("slug")).carrier
        updated, _ = parse_iso(msg.get("updated_at"))
        return [Record(entity="tracking", external_id=f"{carrier}:{msg['tracking_number']}",
                       payload=msg, updated_at=updated)]

    def map_record(self, record):
        if record.entity != "tracking":
            return None
        try:
            return mapper.map_tracking(record.payload)
        except MappingError as e:
            raise ConnectorError(ErrorClass.FAIL_DATA, str(e)) from None
