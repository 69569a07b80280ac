"""Courier tracking, the hub side: every shipment is registered here, followed by a courier
account, re-subscribed when the courier stops, and can be intercepted.

    shipment = register_shipment(session, merchant_id=m, carrier="sf",
                                 tracking_number="SF1234567890", direction="outbound",
                                 order_id=o, fulfilment_id=f, var_dir=settings.var_dir)
    request_interception(session, shipment, "return_to_sender", "buyer cancelled",
                         actor="user:3", var_dir=settings.var_dir)

* **Registration** (``register_shipment``) creates the shipment, or returns the one the
  merchant already has for that carrier and number, and subscribes it at once: an outbox
  message ``subscribe`` (payload: the courier connector's ``subscription_payload`` of a
  ``connectors.capabilities.Parcel`` with the order's masked phone — Kuaidi100 keeps its
  last 4 digits for SF and ZTO; the connector builds the callback URL
  ``HUB_PUBLIC_URL/webhooks/<connector>/<account_id>``) on the merchant's first
  active courier account whose connector can push, and ``subscription_status``
  ``requested``. The delivery's result (``MessageSettled``) makes it
  ``subscribed`` or ``failed`` (alert ``tracking_subscription_failed``). No such
  account: ``none`` and one open info alert ``no_courier_account`` per merchant.
  **Every shipment the hub learns about goes through here** — the supplier flow
  (``hub.domain.fulfilment.allocation``) included; only the demo seed creates rows directly.
* **Monitoring** (``after_monitoring``, run by ``hub.domain.tracking.effects`` when a push
  says so): ``shutdown`` / ``stopped`` → ``done``; ``abort`` →
  ``mappings.tracking.resubscribe_plan``: re-subscribe no earlier than 30 minutes later
  (``Shipment.resubscribe_after``, acted on by ``jobs.resubscribe`` through
  ``resubscribe_due``), at most 4 subscriptions a month (China time; counted from the
  sent ``subscribe`` messages), else ``failed`` and alert ``tracking_stopped``. A
  carrier-code correction needs nothing: pushes go on under the new code.
* **Interception** (``request_interception``): an ``intercept`` outbox message on a
  courier account that can intercept; ``interception_status`` ``requested``. Refused
  (``Conflict``, 409) when one is already requested or succeeded, or the parcel is
  delivered, returned or cancelled. The outcome comes back by callback (inbox →
  ``hub.pipeline.sync``: ``succeeded`` | ``failed``, audited); a dead push is ``failed`` too.
  Every step is an audit entry (its time is the evidence). Stop-ship code learns the
  outcome through ``ShipmentTracked``.

What a tracking change does to orders, returns, alerts and supplier notices is
``hub.domain.tracking.effects``.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from marshmallow import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors import registry
from connectors.capabilities import Parcel
from hub.core.china import CHINA
from hub.core.db import memo, utcnow
from hub.core.errors import ApiError, Conflict
from hub.core.wakeup import current_var_dir
from hub.models import Account, Alert, Order, OutboxMessage, ReturnCase, Shipment, alerts, audit
from hub.models.logistics import DIRECTIONS
from hub.pipeline.events import MessageSettled, OrderChanged
from hub.pipeline.outbox import enqueue
from mappings.tracking import monitoring_from_values, resubscribe_plan
from mappings.tracking.monitoring import MAX_SUBSCRIPTIONS_PER_MONTH

INTERCEPT_KINDS = ("return_to_sender", "modify_address")
TOO_LATE = ("delivered", "returned", "cancelled")     # no interception, no re-subscription
ACTOR = "hub:tracking"
BATCH = 100


# -- courier accounts ----------------------------------------------------------------------

def _capable(account: Account, capability: str) -> bool:
    try:
        return capability in registry.get(account.connector).capabilities
    except registry.UnknownConnector:
        return False


def courier_account(session: Session, merchant_id: int, capability: str = "push",
                    preferred_id: int | None = None) -> Account | None:
    """The merchant's courier account for ``capability`` (``push`` = can subscribe,
    ``intercept``): ``preferred_id`` if it qualifies, else the first active one by id."""
    accounts = list(session.scalars(select(Account).where(
        Account.merchant_id == merchant_id, Account.kind == "courier",
        Account.status == "active").order_by(Account.id)))
    accounts.sort(key=lambda a: a.id != preferred_id)
    return next((a for a in accounts if _capable(a, capability)), None)


# -- registration and subscription ---------------------------------------------------------

def register_shipment(session: Session, *, merchant_id: int, carrier: str,
                      tracking_number: str, direction: str, order_id: int | None = None,
                      fulfilment_id: int | None = None, return_case_id: int | None = None,
                      var_dir: Path | None, shipped_at: datetime | None = None) -> Shipment:
    """Create (or find) the shipment and subscribe it with the merchant's courier account."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
    carrier, number = (carrier or "").strip().lower(), (tracking_number or "").strip()
    if not carrier or not number:
        raise ValueError("a shipment needs a carrier and a tracking number")
    links = {"order_id": order_id, "fulfilment_id": fulfilment_id,
             "return_case_id": return_case_id, "shipped_at": shipped_at}

    def existing() -> Shipment | None:
        return session.scalar(select(Shipment).where(
            Shipment.merchant_id == merchant_id, Shipment.carrier == carrier,
            Shipment.tracking_number == number))

    shipment = existing()
    if shipment is None:
        try:
            with session.begin_nested():
                shipment = Shipment(merchant_id=merchant_id, carrier=carrier,
                                    tracking_number=number, direction=direction, flags=[],
                                    **{k: v for k, v in links.items() if v is not None})
                session.add(shipment)
                session.flush()
            known = memo(session).get("shipments", {}).get((merchant_id, number))
            if known is not None:  # a batch's preload (hub.domain.tracking.records) sees it
                known.append(shipment)
            audit.record(session, merchant_id, ACTOR, "shipment.registered", "shipment",
                         shipment.id, {"carrier": carrier, "tracking_number": number,
                                       "direction": direction})
        except IntegrityError:      # registered concurrently: use that one
            shipment = existing()
            if shipment is None:
                raise
    for key, value in links.items():
        if value is not None and getattr(shipment, key) is None:
            setattr(shipment, key, value)
    if shipment.subscription_status in ("none", "failed") and shipment.status not in TOO_LATE:
        subscribe(session, shipment, var_dir)
    session.flush()
    return shipment


