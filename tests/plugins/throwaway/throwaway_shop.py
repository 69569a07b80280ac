"""A throw-away shop platform, written only against the connector contract.

Its remote speaks OAuth 2 (``GET /authorize``, ``POST /token``) and a small JSON API:
``GET /orders?since=`` (bearer token), webhooks signed with hex HMAC-SHA256 of the body in
``x-throwaway-signature``, ``POST /shipments`` and ``POST /after-sales/<id>/decision``.
Records are the hub JSON shapes, mapped with ``mappings.generic_shop``.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlencode

import requests
from marshmallow import RAISE, Schema, fields

from connectors.base import (
    Connector, ConnectorError, ErrorClass, PollStream, PushResult, Record, Slice,
    WebhookEvent, bad_signature, unparseable,
)
from mappings.generic_shop import MappingError, map_record

SIGNATURE = "x-throwaway-signature"
ENTITIES = {"order.updated": "order", "return.updated": "return"}
VERDICTS = {"refund_approve": "approve", "return_approve": "approve", "refund_reject": "reject"}


class ThrowawayShopConfig(Schema):
    class Meta:
        unknown = RAISE

    client_id = fields.String(required=True, metadata={"label": "Client id"})
    client_secret = fields.String(required=True, metadata={"secret": True})
    base_url = fields.Url(required=True, require_tld=False,
                          metadata={"description": "the platform's API and OAuth host"})
    webhook_secret = fields.String(required=True, metadata={"secret": True})
    scopes = fields.List(fields.String(), load_default=["orders", "after_sales"])
    access_token = fields.String(load_default=None, allow_none=True, metadata={"secret": True})
    refresh_token = fields.String(load_default=None, allow_none=True,
                                  metadata={"secret": True})
    access_token_expires_at = fields.String(load_default=None, allow_none=True)
    shop_id = fields.String(load_default=None, allow_none=True)


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(timezone.utc)


class ThrowawayShop(Connector):
    name = "throwaway_shop"
    kind = "platform"
    title = "Throw-away shop (test plugin)"
    capabilities = ("webhook", "poll", "push", "oauth", "oauth_link", "authorization_status")
    push_topics = ("shipment", "refund_approve", "return_approve", "refund_reject")
    config_schema = ThrowawayShopConfig
    link_fields = ("client_id", "client_secret", "base_url", "webhook_secret", "scopes")
    link_title = "Throw-away shop"

    # -- oauth_link, oauth, authorization_status -----------------------------------------
    def authorize_url(self, state, redirect_uri):
        query = urlencode({"client_id": self.config["client_id"], "redirect_uri": redirect_uri,
                           "response_type": "code", "scope": " ".join(self.config["scopes"]),
                           "state": state})
        return f"{self.config['base_url'].rstrip('/')}/authorize?{query}"

    def complete_authorization(self, code, redirect_uri):
        try:
            resp = requests.post(self._url("/token"), timeout=10, data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "client_id": self.config["client_id"],
                "client_secret": self.config["client_secret"]})
        except requests.RequestException as e:
            raise ConnectorError(ErrorClass.RETRY, f"token endpoint unreachable: {e}") from None
        if resp.status_code in (400, 401):
            raise ConnectorError(ErrorClass.FAIL_DATA, f"code refused: {resp.text[:100]}")
        if resp.status_code != 200:
            raise ConnectorError(ErrorClass.RETRY, f"token endpoint: HTTP {resp.status_code}")
        grant = resp.json()
        expires = datetime.now(timezone.utc) + timedelta(seconds=int(grant["expires_in"]))
        return {"access_token": grant["access_token"], "refresh_token": grant["refresh_token"],
                "access_token_expires_at": expires.isoformat(), "shop_id": grant["shop_id"]}

    @classmethod
    def linked_identity(cls, config):
        return config.get("shop_id")

    def authorization_status(self, now=None):
        until = self.config.get("access_token_expires_at")
        if not self.config.get("access_token") or not until:
            return "expired"
        return "ok" if _ts(until) > (now or datetime.now(timezone.utc)) else "expired"

    def refresh_token(self):
        """Tokens of this test platform never need a refresh."""

    # -- webhook ---------------------------------------------------------------------------
    def verify_webhook(self, headers, body):
        expected = hmac.new(self.config["webhook_secret"].encode(), body,
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers.get(SIGNATURE, "")):
            raise bad_signature()
        try:
            data = json.loads(body)
            return [WebhookEvent(str(data["id"]), str(data["type"]), body)]
        except (ValueError, KeyError, TypeError):
            raise unparseable() from None

    def records_for_event(self, event_type, body):
        entity = ENTITIES.get(event_type)
        data = json.loads(body)["data"] if entity else None
        return [Record(entity, str(data["id"]), data, _ts(data["updated_at"]))] if data else []

    # -- poll ------------------------------------------------------------------------------
    def streams(self):
        def read(cursor):
            resp = requests.get(self._url("/orders"), params={"since": cursor.get("since", "")},
                                headers=self._auth(), timeout=10)
            if resp.status_code != 200:
                raise ConnectorError(ErrorClass.RETRY, f"orders: HTTP {resp.status_code}")
            orders = resp.json()["orders"]
            records = [Record("order", o["id"], o, _ts(o["updated_at"])) for o in orders]
            since = max([r.updated_at.isoformat() for r in records] or [cursor.get("since")])
            yield Slice(records, {"since": since} if since else {})

        return [PollStream("orders", read, interval_s=60)]

    def map_record(self, record):
        try:
            return map_record(record.entity, record.payload, "CNY")
        except MappingError as e:
            raise ConnectorError(ErrorClass.FAIL_DATA, str(e)) from None

    # -- push: the standard topics, said the platform's way -------------------------------
    def push(self, topic, payload, idempotency_key):
        if topic == "shipment":
            path, body = "/shipments", payload
        elif topic in VERDICTS:
            path = f"/after-sales/{quote(str(payload['refund_id']), safe='')}/decision"
            body = {"verdict": VERDICTS[topic], "amount_minor": payload.get("amount_minor"),
                    "address": payload.get("address_id"), "note": payload.get("desc")}
        else:
            raise ConnectorError(ErrorClass.FAIL_CONFIG, f"{self.name} cannot push {topic!r}")
        resp = requests.post(self._url(path), json=body, timeout=10,
                             headers={**self._auth(), "Idempotency-Key": idempotency_key})
        if resp.status_code >= 400:
            raise ConnectorError(ErrorClass.RETRY if resp.status_code >= 500
                                 else ErrorClass.FAIL_DATA, f"{topic}: HTTP {resp.status_code}")
        return PushResult(external_id=resp.json().get("id"), status_code=resp.status_code,
                          response_excerpt=resp.text[:200])

    # -- helpers ---------------------------------------------------------------------------
    def _url(self, path):
        return self.config["base_url"].rstrip("/") + path

    def _auth(self):
        if not self.config.get("access_token"):
            raise ConnectorError(ErrorClass.FAIL_CONFIG, "the shop is not authorized")
        return {"Authorization": f"Bearer {self.config['access_token']}"}
