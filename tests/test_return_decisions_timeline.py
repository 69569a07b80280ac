"""Every decision on a return is its own message, even for shops whose records carry no
timestamp, and the API answers the message it created (issue 10, item 4); a decision
the platform refuses (its message dead) raises an alert on the case (item 5)."""
from __future__ import annotations

import dataclasses

import pytest

from hub.core.db import utcnow
from hub.domain import fulfilment as flow
from hub.models import OutboxMessage
from hub.pipeline import outbox
from tests import factories as f
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    apply, fake_connectors, fulfilments, open_alerts, order_values, platform_messages,
    return_values, the_case, world,
)


@pytest.fixture
def w(app, database, fake_connectors):  # noqa: F811
    with database.session() as s:
        w = world(s)
        w["token"] = f.token(s, w["merchant_id"], "merchant_admin")
    apply(database, w["shop_id"], order_values())
    with database.session() as s:
        [x] = fulfilments(s, w["merchant_id"])
        flow.submit_tracking(s, x, "sf", "SF1234567890123", "supplier:1", None)
    return w


def platform_says(database, w, status):
    """The shop's record of the return, with no timestamp (as some shops send it)."""
    values = dataclasses.replace(return_values(kind="refund_only", status=status),
                                 remote_updated_at=None)
    apply(database, w["shop_id"], values)
    with database.session(readonly=True) as s:
        return the_case(s, w["merchant_id"]).id


def decide(client, w, case_id, decision, body=None):
    return client.post(f"/api/v1/returns/{case_id}/{decision}", json=body or {},
                       headers=f.bearer(w["token"]))


def decision_messages(database, w):
    with database.session(readonly=True) as s:
        return [(m.id, m.topic) for m in s.query(OutboxMessage).filter(
            OutboxMessage.entity == "return_case").order_by(OutboxMessage.id)]


def sent(database, message_id):
    with database.session() as s:
        message = s.get(OutboxMessage, message_id)
        message.status, message.sent_at = "sent", utcnow()


@pytest.mark.parametrize("second", ["reject", "approve"])
def test_a_second_decision_after_the_buyer_changed_the_request_is_a_new_message(
        client, database, w, second):
    case_id = platform_says(database, w, "requested")
    first = decide(client, w, case_id, "reject", {"reason_code": 7})
    assert first.status_code == 202
    sent(database, first.get_json()["outbox_message_id"])
    platform_says(database, w, "rejected")
    platform_says(database, w, "requested")            # the buyer edited the request
    again = decide(client, w, case_id, second, {"reason_code": 7} if second == "reject" else {})
    assert again.status_code == 202, again.get_json()
    created = again.get_json()["outbox_message_id"]
    assert created != first.get_json()["outbox_message_id"]
    assert [mid for mid, _ in decision_messages(database, w)][-1] == created
    assert len(decision_messages(database, w)) == 2


def test_the_same_decision_asked_twice_is_still_one_message(client, database, w):
    case_id = platform_says(database, w, "requested")
    one = decide(client, w, case_id, "reject", {"reason_code": 7}).get_json()
    two = decide(client, w, case_id, "reject", {"reason_code": 7}).get_json()
    assert one["outbox_message_id"] == two["outbox_message_id"]
    assert len(decision_messages(database, w)) == 1


def test_a_decision_the_platform_refuses_alerts_the_merchant_on_the_case(client, database, w):
    case_id = platform_says(database, w, "requested")
    message_id = decide(client, w, case_id, "reject", {"reason_code": 7}).get_json()[
        "outbox_message_id"]
    with database.session() as s:
        message = s.get(OutboxMessage, message_id)
        message.status, message.last_error_class = "dead", "fail_data"
        message.last_error = "cannot be rejected, status 30"
        outbox.settled(s, message)
    with database.session(readonly=True) as s:
        [alert] = open_alerts(s, w["merchant_id"], "return_decision_failed")
        assert (alert.entity, alert.entity_id, alert.severity) == ("return_case", case_id,
                                                                   "critical")
        assert "cannot be rejected, status 30" in alert.message
    again = decide(client, w, case_id, "approve")       # deciding again clears it
    assert again.status_code == 202, again.get_json()
    with database.session(readonly=True) as s:
        assert open_alerts(s, w["merchant_id"], "return_decision_failed") == []
