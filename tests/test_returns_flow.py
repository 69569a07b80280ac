"""Returns that go back to a supplier (``hub.domain.returns.flow``): the return notice (updated
when the return tracking arrives) and the supplier's receipt with content-hashed photos."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hub.domain import fulfilment as flow
from hub.domain.returns import inspection as receiving
from hub.domain.tracking import shipments as tracking
from hub.core.errors import ApiError, Conflict
from hub.models import Inspection, Product, ReturnCase, Supplier
from tests import factories as f
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    apply, audit_of, courier_id, fake_connectors, fulfilments, messages,
    open_alerts, order_values, platform_messages, return_values, the_case, tracking_values,
    world,
)

JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + b"jpeg-body" * 10
PNG = b"\x89PNG\r\n\x1a\n" + b"png-body" * 10
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"webp-body" * 10
GIF = b"GIF89a" + b"gif-body" * 10


@pytest.fixture
def w(app, database, fake_connectors):
    with database.session() as s:
        return world(s)


def shipped(database, w) -> int:
    apply(database, w["shop_id"], order_values())
    with database.session() as s:
        [x] = fulfilments(s, w["merchant_id"])
        flow.submit_tracking(s, x, "sf", "SF1234567890123", "supplier:1", None)
        return x.id


def returned(database, w, *, kind="return_refund", status="approved", minutes=0):
    apply(database, w["shop_id"], return_values(
        kind=kind, status=status, updated=f.T0 + timedelta(hours=1, minutes=minutes),
        reason_code="quality.damaged"))
    with database.session(readonly=True) as s:
        return the_case(s, w["merchant_id"]).id


def test_the_supplier_is_told_a_return_is_coming_and_its_tracking(app, database, w):
    fid = shipped(database, w)
    case_id = returned(database, w)
    returned(database, w, minutes=1)                          # repeated
    returned(database, w, status="awaiting_return", minutes=2)  # same content, new status
    with database.session(readonly=True) as s:
        [first] = messages(s, w["merchant_id"], "return_notice")
        assert (first.entity, first.entity_id, first.account_id) == (
            "return_case", case_id, w["channel_id"])
        assert first.payload == {
            "return_case_id": case_id, "fulfilment_id": fid, "platform_order_id": "P1",
            "kind": "return_refund", "reason_code": "quality.damaged",
            "reason_text": "changed my mind", "lines": [{"sku": "SKU-1", "quantity": 1}],
            "tracking": None, "expected_return": False}

    with database.session() as s:  # the buyer's return parcel becomes known and moves
        case = s.get(ReturnCase, case_id)
        tracking.register_shipment(s, merchant_id=w["merchant_id"], carrier="yto",
                                   tracking_number="YT9876543210987", direction="return",
                                   order_id=case.order_id, return_case_id=case_id,
                                   var_dir=None)
    courier = _courier(database, w)
    for _ in range(2):
        apply(database, courier, tracking_values("YT9876543210987", carrier="yto",
                                                 status="picked_up"))
    with database.session(readonly=True) as s:
        first_again, second = messages(s, w["merchant_id"], "return_notice")
        assert first_again.status == "superseded"  # never sent: the update replaces it
        assert second.payload["tracking"] == {"carrier": "yto",
                                              "tracking_number": "YT9876543210987"}
        assert s.get(ReturnCase, case_id).status == "return_in_transit"


def _courier(database, w):
    with database.session(readonly=True) as s:
        return courier_id(s, w["merchant_id"])


@pytest.mark.parametrize("kind, status", [("refund_only", "approved"),
                                          ("return_refund", "requested"),
                                          ("return_refund", "rejected")])
def test_no_notice_when_no_goods_come_back(app, database, w, kind, status):
    shipped(database, w)
    returned(database, w, kind=kind, status=status)
    with database.session(readonly=True) as s:
        assert messages(s, w["merchant_id"], "return_notice") == []


def test_no_notice_when_returns_go_to_the_merchant_or_nothing_shipped(app, database, w):
    with database.session() as s:
        s.get(Supplier, w["supplier_id"]).contract_terms = {"receives_returns": False}
    shipped(database, w)
    returned(database, w, kind="exchange")
    apply(database, w["shop_id"], order_values("P2"))
    apply(database, w["shop_id"], return_values("R2", "P2", kind="exchange", status="approved"))
    with database.session(readonly=True) as s:
        assert messages(s, w["merchant_id"], "return_notice") == []


def test_an_exchange_is_announced_too(app, database, w):
    shipped(database, w)
    returned(database, w, kind="exchange")
    with database.session(readonly=True) as s:
        [notice] = messages(s, w["merchant_id"], "return_notice")
        assert notice.payload["kind"] == "exchange"


# -- receipt ---------------------------------------------------------------------------------

def test_receipt_stores_photos_once_and_tells_the_platform(app, database, w, tmp_path):
    shipped(database, w)
    case_id = returned(database, w, status="return_in_transit")
    with database.session() as s:  # the EAN on the goods, as scanners read it
        s.add(Product(merchant_id=w["merchant_id"], sku="SKU-1", barcode="6901234567890"))
    with database.session() as s:
        inspection = receiving.confirm_return_receipt(
            s, s.get(ReturnCase, case_id), "supplier:1", "intact", notes="box sealed",
            photos=[JPEG, PNG, JPEG, WEBP], barcode="6901234567890",
            checklist={"seal": True}, var_dir=tmp_path)
        inspection_id = inspection.id
    digests = [hashlib.sha256(p).hexdigest() for p in (JPEG, PNG, JPEG, WEBP)]
    files = sorted(p for p in (tmp_path / "files").rglob("*") if p.is_file())
    assert files == sorted(tmp_path / "files" / d[:2] / d for d in set(digests))
    assert (tmp_path / "files" / digests[0][:2] / digests[0]).read_bytes() == JPEG
    with database.session(readonly=True) as s:
        x = s.get(Inspection, inspection_id)
        assert (x.condition, x.grade, x.notes, x.barcode, x.checklist, x.inspected_by) == (
            "intact", None, "box sealed", "6901234567890", {"seal": True}, "supplier:1")
        assert x.photos == digests and x.received_at is not None
        case = s.get(ReturnCase, case_id)
        assert case.status == "received"
        assert [(ln.quantity, ln.qty_received, ln.qty_damaged) for ln in case.lines] == [
            (1, 1, 0)]
        assert platform_messages(s, w["merchant_id"])[-1] == (
            "return_receipt", "return_case", case_id, {"refund_id": "R1"})
        entry = audit_of(s, "return_case", case_id, "return_case.received")
        assert entry.changes["status"] == ["return_in_transit", "received"]
        assert entry.changes["photos"] == digests

    with database.session() as s:  # the same receipt again: the same inspection
        again = receiving.confirm_return_receipt(
            s, s.get(ReturnCase, case_id), "supplier:1", "intact", notes="box sealed",
            photos=[JPEG, PNG, JPEG, WEBP], barcode="6901234567890",
            checklist={"seal": True}, var_dir=tmp_path)
        assert again.id == inspection_id
    with database.session() as s:  # then graded
        graded = receiving.confirm_return_receipt(
            s, s.get(ReturnCase, case_id), "supplier:1", "intact", grade="A", var_dir=tmp_path)
        assert graded.id != inspection_id
        assert s.get(ReturnCase, case_id).status == "inspected"
        assert s.scalar(select(func.count()).select_from(Inspection)) == 2
        receipts = [m for m in platform_messages(s, w["merchant_id"])
                    if m[0] == "return_receipt"]
        assert len(receipts) == 1


def test_damaged_goods_are_the_merchants_decision(app, database, w, tmp_path):
    shipped(database, w)
    case_id = returned(database, w)
    with database.session() as s:
        receiving.confirm_return_receipt(s, s.get(ReturnCase, case_id), "supplier:1",
                                            "damaged", notes="crushed corner", grade="C",
                                            photos=[PNG], var_dir=tmp_path)
    with database.session(readonly=True) as s:
        case = s.get(ReturnCase, case_id)
        assert case.status == "inspected"
        assert [ln.qty_damaged for ln in case.lines] == [1]
        assert [m[0] for m in platform_messages(s, w["merchant_id"])] == ["shipment"]
        [alert] = open_alerts(s, w["merchant_id"], "return_needs_decision")
        assert alert.details["condition"] == "damaged" and alert.entity_id == case_id


@pytest.mark.parametrize("kwargs, field", [
    ({"condition": "fine"}, "condition"),
    ({"condition": "intact", "grade": "Z"}, "grade"),
    ({"condition": "intact", "photos": [JPEG] * 7}, "photos"),
    ({"condition": "intact", "photos": [JPEG, b"\xff\xd8\xff" + b"0" * (5 * 1048576)]},
     "photos"),
    ({"condition": "intact", "photos": [GIF]}, "photos"),
    ({"condition": "intact", "photos": [b"not an image at all"]}, "photos"),
    ({"condition": "intact", "checklist": ["seal"]}, "checklist"),
])
def test_an_invalid_receipt_is_a_422_and_changes_nothing(app, database, w, tmp_path,
                                                        kwargs, field):
    shipped(database, w)
    case_id = returned(database, w)
    with database.session() as s:
        with pytest.raises(ApiError) as e:
            receiving.confirm_return_receipt(s, s.get(ReturnCase, case_id), "supplier:1",
                                                var_dir=tmp_path, **kwargs)
    assert (e.value.status, e.value.code) == (422, "validation_error")
    assert field in e.value.details
    assert not (tmp_path / "files").exists()
    with database.session(readonly=True) as s:
        assert s.get(ReturnCase, case_id).status == "approved"
        assert s.scalar(select(func.count()).select_from(Inspection)) == 0


def test_a_receipt_for_a_return_not_expected_is_a_conflict(app, database, w, tmp_path):
    shipped(database, w)
    case_id = returned(database, w, status="requested")
    with database.session() as s:
        with pytest.raises(Conflict):
            receiving.confirm_return_receipt(s, s.get(ReturnCase, case_id), "supplier:1",
                                                "intact", var_dir=tmp_path)


def test_the_image_kinds_are_told_by_their_magic_bytes():
    assert [receiving.image_kind(x) for x in (JPEG, PNG, WEBP, GIF, b"")] == [
        "jpeg", "png", "webp", None, None]
    assert receiving.image_kind(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None
