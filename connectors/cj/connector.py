"""Declaration of the CJdropshipping supplier channel (see README.md beside this file).

    cj = CJ(ctx)
    cj.push("order_dispatch" | "stop_ship" | "claim" | "return_notice", payload, key)
    cj.verify_webhook(headers, raw_body)      # header sign, keyed by the openId
    cj.map_record(record)                     # FulfilmentUpdateValues (mapping.py)
"""
from __future__ import annotations

import json

from marshmallow import RAISE, Schema, fields, validate

from connectors.base import AckResponse, Connector, ConnectorError, ErrorClass, Record
from connectors.cj import mapping, push as pushes, webhooks
from connectors.cj.client import DEFAULT_BASE, CJAuthClient, CJClient, CJTokens


def _secret(description: str, **kw):
    return fields.String(load_default=None, allow_none=True,
                         metadata={"secret": True, "description": description}, **kw)


class CJConfig(Schema):
    class Meta:
        unknown = RAISE

    api_key = fields.String(required=True, validate=validate.Length(min=1),
                            metadata={"secret": True,
                                      "description": "the CJ API key (for getAccessToken)"})
    open_id = fields.String(load_default=None, allow_none=True,
                            metadata={"description": "CJ openId: key of the webhook signature; "
                                      "filled in by the first getAccessToken"})
    access_token = _secret("CJ access token (15 days)")
    refresh_token = _secret("CJ refresh token (180 days)")
    access_token_expires_at = fields.String(load_default=None, allow_none=True)
    refresh_token_expires_at = fields.String(load_default=None, allow_none=True)
    api_base_url = fields.Url(load_default=DEFAULT_BASE, require_tld=False)
    qps = fields.Float(load_default=1.0, validate=validate.Range(min=0.1, max=100),
                       metadata={"description": "calls per second (CJ allows 1-6 by level)"})
    order_number_prefix = fields.String(load_default="HUB-F", validate=validate.Regexp(
        r"^[A-Za-z0-9_-]{1,20}$"), metadata={"description": "orderNumber = prefix + fulfilment "
                                             "id; unique per CJ account"})
    logistic_name = fields.String(load_default="CJPacket Ordinary",
                                  validate=validate.Length(min=1, max=100))
    pay_type = fields.Integer(load_default=3, validate=validate.OneOf([2, 3]),
                              metadata={"description": "2 pay from the CJ balance at once, "
                                        "3 create only (pay in CJ)"})
    from_country_code = fields.String(load_default="CN", validate=validate.Regexp(r"^[A-Z]{2}$"))
    shipping_country_code = fields.String(load_default="CN",
                                          validate=validate.Regexp(r"^[A-Z]{2}$"))
    shipping_country = fields.String(load_default="China")
    dispute_refund_type = fields.Integer(load_default=1, validate=validate.Range(min=1, max=9))


class CJ(Connector):
    name = "cj"
    kind = "supplier"
    title = "CJdropshipping (API 2.0)"
    capabilities = ("webhook", "push")
    config_schema = CJConfig
    TOPICS = ("order_dispatch", "stop_ship", "claim", "claim_notice", "return_notice",
              "statement_notice")

    def __init__(self, ctx):
        super().__init__(ctx)
        self._tokens: CJTokens | None = None

    @property
    def tokens(self) -> CJTokens:
        if self._tokens is None:
            self._tokens = CJTokens(self.ctx, CJAuthClient(self.config.get("api_base_url")
                                                           or DEFAULT_BASE))
        return self._tokens

    def client(self, attempts: int | None = 1) -> CJClient:
        client = CJClient(self.ctx, self.tokens)
        if attempts is not None:
            client.max_attempts = attempts  # retries belong to the outbox
        return client

    def refresh_token(self) -> None:
        self.tokens.refresh()

    # -- outbound ------------------------------------------------------------------------------
    def push(self, topic, payload, idempotency_key):
        config = {**self.config_schema().load({"api_key": "-"}), **self.config}  # defaults
        if topic == "order_dispatch":
            return pushes.dispatch(self.client(), config, payload)
        if topic == "stop_ship":
            return pushes.stop_ship(self.client(), payload)
        if topic in ("claim", "claim_notice"):
            return pushes.claim(self.client(), config, payload)
        if topic == "return_notice":
            return pushes.return_notice()
        if topic == "statement_notice":
            return pushes.statement_notice()
        raise ConnectorError(ErrorClass.FAIL_DATA,
                             f"cj cannot push {topic!r}; topics: {', '.join(self.TOPICS)}")

    # -- inbound -------------------------------------------------------------------------------
    def verify_webhook(self, headers, body):
        return webhooks.verify(self.config.get("open_id"), headers, body)

    def webhook_ack(self, events):
        return AckResponse(json.dumps({"code": 200, "result": "success",
                                       "message": "received"}).encode())

    def records_for_event(self, event_type, body):
        return webhooks.records_for_event(event_type, body)

    def map_record(self, record: Record):
        try:
            if record.entity == "cj_order":
                return mapping.map_order(record.payload,
                                         self.config.get("order_number_prefix") or "HUB-F")
            if record.entity == "cj_logistics":
                return mapping.map_logistics(record.payload)
        except mapping.MappingError as e:
            raise ConnectorError(ErrorClass.FAIL_DATA, str(e)) from None
        return None