def _parcel(session: Session, shipment: Shipment) -> Parcel:
    """The shipment as couriers are told about it, with the order's masked phone."""
    return Parcel(shipment.carrier, shipment.tracking_number, ref=str(shipment.id),
                  phone=_phone(session, shipment))


def _phone(session: Session, shipment: Shipment) -> str | None:
    order_id = shipment.order_id
    if order_id is None and shipment.return_case_id is not None:
        case = session.get(ReturnCase, shipment.return_case_id)
        order_id = case.order_id if case else None
    order = session.get(Order, order_id) if order_id else None
    return order.buyer_phone_masked if order else None


def _count(session: Session, shipment: Shipment, topic: str, *conditions) -> int:
    return session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.merchant_id == shipment.merchant_id, OutboxMessage.topic == topic,
        OutboxMessage.entity == "shipment", OutboxMessage.entity_id == shipment.id,
        *conditions)) or 0


def subscribe(session: Session, shipment: Shipment, var_dir: Path | None,
              version: str | None = None) -> OutboxMessage | None:
    """Queue a ``subscribe`` push for ``shipment``; None when it cannot be (no account,
    or the payload is invalid: ``subscription_status`` says which)."""
    merchant_id = shipment.merchant_id
    account = courier_account(session, merchant_id, "push", shipment.tracking_account_id)
    if account is None:
        shipment.subscription_status = "none"
        if not _open_alert(session, merchant_id, "no_courier_account", "merchant", merchant_id):
            alerts.raise_alert(session, merchant_id, "no_courier_account", "merchant",
                               merchant_id, "no courier account: tracking is not followed",
                               severity="info")
        return None
    alerts.resolve(session, merchant_id, "no_courier_account", "merchant", merchant_id,
                   why="a courier account subscribes parcels again")
    try:
        payload = registry.get(account.connector).subscription_payload(
            _parcel(session, shipment))
    except ValidationError as e:
        shipment.subscription_status = "failed"
        alerts.raise_alert(session, merchant_id, "tracking_subscription_failed", "shipment",
                           shipment.id, f"parcel {shipment.tracking_number} cannot be "
                           f"tracked: {e.messages}", details={"errors": e.messages})
        return None
    version = version or f"s{_count(session, shipment, 'subscribe') + 1}"
    message = enqueue(session, account, "subscribe", "shipment", shipment.id, payload,
                      version, var_dir=var_dir)
    shipment.tracking_account_id = account.id
    shipment.subscription_status = "requested"
    return message


