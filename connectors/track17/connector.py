"""Declaration of the 17TRACK (API v2) connector (see README.md beside this file).

Inbound: 17TRACK posts JSON ``{event: TRACKING_UPDATED | TRACKING_STOPPED, data: {number,
carrier, track_info...}}`` with header ``sign`` = lower-case hex SHA-256 of ``raw body +
"/" + security key``. 17TRACK sends no event id: the inbox id is a hash of the event,
number, carrier and the latest event's time + status, so a redelivery is a duplicate.

Outbound: ``push("subscribe", {"tracking_number", "carrier"?})`` registers a number
(``POST {base_url}/register``, header ``17token``); carrier is the 17TRACK numeric key
when the table knows it, else 17TRACK auto-detects.
"""
from __future__ import annotations

import hashlib
import hmac
import json


from marshmallow import RAISE, Schema, fields, validate

from connectors import bounded_json
from connectors.base import (
    Connector, ConnectorError, ErrorClass, PushResult, Record, WebhookEvent, bad_signature,
    unparseable,
)
from connectors.http import HttpAdapter, budget_for, excerpt
from mappings.tracking import MappingError
from mappings.tracking import track17 as mapper
from mappings.tracking.build import parse_iso
from mappings.tracking.carriers import normalise, provider_code

HEADER = "sign"
EVENTS = ("TRACKING_UPDATED", "TRACKING_STOPPED")


def signature(key: str, body: bytes) -> str:
    return hashlib.sha256(body + b"/" + key.encode("utf-8")).hexdigest()


class Track17Config(Schema):
    class Meta:
        unknown = RAISE

    security_key = fields.String(required=True, validate=validate.Length(min=1),
                                 metadata={"secret": True,
                                           "description": "the key that signs webhooks"})
    api_token = fields.String(load_default=None, allow_none=True,
                              metadata={"secret": True, "description": "17token, to register"})
    base_url = fields.Url(load_default="https://api.17track.net/track/v2.2", require_tld=False)
    qps = fields.Float(load_default=3.0, validate=validate.Range(min=0.1, max=100))


def _event_id(data: dict) -> str:
    d = data.get("data") if isinstance(data.get("data"), dict) else {}
    info = d.get("track_info") if isinstance(d.get("track_info"), dict) else {}
    latest = info.get("latest_event") if isinstance(info.get("latest_event"), dict) else {}
    status = info.get("latest_status") if isinstance(info.get("latest_status"), dict) else {}
    parts = (data.get("event"), d.get("number"), d.get("carrier"), latest.get("time_utc"),
             latest.get("description"), status.get("status"), status.get("sub_status"))
    raw = "\x1f".join("" if p is None else str(p) for p in parts)
    return "t17:" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:40]


class Track17(Connector):
    name = "track17"
    kind = "courier"
    title = "17TRACK API v2 (webhooks, register)"
    capabilities = ("webhook", "push")
    config_schema = Track17Config

    def verify_webhook(self, headers, body):
        given = {k.lower(): v for k, v in headers.items()}.get(HEADER)
        if not given:
            raise bad_signature(f"header {HEADER} is missing")
        expected = signature(self.config["security_key"], body)
        if not hmac.compare_digest(expected.encode("ascii"),
                                   given.lower().encode("utf-8", "replace")):
            raise bad_signature("sign is not SHA-256 of body + '/' + key")
        try:
            data = bounded_json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise unparseable("body is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("event"), str) \
                or not isinstance(data.get("data"), dict):
            raise unparseable("body is not a 17TRACK webhook {event, data}")
        return [WebhookEvent(external_event_id=_event_id(data), event_type=data["event"],
                             body=body)]

    def records_for_event(self, event_type, body):
        if event_type not in EVENTS:
            return []
        try:
            data = bounded_json.loads(body)["data"]
        except (ValueError, UnicodeDecodeError, KeyError, TypeError):
            raise ConnectorError(ErrorClass.FAIL_DATA, "stored 17TRACK body has no data") \
                from None
        if not isinstance(data, dict) or not data.get("number"):
            raise ConnectorError(ErrorClass.FAIL_DATA, "17TRACK webhook data has no number")
        carrier = normalise("track17", data.get("carrier")).carrier
        info = data.get("track_info") if isinstance(data.get("track_info"), dict) else {}
        latest = info.get("latest_event") if isinstance(info.get("latest_event"), dict) else {}
        updated, _ = parse_iso(latest.get("time_utc"))
        return [Record(entity="tracking", external_id=f"{carrier}:{data['number']}",
                       payload={"event": event_type, "data": data}, updated_at=updated)]

    def map_record(self, record):
        if record.entity != "tracking":
            return None
        try:
            return mapper.map_tracking(record.payload.get("data"), record.payload.get("event"))
        except MappingError as e:
            raise ConnectorError(ErrorClass.FAIL_DATA, str(e)) from None

    def push(self, topic, payload, idempotency_key):
        if topic != "subscribe":
            raise ConnectorError(ErrorClass.FAIL_CONFIG,
                                 f"track17 cannot push {topic!r}; topics: subscribe")
        token = self.config.get("api_token")
        if not token:
            raise ConnectorError(ErrorClass.FAIL_CONFIG, "registering needs the api_token")
        number = str((payload or {}).get("tracking_number") or "").strip()
        if not number:
            raise ConnectorError(ErrorClass.FAIL_DATA, "subscribe payload has no tracking_number")
        item = {"number": number}
        key = provider_code("track17", (payload or {}).get("carrier"))
        if key is not None:
            item["carrier"] = int(key)
        client = HttpAdapter(self.config["base_url"],
                             budget=[budget_for(f"track17:{self.ctx.account_id}",
                                                self.config["qps"])])
        client.max_attempts = 1
        response = client.request("POST", "/register", json=[item],
                                  headers={"17token": token})
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {"body": body}
        data = body.get("data") if isinstance(body.get("data"), dict) else None
        rejected = (data or {}).get("rejected") or []
        if body.get("code") not in (0, None) or rejected:
            message = json.dumps(rejected or body, ensure_ascii=False)[:300]
            if "already" not in message.lower():
                raise ConnectorError(ErrorClass.FAIL_DATA, f"17TRACK rejected {number}: {message}",
                                     status_code=response.status_code,
                                     response_excerpt=excerpt(response))
        return PushResult(external_id=number, status_code=response.status_code,
                          response_excerpt=excerpt(response), data=body or {})
