"""The connector contract.

A connector is a class that declares what it is and what it can do, and, bound to one
account (``Connector(ctx)``), does the transport for it:

    class MyShop(Connector):
        name = "myshop"
        kind = "platform"                  # platform | supplier | courier
        capabilities = ("webhook", "poll", "push")
        config_schema = MyShopConfig       # marshmallow; secret fields carry
                                           # metadata={"secret": True}

        def verify_webhook(self, headers, body) -> list[WebhookEvent]: ...
        def webhook_ack(self, events) -> AckResponse: ...
        def records_for_event(self, event_type, body) -> list[Record]: ...
        def streams(self) -> list[PollStream]: ...
        def push(self, topic, payload, idempotency_key) -> PushResult: ...
        def map_record(self, record) -> values (hub.values) | None: ...

Capabilities. The hub uses a capability only when the class declares its name in
``capabilities``, and the standard suite (``tests/connector_suite.py``) tests each one a
connector declares; ``CAPABILITIES`` lists the names. Value types are in
``connectors.capabilities``.

| capability | what to implement | the hub calls it for |
|---|---|---|
| ``webhook`` | ``verify_webhook``, ``webhook_ack``, ``records_for_event`` | ``POST /webhooks/<name>/<account>`` |
| ``poll`` | ``streams()`` | ``jobs.poll`` |
| ``push`` | ``push(topic, payload, key)``; a platform lists ``push_topics``; a courier may shape ``subscription_payload`` | ``jobs.deliver_outbox``; platforms get shipments and return decisions (``return_message``), couriers parcel subscriptions |
| ``query`` (courier) | ``query_tracking(carrier, number, phone=None) -> Record`` | nothing yet (tools, tests) |
| ``intercept`` (courier) | ``interception_payload(parcel, kind, reason, address)``, topic ``intercept`` | ``POST /shipments/<id>/intercept`` |
| ``return_label`` (courier) | push topic ``return_label`` (payload: ``return_label_payload(request)``, a ``ReturnLabelRequest`` whose buyer is the platform's ciphertext only); the answer's ``PushResult.data["return_label"]`` is ``ReturnLabel.data()`` (a waybill, else raise) | a prepaid return waybill / pickup when the merchant or a liable party pays the return freight (``hub.domain.returns.labels``; ``POST /api/v1/returns/<id>/return-label``): the waybill becomes the case's tracked return shipment |
| ``oauth_link`` (platform) | ``link_fields``, ``link_title``, ``link_help``, ``authorize_url``, ``complete_authorization``, ``linked_identity`` | ``POST /api/v1/shops/<name>/link``, ``/<id>/reauthorize``, ``GET /oauth/<name>/callback``, console |
| ``oauth`` | ``refresh_token()`` (and declare ``authorization_status``) | ``jobs.refresh_tokens`` |
| ``authorization_status`` | ``authorization_status(now=None)`` | shop status (API, console, ``jobs.refresh_tokens``) |
| ``after_sale_lists`` (platform) | ``return_addresses() -> [PlatformAddress]``, ``reject_reasons(platform_return_id) -> [RejectReason]`` | ``POST /api/v1/shops/<id>/return-addresses/sync``, ``GET /api/v1/returns/<id>/reject-reasons`` |
| ``secret_rotation`` (supplier) | ``rotate_secret(config)``, ``retire_secret(config)`` | ``hub suppliers rotate-secret`` |
| ``order_dispatch``, ``stop_ship``, ``return_notice``, ``tracking_notice``, ``claim_notice``, ``statement_notice`` (supplier) | push topics of the same name (a channel that cannot carry one answers ``forwarded: false``) | supplier notices; compensation claims (``hub.domain.liability.claims``); statements (``hub.domain.finance.statements``) |

Every failure a connector meets is a ``ConnectorError`` carrying one ``ErrorClass``;
jobs act on the class (retry later, wait out a rate limit, refresh the token, flag the
account for an operator, or fail the one record). Connectors are registered as built-ins
(``connectors.registry.BUILTINS``) or through the entry-point group ``hub.connectors`` by
any installed package, with no edit to ``hub/``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Callable, ClassVar, Iterator

from apispec.ext.marshmallow import OpenAPIConverter
from marshmallow import EXCLUDE, Schema, ValidationError, fields

from connectors import outbound
from connectors.capabilities import (
    Outgoing, Parcel, ReturnDecision, ReturnLabelRequest, SecretChange, standard_interception,
    standard_return_label, standard_return_message, standard_subscription,
)

KINDS = ("platform", "supplier", "courier")
CAPABILITIES = ("webhook", "poll", "push", "query", "intercept", "oauth", "oauth_link",
                "authorization_status", "secret_rotation", "order_dispatch", "stop_ship",
                "return_notice", "tracking_notice", "after_sale_lists", "return_label")


class ErrorClass(str, Enum):
    RETRY = "retry"                                  # transient: try again with backoff
    RATE_LIMITED = "rate_limited"                    # wait out Retry-After / the budget
    REFRESH_TOKEN_THEN_RETRY = "refresh_token_then_retry"
    FAIL_CONFIG = "fail_config"                      # an operator must fix the account
    FAIL_DATA = "fail_data"                          # this one record is bad

    @property
    def retryable(self) -> bool:
        return self in (ErrorClass.RETRY, ErrorClass.RATE_LIMITED,
                        ErrorClass.REFRESH_TOKEN_THEN_RETRY)


class ConnectorError(Exception):
    def __init__(self, error_class: ErrorClass, message: str, *, retry_after: float | None = None,
                 status_code: int | None = None, response_excerpt: str | None = None):
        super().__init__(message)
        self.error_class = ErrorClass(error_class)
        self.message = message
        self.retry_after = retry_after
        self.status_code = status_code
        self.response_excerpt = response_excerpt


class ConfigInvalid(ValueError):
    def __init__(self, messages):
        super().__init__(f"invalid connector config: {messages}")
        self.messages = messages


class WebhookRejected(Exception):
    """A delivery that must not be processed: quarantined and answered with ``status``."""

    def __init__(self, reason: str, detail: str, status: int):
        super().__init__(detail)
        self.reason, self.detail, self.status = reason, detail, status


def bad_signature(detail: str = "signature missing or invalid") -> WebhookRejected:
    return WebhookRejected("bad_signature", detail, 401)


def unparseable(detail: str = "body could not be parsed") -> WebhookRejected:
    return WebhookRejected("unparseable", detail, 400)


@dataclass(frozen=True)
class WebhookEvent:
    """One event in a verified delivery. ``body`` is what processing will read later."""

    external_event_id: str
    event_type: str
    body: bytes


@dataclass(frozen=True)
class AckResponse:
    body: bytes | str
    status: int = 200
    content_type: str = "application/json"


@dataclass(frozen=True)
class Record:
    """An outside record ready to map: ``entity`` is ``order``, ``return``, ``tracking``..."""

    entity: str
    external_id: str
    payload: dict
    updated_at: datetime | None = None


@dataclass
class Slice:
    """One completed slice of a poll: its records and the cursor to save after it."""

    records: list[Record]
    cursor: dict
    progress: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PollStream:
    """``read(cursor)`` yields slices; the hub saves ``slice.cursor`` after each one."""

    name: str
    read: Callable[[dict], Iterator[Slice]]
    interval_s: float = 300.0


@dataclass(frozen=True)
class PushResult:
    external_id: str | None = None
    status_code: int | None = None
    response_excerpt: str = ""
    data: dict = field(default_factory=dict)


@dataclass
class AccountContext:
    """What a connector instance knows of its account. ``save_config`` persists changes
    (refreshed tokens) atomically, encrypted; ``reload_config`` reads them back."""

    account_id: int
    merchant_id: int
    name: str
    config: dict
    save_config: Callable[[dict], None] = lambda updates: None
    public_url: str = ""
    # Re-read the stored config (another process may have refreshed a token); None when
    # the account lives only in memory.
    reload_config: Callable[[], dict] | None = None


class Connector:
    name: ClassVar[str]
    kind: ClassVar[str]
    title: ClassVar[str] = ""
    capabilities: ClassVar[tuple[str, ...]] = ()
    config_schema: ClassVar[type[Schema]] = Schema
    # push (platform): the topics the platform takes. ``shipment`` and
    # ``tracking_correction`` carry the hub's payload {order_id, carrier, tracking_number,
    # previous_tracking_number?}; return decisions are shaped by ``return_message``.
    push_topics: ClassVar[tuple[str, ...]] = ()
    # oauth_link: the config keys a merchant enters to start a link (the app's
    # credentials; kept on re-authorization), and what the console calls one account.
    link_fields: ClassVar[tuple[str, ...]] = ()
    link_title: ClassVar[str] = ""
    link_help: ClassVar[str] = ""         # a sentence for the console's link form

    def __init__(self, ctx: AccountContext):
        self.ctx = ctx
        self.config = ctx.config

    # -- declaration ----------------------------------------------------------------
    @classmethod
    def validate_config(cls, config: dict) -> dict:
        """Load a config through the schema; unknown keys are an error, not dropped. Every
        ``fields.Url`` must pass the outbound guard (``connectors.outbound.url_problem``)."""
        schema = cls.config_schema()
        try:
            loaded = schema.load(config or {})
        except ValidationError as e:
            raise ConfigInvalid(e.messages) from None
        problems = {}
        for name, field in schema.fields.items():
            if isinstance(field, fields.Url) and loaded.get(field.attribute or name):
                problem = outbound.url_problem(loaded[field.attribute or name])
                if problem:
                    problems[field.data_key or name] = [problem]
        if problems:
            raise ConfigInvalid(problems)
        return loaded

    @classmethod
    def secret_fields(cls) -> list[str]:
        return [n for n, f in cls.config_schema().fields.items() if f.metadata.get("secret")]

    @classmethod
    def config_json_schema(cls) -> dict:
        converter = OpenAPIConverter("3.1.0", lambda s: None, None)  # JSON Schema 2020-12
        schema = converter.schema2jsonschema(cls.config_schema)
        for name in cls.secret_fields():
            schema["properties"][name]["writeOnly"] = True
        schema["additionalProperties"] = cls.config_schema().unknown == EXCLUDE
        return schema

    @classmethod
    def describe(cls) -> dict:
        return {"name": cls.name, "kind": cls.kind, "title": cls.title or cls.name,
                "capabilities": list(cls.capabilities),
                "config_schema": cls.config_json_schema()}

    # -- inbound: webhooks --------------------------------------------------------------
    def verify_webhook(self, headers: dict[str, str], body: bytes) -> list[WebhookEvent]:
        """Verify on the raw bytes and split into events, or raise ``WebhookRejected``."""
        raise WebhookRejected("unsupported", f"{self.name} does not receive webhooks", 404)

    def webhook_ack(self, events: list[WebhookEvent]) -> AckResponse:
        return AckResponse(b'{"ok":true}')

    def webhook_error_ack(self, rejected: WebhookRejected) -> AckResponse | None:
        """A connector-specific error body, or None for the hub's standard error JSON."""
        return None

    # -- inbound: processing and polling ------------------------------------------------
    def records_for_event(self, event_type: str, body: bytes) -> list[Record]:
        """Turn a stored event into records (fetching the full record for thin triggers)."""
        raise ConnectorError(ErrorClass.FAIL_DATA, f"{self.name} has no event processing")

    def streams(self) -> list[PollStream]:
        return []

    def map_record(self, record: Record) -> Any:
        """The common-model values (``hub.values``) for a record, or None to ignore it."""
        return None

    # -- outbound -------------------------------------------------------------------------
    def push(self, topic: str, payload: dict, idempotency_key: str) -> PushResult:
        raise ConnectorError(ErrorClass.FAIL_CONFIG, f"{self.name} cannot push {topic!r}")

    def refresh_token(self) -> None:
        raise ConnectorError(ErrorClass.FAIL_CONFIG, f"{self.name} has no token to refresh")

    # -- optional capabilities (see the table above) --------------------------------------
    @classmethod
    def return_message(cls, decision: ReturnDecision) -> Outgoing | None:
        """push (platform): the outbox message for a merchant's return decision, or None
        when the platform has no such step. Default: the standard topics in
        ``push_topics`` (``connectors.capabilities.standard_return_message``)."""
        return standard_return_message(decision, cls.push_topics)

    @classmethod
    def subscription_payload(cls, parcel: Parcel) -> dict:
        """push (courier): the ``subscribe`` payload that ``push`` will send for ``parcel``;
        raises ``marshmallow.ValidationError`` when the parcel cannot be followed.
        Default: ``{carrier, tracking_number, shipment_ref}``."""
        return standard_subscription(parcel)

    @classmethod
    def interception_payload(cls, parcel: Parcel, kind: str, reason: str = "",
                             address: dict | None = None) -> dict:
        """intercept: the ``intercept`` payload (``kind``: return_to_sender |
        modify_address with ``address {name, mobile, print_addr}``); raises
        ``ValidationError``. Default: ``standard_interception``."""
        return standard_interception(parcel, kind, reason, address)

    @classmethod
    def return_label_payload(cls, request: ReturnLabelRequest) -> dict:
        """return_label: the ``return_label`` payload that ``push`` will send for
        ``request``; raises ``ValidationError`` when the courier cannot book it.
        Default: ``standard_return_label``."""
        return standard_return_label(request)

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        """oauth_link: where to send the merchant; the platform must come back to
        ``redirect_uri`` with ``code`` and this ``state`` (or ``error``)."""
        raise NotImplementedError(f"{self.name} does not declare oauth_link")

    def complete_authorization(self, code: str, redirect_uri: str) -> dict:
        """oauth_link: exchange the callback's ``code``; answers the config updates to
        store (tokens, expiries...). Raises ``ConnectorError`` (fail_data / fail_config:
        refused; otherwise: the platform could not be reached)."""
        raise NotImplementedError(f"{self.name} does not declare oauth_link")

    @classmethod
    def linked_identity(cls, config: dict) -> str | None:
        """oauth_link: the remote account (shop) a config is authorized for, or None.
        Stored as the account's ``external_id``: linking the same identity again renews
        that account instead of adding one."""
        return None

    def authorization_status(self, now: datetime | None = None) -> str:
        """authorization_status: ``ok | expiring | expired | revoked``."""
        raise NotImplementedError(f"{self.name} does not declare authorization_status")

    @classmethod
    def rotate_secret(cls, config: dict) -> SecretChange:
        """secret_rotation: a new signing secret added (the old ones keep signing);
        raises ``connectors.capabilities.RotationError`` when it cannot."""
        raise NotImplementedError(f"{cls.name} does not declare secret_rotation")

    @classmethod
    def retire_secret(cls, config: dict) -> SecretChange:
        """secret_rotation: the oldest signing secret dropped; ``RotationError`` when it
        is the last one."""
        raise NotImplementedError(f"{cls.name} does not declare secret_rotation")
