"""The event bus: named domain events, published inside the transaction of the change.

A room that changes something publishes what happened (``publish(session, event)``); the
subscribers run at once, in the order they were subscribed, in the same transaction, so
what they write commits with the change or not at all, and a subscriber that raises
fails the change (an inbox event is then retried). Rooms never import each other to
react: a subscriber is a plain function ``fn(session, event)`` of the room that cares.

Subscriptions are made by explicit calls only, from ``hub.wiring.wire()`` (the app
factory calls it, so the web server, the CLI, every worker and the tests are wired the
same way), never as a side effect of an import. ``subscribers()`` lists them.

Events carry the rows they are about and what changed, so nothing is ever stuck onto an
ORM row to pass information along.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, ClassVar

from sqlalchemy.orm import Session

from hub.models import (
    Account, Fulfilment, Inspection, Order, OutboxMessage, ReturnCase, Shipment,
)
from hub.values import OrderValues, ReturnValues, TrackingValues


@dataclass(frozen=True)
class Event:
    name: ClassVar[str]

    @property
    def key(self) -> str | None:
        """What a subscription can be narrowed to (``subscribe(..., keys=...)``)."""
        return None


@dataclass(frozen=True)
class OrderChanged(Event):
    """A platform record created or changed an order (``created`` tells which); ``values``
    is the record as mapped."""

    name: ClassVar[str] = "order_changed"
    account: Account
    order: Order
    created: bool
    values: OrderValues


@dataclass(frozen=True)
class ReturnChanged(Event):
    """A platform record created or changed a return case. ``status`` is what the case
    kept: the platform's (``values.status``) unless the hub had recorded further progress
    (``status_kept``); ``previous_status`` is None for a new case."""

    name: ClassVar[str] = "return_changed"
    account: Account
    case: ReturnCase
    values: ReturnValues
    previous_status: str | None
    status: str

    @property
    def status_kept(self) -> bool:
        return self.status != self.values.status


@dataclass(frozen=True)
class ShipmentTracked(Event):
    """A courier's record changed a shipment: new events (``events_added``), a status
    move, the provider's monitoring state, an interception's outcome (``succeeded`` |
    ``failed``) or a corrected carrier (the one it had before)."""

    name: ClassVar[str] = "shipment_tracked"
    account: Account
    shipment: Shipment
    values: TrackingValues
    previous_status: str
    status: str
    events_added: int
    monitoring_changed: bool = False
    interception: str | None = None
    carrier_corrected: str | None = None

    @property
    def status_changed(self) -> bool:
        return self.previous_status != self.status


@dataclass(frozen=True)
class ReturnInspected(Event):
    """A return's goods were received and inspected (``inspection``: what was found)."""

    name: ClassVar[str] = "return_inspected"
    case: ReturnCase
    inspection: Inspection


@dataclass(frozen=True)
class ExpectedReturn(Event):
    """A parcel that was asked to stop could not be: its goods are coming back."""

    name: ClassVar[str] = "expected_return"
    fulfilment: Fulfilment


@dataclass(frozen=True)
class MessageSettled(Event):
    """An outbox message became ``sent`` or ``dead`` (``hub.pipeline.outbox.settled``);
    subscriptions are narrowed to the topics they care about."""

    name: ClassVar[str] = "message_settled"
    message: OutboxMessage

    @property
    def key(self) -> str:
        return self.message.topic


Handler = Callable[[Session, Event], None]
_subscriptions: dict[type[Event], list[tuple[Handler, frozenset[str] | None]]] = \
    defaultdict(list)


def subscribe(event_type: type[Event], handler: Handler, *, keys=None) -> None:
    """``handler(session, event)`` runs on every ``event_type`` published (only those
    whose ``key`` is in ``keys``, when given), after the handlers subscribed before it."""
    _subscriptions[event_type].append((handler, frozenset(keys) if keys else None))


def reset() -> None:
    _subscriptions.clear()


def handlers(event: Event) -> list[Handler]:
    return [handler for handler, keys in _subscriptions.get(type(event), ())
            if keys is None or event.key in keys]


def publish(session: Session, event: Event) -> None:
    for handler in handlers(event):
        handler(session, event)


def subscribers() -> dict[str, list[str]]:
    """Every event's subscribers in the order they run: ``module.function`` (``[keys]``)."""
    listing: dict[str, list[str]] = {}
    for event_type, subs in _subscriptions.items():
        listing[event_type.name] = [
            f"{h.__module__}.{h.__name__}" + (f" {sorted(keys)}" if keys else "")
            for h, keys in subs]
    return listing
