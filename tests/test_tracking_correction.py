"""A wrong tracking number can be corrected end to end: through the supplier API or the
sheet, the platform gets a tracking correction naming the old number, the courier
subscribes the new parcel, and the wrong one is kept as evidence but can no longer move
the order (issue 10, item 13)."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from hub.domain import fulfilment as flow
from hub.models import AuditEntry, Fulfilment, OutboxMessage, Shipment
from tests import factories as f
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    apply, courier_id, fake_connectors, fulfilments, messages, order_values,
    platform_messages, tracking_values, world,
)

WRONG, RIGHT = "SF1234567890123", "SF9876543210987"


@pytest.fixture
def w(app, database, fake_connectors):  # noqa: F811
    with database.session() as s:
        w = world(s)
        w["token"] = f.bearer(f.token(s, w["merchant_id"], "supplier", w["supplier_id"]))
    apply(database, w["shop_id"], order_values())
    with database.session() as s:
        [x] = fulfilments(s, w["merchant_id"])
        flow.submit_tracking(s, x, "sf", WRONG, "supplier:1", None)
        w["fid"] = x.id
        for m in messages(s, w["merchant_id"], "shipment"):   # the platform took it
            m.status = "sent"
    return w


def correct(client, w, number=RIGHT, reason="typo in the waybill"):
    return client.post(f"/api/v1/supplier/fulfilments/{w['fid']}/tracking-correction",
                       headers=w["token"], json={"carrier": "sf", "tracking_number": number,
                                                 "reason": reason})


def test_a_correction_reaches_the_platform_and_the_courier(client, database, w):
    resp = correct(client, w)
    assert resp.status_code == 200, resp.get_json()
    with database.session(readonly=True) as s:
        old, new = s.scalars(select(Shipment).order_by(Shipment.id)).all()
        assert (old.tracking_number, old.status) == (WRONG, "cancelled")
        assert (new.tracking_number, new.fulfilment_id, new.subscription_status) == (
            RIGHT, w["fid"], "requested")
        assert flow.outbound_shipment(s, s.get(Fulfilment, w["fid"])).id == new.id
        [fix] = [payload for topic, _, _, payload in platform_messages(s, w["merchant_id"])
                 if topic == "tracking_correction"]
        assert (fix["tracking_number"], fix["previous_tracking_number"]) == (RIGHT, WRONG)
        assert [m.entity_id for m in messages(s, w["merchant_id"], "subscribe")][-1] == new.id
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "shipment.tracking_corrected"))
        assert entry.changes["from"] == ["sf", WRONG] and entry.changes["to"] == ["sf", RIGHT]
        assert entry.changes["reason"] == "typo in the waybill"
    assert correct(client, w).status_code == 200                   # the same again: nothing new
    with database.session(readonly=True) as s:
        assert len(s.scalars(select(Shipment)).all()) == 2


def test_the_wrong_parcel_can_no_longer_deliver_the_order(client, database, w):
    correct(client, w)
    with database.session(readonly=True) as s:
        courier = courier_id(s, w["merchant_id"])
    apply(database, courier, tracking_values(WRONG, status="delivered"))
    with database.session(readonly=True) as s:
        old = s.scalar(select(Shipment).where(Shipment.tracking_number == WRONG))
        assert old.status == "cancelled"
        assert s.get(Fulfilment, w["fid"]).order.status == "paid"


def test_a_correction_needs_a_reason_and_a_shipped_fulfilment(client, database, w):
    assert correct(client, w, reason="").status_code == 422
    apply(database, w["shop_id"], order_values("P2"))
    with database.session(readonly=True) as s:
        [_, other] = fulfilments(s, w["merchant_id"])
        other_id = other.id
    resp = client.post(f"/api/v1/supplier/fulfilments/{other_id}/tracking-correction",
                       headers=w["token"], json={"carrier": "sf", "tracking_number": RIGHT,
                                                 "reason": "x"})
    assert resp.status_code == 409
    with database.session(readonly=True) as s:
        assert not s.scalars(select(OutboxMessage).where(
            OutboxMessage.topic == "tracking_correction")).all()


def test_a_correction_from_the_sheet(client, database, w):
    from tests.test_spreadsheets import csv_sheet

    with database.session() as s:
        admin = f.bearer(f.token(s, w["merchant_id"], "merchant_admin"))
    row = {"section": "dispatch", "fulfilment_id": w["fid"], "answer": "更正", "carrier": "sf",
           "tracking_number": RIGHT, "reason": "贴错面单 wrong label"}
    resp = client.post(f"/api/v1/suppliers/{w['supplier_id']}/sheet", headers=admin,
                       data={"file": (io.BytesIO(csv_sheet([row])), "answers.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["counts"]["applied"] == 1
    with database.session(readonly=True) as s:
        assert flow.outbound_shipment(s, s.get(Fulfilment, w["fid"])).tracking_number == RIGHT
    again = client.post(f"/api/v1/suppliers/{w['supplier_id']}/sheet", headers=admin,
                        data={"file": (io.BytesIO(csv_sheet([row])), "answers.csv")},
                        content_type="multipart/form-data")
    assert again.get_json()["counts"]["unchanged"] == 1