def _open_alert(session, merchant_id, kind, entity, entity_id) -> bool:
    return session.scalar(select(Alert.id).where(
        Alert.merchant_id == merchant_id, Alert.kind == kind, Alert.entity == entity,
        Alert.entity_id == entity_id, Alert.resolved_at.is_(None)).limit(1)) is not None


def _shipment_of(session: Session, message: OutboxMessage) -> Shipment | None:
    if message.entity != "shipment":
        return None
    shipment = session.get(Shipment, message.entity_id)
    return shipment if shipment is not None and shipment.merchant_id == message.merchant_id \
        else None


def on_subscribe_settled(session: Session, event: MessageSettled) -> None:
    message = event.message
    shipment = _shipment_of(session, message)
    if shipment is None or shipment.tracking_account_id != message.account_id \
            or shipment.subscription_status != "requested":
        return                     # another account's, or already done / re-requested
    if message.status == "sent":
        shipment.subscription_status = "subscribed"
        shipment.subscribed_at = message.sent_at or utcnow()
        shipment.subscription_count = (shipment.subscription_count or 0) + 1
        alerts.resolve(session, shipment.merchant_id, "tracking_subscription_failed",
                       "shipment", shipment.id, why="the courier accepted the subscription")
        return
    shipment.subscription_status = "failed"
    alerts.raise_alert(session, shipment.merchant_id, "tracking_subscription_failed",
                       "shipment", shipment.id,
                       f"parcel {shipment.tracking_number} could not be subscribed for "
                       f"tracking: {message.last_error or message.last_error_class}",
                       details={"outbox_message_id": message.id,
                                "error_class": message.last_error_class})


# -- monitoring and re-subscription --------------------------------------------------------

def subscriptions_this_month(session: Session, shipment: Shipment, now: datetime) -> int:
    """Subscriptions sent for this shipment in the current month (China time)."""
    local = now.astimezone(CHINA)
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return _count(session, shipment, "subscribe", OutboxMessage.status == "sent",
                  OutboxMessage.sent_at >= month_start.astimezone(timezone.utc))


def _give_up(session: Session, shipment: Shipment, reason: str) -> None:
    shipment.subscription_status = "failed"
    shipment.resubscribe_after = None
    alerts.raise_alert(session, shipment.merchant_id, "tracking_stopped", "shipment",
                       shipment.id, f"parcel {shipment.tracking_number} is no longer "
                       f"tracked: {reason}", details={"monitoring": shipment.monitoring})


def after_monitoring(session: Session, shipment: Shipment, values, now: datetime) -> str:
    """Act on the monitoring state a push carried; returns the plan's action."""
    m = monitoring_from_values(values)
    if m.state in ("shutdown", "stopped"):
        if shipment.subscription_status in ("requested", "subscribed"):
            shipment.subscription_status = "done"
        shipment.resubscribe_after = None
        return "done"
    if m.state != "abort":
        return "none"
    if shipment.status in TOO_LATE:            # nothing more will happen to it
        shipment.subscription_status = "done"
        return "done"
    plan = resubscribe_plan(m, received_at=now,
                            subscriptions_this_month=subscriptions_this_month(
                                session, shipment, now))
    if plan.action == "resubscribe":
        shipment.resubscribe_after = plan.not_before
    elif plan.action == "give_up":
        _give_up(session, shipment, plan.reason)
    return plan.action


def resubscribe_due(session: Session, now: datetime, var_dir: Path | None) -> int:
    """Re-subscribe aborted shipments whose wait is over (``jobs.resubscribe``)."""
    stmt = select(Shipment).where(Shipment.monitoring == "abort",
                                  Shipment.subscription_status.in_(("subscribed", "requested")),
                                  Shipment.resubscribe_after <= now)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    done = 0
    for shipment in session.scalars(stmt.order_by(Shipment.id).limit(BATCH)):
        after = shipment.resubscribe_after
        done += 1
        if subscriptions_this_month(session, shipment, now) >= MAX_SUBSCRIPTIONS_PER_MONTH:
            _give_up(session, shipment, f"{MAX_SUBSCRIPTIONS_PER_MONTH} subscriptions this "
                     "month already")
            continue
        shipment.resubscribe_after = None
        shipment.monitoring = None
        shipment.subscription_status = "none"
        subscribe(session, shipment, var_dir, version=f"r:{after.isoformat()}")
        audit.record(session, shipment.merchant_id, ACTOR, "shipment.resubscribed", "shipment",
                     shipment.id, {"after": after.isoformat()})
    session.flush()
    return done


