"""Declaration of the Kuaidi100 connector (see README.md beside this file).

Pushes (outbox topics): ``subscribe`` and ``intercept`` (payloads in ``payloads.py``,
built for the hub by the ``subscription_payload`` / ``interception_payload`` capabilities).
Inbound: signed pushes of ``tracking`` and ``interception`` events (``webhooks.py``).
``query_tracking`` is the rate-limited real-time look-up, for one parcel at a time.
"""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from connectors.base import (
    AckResponse, Connector, ConnectorError, ErrorClass, PushResult, Record, WebhookRejected,
)
from connectors.capabilities import Parcel
from connectors.kuaidi100 import payloads, webhooks
from connectors.kuaidi100.client import Kuaidi100Client
from connectors.kuaidi100.payloads import (
    INTERCEPT_TYPES, InterceptPayload, SubscribePayload, last4,
)
from mappings.tracking import MappingError
from mappings.tracking import kuaidi100 as mapper
from mappings.tracking.carriers import provider_code, requires_phone

PAY_TYPES = ("SHIPPER", "CONSIGNEE", "THIRDPARTY", "MONTHLY")


class Kuaidi100Config(Schema):
    class Meta:
        unknown = RAISE

    key = fields.String(required=True, validate=validate.Length(min=1),
                        metadata={"secret": True, "description": "authorisation key (授权key)"})
    customer = fields.String(required=True, validate=validate.Length(min=1),
                             metadata={"description": "customer id, signs real-time queries"})
    salt = fields.String(required=True, validate=validate.Length(min=1, max=64),
                         metadata={"secret": True, "description": "push signing salt "
                                   "(sent at subscribe; pushes are signed MD5(param+salt))"})
    secret = fields.String(load_default=None, allow_none=True,
                           metadata={"secret": True,
                                     "description": "label API secret, for interceptions"})
    poll_base_url = fields.Url(load_default="https://poll.kuaidi100.com", require_tld=False)
    api_base_url = fields.Url(load_default="https://api.kuaidi100.com", require_tld=False)
    callback_url = fields.Url(load_default=None, allow_none=True, require_tld=False,
                              metadata={"description": "webhook URL to give Kuaidi100; "
                                        "default <public_url>/webhooks/kuaidi100/<account>"})
    resultv2 = fields.String(load_default="4", validate=validate.OneOf(["4", "8"]),
                             metadata={"description": "4 = advanced state codes; 8 adds ETA"})
    query_qps = fields.Float(load_default=1.0, validate=validate.Range(min=0.01, max=1.0))
    intercept_pay_type = fields.String(load_default="SHIPPER",
                                       validate=validate.OneOf(PAY_TYPES))
    intercept_order_role = fields.String(load_default="1",
                                         validate=validate.OneOf(["1", "2", "3"]))
    partner_id = fields.String(load_default=None, allow_none=True)
    partner_key = fields.String(load_default=None, allow_none=True, metadata={"secret": True})


def with_query(url: str, **params) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v]
    return urlunsplit(parts._replace(query=urlencode(query)))


