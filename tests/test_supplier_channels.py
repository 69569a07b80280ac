"""Supplier channel answers reaching the domain (``hub.domain.fulfilment.updates``): CJ webhooks
through the receiver and the inbox, Kuaishou 厂家代发 allocations and cancellations
through the outbox and its push-answer hooks, and ``FulfilmentUpdateValues`` applied by
``hub.pipeline.sync.apply`` — idempotently, and changing nothing for an unknown order; a
claim notice through the outbox to CJ as a dispute (``businessDisputeId``)."""
from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
import requests
import responses
from responses import matchers
from sqlalchemy import func, select

from connectors.base import ConnectorError, ErrorClass
from connectors.cj import CJ
from connectors.cj.webhooks import signature
from connectors.kuaishou import oauth
from connectors.kuaishou_dropship import KuaishouDropship
from hub.pipeline import sync
from hub.core.db import utcnow
from hub.models import (Account, Fulfilment, InboxEvent, OutboxMessage,
                        QuarantinedRequest, Shipment, Supplier)
from hub.values import FulfilmentUpdateValues
from jobs import deliver_outbox, process_inbox
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    apply, fake_connectors, fulfilments, messages, open_alerts, order_values, return_values,
    world,
)

OPEN_ID = "1200345678901234567"
KS = "https://ks-dropship.test"


@pytest.fixture
def w(app, database, fake_connectors):
    with database.session() as s:
        return world(s)


def link(database, w, connector: str, config: dict) -> int:
    cls = {"cj": CJ, "kuaishou_dropship": KuaishouDropship}[connector]
    with database.session() as s:
        account = Account(merchant_id=w["merchant_id"], connector=connector, kind="supplier",
                          name=connector, config=cls.validate_config(config))
        s.add(account)
        s.flush()
        s.get(Supplier, w["supplier_id"]).channel_account_id = account.id
        return account.id


def cj_channel(database, w) -> int:
    return link(database, w, "cj", {"api_key": "k", "open_id": OPEN_ID, "access_token": "AT",
                                    "access_token_expires_at": "2099-01-01T00:00:00+00:00",
                                    "api_base_url": "https://cj.test/api2.0/v1"})


def allocated(database, w, pid="P1") -> int:
    apply(database, w["shop_id"], order_values(pid))
    with database.session() as s:
        return fulfilments(s, w["merchant_id"])[-1].id


def cj_message(message_id: str, **params) -> bytes:
    return json.dumps({"messageId": message_id, "type": "ORDER", "messageType": "UPDATE",
                       "openId": OPEN_ID, "params": params}).encode()


def post(client, account_id, body: bytes, sign: str | None = None):
    return client.post(f"/webhooks/cj/{account_id}", data=body, headers={
        "sign": sign if sign is not None else signature(OPEN_ID, body),
        "Content-Type": "application/json"})


def process(app) -> None:
    while process_inbox.run(app, "test-inbox"):
        pass


def state(database, fid):
    with database.session(readonly=True) as s:
        f = s.get(Fulfilment, fid)
        parcels = [(x.carrier, x.tracking_number) for x in s.scalars(
            select(Shipment).where(Shipment.fulfilment_id == fid))]
        return f.status, f.supplier_reference, parcels


# -- CJ webhooks into the domain ----------------------------------------------------------------

def test_cj_order_messages_accept_then_ship_the_fulfilment(app, client, database, w):
    account = cj_channel(database, w)
    fid = allocated(database, w)
    paid = cj_message("m-1", cjOrderId="CJ-900", orderNumber=f"HUB-F{fid}",
                      orderStatus="UNSHIPPED", updateDate="2026-11-01 17:00:00")
    answer = post(client, account, paid)
    assert answer.status_code == 200 and answer.get_json()["result"] == "success"
    process(app)
    assert state(database, fid) == ("accepted", "CJ-900", [])

    shipped = cj_message("m-2", cjOrderId="CJ-900", orderNumber=f"HUB-F{fid}",
                         orderStatus="SHIPPED", logisticName="SF Express",
                         trackNumber="SF1234567890123", updateDate="2026-11-02 09:00:00")
    assert post(client, account, shipped).status_code == 200
    process(app)
    assert state(database, fid) == ("shipped", "CJ-900", [("sf", "SF1234567890123")])

    assert post(client, account, shipped).status_code == 200      # redelivered: stored once
    again = cj_message("m-3", cjOrderId="CJ-900", orderStatus="SHIPPED",
                       logisticName="SF Express", trackNumber="SF1234567890123",
                       updateDate="2026-11-02 09:00:00")              # by reference only
    post(client, account, again)
    process(app)
    assert state(database, fid) == ("shipped", "CJ-900", [("sf", "SF1234567890123")])
    with database.session(readonly=True) as s:
        statuses = dict(s.execute(select(InboxEvent.external_event_id, InboxEvent.status)).all())
    assert statuses == {"m-1": "processed", "m-2": "processed", "m-3": "ignored"}


