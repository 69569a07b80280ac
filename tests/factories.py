"""Small builders for test data. Each commits nothing; the caller's session does."""
from __future__ import annotations

import functools
import itertools
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from hub.domain.liability import claims, decisions
from hub.parties import auth, users
from hub.models import (
    Account, Claim, Fulfilment, Inspection, Merchant, Order, OrderLine, ReconciliationItem,
    ReturnAddress, ReturnCase, ReturnLine, Shipment, SkuMapping, Supplier, TrackingEvent,
)

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
_seq = itertools.count(1)


def merchant(s, name="Merchant"):
    m = Merchant(name=name)
    s.add(m)
    s.flush()
    return m


def token(s, merchant_id, role="merchant_admin", supplier_id=None):
    return auth.issue_token(s, merchant_id, role, supplier_id)[1]


PASSWORD = "tea and biscuits"


@functools.cache
def _password_hash() -> str:
    return users._hasher.hash(PASSWORD)  # Argon2id, once per run: each costs ~0.1 s


def user(s, merchant_id, role="merchant_admin", supplier_id=None, login=None) -> str:
    """An active console user whose password is ``PASSWORD``; returns its login."""
    row, _ = users.create(s, merchant_id, login or f"{role}-{next(_seq)}", role, "test",
                          supplier_id=supplier_id)
    row.status, row.password_hash, row.invite_hash = "active", _password_hash(), None
    s.flush()
    return row.login


def shop(s, merchant_id, name=None, config=None):
    a = Account(merchant_id=merchant_id, connector="generic_shop", kind="platform",
                name=name or f"shop-{next(_seq)}", config=config or {"webhook_secret": WHSEC})
    s.add(a)
    s.flush()
    return a


def pushing_shop(s, merchant_id, base_url, name=None, **config):
    """A generic_shop account with a full, validated config that can receive pushes."""
    from connectors.generic_shop import GenericShop

    full = GenericShop.validate_config({"webhook_secret": WHSEC, "base_url": base_url,
                                        "api_key": "shop-api-key-123", "qps": 1000, **config})
    return shop(s, merchant_id, name, full)


def supplier(s, merchant_id, code=None):
    x = Supplier(merchant_id=merchant_id, code=code or f"SUP{next(_seq)}", name="Supplier")
    s.add(x)
    s.flush()
    return x


def sku_mapping(s, merchant_id, supplier_id, sku="SKU-1"):
    x = SkuMapping(merchant_id=merchant_id, sku=sku, supplier_id=supplier_id)
    s.add(x)
    s.flush()
    return x


def order(s, merchant_id, shop_id, *, sku="SKU-1", status="paid", placed_at=T0,
          supplier_id=None, price=1990, qty=1):
    o = Order(merchant_id=merchant_id, shop_account_id=shop_id,
              platform_order_id=f"P{next(_seq)}", status=status, raw_status="30",
              total_minor=price * qty, paid_minor=price * qty, placed_at=placed_at,
              buyer_phone_cipher="CIPHER", buyer_phone_masked="138****5678",
              lines=[OrderLine(merchant_id=merchant_id, sku=sku, quantity=qty,
                               unit_price_minor=price, total_minor=price * qty)])
    s.add(o)
    s.flush()
    if supplier_id:
        s.add(Fulfilment(merchant_id=merchant_id, order_id=o.id, supplier_id=supplier_id,
                         requested_at=placed_at))
        s.flush()
    return o


def shipment(s, merchant_id, order_id=None, *, tracking=None, return_case_id=None,
             direction="outbound", status="in_transit", fulfilment_id=None):
    x = Shipment(merchant_id=merchant_id, order_id=order_id, return_case_id=return_case_id,
                 fulfilment_id=fulfilment_id, direction=direction, carrier="sf",
                 tracking_number=tracking or f"SF{next(_seq):012d}", status=status)
    s.add(x)
    s.flush()
    s.add(TrackingEvent(merchant_id=merchant_id, shipment_id=x.id, occurred_at=T0,
                        status="picked_up", source="test", dedupe_key=f"e{next(_seq)}"))
    s.flush()
    return x


def return_case(s, merchant_id, shop_id, order_obj, *, kind="return_refund",
                status="requested", requested_at=T0 + timedelta(days=2)):
    line = order_obj.lines[0]
    r = ReturnCase(merchant_id=merchant_id, shop_account_id=shop_id, order_id=order_obj.id,
                   platform_return_id=f"R{next(_seq)}", kind=kind, status=status,
                   refund_minor=order_obj.paid_minor, requested_at=requested_at,
                   lines=[ReturnLine(merchant_id=merchant_id, order_line_id=line.id,
                                     sku=line.sku, quantity=line.quantity)])
    s.add(r)
    s.flush()
    return r


def outbox_message(s, account, entity_id, *, topic="shipment", version="v1", status="pending",
                   payload=None):
    from hub.pipeline.outbox import enqueue

    m = enqueue(s, account, topic, "shipment", entity_id,
                payload or {"order_id": f"P{entity_id}", "carrier": "sf",
                            "tracking_number": f"SF{entity_id:012d}"}, version)
    m.status = status
    s.flush()
    return m


