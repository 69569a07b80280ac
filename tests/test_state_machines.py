"""Every (state, event) pair of each state machine: the legal moves lead where the
product says, every other pair is refused (fulfilment, return case) or held (shipment)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hub.core.states import IllegalMove
from hub.domain.finance.statements import STATEMENT
from hub.domain.fulfilment.states import FULFILMENT
from hub.domain.liability.claims import CLAIM
from hub.domain.returns.states import RETURN_CASE
from hub.models.finance import STATEMENT_STATUSES
from hub.models.liability import CLAIM_STATUSES
from hub.models.orders import FULFILMENT_STATUSES
from hub.models.returns import RETURN_STATUSES
from hub.values import TrackingEventValues
from mappings.tracking import progress
from mappings.tracking.vocabulary import STATUSES as SHIPMENT_STATUSES

FULFILMENT_MOVES = {
    ("requested", "accept"): "accepted",
    ("requested", "reject"): "rejected",
    ("requested", "ship"): "shipped",
    ("requested", "request_stop"): "cancel_requested",
    ("accepted", "reject"): "rejected",
    ("accepted", "ship"): "shipped",
    ("accepted", "request_stop"): "cancel_requested",
    ("shipped", "request_stop"): "shipped",          # the parcel is intercepted instead
    ("cancel_requested", "accept_stop"): "cancelled",
    ("cancel_requested", "reject_stop"): "cancel_rejected",
}
FULFILMENT_EVENTS = ("accept", "reject", "ship", "request_stop", "accept_stop", "reject_stop")


def test_the_fulfilment_table_has_every_status_and_event():
    assert set(FULFILMENT.states) == set(FULFILMENT_STATUSES)
    assert set(FULFILMENT.events) == set(FULFILMENT_EVENTS)


@pytest.mark.parametrize("state", FULFILMENT_STATUSES)
@pytest.mark.parametrize("event", FULFILMENT_EVENTS)
def test_every_fulfilment_pair(state, event):
    expected = FULFILMENT_MOVES.get((state, event))
    assert FULFILMENT.can(state, event) is (expected is not None)
    if expected is None:
        with pytest.raises(IllegalMove) as refused:
            FULFILMENT.next(state, event)
        assert refused.value.status == 409 and state in refused.value.message
    else:
        assert FULFILMENT.next(state, event) == expected


# -- claim (written out from the lifecycle in hub.domain.liability.claims) -----------------
_ANSWERS = {"accept": "accepted", "accept_part": "partly_accepted", "dispute": "disputed",
            "withdraw": "withdrawn", "write_off": "written_off"}
CLAIM_MOVES = {
    ("draft", "send"): "sent", ("draft", "withdraw"): "withdrawn",
    ("draft", "write_off"): "written_off", ("sent", "acknowledge"): "acknowledged",
    **{("sent", e): to for e, to in _ANSWERS.items()},
    **{("acknowledged", e): to for e, to in _ANSWERS.items()},
    **{("disputed", e): to for e, to in _ANSWERS.items() if e != "dispute"},
    ("accepted", "settle"): "settled", ("partly_accepted", "settle"): "settled",
}
CLAIM_EVENTS = ("send", "acknowledge", *_ANSWERS, "settle")


def test_the_claim_table_has_every_status_and_event():
    assert set(CLAIM.states) == set(CLAIM_STATUSES)
    assert set(CLAIM.events) == set(CLAIM_EVENTS)


@pytest.mark.parametrize("state", CLAIM_STATUSES)
@pytest.mark.parametrize("event", CLAIM_EVENTS)
def test_every_claim_pair(state, event):
    expected = CLAIM_MOVES.get((state, event))
    assert CLAIM.can(state, event) is (expected is not None)
    if expected is None:
        with pytest.raises(IllegalMove):
            CLAIM.next(state, event)
    else:
        assert CLAIM.next(state, event) == expected


# -- statement (written out from the lifecycle in hub.domain.finance.statements) ------------
STATEMENT_MOVES = {
    ("draft", "send"): "sent",
    ("sent", "supplier_confirm"): "supplier_confirmed", ("sent", "dispute"): "disputed",
    ("sent", "confirm"): "finance_confirmed",
    ("supplier_confirmed", "dispute"): "disputed",  # matching found differences
    ("supplier_confirmed", "confirm"): "finance_confirmed",
    ("disputed", "confirm"): "finance_confirmed",  # every dispute decided
    ("finance_confirmed", "dispute"): "disputed", ("finance_confirmed", "close"): "closed",
    ("closed", "reopen"): "finance_confirmed",
}
STATEMENT_EVENTS = ("send", "supplier_confirm", "dispute", "confirm", "close", "reopen")


def test_the_statement_table_has_every_status_and_event():
    assert set(STATEMENT.states) == set(STATEMENT_STATUSES)
    assert set(STATEMENT.events) == set(STATEMENT_EVENTS)


@pytest.mark.parametrize("state", STATEMENT_STATUSES)
@pytest.mark.parametrize("event", STATEMENT_EVENTS)
def test_every_statement_pair(state, event):
    expected = STATEMENT_MOVES.get((state, event))
    assert STATEMENT.can(state, event) is (expected is not None)
    if expected is None:
        with pytest.raises(IllegalMove) as refused:
            STATEMENT.next(state, event)
        sources = sorted({s for s, e in STATEMENT_MOVES if e == event})
        assert all(s in refused.value.message.split("only when")[-1] for s in sources)
    else:
        assert STATEMENT.next(state, event) == expected


# -- return case -----------------------------------------------------------------------------
PROGRESS = ["requested", "approved", "awaiting_return", "return_in_transit", "received",
            "inspected", "refunded"]
HUB_RECORDED = ("return_in_transit", "received", "inspected")
DECISIONS = ("rejected", "closed", "refunded", "resolved")
HUB_MOVES = {
    ("awaiting_return", "parcel_moving"): "return_in_transit",
    ("awaiting_return", "parcel_delivered"): "received",
    ("return_in_transit", "parcel_delivered"): "received",
    ("approved", "receive"): "received",
    ("awaiting_return", "receive"): "received",
    ("return_in_transit", "receive"): "received",
    ("approved", "inspect"): "inspected",
    ("awaiting_return", "inspect"): "inspected",
    ("return_in_transit", "inspect"): "inspected",
    ("received", "inspect"): "inspected",
}


def _behind(incoming: str, stored: str) -> bool:
    order = {"requested": 0, "approved": 1, "rejected": 1, "awaiting_return": 2,
             "return_in_transit": 3, "received": 4, "inspected": 5}
    return incoming in order and order[incoming] < order[stored]


@pytest.mark.parametrize("state", RETURN_STATUSES)
@pytest.mark.parametrize("event", [f"platform:{s}" for s in RETURN_STATUSES]
                         + ["parcel_moving", "parcel_delivered", "receive", "inspect"])
def test_every_return_case_pair(state, event):
    if event.startswith("platform:"):
        incoming = event.partition(":")[2]
        kept = state in HUB_RECORDED and incoming not in DECISIONS and _behind(incoming, state)
        assert RETURN_CASE.next(state, event) == (state if kept else incoming)
        return
    expected = HUB_MOVES.get((state, event))
    assert RETURN_CASE.can(state, event) is (expected is not None)
    if expected is None:
        with pytest.raises(IllegalMove):
            RETURN_CASE.next(state, event)
    else:
        assert RETURN_CASE.next(state, event) == expected


def test_a_return_case_never_goes_back_along_its_progress():
    for i, stored in enumerate(PROGRESS):
        for incoming in PROGRESS[:i]:
            after = RETURN_CASE.next(stored, f"platform:{incoming}")
            if stored in HUB_RECORDED:
                assert PROGRESS.index(after) >= PROGRESS.index(stored)


# -- shipment ----------------------------------------------------------------------------------
FINAL_ESCAPES = {"delivered": {"refused", "returning", "returned"}, "returned": set(),
                 "cancelled": set()}
T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


def _shipment_may(state: str, to: str) -> bool:
    if to in ("unknown", "pending"):
        return to == state == "pending"
    if to == state or to == "intercepted":
        return True
    if state == "expired":
        return to != "expired"
    return to in FINAL_ESCAPES.get(state, set(SHIPMENT_STATUSES))


@pytest.mark.parametrize("state", [s for s in SHIPMENT_STATUSES if s != "unknown"])
@pytest.mark.parametrize("to", SHIPMENT_STATUSES)
def test_every_shipment_pair(state, to):
    """A newer scan saying ``to`` moves a parcel that is ``state`` only by a legal move;
    an illegal one is held (stored as history, status unchanged)."""
    event = TrackingEventValues(occurred_at=T0 + timedelta(hours=1), status=to, raw_status="x")
    step = progress(state, [event], since=T0, current_raw="before")
    moved = step.status == to and step.applied == (event,)
    assert moved is _shipment_may(state, to), step
    if not moved:
        assert step.status == state and step.held
