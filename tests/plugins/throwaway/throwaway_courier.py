"""A throw-away courier, written only against the connector contract.

``subscription_payload`` shapes the hub's parcel its own way (``waybill``, ``carrier_code``,
``ref``); ``push("subscribe")`` posts it with the account's webhook URL to
``POST /subscriptions``. The courier calls back with ``x-token`` and the parcel's events
(the hub JSON tracking shape, mapped with ``mappings.generic_shop``).
"""
from __future__ import annotations

import hmac
import json

import requests
from marshmallow import RAISE, Schema, ValidationError, fields

from connectors.base import (
    Connector, ConnectorError, ErrorClass, PushResult, Record, WebhookEvent, bad_signature,
)
from mappings.generic_shop import MappingError, map_record


class ThrowawayCourierConfig(Schema):
    class Meta:
        unknown = RAISE

    api_url = fields.Url(required=True, require_tld=False)
    api_key = fields.String(required=True, metadata={"secret": True})
    webhook_token = fields.String(required=True, metadata={"secret": True})


class ThrowawayCourier(Connector):
    name = "throwaway_courier"
    kind = "courier"
    title = "Throw-away courier (test plugin)"
    capabilities = ("webhook", "push")
    config_schema = ThrowawayCourierConfig

    @classmethod
    def subscription_payload(cls, parcel):
        if not parcel.tracking_number.strip():
            raise ValidationError("a waybill number is required", "waybill")
        return {"waybill": parcel.tracking_number, "carrier_code": parcel.carrier.upper(),
                "ref": parcel.ref}

    def push(self, topic, payload, idempotency_key):
        if topic != "subscribe":
            raise ConnectorError(ErrorClass.FAIL_CONFIG, f"{self.name} cannot push {topic!r}")
        callback = f"{self.ctx.public_url}/webhooks/{self.name}/{self.ctx.account_id}"
        resp = requests.post(self.config["api_url"].rstrip("/") + "/subscriptions", timeout=10,
                             json={**payload, "callback_url": callback},
                             headers={"X-Api-Key": self.config["api_key"]})
        if resp.status_code >= 400:
            raise ConnectorError(ErrorClass.RETRY, f"subscribe: HTTP {resp.status_code}")
        return PushResult(external_id=payload["waybill"], status_code=resp.status_code)

    def verify_webhook(self, headers, body):
        if not hmac.compare_digest(headers.get("x-token", ""), self.config["webhook_token"]):
            raise bad_signature()
        data = json.loads(body)
        return [WebhookEvent(str(data["event_id"]), "tracking", body)]

    def records_for_event(self, event_type, body):
        data = json.loads(body)
        payload = {"carrier": data["carrier_code"].lower(), "tracking_number": data["waybill"],
                   "events": data["events"]}
        return [Record("tracking", f"{payload['carrier']}:{data['waybill']}", payload)]

    def map_record(self, record):
        try:
            return map_record("tracking", record.payload, "CNY")
        except MappingError as e:
            raise ConnectorError(ErrorClass.FAIL_DATA, str(e)) from None