def test_an_unknown_cj_order_fails_its_event_with_a_clear_message(app, client, database, w):
    account = cj_channel(database, w)
    fid = allocated(database, w)
    post(client, account, cj_message("m-9", cjOrderId="CJ-NOT-OURS", orderStatus="SHIPPED",
                                     logisticName="SF Express", trackNumber="SF1234567890123",
                                     updateDate="2026-11-02 09:00:00"))
    process(app)
    with database.session(readonly=True) as s:
        event = s.scalar(select(InboxEvent).where(InboxEvent.external_event_id == "m-9"))
        assert (event.status, event.error_class) == ("failed", "fail_data")
        assert "unknown order" in event.error_message and "CJ-NOT-OURS" in event.error_message
        assert s.scalar(select(func.count()).select_from(Shipment)) == 0
    assert state(database, fid)[0] == "requested"


def test_a_bad_cj_signature_is_401_quarantined_and_stores_nothing(app, client, database, w):
    account = cj_channel(database, w)
    body = cj_message("m-7", cjOrderId="CJ-1", orderStatus="UNSHIPPED",
                      updateDate="2026-11-01 17:00:00")
    answer = post(client, account, body, sign=signature("another-open-id", body))
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "bad_signature"
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(InboxEvent)) == 0
        [q] = s.scalars(select(QuarantinedRequest))
        assert (q.connector, q.account_id, q.reason) == ("cj", account, "bad_signature")


# -- FulfilmentUpdateValues through hub.pipeline.sync.apply ------------------------------------------------

def update(fid=None, **kw) -> FulfilmentUpdateValues:
    return FulfilmentUpdateValues(occurred_at=utcnow(), fulfilment_id=fid, **kw)


def apply_update(database, account_id, values) -> str:
    with database.session() as s:
        return sync.apply(s, s.get(Account, account_id), values)


def test_updates_are_idempotent_and_the_first_stop_ship_answer_wins(app, database, w):
    account = cj_channel(database, w)
    fid = allocated(database, w)
    assert apply_update(database, account, update(fid, status="accepted",
                                                  supplier_reference="CJ-1")) == "updated"
    assert apply_update(database, account, update(fid, status="accepted")) == "ignored"
    apply(database, w["shop_id"], return_values())                      # refund → stop-ship
    assert state(database, fid)[0] == "cancel_requested"
    assert apply_update(database, account, update(status="cancelled",
                                                  supplier_reference="CJ-1")) == "updated"
    assert apply_update(database, account, update(fid, status="cancelled")) == "ignored"
    assert apply_update(database, account, update(fid, status="cancel_rejected")) == "ignored"
    assert state(database, fid)[0] == "cancelled"


def test_a_rejected_stop_ship_with_tracking_asks_the_courier_to_intercept(app, database, w):
    account = cj_channel(database, w)
    fid = allocated(database, w)
    apply(database, w["shop_id"], return_values())
    assert apply_update(database, account, update(
        fid, status="cancel_rejected", reason="already shipped", carrier="zto",
        tracking_number="731234567890123")) == "updated"
    with database.session(readonly=True) as s:
        f = s.get(Fulfilment, fid)
        parcel = s.scalar(select(Shipment).where(Shipment.fulfilment_id == fid))
        assert (f.status, f.cancel_reject_reason) == ("cancel_rejected", "already shipped")
        assert (parcel.tracking_number, parcel.interception_status) == ("731234567890123",
                                                                        "requested")


@pytest.mark.parametrize("values,words", [
    (dict(status="shipped", carrier="sf", tracking_number="12345"), "not a sf tracking number"),
    (dict(status="cancel_rejected"), "no stop-ship was requested"),
    (dict(status="shipped"), "needs a carrier and a tracking number"),
    (dict(status="delivered"), "unknown fulfilment update status"),
])
def test_a_refused_update_is_fail_data_and_changes_nothing(app, database, w, values, words):
    account = cj_channel(database, w)
    fid = allocated(database, w)
    with pytest.raises(ConnectorError) as exc:
        apply_update(database, account, update(fid, **values))
    assert exc.value.error_class is ErrorClass.FAIL_DATA and words in exc.value.message
    assert state(database, fid) == ("requested", None, [])


