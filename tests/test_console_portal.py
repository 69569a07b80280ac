"""The supplier's portal (issue 15): a supplier's user answers its orders, stop-ships and
returns in the console, the same steps as the supplier API, and sees only its own."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from hub.domain import fulfilment as flow
from hub.models import Fulfilment, Inspection, OutboxMessage, Shipment
from tests import factories as f
from tests.console_helpers import CSRF, csrf, html, sign_in
from tests.supplier_helpers import (  # noqa: F401 (fixture)
    apply, fake_connectors, fulfilments, order_values, return_values, supplier, the_case,
    world,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"a returned parcel" * 8


@pytest.fixture
def w(app, database, fake_connectors):  # noqa: F811
    with database.session() as s:
        w = world(s)
        w["login"] = f.user(s, w["merchant_id"], "supplier", w["supplier_id"])
    apply(database, w["shop_id"], order_values("P1"))
    with database.session() as s:
        [x] = fulfilments(s, w["merchant_id"])
        w["fulfilment"] = x.id
    return w


@pytest.fixture
def factory(app, w):
    client = app.test_client()
    assert sign_in(client, w["login"]).headers["Location"] == "/console/supplier"
    return client


def step(client, fulfilment_id, name, **data):
    return client.post(f"/console/supplier/orders/{fulfilment_id}/{name}",
                       data={**data, "csrf_token": csrf(client, "/console/supplier")})


def test_an_order_is_accepted_shipped_and_its_tracking_corrected(factory, w, database):
    page = html(factory.get("/console/supplier"))
    assert f'data-fulfilment-id="{w["fulfilment"]}"' in page.split('id="to-answer"')[1]
    assert step(factory, w["fulfilment"], "accept", reference="FAC-001").status_code == 303
    assert f'data-fulfilment-id="{w["fulfilment"]}"' in html(
        factory.get("/console/supplier")).split('id="to-ship"')[1].split("</section>")[0]
    missing = step(factory, w["fulfilment"], "tracking", carrier="sf", tracking_number="")
    assert missing.status_code == 422 and "tracking number" in html(missing)
    assert step(factory, w["fulfilment"], "tracking", carrier="sf",
                tracking_number="SF1234567890123").status_code == 303
    shipped = html(factory.get("/console/supplier")).split('id="shipped"')[1]
    assert "SF1234567890123" in shipped
    assert step(factory, w["fulfilment"], "correct", carrier="sf",
                tracking_number="SF1234567890999", reason="typed wrong").status_code == 303
    with database.session(readonly=True) as s:
        x = s.get(Fulfilment, w["fulfilment"])
        assert (x.status, x.supplier_reference) == ("shipped", "FAC-001")
        assert dict(s.execute(select(Shipment.tracking_number, Shipment.status).where(
            Shipment.fulfilment_id == x.id)).all()) == {
            "SF1234567890123": "cancelled", "SF1234567890999": "pending"}
        pushed = [(m.topic, m.status, m.payload.get("tracking_number"))
                  for m in s.scalars(select(OutboxMessage).where(
                      OutboxMessage.topic == "shipment").order_by(OutboxMessage.id))]
        assert pushed[-1][1:] == ("pending", "SF1234567890999")  # the platform gets the right one


def test_a_stop_ship_is_answered_from_the_portal(factory, w, database):
    with database.session() as s:
        assert flow.request_stop(s, s.get(Fulfilment, w["fulfilment"]), "refund_requested")
    page = html(factory.get("/console/supplier"))
    assert f'id="stop-{w["fulfilment"]}"' in page
    refused = step(factory, w["fulfilment"], "stop", stopped="no")
    assert refused.status_code == 422 and "tracking number" in html(refused)
    assert step(factory, w["fulfilment"], "stop", stopped="yes").status_code == 303
    with database.session(readonly=True) as s:
        assert s.get(Fulfilment, w["fulfilment"]).status == "cancelled"


def test_a_return_is_received_with_its_checklist_and_photos(factory, w, database):
    assert step(factory, w["fulfilment"], "accept").status_code == 303
    assert step(factory, w["fulfilment"], "tracking", carrier="sf",
                tracking_number="SF1234567890123").status_code == 303
    apply(database, w["shop_id"], return_values("R1", "P1", kind="return_refund",
                                                status="awaiting_return"))
    with database.session() as s:
        case_id = the_case(s, w["merchant_id"]).id
    assert f'href="/console/supplier/returns/{case_id}"' in html(factory.get("/console/supplier"))
    form = html(factory.get(f"/console/supplier/returns/{case_id}"))
    items = sorted(set(re.findall(r'name="checklist\.([^"]+)" value="true"', form)))
    token = CSRF.search(form).group(1)
    bad = factory.post(f"/console/supplier/returns/{case_id}", content_type="multipart/form-data",
                       data={"csrf_token": token, "condition": "intact",
                             "photos": (io.BytesIO(b"not an image"), "x.png")})
    assert bad.status_code == 422 and "JPEG, PNG or WebP" in html(bad)
    big = PNG + bytes(3 * 2 ** 20)  # a phone's photo: more than the app's 1 MiB for forms
    data = {"csrf_token": token, "condition": "damaged", "grade": "C", "notes": "box crushed",
            "photos": FileStorage(io.BytesIO(big), "box.png", content_type="image/png")}
    for n, item in enumerate(items):  # the first ticked, the others left
        data[f"checklist.{item}"] = ["true", "false"] if n == 0 else "false"
    boundary, body = encode_multipart(data)  # in memory: the test client spools a large one
    done = factory.post(f"/console/supplier/returns/{case_id}", data=body,
                        content_type=f"multipart/form-data; boundary={boundary}")
    assert done.status_code == 303, html(done)
    with database.session(readonly=True) as s:
        looked = s.scalar(select(Inspection).where(Inspection.return_case_id == case_id))
        assert (looked.condition, looked.grade, looked.notes) == ("damaged", "C", "box crushed")
        assert looked.inspected_by.startswith("user:") and len(looked.photos) == 1
        assert items and looked.checklist == {item: n == 0 for n, item in enumerate(items)}
    assert 'id="inspected"' in html(factory.get(f"/console/supplier/returns/{case_id}"))


def test_a_supplier_sees_only_its_own_and_staff_pages_are_not_its(app, factory, w, database):
    with database.session() as s:
        other = supplier(s, w["merchant_id"], "S2")
        theirs = Fulfilment(merchant_id=w["merchant_id"], order_id=s.get(
            Fulfilment, w["fulfilment"]).order_id, supplier_id=other.id, status="requested")
        s.add(theirs)
        s.flush()
        theirs_id = theirs.id
    page = html(factory.get("/console/supplier"))
    assert f'data-fulfilment-id="{theirs_id}"' not in page
    assert step(factory, theirs_id, "accept").status_code == 404
    assert factory.get("/console/dashboard").status_code == 403
    assert factory.get("/console/supplier/sheet.xlsx").status_code == 200
    staff = app.test_client()
    with database.session() as s:
        login = f.user(s, w["merchant_id"], "operator")
    sign_in(staff, login)
    assert staff.get("/console/supplier").status_code == 403
