"""Pushes from the hub to a generic shop: shipments and return decisions.

``push(connector, topic, payload, idempotency_key)`` sends one outbox message:

* ``shipment``: ``POST {base_url}/hub/shipments`` with
  ``{"order_id", "carrier", "tracking_number"}`` (the shop's own order id);
* ``return_decision``: ``POST {base_url}/hub/returns/<return_id>/decision`` with
  ``{"decision": "approve" | "reject", "reason", "instructions"}`` (``return_id`` is the
  shop's id; ``instructions``, for an approved return, what to tell the buyer).

Every request carries ``Idempotency-Key``, the outbox message's key, identical on every
retry and replay. The protocol offers no read-back of the remote record, so the key is
the only guard against a double write: the shop drops a request whose key it has seen.

Each call makes one HTTP request (``max_attempts = 1``): retries, backoff and Retry-After
waits belong to the outbox (``jobs.deliver_outbox``), where every try is recorded as a
delivery attempt, not to the adapter. Payload shape errors are ``fail_data``; an unknown
topic or a missing ``base_url`` is ``fail_config``.
"""
from __future__ import annotations

from urllib.parse import quote

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from connectors.base import ConnectorError, ErrorClass, PushResult
from connectors.generic_shop.client import GenericShopClient
from connectors.http import excerpt


class ShipmentPush(Schema):
    class Meta:
        unknown = EXCLUDE

    order_id = fields.String(required=True, validate=validate.Length(min=1))
    carrier = fields.String(required=True, validate=validate.Length(min=1))
    tracking_number = fields.String(required=True, validate=validate.Length(min=1))


class ReturnDecisionPush(Schema):
    class Meta:
        unknown = EXCLUDE

    return_id = fields.String(required=True, validate=validate.Length(min=1))
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    reason = fields.String(load_default=None, allow_none=True)
    instructions = fields.String()  # only for an approval that carries them


def _shipment(payload: dict) -> tuple[str, dict]:
    body = ShipmentPush().load(payload)
    return "/hub/shipments", body


def _return_decision(payload: dict) -> tuple[str, dict]:
    data = ReturnDecisionPush().load(payload)
    path = f"/hub/returns/{quote(data.pop('return_id'), safe='')}/decision"
    return path, data


TOPICS = {"shipment": _shipment, "return_decision": _return_decision}


def push(connector, topic: str, payload: dict, idempotency_key: str) -> PushResult:
    build = TOPICS.get(topic)
    if build is None:
        raise ConnectorError(ErrorClass.FAIL_CONFIG,
                             f"generic_shop cannot push {topic!r}; topics: {', '.join(TOPICS)}")
    if not connector.config.get("base_url"):
        raise ConnectorError(ErrorClass.FAIL_CONFIG,
                             "the account has no base_url to push to; set it in its config")
    try:
        path, body = build(payload or {})
    except ValidationError as e:
        raise ConnectorError(ErrorClass.FAIL_DATA,
                             f"the {topic} payload is invalid: {e.messages}") from None
    client = GenericShopClient(connector.ctx)
    client.max_attempts = 1
    response = client.request("POST", path, json=body,
                              headers={"Idempotency-Key": idempotency_key})
    try:
        data = response.json()
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {"body": data}
    external_id = data.get("id")
    return PushResult(external_id=None if external_id is None else str(external_id),
                      status_code=response.status_code, response_excerpt=excerpt(response),
                      data=data)