def test_a_fulfilment_of_a_supplier_this_channel_does_not_serve_is_unknown(app, database, w):
    account = cj_channel(database, w)
    fid = allocated(database, w)
    with database.session() as s:  # the supplier moves to another channel
        s.get(Supplier, w["supplier_id"]).channel_account_id = None
    with pytest.raises(ConnectorError) as exc:
        apply_update(database, account, update(fid, status="accepted"))
    assert "unknown order" in exc.value.message and state(database, fid)[0] == "requested"


# -- Kuaishou 厂家代发: allocation and stop-ship through the outbox ---------------------------------

def ks_api(rsps, method, data, **extra):
    def match(request):
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        sent = {k: v[0] for k, v in parse_qs(body or "").items()}
        return sent.get("method") == method, sent.get("method")
    rsps.add(responses.POST, f"{KS}/{method.replace('.', '/')}", match=[match],
             json={"result": 1, "data": data, **extra})


def deliver(app) -> None:
    while deliver_outbox.run(app, "test-worker"):
        pass


def test_allocation_and_cancellation_answer_the_domain(app, database, w, monkeypatch):
    monkeypatch.setattr("connectors.http.HttpAdapter.sleep", staticmethod(lambda s: None))
    oauth.reset_process_state()
    link(database, w, "kuaishou_dropship", {
        "app_key": "ks123", "sign_secret": "sign-secret", "access_token": "AT-1",
        "factory_code": "F001", "api_base_url": KS, "qps_default": 1000})
    fid = allocated(database, w)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        ks_api(rsps, "open.dropshipping.order.merchant.list", {"cursor": "nomore", "list": [
            {"dropshippingOrderCode": "DS-77", "oid": "P1", "dropshippingStatus": 1}]})
        ks_api(rsps, "open.dropshipping.order.batch.allocate", {})
        deliver(app)
    assert state(database, fid) == ("accepted", "DS-77", [])

    apply(database, w["shop_id"], return_values())           # the buyer asks for a refund
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        # the stop-ship notice names DS-77 (supplier_reference): no list lookup needed
        ks_api(rsps, "open.dropshipping.order.merchant.detail",
               {"dropshippingOrderCode": "DS-77", "dropshippingStatus": 3})
        ks_api(rsps, "open.dropshipping.order.batch.allocate.cancel", {})
        deliver(app)
    with database.session(readonly=True) as s:
        f = s.get(Fulfilment, fid)
        assert f.status == "cancelled" and f.cancel_answered_at is not None
        [stop] = messages(s, w["merchant_id"], "stop_ship")
        assert stop.status == "sent"
        assert stop.result["data"]["fulfilment_update"]["status"] == "cancelled"
        assert [m.topic for m in messages(s, w["merchant_id"], "refund_approve")] == [
            "refund_approve"]                                   # the refund is approved


def test_an_answer_that_cannot_be_recorded_raises_an_alert(app, database, w, monkeypatch):
    monkeypatch.setattr("connectors.http.HttpAdapter.sleep", staticmethod(lambda s: None))
    oauth.reset_process_state()
    account = link(database, w, "kuaishou_dropship", {
        "app_key": "ks123", "sign_secret": "sign-secret", "access_token": "AT-1",
        "factory_code": "F001", "api_base_url": KS, "qps_default": 1000})
    fid = allocated(database, w)
    with database.session() as s:  # the merchant rejected it meanwhile, on another path
        from hub.domain import fulfilment as flow
        flow.reject(s, s.get(Fulfilment, fid), "merchant", "out of stock")
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        ks_api(rsps, "open.dropshipping.order.merchant.list", {"cursor": "nomore", "list": [
            {"dropshippingOrderCode": "DS-78", "oid": "P1", "dropshippingStatus": 1}]})
        ks_api(rsps, "open.dropshipping.order.batch.allocate", {})
        deliver(app)
    with database.session(readonly=True) as s:
        [alert] = open_alerts(s, w["merchant_id"], "supplier_answer_not_applied")
        assert alert.entity_id == fid and "was rejected" in alert.message
        assert s.get(Fulfilment, fid).status == "rejected"
        assert s.scalar(select(OutboxMessage.status).where(
            OutboxMessage.account_id == account)) == "sent"


# -- CJ: a compensation claim through the outbox, as a dispute -------------------------------------

CJ_API = "https://cj.test/api2.0/v1"


