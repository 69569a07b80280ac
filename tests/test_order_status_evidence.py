"""An order's status the hub derived from stronger evidence (the courier's delivery scan)
is not overwritten by a weaker source (a late platform update saying ``shipped``); the
platform's raw status is still recorded and the kept status audited (issue 10, item 3)."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from hub.domain import fulfilment as flow
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    T0, actions, apply, courier_id, fake_connectors, fulfilments, order_values, the_order,
    tracking_values, world,
)


@pytest.fixture
def w(app, database, fake_connectors):  # noqa: F811
    with database.session() as s:
        return world(s)


def delivered(database, w):
    apply(database, w["shop_id"], order_values())
    with database.session() as s:
        [x] = fulfilments(s, w["merchant_id"])
        flow.submit_tracking(s, x, "sf", "SF1234567890123", "supplier:1", None)
        courier = courier_id(s, w["merchant_id"])
    apply(database, courier, tracking_values("SF1234567890123", status="delivered"))


def platform_says(database, w, status, raw, minutes):
    values = dataclasses.replace(order_values(), status=status, raw_status=raw,
                                 remote_updated_at=T0 + timedelta(minutes=minutes))
    return apply(database, w["shop_id"], values)


@pytest.mark.parametrize("late", ["paid", "shipped", "pending_payment"])
def test_a_late_platform_update_does_not_undo_the_delivery(database, w, late):
    delivered(database, w)
    assert platform_says(database, w, late, "40", 30) == "updated"
    with database.session(readonly=True) as s:
        order = the_order(s, w["merchant_id"])
        assert (order.status, order.raw_status) == ("delivered", "40")
        assert "order.status_kept" in actions(s, "order", order.id)


@pytest.mark.parametrize("later", ["completed", "cancelled"])
def test_the_platforms_closing_word_still_applies(database, w, later):
    delivered(database, w)
    platform_says(database, w, later, "70", 30)
    with database.session(readonly=True) as s:
        assert the_order(s, w["merchant_id"]).status == later
