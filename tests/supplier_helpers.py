"""Set-up shared by the supplier-domain tests (allocation, stop-ship, SLA, returns).

* Test connectors put into ``connectors.registry`` by monkeypatching (the real supplier
  channels and couriers are tested on their own): a supplier channel that records what
  it is sent, and a courier that can subscribe and intercept.
* A test shop whose connector takes every push-back, so what ``hub.domain.pushes.platform_actions``
  queues for it (``platform_messages``) shows what the domain told the platform.
* Orders, returns and tracking arrive the way production applies them: ``hub.pipeline.sync.apply``
  from a shop or courier account, so the event subscribers run in that transaction.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from connectors import registry
from connectors.base import Connector, PushResult
from hub.pipeline import sync
from hub.models import (
    Account, Alert, AuditEntry, Fulfilment, Order, OutboxMessage, ReturnCase, Shipment,
    SkuMapping, Supplier,
)
from hub.values import (
    BuyerContact, OrderLineValues, OrderValues, ReturnLineValues, ReturnValues,
    TrackingEventValues, TrackingValues,
)
from tests import factories as f

T0 = f.T0


class RecordingSupplier(Connector):
    name, kind, title = "test_supplier", "supplier", "Test supplier channel"
    capabilities = ("push",)
    sent: list = []

    def push(self, topic, payload, idempotency_key):
        RecordingSupplier.sent.append((topic, payload, idempotency_key))
        return PushResult(status_code=200)


class InterceptingCourier(Connector):
    name, kind, title = "test_courier", "courier", "Test courier"
    capabilities = ("push", "intercept")

    def push(self, topic, payload, idempotency_key):
        return PushResult(status_code=200)


class PushingShop(Connector):
    """A shop that takes every push-back ``hub.domain.pushes.platform_actions`` can make."""
    name, kind, title = "test_shop", "platform", "Test shop"
    capabilities = ("push",)
    push_topics = ("shipment", "tracking_correction", "refund_approve", "return_approve",
                   "return_receipt", "refund_reject")

    def push(self, topic, payload, idempotency_key):
        return PushResult(status_code=200)


class TrackOnlyCourier(InterceptingCourier):
    name, title = "test_courier_track_only", "Test courier without interception"
    capabilities = ("push",)


@pytest.fixture
def fake_connectors(monkeypatch):
    found = dict(registry.all())
    for cls in (RecordingSupplier, InterceptingCourier, TrackOnlyCourier, PushingShop):
        found[cls.name] = cls
    monkeypatch.setattr(registry, "_cache", found)
    RecordingSupplier.sent = []
    return RecordingSupplier


def platform_messages(s, merchant_id) -> list[tuple[str, str, int, dict]]:
    """What the domain pushed back to the shop (``hub.domain.pushes.platform_actions``, through the
    outbox): ``(topic, entity, entity_id, payload)``."""
    shop_ids = select(Account.id).where(Account.merchant_id == merchant_id,
                                        Account.kind == "platform")
    return [(m.topic, m.entity, m.entity_id, m.payload) for m in s.scalars(
        select(OutboxMessage).where(OutboxMessage.account_id.in_(shop_ids))
        .order_by(OutboxMessage.id))]


def world(s, *, sla_hours=24, terms=None, courier="test_courier", channel=True,
          skus=("SKU-1",)):
    """A merchant, a shop, a courier account and supplier S1 (mapped for ``skus``)."""
    m = f.merchant(s)
    shop = Account(merchant_id=m.id, connector="test_shop", kind="platform", name="shop",
                   config={})
    s.add(shop)
    if courier:
        s.add(Account(merchant_id=m.id, connector=courier, kind="courier", name="courier",
                      config={}))
    sup = supplier(s, m.id, "S1", sla_hours=sla_hours, terms=terms, channel=channel)
    for sku in skus:
        mapping(s, m.id, sup.id, sku)
    s.flush()
    return {"merchant_id": m.id, "shop_id": shop.id, "supplier_id": sup.id,
            "channel_id": sup.channel_account_id}


def supplier(s, merchant_id, code, *, sla_hours=24, terms=None, channel=True, active=True):
    account = None
    if channel:
        account = Account(merchant_id=merchant_id, connector="test_supplier", kind="supplier",
                          name=f"channel-{code}", config={})
        s.add(account)
        s.flush()
    sup = Supplier(merchant_id=merchant_id, code=code, name=f"Supplier {code}",
                   sla_hours=sla_hours, contract_terms=terms or {}, active=active,
                   channel_account_id=account.id if account else None)
    s.add(sup)
    s.flush()
    return sup


def mapping(s, merchant_id, supplier_id, sku, *, priority=0, active=True, supplier_sku=None):
    x = SkuMapping(merchant_id=merchant_id, sku=sku, supplier_id=supplier_id,
                   priority=priority, active=active, supplier_sku=supplier_sku)
    s.add(x)
    s.flush()
    return x


def order_values(pid="P1", *, status="paid", lines=(("SKU-1", 1),), hold=(), updated=None):
    return OrderValues(
        platform_order_id=pid, status=status, raw_status="30", currency="CNY",
        total_minor=1990, paid_minor=1990,
        lines=tuple(OrderLineValues(sku=sku, quantity=qty, unit_price_minor=1990,
                                    total_minor=1990 * qty, platform_line_id=f"{pid}-{sku}",
                                    title=f"Item {sku}") for sku, qty in lines),
        remote_updated_at=updated or T0, placed_at=T0, paid_at=T0 + timedelta(minutes=1),
        ship_by=T0 + timedelta(days=2), do_not_ship_reasons=tuple(hold),
        buyer=BuyerContact(name_cipher="NC", phone_cipher="PC", address_cipher="AC",
                           name_masked="张*", phone_masked="138****5678",
                           address_masked="北京市***", province_code="110000",
                           city_code="110100", district_code="110101"),
        buyer_note="leave at the door")


def return_values(rid="R1", pid="P1", *, kind="refund_only", status="requested",
                  lines=(("SKU-1", 1),), updated=None, reason_code="buyer.changed_mind"):
    return ReturnValues(
        platform_return_id=rid, platform_order_id=pid, kind=kind, status=status,
        raw_status="10", refund_minor=1990, currency="CNY",
        lines=tuple(ReturnLineValues(sku=sku, quantity=qty, platform_line_id=f"{pid}-{sku}")
                    for sku, qty in lines),
        reason_code=reason_code, reason_text="changed my mind",
        remote_updated_at=updated or T0 + timedelta(hours=1), requested_at=T0)


def tracking_values(number, *, carrier="sf", status=None, interception=None, at=None):
    events = ()
    if status:
        events = (TrackingEventValues(occurred_at=at or T0 + timedelta(hours=5),
                                      status=status, raw_status=status,
                                      description=f"parcel {status}"),)
    return TrackingValues(carrier=carrier, tracking_number=number, events=events,
                          interception=interception)


def apply(database, account_id, values) -> str:
    with database.session() as s:
        return sync.apply(s, s.get(Account, account_id), values)


def courier_id(s, merchant_id) -> int:
    return s.scalar(select(Account.id).where(Account.merchant_id == merchant_id,
                                             Account.kind == "courier"))


def the_order(s, merchant_id, pid="P1") -> Order:
    return s.scalar(select(Order).where(Order.merchant_id == merchant_id,
                                        Order.platform_order_id == pid))


def fulfilments(s, merchant_id) -> list[Fulfilment]:
    return list(s.scalars(select(Fulfilment).where(Fulfilment.merchant_id == merchant_id)
                          .order_by(Fulfilment.id)))


def messages(s, merchant_id, topic=None) -> list[OutboxMessage]:
    stmt = select(OutboxMessage).where(OutboxMessage.merchant_id == merchant_id)
    if topic:
        stmt = stmt.where(OutboxMessage.topic == topic)
    return list(s.scalars(stmt.order_by(OutboxMessage.id)))


def open_alerts(s, merchant_id, kind=None) -> list[Alert]:
    stmt = select(Alert).where(Alert.merchant_id == merchant_id, Alert.resolved_at.is_(None))
    if kind:
        stmt = stmt.where(Alert.kind == kind)
    return list(s.scalars(stmt.order_by(Alert.id)))


def actions(s, entity, entity_id) -> list[str]:
    return list(s.scalars(select(AuditEntry.action).where(
        AuditEntry.entity == entity, AuditEntry.entity_id == entity_id)
        .order_by(AuditEntry.id)))


def audit_of(s, entity, entity_id, action) -> AuditEntry:
    return s.scalar(select(AuditEntry).where(
        AuditEntry.entity == entity, AuditEntry.entity_id == entity_id,
        AuditEntry.action == action))


def the_case(s, merchant_id, rid="R1") -> ReturnCase:
    return s.scalar(select(ReturnCase).where(ReturnCase.merchant_id == merchant_id,
                                             ReturnCase.platform_return_id == rid))


def shipments(s, merchant_id) -> list[Shipment]:
    return list(s.scalars(select(Shipment).where(Shipment.merchant_id == merchant_id)
                          .order_by(Shipment.id)))
