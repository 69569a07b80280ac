"""Declaration of the Kuaishou 厂家代发 supplier channel (see README.md beside this file).

    channel = KuaishouDropship(ctx)
    channel.push("order_dispatch", payload, key)   # allocate to factory_code (push.py)
    channel.push("stop_ship", payload, key)        # cancel the allocation (push.py)
    channel.push("return_notice" | "claim_notice", ...)  # forwarded: false, with why
    channel.streams()                              # "allocations" (streams.py)
    channel.map_record(record)                     # FulfilmentUpdateValues (mapping.py)

Signing, the envelope, error classes and OAuth tokens are ``connectors.kuaishou``'s: this
account holds the shop's app credentials and access token (and, optionally, its own
refresh token) plus the ``factory_code`` it allocates to.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from connectors import bounded_json
from connectors.base import Connector, ConnectorError, ErrorClass, PollStream, Record
from connectors.kuaishou.client import DEFAULT_API_BASE, DEFAULT_QPS, KuaishouClient
from connectors.kuaishou.oauth import DEFAULT_MARGIN_S, OAuthClient, TokenManager
from connectors.kuaishou.signing import HMAC_SHA256, SIGN_METHODS
from connectors.kuaishou_dropship import push as pushes
from connectors.kuaishou_dropship.api import DropshipApi
from connectors.kuaishou_dropship.mapping import MappingError, map_allocation
from connectors.kuaishou_dropship.streams import ENTITY, AllocationStream

TOPICS = ("order_dispatch", "stop_ship", "return_notice", "claim_notice", "statement_notice")


def _iso_datetime(value: str) -> None:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationError("an ISO 8601 date-time with offset is required") from None
    if moment.tzinfo is None:
        raise ValidationError("the date-time needs a UTC offset")


def _secret(description: str, required: bool = False):
    if required:
        return fields.String(required=True, validate=validate.Length(min=1),
                             metadata={"secret": True, "description": description})
    return fields.String(load_default=None, allow_none=True,
                         metadata={"secret": True, "description": description})


class KuaishouDropshipConfig(Schema):
    class Meta:
        unknown = RAISE

    app_key = fields.String(required=True, validate=validate.Length(min=1, max=64),
                            metadata={"description": "the shop's app appKey (ks...)"})
    app_secret = _secret("appSecret, to refresh the access token")
    sign_secret = _secret("signSecret, for signing API calls", required=True)
    sign_method = fields.String(load_default=HMAC_SHA256, validate=validate.OneOf(SIGN_METHODS))
    api_base_url = fields.Url(load_default=DEFAULT_API_BASE, require_tld=False)
    access_token = _secret("the shop's access token")
    refresh_token = _secret("this account's own refresh token (never a copy of the shop "
                            "account's: refresh tokens are single use)")
    access_token_expires_at = fields.String(load_default=None, allow_none=True,
                                            validate=_iso_datetime)
    refresh_token_expires_at = fields.String(load_default=None, allow_none=True,
                                             validate=_iso_datetime)
    scopes = fields.List(fields.String(), load_default=list)
    open_id = fields.String(load_default=None, allow_none=True)
    reauthorize_reason = fields.String(load_default=None, allow_none=True)
    factory_code = fields.String(required=True, validate=validate.Length(min=1, max=64),
                                 metadata={"description": "厂家编码 the orders are allocated to"})
    lookup_days = fields.Integer(load_default=29, validate=validate.Range(min=1, max=29),
                                 metadata={"description": "how far back a stop-ship looks for "
                                           "the allocation when the notice has no reference"})
    backfill_minutes = fields.Integer(load_default=1440,
                                      validate=validate.Range(min=1, max=60 * 24 * 59))
    lookback_s = fields.Integer(load_default=120, validate=validate.Range(min=0, max=3600))
    poll_interval_s = fields.Integer(load_default=300, validate=validate.Range(min=5, max=86400))
    qps_default = fields.Float(load_default=DEFAULT_QPS, validate=validate.Range(min=0.1,
                                                                                 max=1000))
    qps_overrides = fields.Dict(keys=fields.String(), values=fields.Float(
        validate=validate.Range(min=0.1, max=10000)), load_default=dict)
    qps_fraction = fields.Float(load_default=1.0, validate=validate.Range(min=0.01, max=1.0))
    token_refresh_margin_s = fields.Integer(load_default=DEFAULT_MARGIN_S,
                                            validate=validate.Range(min=60, max=86_400))


class KuaishouDropship(Connector):
    name = "kuaishou_dropship"
    kind = "supplier"
    title = "Kuaishou factory dropship (快手厂家代发)"
    capabilities = ("poll", "push")
    config_schema = KuaishouDropshipConfig

    def __init__(self, ctx):
        super().__init__(ctx)
        self.clock = lambda: datetime.now(timezone.utc)
        self._tokens: TokenManager | None = None

    @property
    def tokens(self) -> TokenManager:
        if self._tokens is None:
            self._tokens = TokenManager(self.ctx, OAuthClient(self.config))
        return self._tokens

    def api(self, *, attempts: int | None = None) -> DropshipApi:
        client = KuaishouClient(self.config, self.ctx.account_id, self.tokens)
        if attempts is not None:
            client.max_attempts = attempts
        return DropshipApi(client, self.config["factory_code"])

    def refresh_token(self) -> None:
        self.tokens.access_token()

    # -- outbound ------------------------------------------------------------------------------
    def push(self, topic, payload, idempotency_key):
        if topic == "order_dispatch":
            return pushes.dispatch(self.api(attempts=1), payload, self.clock())
        if topic == "stop_ship":
            return pushes.stop_ship(self.api(attempts=1), payload, self.clock(),
                                    int(self.config.get("lookup_days") or 29))
        if topic == "return_notice":
            return pushes.return_notice()
        if topic == "claim_notice":
            return pushes.claim_notice()
        if topic == "statement_notice":
            return pushes.statement_notice()
        raise ConnectorError(ErrorClass.FAIL_DATA, f"kuaishou_dropship cannot push {topic!r}; "
                             f"topics: {', '.join(TOPICS)}")

    # -- inbound -------------------------------------------------------------------------------
    def streams(self):
        stream = AllocationStream(
            self.api(), lookback=timedelta(seconds=int(self.config.get("lookback_s", 120))),
            backfill=timedelta(minutes=int(self.config.get("backfill_minutes") or 1440)),
            now=lambda: self.clock())
        return [PollStream(name="allocations", read=stream.read,
                           interval_s=float(self.config.get("poll_interval_s") or 300))]

    def records_for_event(self, event_type, body):
        """Polled records are stored as ``{"type": "allocation.updated", "data": record}``."""
        if event_type != f"{ENTITY}.updated":
            return []
        try:
            envelope = bounded_json.loads(body)
            item = envelope["data"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise ConnectorError(ErrorClass.FAIL_DATA,
                                 "stored allocation event is not {type, data}") from None
        if not isinstance(item, dict):
            raise ConnectorError(ErrorClass.FAIL_DATA, "stored allocation is not an object")
        from connectors.kuaishou_dropship.streams import as_record

        return [as_record(item)]

    def map_record(self, record: Record):
        if record.entity != ENTITY:
            return None
        try:
            return map_allocation(record.payload)
        except MappingError as e:
            raise ConnectorError(ErrorClass.FAIL_DATA, str(e)) from None
