"""``POST /api/v1/shipments/<id>/intercept``: roles, validation, 202 with the queued push,
409 when an interception cannot be asked for."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from hub.domain.tracking import shipments as tracking
from hub.models import OutboxMessage, Shipment
from tests import factories as f
from tests.tracking_helpers import courier


@pytest.fixture
def world(app, database):
    with database.session() as s:
        m = f.merchant(s)
        shop = f.shop(s, m.id)
        sup = f.supplier(s, m.id)
        order = f.order(s, m.id, shop.id, supplier_id=sup.id)
        courier(s, m.id)
        shipment = tracking.register_shipment(
            s, merchant_id=m.id, carrier="sf", tracking_number="SF42", direction="outbound",
            order_id=order.id, fulfilment_id=order.fulfilments[0].id, var_dir=None)
        tokens = {role: f.token(s, m.id, role, sup.id if role == "supplier" else None)
                  for role in ("merchant_admin", "operator", "finance", "supplier")}
        return {"shipment_id": shipment.id, "tokens": tokens}


def post(client, world, body, role="merchant_admin", shipment_id=None):
    return client.post(f"/api/v1/shipments/{shipment_id or world['shipment_id']}/intercept",
                       json=body, headers=f.bearer(world["tokens"][role]))


def test_an_interception_is_accepted(client, database, world):
    resp = post(client, world, {"kind": "return_to_sender", "reason": "buyer cancelled"})
    assert resp.status_code == 202, resp.get_json()
    data = resp.get_json()
    assert data["interception_status"] == "requested" and data["id"] == world["shipment_id"]
    with database.session(readonly=True) as s:
        message = s.get(OutboxMessage, data["outbox_message_id"])
        assert message.topic == "intercept" and message.payload["reason"] == "buyer cancelled"
    again = post(client, world, {"kind": "return_to_sender", "reason": "twice"}, "operator")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "conflict"


def test_a_new_address(client, world):
    body = {"kind": "modify_address", "reason": "buyer moved",
            "address": {"name": "张三", "mobile": "13800001111", "print_addr": "上海市徐汇区1号"}}
    resp = post(client, world, body, "operator")
    assert resp.status_code == 202


@pytest.mark.parametrize("body", [
    {"kind": "modify_address", "reason": "x"},
    {"kind": "return_to_sender", "reason": "x", "address": {"name": "a", "mobile": "1380",
                                                          "print_addr": "somewhere"}},
    {"kind": "destroy", "reason": "x"},
    {"kind": "return_to_sender"},
    {"kind": "return_to_sender", "reason": "x", "extra": 1},
])
def test_invalid_bodies(client, world, body):
    resp = post(client, world, body)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("role", ["finance", "supplier"])
def test_other_roles_may_not(client, world, role):
    assert post(client, world, {"kind": "return_to_sender", "reason": "x"}, role).status_code \
        == 403


def test_a_delivered_parcel_cannot_be_intercepted(client, database, world):
    with database.session() as s:
        s.get(Shipment, world["shipment_id"]).status = "delivered"
    resp = post(client, world, {"kind": "return_to_sender", "reason": "x"})
    assert resp.status_code == 409
    with database.session(readonly=True) as s:
        assert s.scalar(select(OutboxMessage).where(OutboxMessage.topic == "intercept")) is None


def test_an_unknown_shipment_is_404(client, world):
    assert post(client, world, {"kind": "return_to_sender", "reason": "x"},
                shipment_id=999999).status_code == 404
