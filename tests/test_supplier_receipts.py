"""``POST /api/v1/supplier/returns/<id>/receipt``: multipart or JSON with Base64 photos →
the inspection; the same receipt twice is one inspection; oversize, non-image and
malformed input are clear errors that store nothing."""
from __future__ import annotations

import base64
import hashlib
import io

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from hub.domain import fulfilment as flow
from hub.models import AuditEntry, Inspection, ReturnCase
from hub.domain.returns.inspection import MAX_PHOTO_BYTES, MAX_PHOTOS
from sandbox.supplier.parcels import photo_png
from tests import factories as f

PNG = photo_png(seed=1)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64)


@pytest.fixture
def rw(app, database):
    with database.session() as s:
        m = f.merchant(s)
        shop = f.shop(s, m.id)
        a, b = f.supplier(s, m.id, "A"), f.supplier(s, m.id, "B")
        f.sku_mapping(s, m.id, a.id, "SKU-1")
        f.sku_mapping(s, m.id, b.id, "SKU-2")
        order_a = f.order(s, m.id, shop.id, sku="SKU-1")
        order_b = f.order(s, m.id, shop.id, sku="SKU-2")
        flow.allocate(s, order_a)
        flow.allocate(s, order_b)
        case_a = f.return_case(s, m.id, shop.id, order_a, status="return_in_transit")
        case_b = f.return_case(s, m.id, shop.id, order_b, status="return_in_transit")
        return {"case_a": case_a.id, "case_b": case_b.id,
                "A": f.bearer(f.token(s, m.id, "supplier", a.id)),
                "admin": f.bearer(f.token(s, m.id, "merchant_admin"))}


def url(case_id):
    return f"/api/v1/supplier/returns/{case_id}/receipt"


def multipart(photos=(PNG,), **fields):
    """Encoded here, in memory (the test client would spool a large body to a temporary
    file it never closes)."""
    values = MultiDict({"condition": "intact", **fields})
    for n, photo in enumerate(photos):
        values.add("photos", FileStorage(io.BytesIO(photo), f"p{n}.png", "photos", "image/png"))
    boundary, body = encode_multipart(values)
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def nothing_stored(database, case_id, status="return_in_transit"):
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Inspection)) == 0
        assert s.get(ReturnCase, case_id).status == status
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "return_case.received")) == 0


def test_multipart_receipt_and_replay(client, database, settings, rw):
    first = client.post(url(rw["case_a"]), headers=rw["A"], **multipart(
        photos=(PNG, JPEG), grade="A", notes="外箱完好", barcode="6901234567892",
        checklist='{"tags_attached": true}'))
    assert first.status_code == 200, first.get_json()
    got = first.get_json()
    assert got["condition"] == "intact" and got["grade"] == "A"
    assert got["photos"] == [hashlib.sha256(PNG).hexdigest(), hashlib.sha256(JPEG).hexdigest()]
    assert got["checklist"] == {"tags_attached": True} and got["barcode"] == "6901234567892"
    for digest in got["photos"]:  # stored content-addressed under HUB_VAR_DIR/files
        assert (settings.var_dir / "files" / digest[:2] / digest).exists()
    with database.session(readonly=True) as s:
        assert s.get(ReturnCase, rw["case_a"]).status == "inspected"
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "return_case.received"))
        assert entry.actor.startswith("token:") and entry.actor.endswith(":supplier")
    again = client.post(url(rw["case_a"]), headers=rw["A"], **multipart(
        photos=(PNG, JPEG), grade="A", notes="外箱完好", barcode="6901234567892",
        checklist='{"tags_attached": true}'))
    assert again.status_code == 200 and again.get_json()["id"] == got["id"]
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Inspection)) == 1


def test_json_receipt_with_base64_photos(client, rw):
    resp = client.post(url(rw["case_a"]), headers=rw["A"], json={
        "condition": "damaged", "grade": "C", "notes": "划痕",
        "photos": [base64.b64encode(PNG).decode(),
                   "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()]})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["photos"] == [hashlib.sha256(PNG).hexdigest(),
                                         hashlib.sha256(JPEG).hexdigest()]
    assert resp.get_json()["condition"] == "damaged"


def test_oversize_photo_is_413_and_stores_nothing(client, database, rw):
    big = PNG + bytes(MAX_PHOTO_BYTES)
    body = client.post(url(rw["case_a"]), headers=rw["A"], **multipart(photos=(PNG, big)))
    assert body.status_code == 413 and body.get_json()["error"]["code"] == "payload_too_large"
    assert "photo 2" in body.get_json()["error"]["message"]
    as_json = client.post(url(rw["case_a"]), headers=rw["A"], json={
        "condition": "intact", "photos": [base64.b64encode(big).decode()]})
    assert as_json.status_code == 413
    nothing_stored(database, rw["case_a"])


def test_a_request_over_the_receipt_limit_is_413(client, database, rw, monkeypatch):
    from hub.web.kit import receipts

    monkeypatch.setattr(receipts, "MAX_RECEIPT_BYTES", 4096)
    resp = client.post(url(rw["case_a"]), headers=rw["A"],
                       **multipart(photos=(PNG + bytes(8000),)))
    assert resp.status_code == 413 and resp.get_json()["error"]["code"] == "payload_too_large"
    nothing_stored(database, rw["case_a"])


@pytest.mark.parametrize("kwargs,status,code,field", [
    (multipart(photos=(b"%PDF-1.7 not a photo",)), 422, "validation_error", "photos"),
    (multipart(photos=(PNG,) * (MAX_PHOTOS + 1)), 422, "validation_error", "photos"),
    (multipart(condition="shiny"), 422, "validation_error", "condition"),
    (multipart(grade="Z"), 422, "validation_error", "grade"),
    (multipart(checklist="{nope"), 422, "validation_error", "checklist"),
    (multipart(colour="red"), 422, "validation_error", "colour"),
    ({"json": {"condition": "intact", "photos": ["!!not base64!!"]}}, 422, "validation_error",
     "photos"),
    ({"json": {"condition": "intact", "photos": "abc"}}, 422, "validation_error", "photos"),
    ({"json": {"notes": "no condition"}}, 422, "validation_error", "condition"),
    ({"data": "{broken", "content_type": "application/json"}, 400, "invalid_json", None),
    ({"data": "[]", "content_type": "application/json"}, 400, "invalid_json", None),
    ({"data": "condition=intact", "content_type": "text/plain"}, 415, "unsupported_media_type",
     None),
    ({}, 400, "invalid_json", None),
])
def test_bad_receipts_change_nothing(client, database, rw, kwargs, status, code, field):
    resp = client.post(url(rw["case_a"]), headers=rw["A"], **kwargs)
    assert resp.status_code == status, resp.get_json()
    err = resp.get_json()["error"]
    assert err["code"] == code
    if field:
        assert field in err["details"], err
    nothing_stored(database, rw["case_a"])


def test_receipts_are_scoped_and_state_checked(client, database, rw):
    assert client.post(url(rw["case_b"]), headers=rw["A"], **multipart()).status_code == 404
    assert client.post(url(999999), headers=rw["A"], **multipart()).status_code == 404
    assert client.post(url(rw["case_a"]), headers=rw["admin"], **multipart()).status_code == 403
    nothing_stored(database, rw["case_b"])
    with database.session() as s:
        s.get(ReturnCase, rw["case_a"]).status = "requested"
    resp = client.post(url(rw["case_a"]), headers=rw["A"], **multipart())
    assert resp.status_code == 409 and "no goods are expected" in resp.get_json()["error"]["message"]
    nothing_stored(database, rw["case_a"], status="requested")
