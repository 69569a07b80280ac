"""Declaration of the Kuaishou (快手小店) connector: config schema, capabilities, and the
per-account objects the pipeline uses (see README.md beside this file).

    shop = Kuaishou(ctx)
    shop.client.list_orders(begin_ms, end_ms)      # signed API calls (client.py)
    shop.tokens.access_token()                     # OAuth, single-flight (oauth.py)
    shop.authorize_url(state, redirect_uri)        # linking (capability oauth_link)
    shop.complete_authorization(code, redirect_uri)  # -> the grant's config updates
    shop.authorization_status()                    # ok | expiring | expired | revoked
    shop.map_record(record)                        # mappings.kuaishou (pure)

    shop.verify_webhook(headers, body)             # message push (webhooks.py)
    shop.records_for_event(event_type, body)       # thin trigger -> full record (webhooks.py)
    shop.streams()                                 # orders / returns windows (streams.py)
    shop.push(topic, payload, key)                 # re-read, then write (push.py)
"""
from __future__ import annotations

import base64
import binascii
from datetime import datetime

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates

from connectors.base import AckResponse, Connector, ConnectorError, ErrorClass, PushResult, Record
from connectors.capabilities import PlatformAddress, RejectReason
from connectors.kuaishou.client import DEFAULT_API_BASE, DEFAULT_QPS, KuaishouClient
from connectors.kuaishou.oauth import (
    DEFAULT_MARGIN_S, DEFAULT_OAUTH_BASE, DEFAULT_WARNING_DAYS, OAuthClient, TokenManager,
    authorization_status, authorize_url,
)
from connectors.kuaishou.signing import HMAC_SHA256, SIGN_METHODS

DEFAULT_SCOPES = ("merchant_order", "merchant_refund", "merchant_logistics", "merchant_item",
                  "merchant_user")


def _iso_datetime(value: str) -> None:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationError("an ISO 8601 date-time with offset is required") from None
    if moment.tzinfo is None:
        raise ValidationError("the date-time needs a UTC offset")


def _secret(description: str, required: bool = False, **kw):
    if required:
        return fields.String(required=True, validate=validate.Length(min=1),
                             metadata={"secret": True, "description": description}, **kw)
    return fields.String(load_default=None, allow_none=True,
                         metadata={"secret": True, "description": description}, **kw)


class KuaishouConfig(Schema):
    class Meta:
        unknown = RAISE

    app_key = fields.String(required=True, validate=validate.Length(min=1, max=64),
                            metadata={"description": "the app's appKey (ks...)"})
    app_secret = _secret("appSecret, for the OAuth token endpoints", required=True)
    sign_secret = _secret("signSecret, for signing API calls", required=True)
    message_key = _secret("message-push AES key (Base64 of 16 bytes)")
    sign_method = fields.String(load_default=HMAC_SHA256, validate=validate.OneOf(SIGN_METHODS))
    api_base_url = fields.Url(load_default=DEFAULT_API_BASE, require_tld=False,
                              metadata={"description": "API gateway; token endpoints too",
                                        "label": "API base URL"})
    oauth_base_url = fields.Url(load_default=DEFAULT_OAUTH_BASE, require_tld=False,
                                metadata={"description": "host of /oauth/authorize",
                                          "label": "Authorization base URL"})
    redirect_uri = fields.Url(load_default=None, allow_none=True, require_tld=False,
                              metadata={"description": "the OAuth callback registered on the app"})
    access_token = _secret("the shop's access token (48 h)")
    refresh_token = _secret("the shop's refresh token (single use, rotates)")
    access_token_expires_at = fields.String(load_default=None, allow_none=True,
                                            validate=_iso_datetime)
    refresh_token_expires_at = fields.String(
        load_default=None, allow_none=True, validate=_iso_datetime,
        metadata={"description": "absolute: 180 days from the first authorization"})
    scopes = fields.List(fields.String(), load_default=list(DEFAULT_SCOPES))
    open_id = fields.String(load_default=None, allow_none=True)
    reauthorize_reason = fields.String(
        load_default=None, allow_none=True,
        metadata={"description": "set when the platform revoked the authorization"})
    order_window_days = fields.Integer(load_default=7, validate=validate.Range(min=1, max=7))
    refund_window_hours = fields.Integer(load_default=1, validate=validate.Range(min=1, max=24))
    backfill_days = fields.Integer(load_default=90, validate=validate.Range(min=1, max=90))
    poll_interval_s = fields.Integer(load_default=300, validate=validate.Range(min=5, max=86400),
                                     metadata={"description": "seconds between poll runs"})
    qps_default = fields.Float(load_default=DEFAULT_QPS, validate=validate.Range(min=0.1, max=1000),
                               metadata={"description": "per app and per shop, for APIs "
                                         "without a published limit"})
    qps_overrides = fields.Dict(keys=fields.String(), values=fields.Float(
        validate=validate.Range(min=0.1, max=10000)), load_default=dict,
        metadata={"description": "method -> calls per second (per app and per shop)"})
    qps_fraction = fields.Float(load_default=1.0, validate=validate.Range(min=0.01, max=1.0),
                                metadata={"description": "this process's share of each limit"})
    token_refresh_margin_s = fields.Integer(load_default=DEFAULT_MARGIN_S,
                                            validate=validate.Range(min=60, max=86_400))
    reauthorize_warning_days = fields.Integer(load_default=DEFAULT_WARNING_DAYS,
                                              validate=validate.Range(min=1, max=90))

    @validates("message_key")
    def _message_key(self, value, **kwargs):
        if value is None:
            return
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("must be Base64") from None
        if len(raw) not in (16, 24, 32):
            raise ValidationError("must decode to a 16-byte AES key")


