"""Who hears what: every subscription of the hub, in the order subscribers run.

``wire()`` starts from an empty bus and apply registry and makes every subscription by an
explicit call; the app factory (``hub.web.app.create_app``) calls it, and through it the
web server, the CLI, every worker and the tests, so all are wired alike and calling it
again gives the same wiring. ``tests/test_wiring.py`` lists the result; so does
``ARCHITECTURE.md``.

Where the order matters:

* ``order_changed``: allocation first (a paid order gets its fulfilments and dispatch),
  then stop-ship (a cancelled order stops what was dispatched), then the parcels the
  platform reports are registered (with the fulfilment allocation made);
* ``return_changed``: the return parcel is registered and the return notice worked out
  before stop-ship asks a supplier to stop (the notice then carries the parcel); the
  policy's review comes last, so an approval sees the stop-ship it may wait for;
* ``shipment_tracked``: tracking effects first (the order delivered, alerts, monitoring),
  then the returns room (the case moves with its parcel, then the return notice reads
  it), then stop-ship (an undeliverable parcel becomes an expected return), then the
  policy's fast refund (a return picked up by the courier);
* ``message_settled`` for ``intercept``: the shipment records the interception's
  outcome before stop-ship reads it.
"""
from __future__ import annotations

from hub.domain.fulfilment import allocation, stopship, updates
from hub.domain.liability import claims, triggers as liability
from hub.domain.orders.records import apply_order
from hub.domain.pushes import platform_actions, supplier_notices
from hub.domain.returns import decisions, flow as returns, labels, resolutions, review
from hub.domain.returns.records import apply_return
from hub.domain.tracking import effects, shipments
from hub.domain.tracking.records import apply_tracking, preload_shipments
from hub.pipeline import events, sync
from hub.pipeline.events import (
    ExpectedReturn, MessageSettled, OrderChanged, ReturnChanged, ReturnInspected,
    ShipmentTracked,
)
from hub.values import FulfilmentUpdateValues, OrderValues, ReturnValues, TrackingValues


def wire() -> None:
    sync.reset()
    sync.register(OrderValues, apply_order, preload=sync.preload_bindings)
    sync.register(ReturnValues, apply_return, preload=sync.preload_bindings)
    sync.register(TrackingValues, apply_tracking, preload=preload_shipments)
    sync.register(FulfilmentUpdateValues, updates.apply_update)

    events.reset()
    on = events.subscribe
    on(OrderChanged, allocation.on_order_changed)
    on(OrderChanged, stopship.on_order_changed)
    on(OrderChanged, shipments.on_order_changed)
    on(ReturnChanged, returns.on_return_changed)
    on(ReturnChanged, stopship.on_return_changed)
    on(ReturnChanged, review.on_return_changed)
    on(ReturnChanged, resolutions.on_return_changed)
    on(ReturnChanged, labels.on_return_changed)
    on(ReturnChanged, liability.on_return_changed)
    on(ReturnInspected, liability.on_return_inspected)
    on(ShipmentTracked, effects.on_shipment_tracked)
    on(ShipmentTracked, returns.on_shipment_tracked)
    on(ShipmentTracked, stopship.on_shipment_tracked)
    on(ShipmentTracked, review.on_shipment_tracked)
    on(ShipmentTracked, resolutions.on_shipment_tracked)
    on(ShipmentTracked, liability.on_shipment_tracked)
    on(ExpectedReturn, returns.on_expected_return)
    on(ExpectedReturn, liability.on_expected_return)
    on(MessageSettled, platform_actions.on_tracking_settled,
       keys=("shipment", "tracking_correction"))
    on(MessageSettled, supplier_notices.on_notice_settled, keys=supplier_notices.TOPICS)
    on(MessageSettled, updates.on_answer_settled, keys=updates.ANSWER_TOPICS)
    on(MessageSettled, shipments.on_subscribe_settled, keys=("subscribe",))
    on(MessageSettled, shipments.on_intercept_settled, keys=("intercept",))
    on(MessageSettled, stopship.on_intercept_settled, keys=("intercept",))
    on(MessageSettled, decisions.on_decision_settled, keys=decisions.DECISION_TOPICS)
    on(MessageSettled, labels.on_label_settled, keys=(labels.TOPIC,))
    on(MessageSettled, claims.on_notice_settled, keys=(supplier_notices.CLAIM_NOTICE,))
