"""The bugs the fuzz tests found, pinned as plain examples (fast, not marked ``fuzz``)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from connectors import standard_webhooks
from connectors.cj.webhooks import signature as cj_signature
from hub.models import QuarantinedRequest
from hub.web.supplier_api.docs import VERIFY_EXAMPLE
from tests import factories as f
from tests.fuzz.worlds import WEBHOOK_CONFIGS, webhook_account
from tests.webhook_helpers import envelope, order_data, signed, url

HUGE_TIMESTAMP = "9" * 400  # an int past 1e308: `time.time() - int(ts)` overflowed


def test_a_timestamp_past_the_float_range_is_a_bad_signature_not_an_overflow():
    headers = {"webhook-id": "0", "webhook-timestamp": HUGE_TIMESTAMP,
               "webhook-signature": "v1,AAAA"}
    with pytest.raises(standard_webhooks.SignatureError, match="tolerance"):
        standard_webhooks.verify([f.WHSEC], headers, b"{}")
    with pytest.raises(standard_webhooks.SignatureError, match="tolerance"):
        standard_webhooks.verify([f.WHSEC], {**headers, "webhook-timestamp": "-" + HUGE_TIMESTAMP},
                                 b"{}")


def test_the_receiver_answers_a_huge_timestamp_401_and_quarantines_it(client, database):
    with database.session() as s:
        shop = f.shop(s, f.merchant(s).id)
    body = envelope("order.updated", order_data())
    resp = client.post(url(shop.id), data=body, headers={
        "webhook-id": "0", "webhook-timestamp": HUGE_TIMESTAMP, "webhook-signature": "0"})
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "bad_signature"


def test_the_suppliers_example_verifier_refuses_a_huge_timestamp_as_a_value_error():
    namespace: dict = {}
    exec(VERIFY_EXAMPLE, namespace)  # the example /docs/suppliers shows suppliers
    with pytest.raises(ValueError, match="too old or too new"):
        namespace["verify"]([f.WHSEC], {"webhook-id": "0", "webhook-timestamp": HUGE_TIMESTAMP,
                                        "webhook-signature": "v1,AAAA"}, b"{}")


@pytest.mark.parametrize("path", ["/api/v1/ops/inbox", "/api/v1/ops/quarantine",
                                  "/api/v1/ops/outbox"])
@pytest.mark.parametrize("account_id", ["2253631607151920676864", "-1", "0"])
def test_an_account_id_filter_out_of_range_is_a_422(client, database, path, account_id):
    """``?account_id=`` (inbox, quarantine, outbox) past 64 bits reached the database (SQLite: OverflowError, a 500);
    it is a positive 64-bit id like every other id filter."""
    with database.session() as s:
        token = f.token(s, f.merchant(s).id)
    resp = client.get(f"{path}?account_id={account_id}", headers=f.bearer(token))
    assert resp.status_code == 422, resp.get_data()
    assert "account_id" in resp.get_json()["error"]["details"]


@pytest.mark.parametrize("connector", ["generic_shop", "cj"])
def test_a_signed_event_with_a_nul_in_its_type_or_id_is_never_a_500(client, database,
                                                                   connector):
    """PostgreSQL refuses NUL in text columns, so a signed delivery whose event type
    (generic_shop's ``type``) or id (CJ's ``messageId``) holds ``\\u0000`` failed the
    inbox insert with a 500 (SQLite stores it). The receiver refuses it as unparseable,
    quarantined, as it does an over-long id or type."""
    with database.session() as s:
        account_id = webhook_account(s, f.merchant(s).id, connector).id
    if connector == "generic_shop":
        body = envelope("order.updated\u0000", order_data())
        headers = signed(body)
    else:
        body = json.dumps({"messageId": "m\u0000", "type": "ORDER", "params": {}}).encode()
        headers = {"sign": cj_signature(WEBHOOK_CONFIGS["cj"]["open_id"], body)}
    resp = client.post(url(account_id, connector), data=body, headers=headers)
    assert resp.status_code == 400, resp.get_data()
    with database.session(readonly=True) as s:
        assert s.scalar(select(QuarantinedRequest.reason)) == "unparseable"


@pytest.mark.parametrize("method, path, body", [
    ("get", "/api/v1/orders?sku=%00", None),
    ("get", "/api/v1/ops/inbox?connector=a%00", None),
    ("get", "/api/v1/audit?entity=%00", None),
    ("post", "/api/v1/suppliers", {"code": "A\u0000", "name": "n"}),
])
def test_a_nul_in_an_api_string_is_never_a_500(client, database, method, path, body):
    """PostgreSQL refuses NUL in text (and ``\\\\u0000`` in jsonb): a query value or body
    string holding one reached the database, a 500. ``hub.web.kit.endpoint`` refuses NUL
    as a validation error for every operation at once."""
    with database.session() as s:
        token = f.token(s, f.merchant(s).id)
    resp = getattr(client, method)(path, json=body, headers=f.bearer(token))
    assert resp.status_code == 422, resp.get_data()


def test_a_nul_in_a_receipts_notes_or_checklist_is_a_422_not_a_500():
    from hub.core.errors import ApiError
    from hub.domain.returns.inspection import validate_receipt

    for notes, checklist in (("box\u0000", None), (None, {"box": "ok\u0000"})):
        with pytest.raises(ApiError) as refused:
            validate_receipt("intact", None, [], notes, None, checklist)
        assert refused.value.status == 422