class Kuaishou(Connector):
    name = "kuaishou"
    kind = "platform"
    title = "Kuaishou shop (快手小店)"
    capabilities = ("webhook", "poll", "push", "oauth", "oauth_link", "authorization_status",
                    "after_sale_lists")
    push_topics = ("shipment", "tracking_correction", "refund_approve", "return_approve",
                   "return_receipt", "refund_reject")
    config_schema = KuaishouConfig
    link_fields = ("app_key", "app_secret", "sign_secret", "message_key", "sign_method",
                   "api_base_url", "oauth_base_url", "scopes")
    link_title = "Kuaishou shop"
    link_help = ("Enter your self-developed app's credentials (快手电商开放平台 → 应用详情).")

    def __init__(self, ctx):
        super().__init__(ctx)
        self._tokens: TokenManager | None = None
        self._client: KuaishouClient | None = None

    @property
    def tokens(self) -> TokenManager:
        if self._tokens is None:
            self._tokens = TokenManager(self.ctx, OAuthClient(self.config))
        return self._tokens

    @property
    def client(self) -> KuaishouClient:
        if self._client is None:
            self._client = KuaishouClient(self.config, self.ctx.account_id, self.tokens)
        return self._client

    # -- authorization ------------------------------------------------------------------------
    def authorize_url(self, state: str, redirect_uri: str | None = None) -> str:
        uri = redirect_uri or self.config.get("redirect_uri")
        if not uri:
            raise ConnectorError(ErrorClass.FAIL_CONFIG, "no redirect_uri configured")
        return authorize_url(self.config.get("oauth_base_url") or DEFAULT_OAUTH_BASE,
                             self.config["app_key"], uri,
                             self.config.get("scopes") or DEFAULT_SCOPES, state)

    def complete_authorization(self, code: str, redirect_uri: str | None = None) -> dict:
        """Exchange the code (``grant_type=code``; the platform takes no redirect_uri)."""
        return self.tokens.authorize(code)

    @classmethod
    def linked_identity(cls, config: dict) -> str | None:
        return config.get("open_id") or None

    def authorization_status(self, now: datetime | None = None) -> str:
        return authorization_status(self.config, now)

    def refresh_token(self) -> None:
        """Refresh ahead of expiry if due (the refresh-tokens job); no-op when fresh."""
        self.tokens.access_token()

    # -- pipeline: message push, polling, pushes back ---------------------------------------
    def verify_webhook(self, headers, body):
        """Decrypt the push (see ``webhooks.py``); the heartbeat yields no event."""
        from connectors.kuaishou import webhooks

        return webhooks.verify(self.config, headers, body)

    def webhook_ack(self, events) -> AckResponse:
        return AckResponse(b'{"result":1}')

    def records_for_event(self, event_type, body):
        from connectors.kuaishou import webhooks

        return webhooks.records_for_event(self.client, event_type, body)

    def streams(self):
        """``orders`` and ``returns`` by update time (see ``streams.py``)."""
        from connectors.kuaishou.streams import shop_streams

        return shop_streams(self)

    def push(self, topic: str, payload: dict, idempotency_key: str) -> PushResult:
        """Shipments and after-sale decisions, each after a re-read (see ``push.py``)."""
        from connectors.kuaishou import push as pushes

        return pushes.push(self, topic, payload, idempotency_key)

    # -- after-sale lists ----------------------------------------------------------------------
    def return_addresses(self) -> list[PlatformAddress]:
        """``open.address.seller.list``; an entry without an id or address is skipped."""
        found = []
        for item in self.client.seller_addresses():
            if not isinstance(item, dict) or not item.get("addressId") or not item.get("address"):
                continue
            found.append(PlatformAddress(
                platform_address_id=str(item["addressId"]),
                name=str(item.get("consignee") or item.get("addressId"))[:128],
                address=str(item["address"])[:500],
                contact=str(item["consignee"])[:128] if item.get("consignee") else None,
                phone=str(item["mobile"])[:32] if item.get("mobile") else None,
                is_default=bool(item.get("defaultAddress"))))
        return found

    def reject_reasons(self, platform_return_id: str) -> list[RejectReason]:
        """``open.refund.reject.reason`` for one refund (they depend on its status)."""
        return [RejectReason(code=str(r["code"]), description=str(r.get("desc") or ""),
                             tip=r.get("tip") or None,
                             needs_description=bool(r.get("requiredRejectDesc")),
                             needs_image=bool(r.get("requiredRejectImage")))
                for r in self.client.reject_reasons(platform_return_id)
                if isinstance(r, dict) and r.get("code") is not None]

    # -- mapping -------------------------------------------------------------------------------
    def map_record(self, record: Record):
        from mappings.kuaishou import MappingError, map_order, map_refund

        try:
            if record.entity == "order":
                return map_order(record.payload)
            if record.entity == "return":
                return map_refund(record.payload)
        except MappingError as e:
            raise ConnectorError(ErrorClass.FAIL_DATA, str(e)) from None
        return None
