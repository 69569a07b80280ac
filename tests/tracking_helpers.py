"""Shared pieces for the courier-tracking tests: courier accounts, hand-built tracking
values, and a supplier channel connector that declares ``tracking_notice`` (registered
through ``connectors.registry.BUILTINS`` by the ``notice_channel`` fixture)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from connectors import registry
from connectors.base import Connector, PushResult
from hub.models import Account
from hub.values import TrackingEventValues, TrackingValues

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)
SALT = "tracking-salt-0123456789"
PUSHED: list[dict] = []     # what NoticeChannel.push received, in order


class NoticeChannel(Connector):
    """A supplier channel that takes tracking notices (stands in for the hub-webhook one)."""

    name = "notice_channel"
    kind = "supplier"
    title = "test supplier channel with tracking notices"
    capabilities = ("push", "tracking_notice")

    def push(self, topic, payload, idempotency_key):
        PUSHED.append({"topic": topic, "payload": payload, "key": idempotency_key})
        return PushResult(external_id=idempotency_key, status_code=200)


@pytest.fixture
def notice_channel(monkeypatch):
    monkeypatch.setitem(registry.BUILTINS, "notice_channel",
                        "tests.tracking_helpers:NoticeChannel")
    registry.reload()
    PUSHED.clear()
    yield NoticeChannel
    monkeypatch.delitem(registry.BUILTINS, "notice_channel")
    registry.reload()


def courier(s, merchant_id, *, connector="kuaidi100", name=None, base_url="https://poll.k100.test",
            **config) -> Account:
    from connectors.aftership import AfterShip
    from connectors.kuaidi100 import Kuaidi100
    from connectors.track17 import Track17

    if connector == "kuaidi100":
        cfg = Kuaidi100.validate_config({"key": "k100-key", "customer": "CUST", "salt": SALT,
                                         "secret": "label-secret", "poll_base_url": base_url,
                                         "api_base_url": base_url, **config})
    elif connector == "aftership":
        cfg = AfterShip.validate_config({"webhook_secret": "as-secret", **config})
    else:
        cfg = Track17.validate_config({"security_key": "t17-key", "api_token": "tok", **config})
    account = Account(merchant_id=merchant_id, connector=connector, kind="courier",
                      name=name or f"{connector}-{merchant_id}", config=cfg)
    s.add(account)
    s.flush()
    return account


def channel(s, merchant_id, supplier, connector="notice_channel") -> Account:
    account = Account(merchant_id=merchant_id, connector=connector, kind="supplier",
                      name=f"channel-{supplier.id}-{connector}",
                      config={"webhook_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
                      if connector == "generic_shop" else {})
    s.add(account)
    s.flush()
    supplier.channel_account_id = account.id
    s.flush()
    return account


def ev(minutes: float, status: str, raw: str | None = None, text: str = "") -> TrackingEventValues:
    return TrackingEventValues(occurred_at=T0 + timedelta(minutes=minutes), status=status,
                               raw_status=raw or status, description=text or f"{status} scan")


def values(number: str, *events, carrier="sf", flags=(), monitoring=None, interception=None,
           carrier_raw=None) -> TrackingValues:
    return TrackingValues(carrier=carrier, tracking_number=number, events=tuple(events),
                          carrier_raw=carrier_raw, flags=tuple(flags), monitoring=monitoring,
                          interception=interception)
