"""The wiring is visible: every event's subscribers in the order they run, every value
type's apply handler, and no subscription made by importing a module (``hub.wiring``)."""
from __future__ import annotations

import subprocess
import sys

from hub import wiring
from hub.pipeline import events, sync

SUBSCRIBERS = {
    "order_changed": [
        "hub.domain.fulfilment.allocation.on_order_changed",
        "hub.domain.fulfilment.stopship.on_order_changed",
        "hub.domain.tracking.shipments.on_order_changed",
    ],
    "return_changed": [
        "hub.domain.returns.flow.on_return_changed",
        "hub.domain.fulfilment.stopship.on_return_changed",
        "hub.domain.returns.review.on_return_changed",
        "hub.domain.returns.resolutions.on_return_changed",
        "hub.domain.returns.labels.on_return_changed",
        "hub.domain.liability.triggers.on_return_changed",
    ],
    "shipment_tracked": [
        "hub.domain.tracking.effects.on_shipment_tracked",
        "hub.domain.returns.flow.on_shipment_tracked",
        "hub.domain.fulfilment.stopship.on_shipment_tracked",
        "hub.domain.returns.review.on_shipment_tracked",
        "hub.domain.returns.resolutions.on_shipment_tracked",
        "hub.domain.liability.triggers.on_shipment_tracked",
    ],
    "expected_return": ["hub.domain.returns.flow.on_expected_return",
                        "hub.domain.liability.triggers.on_expected_return"],
    "return_inspected": ["hub.domain.liability.triggers.on_return_inspected"],
    "message_settled": [
        "hub.domain.pushes.platform_actions.on_tracking_settled ['shipment', 'tracking_correction']",
        "hub.domain.pushes.supplier_notices.on_notice_settled "
        "['claim_notice', 'order_dispatch', 'return_notice', 'statement_notice', 'stop_ship']",
        "hub.domain.fulfilment.updates.on_answer_settled ['order_dispatch', 'stop_ship']",
        "hub.domain.tracking.shipments.on_subscribe_settled ['subscribe']",
        "hub.domain.tracking.shipments.on_intercept_settled ['intercept']",
        "hub.domain.fulfilment.stopship.on_intercept_settled ['intercept']",
        "hub.domain.returns.decisions.on_decision_settled "
        "['refund_approve', 'refund_reject', 'return_approve', 'return_decision', "
        "'return_receipt']",
        "hub.domain.returns.labels.on_label_settled ['return_label']",
        "hub.domain.liability.claims.on_notice_settled ['claim_notice']",
    ],
}


def test_every_event_and_its_subscribers_in_order():
    wiring.wire()
    assert events.subscribers() == SUBSCRIBERS


def test_every_value_type_has_its_handler():
    wiring.wire()
    assert sync.handled_types() == [
        "OrderValues -> hub.domain.orders.records.apply_order",
        "ReturnValues -> hub.domain.returns.records.apply_return",
        "TrackingValues -> hub.domain.tracking.records.apply_tracking",
        "FulfilmentUpdateValues -> hub.domain.fulfilment.updates.apply_update",
    ]


def test_wiring_again_gives_the_same_wiring():
    wiring.wire()
    wiring.wire()
    assert events.subscribers() == SUBSCRIBERS


def test_importing_every_module_subscribes_nothing():
    code = ("import hub.web.app, hub.cli, hub.wiring, jobs.registry\n"
            "from hub.pipeline import events, sync\n"
            "print(events.subscribers(), sync.handled_types())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "{} []"