def cj_ok(data):
    return {"code": 200, "result": True, "message": "Success", "data": data, "requestId": "r"}


def test_the_hubs_claim_notice_becomes_a_cj_dispute_and_a_repeat_counts_as_done(
        app, database, monkeypatch):
    """The real notice (``claims.send`` → ``claims.payload``, stored as JSON in the outbox)
    loads through ``connectors.cj.push.ClaimPayload``: the dispute is keyed
    ``HUB-Fclaim-<claim id>``, names the CJ order (the fulfilment's ``supplier_reference``),
    the claimed line by its CJ variant id (the SKU mapping's ``supplier_sku``) and CJ's
    reason whose name holds the hub's ``reason``. The first create's answer is lost; the
    retry's create is refused as existing, which counts as done, and the claim keeps the
    dispute id as its reference."""
    from hub.domain.liability import claims
    from hub.models import Claim, LiabilityDecision
    from hub.web.supplier_api.docs import EXAMPLES
    from tests import factories as f
    from tests.test_claims import claimed_case

    monkeypatch.setattr("connectors.http.HttpAdapter.sleep", staticmethod(lambda s: None))
    with database.session() as s:
        m = f.merchant(s)
        ids = {"merchant_id": m.id, "shop_id": f.shop(s, m.id).id,
               "supplier_id": f.supplier(s, m.id).id}
    claim_id = claimed_case(database, ids, channel=False)  # a quality defect: goods + freight
    account = cj_channel(database, ids)
    with database.session() as s:
        claim = s.get(Claim, claim_id)
        decision = s.get(LiabilityDecision, claim.decision_id)
        s.get(Fulfilment, decision.fulfilment_id).supplier_reference = "CJ-ORDER-1"  # CJ's id
        claims.send(s, claim, "test")
    with database.session(readonly=True) as s:
        [notice] = messages(s, ids["merchant_id"], "claim_notice")
        payload, amount = notice.payload, s.get(Claim, claim_id).amount_minor
    assert notice.account_id == account and payload["reason"] == "quality"
    assert payload["lines"] == [{"sku": "SKU-1", "quantity": 1, "supplier_sku": "SUP-SKU-1"}]
    assert set(payload) == set(EXAMPLES["claim_notice"])  # as /docs/suppliers shows it

    dispute_id = f"HUB-Fclaim-{claim_id}"
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.add(responses.GET, f"{CJ_API}/disputes/disputeProducts",
                 match=[matchers.query_param_matcher({"orderId": "CJ-ORDER-1"})],
                 json=cj_ok([{"lineItemId": "L-1", "cjVariantId": "SUP-SKU-1", "quantity": 1,
                              "price": "12.00", "canChoose": True}]))
        rsps.add(responses.POST, f"{CJ_API}/disputes/disputeConfirmInfo",
                 json=cj_ok({"maxAmount": "12.00", "disputeReasonList": [
                     {"disputeReasonId": 3, "reasonName": "Wrong item"},
                     {"disputeReasonId": 4, "reasonName": "Quality problem"}]}))
        create = f"{CJ_API}/disputes/create"
        rsps.add(responses.POST, create, body=requests.ConnectionError("answer lost"))
        rsps.add(responses.POST, create, json={
            "code": 1600100, "result": False, "data": None, "requestId": "r2",
            "message": f"businessDisputeId {dispute_id} already exists"})
        deliver(app)
        with database.session() as s:  # the lost answer is retried: due now
            row = s.get(OutboxMessage, notice.id)
            assert (row.status, row.last_error_class) == ("pending", "retry")
            row.next_attempt_at = utcnow()
        deliver(app)
        sent = [json.loads(c.request.body) for c in rsps.calls
                if c.request.url == create]
    assert len(sent) == 2 and sent[0] == sent[1]
    body = sent[0]
    assert body["businessDisputeId"] == dispute_id and body["orderId"] == "CJ-ORDER-1"
    assert body["disputeReasonId"] == "4" and body["expectType"] == 1
    assert body["productInfoList"] == [{"lineItemId": "L-1", "quantity": 1, "price": "12.00"}]
    assert body["imageUrl"] == [] and payload["why_zh"] in body["messageText"]
    with database.session(readonly=True) as s:
        row = s.get(OutboxMessage, notice.id)
        assert row.status == "sent" and row.result["external_id"] == dispute_id
        assert row.result["data"]["existing"] is True
        claim = s.get(Claim, claim_id)
        assert (claim.status, claim.reference, claim.amount_minor) == ("sent", dispute_id,
                                                                        amount)
