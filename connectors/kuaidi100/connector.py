"""Declaration of the Kuaidi100 connector (see README.md beside this file).

Pushes (outbox topics): ``subscribe``, ``intercept`` and ``return_label`` (payloads in
``payloads.py``, built for the hub by the ``subscription_payload`` /
``interception_payload`` / ``return_label_payload`` capabilities); a return label is a
商家寄件 pickup booking whose waybill comes back in the push answer.
Inbound: signed pushes of ``tracking`` and ``interception`` events (``webhooks.py``).
``query_tracking`` is the rate-limited real-time look-up, for one parcel at a time.
"""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates

from connectors.base import (
    AckResponse, Connector, ConnectorError, ErrorClass, PushResult, Record, WebhookRejected,
)
from connectors.capabilities import Parcel, ReturnLabel, ReturnLabelRequest
from connectors.kuaidi100 import payloads, webhooks
from connectors.kuaidi100.client import Kuaidi100Client
from connectors.kuaidi100.payloads import (
    INTERCEPT_TYPES, PICKUP_DAYS, InterceptPayload, ReturnLabelPayload, SubscribePayload,
    last4,
)
from mappings.tracking import MappingError
from mappings.tracking import kuaidi100 as mapper
from mappings.tracking.carriers import normalise, provider_code, requires_phone

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
    return_label_carrier = fields.String(
        load_default=None, allow_none=True, validate=payloads.known_carrier,
        metadata={"description": "the hub's carrier code return pickups are booked with "
                  "when the hub names none (e.g. yto)"})
    pickup_day = fields.String(load_default="明天", validate=validate.OneOf(PICKUP_DAYS),
                               metadata={"description": "the day a return pickup is asked "
                                         "for: 今天, 明天 or 后天"})
    pickup_hours = fields.String(load_default="09:00-18:00", metadata={
        "description": "the pickup window asked for, HH:MM-HH:MM (China time)"})

    @validates("pickup_hours")
    def _hours(self, value, **kwargs):
        try:
            payloads.pickup_hours(value)
        except ValueError as e:
            raise ValidationError(str(e)) from None


def with_query(url: str, **params) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v]
    return urlunsplit(parts._replace(query=urlencode(query)))


class Kuaidi100(Connector):
    name = "kuaidi100"
    kind = "courier"
    title = "Kuaidi100 (快递100) subscription, push, query, interception and return pickups"
    capabilities = ("webhook", "push", "query", "intercept", "return_label")
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

    @classmethod
    def return_label_payload(cls, request: ReturnLabelRequest) -> dict:
        """The standard payload; a carrier Kuaidi100 has no code for is a
        ``ValidationError``."""
        return payloads.return_label_payload(request)

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
        if topic == "return_label":
            return self.book_return_label(payload, idempotency_key)
        raise ConnectorError(ErrorClass.FAIL_CONFIG, f"kuaidi100 cannot push {topic!r}; "
                             "topics: subscribe, intercept, return_label")

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

    def book_return_label(self, payload: dict, idempotency_key: str) -> PushResult:
        """商家寄件 (``bOrder``): a pickup at the buyer's, the receiver's business address as
        the consignee. The buyer is sent as the platform's ciphertext only [I]; the
        idempotency key is the ``thirdOrderId``, so a retry reads the same booking back.
        A booking answered without a waybill number yet is retried (``retry``)."""
        try:
            data = ReturnLabelPayload().load(payload or {})
        except ValidationError as e:
            raise ConnectorError(ErrorClass.FAIL_DATA, f"return_label payload invalid: "
                                 f"{e.messages}") from None
        carrier = data.get("carrier") or self.config.get("return_label_carrier")
        if not carrier:    # this booking's, not the account's: tracking goes on meanwhile
            raise ConnectorError(ErrorClass.FAIL_DATA, "no carrier for the return pickup: "
                                 "name one, or set the account's return_label_carrier")
        com = self._com(carrier)
        start, end = payloads.pickup_hours(self.config["pickup_hours"])
        receiver, buyer = data["receiver"], data["sender"]
        param = {"kuaidicom": com, "recManName": receiver["name"],
                 "recManMobile": receiver["phone"], "recManPrintAddr": receiver["address"],
                 "sendManName": buyer["name_cipher"], "sendManMobile": buyer["phone_cipher"],
                 "sendManPrintAddr": buyer["address_cipher"],
                 "cargo": data["goods"][:50], "weight": "1", "payment": "SHIPPER",
                 "remark": f"退货 {data['reference']}，{data['count']}件；寄件人为"
                           f"{buyer['platform']}订单{buyer['platform_order_id']}的平台密文",
                 "dayType": self.config["pickup_day"], "pickupStartTime": start,
                 "pickupEndTime": end, "thirdOrderId": idempotency_key[:32]}
        body = self.client().book(param)
        inner = body.get("data") if isinstance(body.get("data"), dict) else {}
        number = str(inner.get("kuaidinum") or "").strip()
        task = inner.get("taskId") or inner.get("orderId")
        if not number:
            raise ConnectorError(ErrorClass.RETRY, f"Kuaidi100 booked the pickup (task {task}) "
                                 "but issued no waybill number yet; the same thirdOrderId "
                                 "reads the booking back", response_excerpt=str(body)[:500])
        pickup_from, pickup_until = payloads.pickup_window(
            self.config["pickup_day"], self.config["pickup_hours"], datetime.now(timezone.utc))
        label = ReturnLabel(normalise("kuaidi100", com).carrier, number,
                            booking_id=str(task) if task else None,
                            pickup_code=inner.get("pickupCode") or None,
                            pickup_from=pickup_from, pickup_until=pickup_until)
        return PushResult(external_id=number, status_code=200,
                          response_excerpt=str(body)[:500],
                          data={"return_label": label.data(), "task_id": inner.get("taskId"),
                                "order_id": inner.get("orderId"),
                                "message": body.get("message")})

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