class Kuaidi100(Connector):
    name = "kuaidi100"
    kind = "courier"
    title = "Kuaidi100 (快递100) subscription, push, query and interception"
    capabilities = ("webhook", "push", "query", "intercept")
    config_schema = Kuaidi100Config

    @classmethod
    def subscription_payload(cls, parcel: Parcel) -> dict:
        """Only carriers that need it (SF, ZTO...) get the phone's last 4 digits; one
        that needs it without a phone ending in 4 digits is a ``ValidationError``."""
        phone = last4(parcel.phone) if requires_phone(parcel.carrier) else None
        return payloads.subscription_payload(parcel.carrier, parcel.tracking_number,
                                             shipment_ref=parcel.ref, phone=phone)

    @classmethod
    def interception_payload(cls, parcel: Parcel, kind: str, reason: str = "",
                             address: dict | None = None) -> dict:
        return payloads.interception_payload(parcel.carrier, parcel.tracking_number, kind,
                                             reason=reason or "", address=address)

    def client(self, **kwargs) -> Kuaidi100Client:
        return Kuaidi100Client(self.config, **kwargs)

    def callback_url(self, **params) -> str:
        base = self.config.get("callback_url")
        if not base:
            if not self.ctx.public_url:
                raise ConnectorError(ErrorClass.FAIL_CONFIG, "no public URL for Kuaidi100 to "
                                     "push to: set HUB_PUBLIC_URL or the account's callback_url")
            base = f"{self.ctx.public_url.rstrip('/')}/webhooks/kuaidi100/{self.ctx.account_id}"
        return with_query(base, **params)

    # -- inbound ----------------------------------------------------------------------------
    def verify_webhook(self, headers, body):
        return webhooks.verify(self.config["salt"], headers, body)

    def webhook_ack(self, events):
        return AckResponse(webhooks.ACK, 200, webhooks.ACK_CONTENT_TYPE)

    def webhook_error_ack(self, rejected: WebhookRejected):
        return AckResponse(webhooks.failure_ack(rejected.status, rejected.detail),
                           rejected.status, webhooks.ACK_CONTENT_TYPE)

    def records_for_event(self, event_type, body):
        return webhooks.records_for_event(event_type, body)

    def map_record(self, record: Record):
        try:
            if record.entity == "tracking":
                return mapper.map_push(record.payload)
            if record.entity == "interception":
                return mapper.map_interception(record.payload, record.updated_at)
        except MappingError as e:
            raise ConnectorError(ErrorClass.FAIL_DATA, str(e)) from None
        return None

    # -- outbound ---------------------------------------------------------------------------
    def push(self, topic: str, payload: dict, idempotency_key: str) -> PushResult:
        if topic == "subscribe":
            return self.subscribe(payload)
        if topic == "intercept":
            return self.intercept(payload, idempotency_key)
        raise ConnectorError(ErrorClass.FAIL_CONFIG,
                             f"kuaidi100 cannot push {topic!r}; topics: subscribe, intercept")

    def _com(self, carrier: str | None) -> str:
        com = provider_code("kuaidi100", carrier)
        if com is None:
            raise ConnectorError(ErrorClass.FAIL_DATA, f"carrier {carrier!r} has no Kuaidi100 "
                                 "code (mappings/tracking/carriers.json)")
        return com

    def subscribe(self, payload: dict) -> PushResult:
        try:
            data = SubscribePayload().load(payload or {})
        except ValidationError as e:
            raise ConnectorError(ErrorClass.FAIL_DATA, f"subscribe payload invalid: "
                                 f"{e.messages}") from None
        carrier, number = data.get("carrier"), data["tracking_number"].strip()
        com = self._com(carrier) if carrier else ""
        parameters = {"callbackurl": self.callback_url(shipment=data.get("shipment_ref")),
                      "salt": self.config["salt"], "resultv2": self.config["resultv2"],
                      "autoCom": "1" if not com else "0"}
        if requires_phone(carrier) or (not com and last4(data.get("phone"))):
            parameters["phone"] = last4(data.get("phone"))
        param = {"company": com, "number": number, "key": self.config["key"],
                 "parameters": parameters}
        for key in ("from_", "to"):
            if data.get(key):
                param[key.rstrip("_")] = data[key]
        client = self.client()
        code, body = client.subscribe(param)
        return PushResult(external_id=f"{carrier or ''}:{number}", status_code=200,
                          response_excerpt=str(body)[:500],
                          data={"return_code": code, "already_subscribed": code == "501",
                                "com": com, "message": body.get("message")})

    def intercept(self, payload: dict, idempotency_key: str) -> PushResult:
        try:
            data = InterceptPayload().load(payload or {})
        except ValidationError as e:
            raise ConnectorError(ErrorClass.FAIL_DATA, f"intercept payload invalid: "
                                 f"{e.messages}") from None
        com = self._com(data["carrier"])
        param = {"orderId": idempotency_key, "kuaidicom": com,
                 "kuaidinum": data["tracking_number"].strip(),
                 "interceptType": INTERCEPT_TYPES[data["intercept_type"]],
                 "reason": data.get("reason") or "",
                 "orderRole": self.config["intercept_order_role"],
                 "interceptPayType": self.config["intercept_pay_type"],
                 "salt": self.config["salt"],
                 "callbackUrl": self.callback_url(interception=idempotency_key)}
        if data.get("address"):
            a = data["address"]
            param["recManInfo"] = {"name": a["name"], "mobile": a["mobile"],
                                   "printAddr": a["print_addr"]}
        for ours, theirs in (("partner_id", "partnerId"), ("partner_key", "partnerKey")):
            if self.config.get(ours):
                param[theirs] = self.config[ours]
        body = self.client().intercept(param)
        inner = body.get("data") if isinstance(body.get("data"), dict) else {}
        task = inner.get("taskId") or inner.get("orderId") or idempotency_key
        return PushResult(external_id=str(task), status_code=200,
                          response_excerpt=str(body)[:500],
                          data={"interception": "requested", "order_id": idempotency_key,
                                "task_id": inner.get("taskId"), "message": body.get("message")})

    def query_tracking(self, carrier: str, tracking_number: str,
                       phone: str | None = None) -> Record | None:
        """One real-time look-up (≤ 1/s per customer, waits for its slot): a tracking
        record shaped like a push (``{"status": None, "lastResult": ...}``), or None when
        Kuaidi100 has no result yet. Not for polling: subscribe instead."""
        com = self._com(carrier)
        param = {"com": com, "num": tracking_number.strip(),
                 "resultv2": self.config["resultv2"]}
        if requires_phone(carrier):
            digits = last4(phone)
            if digits is None:
                raise ConnectorError(ErrorClass.FAIL_DATA,
                                     f"{carrier} needs the recipient's phone to be queried")
            param["phone"] = digits
        result = self.client().query(param)
        if result is None:
            return None
        result.setdefault("com", com)
        result.setdefault("nu", tracking_number.strip())
        return webhooks.tracking_record({"status": None, "source": "query",
                                         "lastResult": result})

