"""The standard suite's tests of the optional capabilities (``connectors.base``), mixed into
``tests.connector_suite.ConnectorSuite``: each runs only for a connector that declares the
capability and checks what the hub relies on when it calls it.

| capability | tested |
|---|---|
| every declared name | known to the hub (``connectors.base.CAPABILITIES``); ``oauth`` comes with ``authorization_status`` |
| ``push`` (platform) | ``push_topics`` listed; every return decision is None or a deterministic ``Outgoing`` on one of them |
| ``push`` (courier) | ``subscription_payload`` of a parcel is JSON; an empty number is a ``ValidationError`` |
| ``intercept`` | ``interception_payload`` of each kind; a bad kind or a missing address is a ``ValidationError`` |
| ``oauth_link`` | link fields in the config schema and enough for a pending link; the authorize URL carries state and callback; a code exchange answers a storable grant; a refused code is fail_data / fail_config |
| ``authorization_status`` | one of ``ok, expiring, expired, revoked`` |
| ``secret_rotation`` | rotate adds a storable secret, retire drops one, the last is never retired |
| ``after_sale_lists`` | the platform's answers (``expect_after_sale_lists``) become ``PlatformAddress`` and ``RejectReason`` lists; a malformed entry is skipped |
| ``return_label`` | ``return_label_payload`` of a request is deterministic JSON carrying the buyer's ciphertext; a missing ciphertext, receiver phone or count is a ``ValidationError``; the courier's answer (``expect_return_label``) is a ``ReturnLabel`` in ``PushResult.data``; its refusal (``expect_return_label_refusal``) is fail_data / fail_config |

A connector that declares ``oauth_link`` implements two hooks (``expect_code_exchange``,
``expect_code_refusal``) that register the platform's token answers with ``responses``;
one that declares ``return_label``, ``expect_return_label`` and
``expect_return_label_refusal``.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from marshmallow import ValidationError

from connectors.base import CAPABILITIES, AccountContext, ConnectorError, ErrorClass
from connectors.capabilities import (
    AUTHORIZATION_STATUSES, DECISIONS, INTERCEPT_KINDS, LabelReceiver, LabelSender, Outgoing,
    Parcel, PlatformAddress, RejectReason, ReturnDecision, ReturnLabel, ReturnLabelRequest,
    RotationError,
)

CALLBACK = "https://hub.suite.test/oauth/{name}/callback"
PARCEL = Parcel("yto", "YT1234567890", ref="42", phone="138****5678")
_account_ids = itertools.count(950_000)  # never an id a database test uses
ADDRESS = {"name": "张三", "mobile": "13800005678", "print_addr": "浙江省杭州市西湖区文三路 1 号"}

LABEL_REQUEST = ReturnLabelRequest(
    reference="return-42", carrier="yto",
    receiver=LabelReceiver("王五", "0571-88880000", "浙江省杭州市余杭区仓前街道 1 号 退货仓"),
    sender=LabelSender(platform="test_shop", platform_order_id="2207300012345601",
                       name_cipher="#c1#nameCIPHER#", phone_cipher="#c2#phoneCIPHER#",
                       address_cipher="#c3#addressCIPHER#", name_masked="张*",
                       phone_masked="138****5678", address_masked="北京市***",
                       province_code="110000", city_code="110100", district_code="110101"),
    goods="杯子", count=2)
LABEL_KEY = "0f" * 20                           # an outbox idempotency key's shape


def _decisions() -> list[ReturnDecision]:
    return [ReturnDecision(action, "2207300012345601", 1990, address_id="880011",
                           reason_code="3", desc="已协商")
            for action in DECISIONS]


class CapabilitySuite:
    # -- hooks a connector declaring oauth_link implements ------------------------------------
    def expect_code_exchange(self, rsps, code: str, redirect_uri: str) -> None:
        """Register the platform's answer granting tokens for ``code``."""
        raise NotImplementedError("register the token endpoint's answer to a good code")

    def expect_code_refusal(self, rsps, code: str, redirect_uri: str) -> None:
        """Register the platform's answer refusing ``code`` (used, expired, unknown)."""
        raise NotImplementedError("register the token endpoint's answer to a bad code")

    # -- hooks a courier declaring return_label implements -------------------------------------
    def expect_return_label(self, rsps, payload: dict, idempotency_key: str) -> None:
        """Register the courier's answer booking ``payload`` (``LABEL_REQUEST``, carrier
        yto): a waybill. Assert there what the courier must be sent (the ciphertext)."""
        raise NotImplementedError("register the courier's answer issuing a waybill")

    def expect_return_label_refusal(self, rsps) -> None:
        """Register the courier's answer refusing the booking (bad data or credentials)."""
        raise NotImplementedError("register the courier's answer refusing a booking")

    def expect_after_sale_lists(self, rsps, platform_return_id: str) -> None:
        """Register the platform's answers: two return addresses (the second the default)
        plus one malformed entry, and two rejection reasons for ``platform_return_id``."""
        raise NotImplementedError("register the address list and reject reason answers")

    # -- plumbing ------------------------------------------------------------------------------
    def _capable(self, capability: str, kind: str | None = None) -> None:
        cls = self.connector_cls
        if capability not in cls.capabilities:
            pytest.skip(f"{cls.name} does not declare {capability!r}")
        if kind is not None and cls.kind != kind:
            pytest.skip(f"{cls.name} is a {cls.kind}, not a {kind}")

    def _link_config(self) -> dict:
        return {k: v for k, v in self.config.items() if k in self.connector_cls.link_fields}

    def _linking(self):
        """A connector bound to a pending link's config (link fields only)."""
        cls = self.connector_cls
        return cls(AccountContext(next(_account_ids), 1, "suite",
                                  cls.validate_config(self._link_config())))

    # -- every capability ------------------------------------------------------------------------
    def test_declared_capabilities_are_known(self):
        declared = self.connector_cls.capabilities
        assert set(declared) <= set(CAPABILITIES), set(declared) - set(CAPABILITIES)
        if "oauth" in declared:
            assert "authorization_status" in declared, "jobs.refresh_tokens reads the status"

    # -- push: platforms -------------------------------------------------------------------------
    def test_platform_push_topics_and_return_messages(self):
        self._capable("push", "platform")
        cls = self.connector_cls
        assert cls.push_topics and all(isinstance(t, str) for t in cls.push_topics)
        for decision in _decisions():
            message = cls.return_message(decision)
            if message is None:
                continue
            assert isinstance(message, Outgoing), decision.action
            assert message.topic in cls.push_topics, (decision.action, message.topic)
            assert isinstance(message.version, str) and message.version
            json.dumps(message.payload)
            assert cls.return_message(decision) == message, "the same decision, one message"

    # -- push: couriers --------------------------------------------------------------------------
    def test_subscription_payload(self):
        self._capable("push", "courier")
        payload = self.connector_cls.subscription_payload(PARCEL)
        assert isinstance(payload, dict)
        assert PARCEL.tracking_number in json.dumps(payload)
        with pytest.raises(ValidationError):
            self.connector_cls.subscription_payload(Parcel("yto", ""))

    def test_interception_payload(self):
        self._capable("intercept")
        cls = self.connector_cls
        for kind in INTERCEPT_KINDS:
            payload = cls.interception_payload(PARCEL, kind, "buyer cancelled", ADDRESS)
            assert PARCEL.tracking_number in json.dumps(payload, ensure_ascii=False)
        with pytest.raises(ValidationError):
            cls.interception_payload(PARCEL, "teleport", "x")
        with pytest.raises(ValidationError):
            cls.interception_payload(PARCEL, "modify_address", "x", None)

    # -- oauth_link ------------------------------------------------------------------------------
    def test_link_fields_start_a_link(self):
        self._capable("oauth_link")
        cls = self.connector_cls
        assert cls.link_fields and set(cls.link_fields) <= set(cls.config_schema().fields)
        assert "name" not in cls.link_fields, "the hub adds the shop's name itself"
        cls.validate_config(self._link_config())  # enough for a pending account

    def test_authorize_url_carries_state_and_callback(self):
        self._capable("oauth_link")
        cls = self.connector_cls
        callback = CALLBACK.format(name=cls.name)
        url = self._linking().authorize_url("st4te-Xy_z.1", callback)
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert url.startswith(("https://", "http://"))
        assert query.get("state") == "st4te-Xy_z.1" and query.get("redirect_uri") == callback

    def test_code_exchange_answers_a_storable_grant(self, rsps, slept):
        self._capable("oauth_link")
        cls = self.connector_cls
        callback = CALLBACK.format(name=cls.name)
        self.expect_code_exchange(rsps, "C0DE-good", callback)
        grant = self._linking().complete_authorization("C0DE-good", callback)
        assert isinstance(grant, dict) and grant
        stored = cls.validate_config({**self._link_config(), **grant})
        identity = cls.linked_identity(stored)
        assert identity is None or (isinstance(identity, str) and identity)

    def test_a_refused_code_is_fail_data_or_fail_config(self, rsps, slept):
        self._capable("oauth_link")
        cls = self.connector_cls
        callback = CALLBACK.format(name=cls.name)
        self.expect_code_refusal(rsps, "C0DE-used", callback)
        shop = self._linking()
        with pytest.raises(ConnectorError) as exc:
            shop.complete_authorization("C0DE-used", callback)
        assert exc.value.error_class in (ErrorClass.FAIL_DATA, ErrorClass.FAIL_CONFIG)

    # -- authorization_status --------------------------------------------------------------------
    def test_authorization_status(self, connector):
        self._capable("authorization_status")
        assert connector.authorization_status() in AUTHORIZATION_STATUSES

    # -- secret_rotation -------------------------------------------------------------------------
    def test_secret_rotation(self):
        self._capable("secret_rotation")
        cls = self.connector_cls
        config = cls.validate_config(dict(self.config))
        added = cls.rotate_secret(config)
        assert added.secret and added.secret in json.dumps(added.config)
        assert cls.validate_config(added.config) and added.active >= 2
        dropped = cls.retire_secret(added.config)
        assert (dropped.active, dropped.retired, dropped.secret) == (added.active - 1, 1, None)
        assert added.secret in json.dumps(cls.validate_config(dropped.config))
        current = dropped
        for _ in range(20):  # retiring down to the last one, which stays
            try:
                current = cls.retire_secret(current.config)
            except RotationError:
                break
        else:
            pytest.fail("retire_secret never refused to drop the last secret")
        assert current.active == 1

    # -- after_sale_lists --------------------------------------------------------------------------
    def test_after_sale_lists_answer_addresses_and_reasons(self, connector, rsps, slept):
        self._capable("after_sale_lists", "platform")
        self.expect_after_sale_lists(rsps, "2207300012345601")
        addresses = connector.return_addresses()
        assert all(isinstance(a, PlatformAddress) for a in addresses)
        assert len(addresses) == 2 and [a.is_default for a in addresses] == [False, True]
        assert all(a.platform_address_id and a.address for a in addresses)
        reasons = connector.reject_reasons("2207300012345601")
        assert len(reasons) == 2 and all(isinstance(r, RejectReason) for r in reasons)
        assert all(r.code and r.description for r in reasons)


    # -- return_label --------------------------------------------------------------------------
    def test_return_label_payload(self):
        self._capable("return_label", "courier")
        cls = self.connector_cls
        payload = cls.return_label_payload(LABEL_REQUEST)
        text = json.dumps(payload, ensure_ascii=False)
        assert LABEL_REQUEST.reference in text
        for cipher in ("name_cipher", "phone_cipher", "address_cipher"):
            assert getattr(LABEL_REQUEST.sender, cipher) in text
        assert cls.return_label_payload(LABEL_REQUEST) == payload, "deterministic"
        sender, receiver = LABEL_REQUEST.sender, LABEL_REQUEST.receiver
        for bad in (dataclasses.replace(LABEL_REQUEST, sender=dataclasses.replace(
                        sender, phone_cipher="")),
                    dataclasses.replace(LABEL_REQUEST, receiver=dataclasses.replace(
                        receiver, phone=" ")),
                    dataclasses.replace(LABEL_REQUEST, count=0)):
            with pytest.raises(ValidationError):
                cls.return_label_payload(bad)

    def test_return_label_push_answers_a_waybill(self, connector, rsps, slept):
        self._capable("return_label", "courier")
        payload = self.connector_cls.return_label_payload(LABEL_REQUEST)
        self.expect_return_label(rsps, payload, LABEL_KEY)
        result = connector.push("return_label", payload, LABEL_KEY)
        label = ReturnLabel.from_data(json.loads(json.dumps(result.data))["return_label"])
        assert label.carrier == "yto" and label.tracking_number.strip()
        assert label.pickup_until is None or label.pickup_from is None \
            or label.pickup_from < label.pickup_until

    def test_a_refused_return_label_is_fail_data_or_fail_config(self, connector, rsps, slept):
        self._capable("return_label", "courier")
        payload = self.connector_cls.return_label_payload(LABEL_REQUEST)
        self.expect_return_label_refusal(rsps)
        with pytest.raises(ConnectorError) as exc:
            connector.push("return_label", payload, LABEL_KEY)
        assert exc.value.error_class in (ErrorClass.FAIL_DATA, ErrorClass.FAIL_CONFIG)
