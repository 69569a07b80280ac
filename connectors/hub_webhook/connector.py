"""Declaration of the hub_webhook connector, and its one action: ``push``.

``push(topic, payload, idempotency_key)`` POSTs to the account's ``endpoint_url``::

    {"type": "<topic>", "id": "<idempotency key>", "created_at": "<ISO, UTC>",
     "data": <the notice payload>}

signed per Standard Webhooks with every active secret (see ``client.py`` for the rules and
``/docs/suppliers`` for what a supplier does with it). ``created_at`` is when this
delivery was signed; the ``id`` (also the ``webhook-id`` header) is what a supplier dedupes
on. The topics are the supplier notices the hub's domain enqueues to a supplier's channel
account; the connector does not inspect their payloads.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates

from connectors import standard_webhooks
from connectors.base import Connector, ConnectorError, ErrorClass, PushResult
from connectors.http import excerpt
from connectors.hub_webhook import client
from connectors.capabilities import SecretChange
from connectors.hub_webhook.secrets import MAX_ACTIVE, retired, rotated, secret_problem

NOTICE_TOPICS = ("order_dispatch", "stop_ship", "return_notice", "tracking_notice")
# the envelope does not depend on the topic
TOPICS = NOTICE_TOPICS + ("claim_notice", "statement_notice")


class HubWebhookConfig(Schema):
    class Meta:
        unknown = RAISE

    endpoint_url = fields.Url(
        required=True, require_tld=False, schemes={"http", "https"},
        metadata={"description": "where the supplier receives webhooks (HTTPS; plain HTTP "
                                 "only to loopback, or outside production)"})
    secrets = fields.List(
        fields.String(), required=True, validate=validate.Length(1, MAX_ACTIVE),
        metadata={"secret": True,
                  "description": "active signing secrets, oldest first (whsec_ + Base64 of "
                                 "24-64 bytes); every one signs each delivery, so a rotation "
                                 "overlaps. `hub suppliers rotate-secret` manages them"})
    tolerance_s = fields.Integer(
        load_default=300, validate=validate.Range(30, 3600),
        metadata={"description": "the timestamp tolerance the supplier is told to check "
                                 "(informational; the hub signs with the current time)"})

    @validates("endpoint_url")
    def _endpoint(self, value, **kwargs):
        problem = client.endpoint_problem(value)
        if problem:  # refused at registration too, not only when the first notice is sent
            raise ValidationError(problem)

    @validates("secrets")
    def _secrets(self, value, **kwargs):
        problems = [p for p in (secret_problem(v) for v in value) if p]
        if problems:
            raise ValidationError(problems[0])
        if len(set(value)) != len(value):
            raise ValidationError("the same secret is listed twice")


def envelope(topic: str, key: str, payload: dict, timestamp: int) -> bytes:
    created = datetime.fromtimestamp(timestamp, timezone.utc).isoformat()
    return json.dumps({"type": topic, "id": key, "created_at": created, "data": payload},
                      ensure_ascii=False, separators=(",", ":")).encode()


class HubWebhook(Connector):
    name = "hub_webhook"
    kind = "supplier"
    title = "Hub webhooks to the supplier (Standard Webhooks) + supplier REST API"
    capabilities = ("push", "order_dispatch", "stop_ship", "return_notice", "tracking_notice",
                    "secret_rotation")
    config_schema = HubWebhookConfig

    @classmethod
    def rotate_secret(cls, config: dict) -> SecretChange:
        """A fresh secret appended (see ``secrets.py``); the current ones keep signing."""
        new = rotated(config)
        return SecretChange(new, len(new["secrets"]), secret=new["secrets"][-1])

    @classmethod
    def retire_secret(cls, config: dict) -> SecretChange:
        new = retired(config)
        return SecretChange(new, len(new["secrets"]),
                            retired=len(config.get("secrets") or []) - len(new["secrets"]))

    def push(self, topic: str, payload: dict, idempotency_key: str) -> PushResult:
        if topic not in TOPICS:
            raise ConnectorError(ErrorClass.FAIL_CONFIG,
                                 f"hub_webhook cannot push {topic!r}; topics: {', '.join(TOPICS)}")
        if not isinstance(payload, dict):
            raise ConnectorError(ErrorClass.FAIL_DATA, f"the {topic} payload is not an object")
        secrets = list(self.config.get("secrets") or [])
        if not secrets:
            raise ConnectorError(ErrorClass.FAIL_CONFIG, "the account has no signing secret")
        timestamp = int(time.time())
        body = envelope(topic, idempotency_key, payload, timestamp)
        try:
            signed = standard_webhooks.headers(secrets, idempotency_key, body, timestamp)
        except standard_webhooks.SignatureError as e:
            raise ConnectorError(ErrorClass.FAIL_CONFIG, str(e)) from None
        headers = {**signed, "Content-Type": "application/json",
                   "Idempotency-Key": idempotency_key, "User-Agent": client.USER_AGENT}
        response = client.post(self.config["endpoint_url"], body, headers)
        return PushResult(status_code=response.status_code, response_excerpt=excerpt(response))