def inbox_event(s, account, *, external_event_id=None, status="received", body=b"{}",
                event_type="order.updated", **fields):
    from hub.models import InboxEvent

    e = InboxEvent(merchant_id=account.merchant_id, connector=account.connector,
                   account_id=account.id,
                   external_event_id=external_event_id or f"evt-{next(_seq)}",
                   event_type=event_type, body=body, status=status, **fields)
    s.add(e)
    s.flush()
    return e


def quarantined(s, account, *, reason="bad_signature", detail="signature missing or invalid"):
    from hub.models import QuarantinedRequest

    q = QuarantinedRequest(merchant_id=account.merchant_id if account else None,
                           account_id=account.id if account else None, connector="generic_shop",
                           reason=reason, detail=detail, body_excerpt=b"{}")
    s.add(q)
    s.flush()
    return q


def alert(s, merchant_id, *, supplier_id=None, message="check this", kind="test"):
    from hub.models.alerts import raise_alert
    return raise_alert(s, merchant_id, kind, "merchant", merchant_id, message,
                       supplier_id=supplier_id)


def supplier_channel(s, supplier_obj, endpoint_url="https://supplier.example.test/hooks",
                     secrets=(WHSEC,)):
    """A hub_webhook channel account, linked to the supplier."""
    a = Account(merchant_id=supplier_obj.merchant_id, connector="hub_webhook", kind="supplier",
                name=f"channel-{next(_seq)}",
                config={"endpoint_url": endpoint_url, "secrets": list(secrets),
                        "tolerance_s": 300})
    s.add(a)
    s.flush()
    supplier_obj.channel_account_id = a.id
    s.flush()
    return a


def supplier_notice(s, channel, fulfilment_id, *, topic="order_dispatch", version="v1",
                    payload=None, entity="fulfilment"):
    from hub.pipeline.outbox import enqueue

    return enqueue(s, channel, topic, entity, fulfilment_id,
                   payload or {"fulfilment_id": fulfilment_id, "marker": f"notice-{next(_seq)}"},
                   version)


def statement(s, supplier_obj, period="2026-01"):
    """The supplier's statement of ``period``, sent, with a dispute in its queue."""
    from hub.domain.finance import statements

    [made] = statements.build(s, supplier_obj, period, "test")
    statements.send(s, made, "test")
    item = ReconciliationItem(
        merchant_id=made.merchant_id, statement_id=made.id, outcome="only_in_supplier",
        hub_line_ids=[], supplier_line_ids=[], hub_minor=0, supplier_minor=100,
        difference_minor=100, why_en=f"item-{supplier_obj.code}", why_zh="测试",
        dispute="open")
    s.add(item)
    s.flush()
    return made, item


def world(s, name="M"):
    """A merchant with one of everything, and a token per role."""
    m = merchant(s, name)
    sh = shop(s, m.id)
    sup = supplier(s, m.id)
    mapping = sku_mapping(s, m.id, sup.id)
    o = order(s, m.id, sh.id, supplier_id=sup.id)
    r = return_case(s, m.id, sh.id, o)
    out = shipment(s, m.id, o.id, fulfilment_id=o.fulfilments[0].id)
    back = shipment(s, m.id, None, return_case_id=r.id, direction="return")
    message = outbox_message(s, sh, out.id, status="dead")
    event = inbox_event(s, sh, status="failed", external_event_id=f"evt-{name}-{next(_seq)}")
    rejected = quarantined(s, sh, detail=f"quarantine-{name}-{next(_seq)}")
    warning = alert(s, m.id, supplier_id=sup.id, message=f"alert-{name}-{next(_seq)}")
    channel = supplier_channel(s, sup)
    notice = supplier_notice(s, channel, o.fulfilments[0].id)
    tokens = {role: token(s, m.id, role, sup.id if role == "supplier" else None)
              for role in ("merchant_admin", "operator", "finance", "supplier")}
    where = ReturnAddress(merchant_id=m.id, supplier_id=sup.id, name=f"仓-{name}",
                          address=f"address-{name}-{next(_seq)}", platform_address_id="9")
    s.add(where)
    looked = Inspection(merchant_id=m.id, return_case_id=r.id, inspected_by="supplier:1",
                        received_at=T0, condition="intact", notes=f"inspection-{name}")
    s.add(looked)
    s.flush()
    decision = decisions.decide(s, m.id, "late_shipment", o.fulfilments[0].id, "test")
    [owed] = s.scalars(select(Claim).where(Claim.decision_id == decision.id))
    claims.send(s, owed, "test")
    books, item = statement(s, sup)
    return {"merchant": m, "statement": books, "reconciliation_item": item, "return_address": where, "inspection": looked,
            "decision": decision, "claim": owed, "shop": sh, "supplier": sup, "sku_mapping": mapping, "order": o,
            "fulfilment": o.fulfilments[0], "channel": channel, "notice": notice,
            "return": r, "shipment": out, "return_shipment": back, "outbox_message": message,
            "inbox_event": event, "quarantined": rejected, "alert": warning, "tokens": tokens}


def bearer(tok: str) -> dict:
    return {"Authorization": f"Bearer {tok}"}