def on_order_changed(session: Session, event: OrderChanged) -> None:
    """The platform reports the order shipped in these parcels (its own logistics info):
    each becomes an outbound shipment of the order, subscribed like any other (of its
    fulfilment, when the order has exactly one)."""
    if not event.values.waybills:
        return
    order = event.order
    fulfilments = [f for f in order.fulfilments if f.status not in ("rejected", "cancelled")]
    for waybill in event.values.waybills:
        register_shipment(session, merchant_id=order.merchant_id, carrier=waybill.carrier,
                          tracking_number=waybill.tracking_number, direction="outbound",
                          order_id=order.id,
                          fulfilment_id=fulfilments[0].id if len(fulfilments) == 1 else None,
                          var_dir=current_var_dir())


# -- interception --------------------------------------------------------------------------

def request_interception(session: Session, shipment: Shipment, kind: str, reason: str,
                         actor: str, var_dir: Path | None,
                         address: dict | None = None) -> OutboxMessage:
    """Ask the courier to intercept ``shipment`` (``return_to_sender`` | ``modify_address``
    with ``address {name, mobile, print_addr}``); raises ``Conflict`` when it cannot."""
    if kind not in INTERCEPT_KINDS:
        raise ApiError(f"kind must be one of {', '.join(INTERCEPT_KINDS)}",
                       code="validation_error", status=422, details={"kind": ["invalid"]})
    if shipment.interception_status in ("requested", "succeeded"):
        raise Conflict(f"an interception of shipment {shipment.id} is already "
                       f"{shipment.interception_status}")
    if shipment.status in TOO_LATE:
        raise Conflict(f"shipment {shipment.id} is {shipment.status}: too late to intercept")
    account = courier_account(session, shipment.merchant_id, "intercept",
                              shipment.tracking_account_id)
    if account is None:
        raise Conflict("no active courier account of this merchant can intercept parcels "
                       "(a courier connector declaring 'intercept', set up for it, can)")
    try:
        payload = registry.get(account.connector).interception_payload(
            _parcel(session, shipment), kind, reason=reason or "", address=address)
    except ValidationError as e:
        raise ApiError("the interception request is invalid", code="validation_error",
                       status=422, details=e.messages) from None
    version = f"i{_count(session, shipment, 'intercept') + 1}"
    message = enqueue(session, account, "intercept", "shipment", shipment.id, payload,
                      version, var_dir=var_dir)
    before, shipment.interception_status = shipment.interception_status, "requested"
    audit.record(session, shipment.merchant_id, actor, "shipment.interception_requested",
                 "shipment", shipment.id,
                 {"kind": kind, "reason": reason, "account_id": account.id,
                  "outbox_message_id": message.id,
                  "interception_status": [before, "requested"]})
    session.flush()
    return message


def on_intercept_settled(session: Session, event: MessageSettled) -> None:
    message = event.message
    shipment = _shipment_of(session, message)
    if shipment is None:
        return
    latest = session.scalar(select(func.max(OutboxMessage.id)).where(
        OutboxMessage.topic == "intercept", OutboxMessage.entity == "shipment",
        OutboxMessage.entity_id == shipment.id))
    if latest != message.id:
        return                     # an older request's result
    if message.status == "sent":
        data = (message.result or {}).get("data") or {}
        audit.record(session, shipment.merchant_id, ACTOR, "shipment.interception_submitted",
                     "shipment", shipment.id, {"outbox_message_id": message.id,
                                               "task_id": data.get("task_id")})
        return
    if shipment.interception_status != "requested":
        return
    shipment.interception_status = "failed"
    audit.record(session, shipment.merchant_id, ACTOR, "shipment.interception_failed",
                 "shipment", shipment.id,
                 {"interception_status": ["requested", "failed"],
                  "outbox_message_id": message.id, "error_class": message.last_error_class,
                  "recorded_at": utcnow().isoformat()})
    alerts.raise_alert(session, shipment.merchant_id, "interception_failed", "shipment",
                       shipment.id, f"the interception of parcel {shipment.tracking_number} "
                       f"could not be requested: {message.last_error or 'refused'}",
                       details={"outbox_message_id": message.id})

