"""Declaration of the generic shop connector (see README.md beside this file)."""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from connectors.base import AckResponse, Connector, ConnectorError, ErrorClass, PushResult
from connectors.capabilities import Outgoing, ReturnDecision
from connectors.generic_shop import push as pushes
from connectors.generic_shop import webhooks
from mappings.generic_shop import MappingError, map_record


class GenericShopConfig(Schema):
    class Meta:
        unknown = RAISE

    webhook_secret = fields.String(
        required=True, validate=validate.Regexp(r"^whsec_[A-Za-z0-9+/=]{24,}$"),
        metadata={"secret": True,
                  "description": "Standard Webhooks secret, whsec_ + Base64 of 24-64 bytes"})
    base_url = fields.Url(load_default=None, allow_none=True, require_tld=False,
                          metadata={"description": "the shop's API, for polling and pushes"})
    api_key = fields.String(load_default=None, allow_none=True,
                            metadata={"secret": True, "description": "bearer token for base_url"})
    currency = fields.String(load_default="CNY", validate=validate.Regexp(r"^[A-Z]{3}$"))
    qps = fields.Float(load_default=5.0, validate=validate.Range(min=0.1, max=1000))
    poll_interval_s = fields.Integer(load_default=300, validate=validate.Range(min=5, max=86400))


class GenericShop(Connector):
    name = "generic_shop"
    kind = "platform"
    title = "Generic shop (hub JSON over Standard Webhooks)"
    capabilities = ("webhook", "poll", "push")
    push_topics = tuple(pushes.TOPICS)
    config_schema = GenericShopConfig

    @classmethod
    def return_message(cls, decision: ReturnDecision) -> Outgoing | None:
        """Every decision but a receipt (the protocol has no such step) is one
        ``return_decision``: approve (a return with the buyer's instructions), or reject
        with the description (else the code)."""
        if decision.action == "confirm_receipt":
            return None
        verdict = "reject" if decision.action == "reject" else "approve"
        reason = (decision.desc or str(decision.reason_code)) if verdict == "reject" else None
        body = {"return_id": decision.return_id, "decision": verdict, "reason": reason}
        if decision.instructions and verdict == "approve":
            body["instructions"] = decision.instructions
        return Outgoing("return_decision", body, f"{verdict}:{reason or ''}")

    def push(self, topic: str, payload: dict, idempotency_key: str) -> PushResult:
        """Shipments and return decisions back to the shop (see ``push.py``)."""
        return pushes.push(self, topic, payload, idempotency_key)

    # -- inbound (see webhooks.py) ----------------------------------------------------------
    def verify_webhook(self, headers, body):
        return webhooks.verify(self.config["webhook_secret"], headers, body)

    def webhook_ack(self, events):
        return AckResponse(b'{"ok":true}')

    def records_for_event(self, event_type, body):
        return webhooks.records_for_event(event_type, body)

    def streams(self):
        """``orders`` and ``returns`` polled from ``base_url`` (see ``streams.py``)."""
        from connectors.generic_shop.streams import shop_streams

        return shop_streams(self)

    def map_record(self, record):
        try:
            return map_record(record.entity, record.payload,
                              self.config.get("currency") or "CNY")
        except MappingError as e:
            raise ConnectorError(ErrorClass.FAIL_DATA, str(e)) from None
