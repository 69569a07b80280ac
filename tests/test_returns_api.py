"""``POST /api/v1/returns/<id>/approve | reject | refund``: the merchant's decisions,
pushed through the outbox, audited, refused (409) when the case's state does not allow
them, idempotent on repeat."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hub.domain import fulfilment as flow
from hub.domain.returns import inspection as receiving
from hub.models import Account, AuditEntry, ReturnCase, Supplier
from tests import factories as f
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    apply, fake_connectors, fulfilments, messages, open_alerts, order_values,
    platform_messages, return_values, the_case, world,
)

DECISION_ACTIONS = ("return_case.approve_requested", "return_case.reject_requested",
                    "return_case.refund_requested")


@pytest.fixture
def w(app, database, fake_connectors):
    with database.session() as s:
        w = world(s)
        w["tokens"] = {role: f.token(s, w["merchant_id"], role,
                                     w["supplier_id"] if role == "supplier" else None)
                       for role in ("merchant_admin", "operator", "finance", "supplier")}
    apply(database, w["shop_id"], order_values())
    with database.session() as s:
        [x] = fulfilments(s, w["merchant_id"])
        flow.submit_tracking(s, x, "sf", "SF1234567890123", "supplier:1", None)
    return w


def case_of(database, w, *, kind="return_refund", status="requested", minutes=0, **changes):
    values = dataclasses.replace(
        return_values(kind=kind, status=status), **changes,
        remote_updated_at=f.T0 + timedelta(hours=1, minutes=minutes))
    apply(database, w["shop_id"], values)
    with database.session(readonly=True) as s:
        return the_case(s, w["merchant_id"]).id


def post(client, w, case_id, decision, body=None, role="merchant_admin"):
    kwargs = {} if decision == "refund" else {"json": {} if body is None else body}
    return client.post(f"/api/v1/returns/{case_id}/{decision}",
                       headers=f.bearer(w["tokens"][role]), **kwargs)


def decisions(database, w):
    """The decision pushes queued for the shop: (topic, payload)."""
    with database.session(readonly=True) as s:
        return [(topic, payload) for topic, entity, _, payload
                in platform_messages(s, w["merchant_id"]) if entity == "return_case"]


def audits(database, case_id):
    with database.session(readonly=True) as s:
        return [(a.action, a.actor, a.changes) for a in s.scalars(
            select(AuditEntry).where(AuditEntry.entity == "return_case",
                                     AuditEntry.entity_id == case_id,
                                     AuditEntry.action.in_(DECISION_ACTIONS))
            .order_by(AuditEntry.id))]


def set_terms(database, w, **terms):
    with database.session() as s:
        s.get(Supplier, w["supplier_id"]).contract_terms = terms


# -- approve -----------------------------------------------------------------------------

def test_approving_a_refund_only(client, database, w):
    case_id = case_of(database, w, kind="refund_only")
    resp = post(client, w, case_id, "approve", role="operator")
    assert resp.status_code == 202, resp.get_json()
    data = resp.get_json()
    assert (data["id"], data["decision"], data["status"], data["outbox_status"]) == (
        case_id, "approve", "requested", "pending")
    assert decisions(database, w) == [("refund_approve", {"refund_id": "R1",
                                                          "amount_minor": 1990})]
    [(action, actor, changes)] = audits(database, case_id)
    assert action == "return_case.approve_requested" and actor.startswith("token:")
    assert changes["outbox_message_id"] == data["outbox_message_id"]
    assert changes["status"] == "requested"

    again = post(client, w, case_id, "approve")   # idempotent
    assert again.status_code == 202
    assert again.get_json()["outbox_message_id"] == data["outbox_message_id"]
    assert len(decisions(database, w)) == 1 and len(audits(database, case_id)) == 1


def test_a_return_goes_back_to_the_suppliers_address(client, database, w):
    set_terms(database, w, return_address_id=90017)
    case_id = case_of(database, w)
    resp = post(client, w, case_id, "approve")
    assert resp.status_code == 202, resp.get_json()
    assert (resp.get_json()["address_id"], resp.get_json()["address_source"]) == (
        "90017", "supplier_contract")
    assert decisions(database, w) == [("return_approve", {
        "refund_id": "R1", "address_id": "90017", "amount_minor": 1990})]
    # the merchant corrects the address before it went out: the new push replaces it
    resp = post(client, w, case_id, "approve", {"address_id": "55"})
    assert (resp.get_json()["address_id"], resp.get_json()["address_source"]) == (
        "55", "request")
    with database.session(readonly=True) as s:
        first, second = [m for m in messages(s, w["merchant_id"], "return_approve")]
        assert (first.status, second.status) == ("superseded", "pending")
    assert len(audits(database, case_id)) == 2


def test_a_supplier_without_a_return_address_needs_one_given(client, database, w):
    case_id = case_of(database, w, kind="exchange")
    resp = post(client, w, case_id, "approve")
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert "address_id" in error["details"] and "S1" in error["message"]
    assert decisions(database, w) == [] and audits(database, case_id) == []
    resp = post(client, w, case_id, "approve", {"address_id": 4711})
    assert resp.status_code == 202 and resp.get_json()["address_id"] == "4711"


def test_goods_for_the_merchant_go_to_the_platforms_default_address(client, database, w):
    set_terms(database, w, receives_returns=False)
    case_id = case_of(database, w)
    resp = post(client, w, case_id, "approve")
    assert resp.status_code == 202
    assert (resp.get_json()["address_id"], resp.get_json()["address_source"]) == (
        None, "platform_default")
    assert decisions(database, w)[0][1]["address_id"] is None


@pytest.mark.parametrize("status", ["approved", "awaiting_return", "return_in_transit",
                                    "received", "refunded"])
def test_approving_what_is_approved_already_queues_nothing(client, database, w, status):
    set_terms(database, w, return_address_id="A1")
    case_id = case_of(database, w)
    first = post(client, w, case_id, "approve").get_json()
    case_of(database, w, status=status, minutes=5)     # the platform took it
    resp = post(client, w, case_id, "approve")
    assert resp.status_code == 202
    assert (resp.get_json()["status"], resp.get_json()["outbox_message_id"]) == (
        status, first["outbox_message_id"])
    assert len(decisions(database, w)) == 1 and len(audits(database, case_id)) == 1


@pytest.mark.parametrize("kind, status, words", [
    ("return_refund", "rejected", "once the buyer changes the request"),
    ("return_refund", "closed", "it is closed"),
    ("reship", "requested", "settled on the platform"),
])
def test_approve_conflicts(client, database, w, kind, status, words):
    case_id = case_of(database, w, kind=kind, status=status)
    resp = post(client, w, case_id, "approve", {"address_id": "1"})
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "conflict"
    assert words in resp.get_json()["error"]["message"]
    assert decisions(database, w) == []


# -- reject ------------------------------------------------------------------------------

def test_rejecting_a_request(client, database, w):
    case_id = case_of(database, w, kind="refund_only")
    body = {"reason_code": 7, "description": "the goods were delivered intact"}
    resp = post(client, w, case_id, "reject", body)
    assert resp.status_code == 202, resp.get_json()
    assert decisions(database, w) == [("refund_reject", {
        "refund_id": "R1", "reason_code": 7, "desc": "the goods were delivered intact"})]
    [(action, _, changes)] = audits(database, case_id)
    assert (action, changes["reason_code"], changes["receipt_refused"]) == (
        "return_case.reject_requested", "7", False)
    assert post(client, w, case_id, "reject", body).get_json()["outbox_message_id"] == \
        resp.get_json()["outbox_message_id"]
    assert len(decisions(database, w)) == 1

    resp = post(client, w, case_id, "approve")      # the rejection is in flight
    assert resp.status_code == 409 and "wait for the platform" in \
        resp.get_json()["error"]["message"]

    case_of(database, w, kind="refund_only", status="rejected", minutes=5)
    assert post(client, w, case_id, "reject", body).status_code == 202   # already
    assert post(client, w, case_id, "approve").status_code == 409
    case_of(database, w, kind="refund_only", status="requested", minutes=10)  # buyer changed it
    resp = post(client, w, case_id, "approve")
    assert resp.status_code == 202
    assert [t for t, _ in decisions(database, w)] == ["refund_reject", "refund_approve"]


def test_an_approval_in_flight_blocks_a_rejection(client, database, w):
    case_id = case_of(database, w, kind="refund_only")
    post(client, w, case_id, "approve")
    resp = post(client, w, case_id, "reject", {"reason_code": "7"})
    assert resp.status_code == 409 and "approved" in resp.get_json()["error"]["message"]


def test_a_numeric_reason_is_needed_by_kuaishou_like_shops(client, database, w):
    case_id = case_of(database, w)
    resp = post(client, w, case_id, "reject", {"reason_code": "not-a-number"})
    assert resp.status_code == 422 and "reason_code" in resp.get_json()["error"]["details"]


@pytest.mark.parametrize("status", ["return_in_transit", "received", "inspected"])
def test_rejecting_a_returns_receipt(client, database, w, status):
    case_id = case_of(database, w, status=status)
    resp = post(client, w, case_id, "reject", {"reason_code": "12", "description": "empty box"})
    assert resp.status_code == 202
    assert audits(database, case_id)[0][2]["receipt_refused"] is True


@pytest.mark.parametrize("kind, status, words", [
    ("return_refund", "awaiting_return", "reject the receipt once they arrive"),
    ("refund_only", "approved", "it was approved"),
    ("return_refund", "refunded", "it is refunded"),
])
def test_reject_conflicts(client, database, w, kind, status, words):
    case_id = case_of(database, w, kind=kind, status=status)
    resp = post(client, w, case_id, "reject", {"reason_code": "1"})
    assert resp.status_code == 409 and words in resp.get_json()["error"]["message"]


# -- refund ------------------------------------------------------------------------------

def test_refunding_damaged_goods_after_the_merchants_look(client, database, w, tmp_path):
    case_id = case_of(database, w, status="return_in_transit")
    with database.session() as s:
        receiving.confirm_return_receipt(s, s.get(ReturnCase, case_id), "supplier:1",
                                            "damaged", grade="B", var_dir=tmp_path)
    with database.session(readonly=True) as s:
        assert open_alerts(s, w["merchant_id"], "return_needs_decision")
    resp = post(client, w, case_id, "refund")
    assert resp.status_code == 202, resp.get_json()
    assert (resp.get_json()["status"], resp.get_json()["decision"]) == ("inspected", "refund")
    assert decisions(database, w) == [("return_receipt", {"refund_id": "R1"})]
    assert [a for a, _, _ in audits(database, case_id)] == ["return_case.refund_requested"]
    with database.session(readonly=True) as s:
        assert open_alerts(s, w["merchant_id"], "return_needs_decision") == []
    again = post(client, w, case_id, "refund")
    assert again.get_json()["outbox_message_id"] == resp.get_json()["outbox_message_id"]
    assert len(decisions(database, w)) == 1 and len(audits(database, case_id)) == 1
    resp = post(client, w, case_id, "reject", {"reason_code": "1"})   # money is moving
    assert resp.status_code == 409 and "refunded" in resp.get_json()["error"]["message"]
    case_of(database, w, status="refunded", minutes=30)
    assert post(client, w, case_id, "refund").status_code == 202


def test_an_intact_receipt_is_confirmed_once(client, database, w,
                                                                    tmp_path):
    case_id = case_of(database, w, status="return_in_transit")
    with database.session() as s:
        receiving.confirm_return_receipt(s, s.get(ReturnCase, case_id), "supplier:1",
                                            "intact", var_dir=tmp_path)
    resp = post(client, w, case_id, "refund")
    assert resp.status_code == 202
    assert decisions(database, w) == [("return_receipt", {"refund_id": "R1"})]


@pytest.mark.parametrize("kind, status, words", [
    ("return_refund", "return_in_transit", "have not been received"),
    ("return_refund", "requested", "have not been received"),
    ("return_refund", "rejected", "it is rejected"),
    ("refund_only", "approved", "refunded by approving it"),
    ("exchange", "received", "only a return_refund"),
])
def test_refund_conflicts(client, database, w, kind, status, words):
    case_id = case_of(database, w, kind=kind, status=status)
    resp = post(client, w, case_id, "refund")
    assert resp.status_code == 409 and words in resp.get_json()["error"]["message"]
    assert decisions(database, w) == []


def test_a_hub_json_shop_decides_but_has_no_receipt_step(client, database, w):
    with database.session() as s:
        s.get(Account, w["shop_id"]).connector = "generic_shop"
    case_id = case_of(database, w, status="received")
    resp = post(client, w, case_id, "refund")
    assert resp.status_code == 409 and "generic_shop" in resp.get_json()["error"]["message"]
    with database.session() as s:
        s.get(ReturnCase, case_id).status = "requested"
    resp = post(client, w, case_id, "approve")
    assert resp.status_code == 202 and resp.get_json()["address_source"] == "not_used"
    [(topic, payload)] = decisions(database, w)
    told = payload.pop("instructions")  # the buyer's packing instructions ride along
    assert (topic, payload) == ("return_decision", {
        "return_id": "R1", "decision": "approve", "reason": None})
    assert "原包装" in told and "original box" in told
    resp = post(client, w, case_id, "reject", {"reason_code": "x"})
    assert resp.status_code == 409


# -- the API itself ----------------------------------------------------------------------

@pytest.mark.parametrize("role", ["finance", "supplier"])
@pytest.mark.parametrize("decision", ["approve", "reject", "refund"])
def test_other_roles_may_not(client, database, w, role, decision):
    case_id = case_of(database, w)
    resp = post(client, w, case_id, decision, {"reason_code": "1"} if decision == "reject"
                else None, role=role)
    assert resp.status_code == 403


@pytest.mark.parametrize("decision, body", [
    ("approve", {"address_id": True}), ("approve", {"address_id": ""}),
    ("approve", {"extra": 1}), ("reject", {}), ("reject", {"reason_code": ""}),
    ("reject", {"reason_code": "1", "description": "x" * 501}),
])
def test_invalid_bodies(client, database, w, decision, body):
    case_id = case_of(database, w)
    resp = post(client, w, case_id, decision, body)
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "validation_error"


def test_an_unknown_case_is_404_and_a_body_is_needed(client, database, w):
    assert post(client, w, 999, "approve").status_code == 404
    case_id = case_of(database, w)
    resp = client.post(f"/api/v1/returns/{case_id}/approve",
                       headers=f.bearer(w["tokens"]["merchant_admin"]))
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "invalid_json"
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action.in_(DECISION_ACTIONS))) == 0
