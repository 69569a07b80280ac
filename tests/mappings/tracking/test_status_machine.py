"""The status machine: event time decides, late and out-of-order pushes never move a
parcel backwards, final states are left only by documented transitions."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from hub.values import TrackingEventValues
from mappings.tracking import StatusMachine, progress
from mappings.tracking.machine import ESCAPES
from mappings.tracking.vocabulary import FINAL, STATUSES

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)


def ev(minutes: float, status: str, raw: str | None = None) -> TrackingEventValues:
    return TrackingEventValues(occurred_at=T0 + timedelta(minutes=minutes), status=status,
                               raw_status=raw or status)


JOURNEY = [ev(0, "info_received"), ev(60, "picked_up"), ev(300, "in_transit"),
           ev(900, "out_for_delivery"), ev(960, "delivered")]


def test_a_journey_in_order():
    result = progress(None, JOURNEY)
    assert (result.status, result.at, result.changed) == ("delivered", T0 + timedelta(minutes=960),
                                                          True)
    assert len(result.applied) == 5 and not result.held


@pytest.mark.parametrize("order", list(itertools.permutations(range(5)))[::7])
def test_any_arrival_order_gives_the_same_status(order):
    assert progress(None, [JOURNEY[i] for i in order]).status == "delivered"


def test_a_late_push_of_an_older_event_never_moves_the_status_back():
    now = progress(None, JOURNEY[:4])                       # out for delivery
    late = progress(now.status, [JOURNEY[1]], since=now.at)  # the pickup, pushed late
    assert late.status == "out_for_delivery" and not late.changed
    assert late.held[0][1] == "older"
    # even a whole old history re-pushed changes nothing
    again = progress(now.status, JOURNEY[:3], since=now.at)
    assert again.status == "out_for_delivery" and not again.applied


def test_equal_times_take_the_further_along_status():
    same = [ev(100, "delivered"), ev(100, "out_for_delivery")]
    assert progress(None, same).status == "delivered"
    result = progress("delivered", [ev(100, "out_for_delivery")], since=T0 + timedelta(minutes=100))
    assert result.status == "delivered" and result.held[0][1] in ("older", "final")


def test_newer_events_move_non_final_states_freely():
    steps = [ev(0, "out_for_delivery"), ev(60, "delivery_failed"), ev(1440, "out_for_delivery"),
             ev(1500, "delivery_failed"), ev(2880, "out_for_delivery"), ev(2900, "delivered")]
    assert [progress(None, steps[:i + 1]).status for i in range(len(steps))] == \
        ["out_for_delivery", "delivery_failed", "out_for_delivery", "delivery_failed",
         "out_for_delivery", "delivered"]
    assert progress("exception", [ev(10, "in_transit")], since=T0).status == "in_transit"
    assert progress("in_customs", [ev(10, "in_transit")], since=T0).status == "in_transit"


def test_delivered_is_left_only_for_refused_returning_or_returned():
    since = T0
    for target in ("refused", "returning", "returned"):
        assert progress("delivered", [ev(10, target)], since=since).status == target
    for target in ("in_transit", "out_for_delivery", "delivery_failed", "exception",
                   "cancelled", "info_received", "available_for_pickup"):
        result = progress("delivered", [ev(10, target)], since=since)
        assert result.status == "delivered", target
        assert result.held[0][1] == "final"
        assert f"held_final:{target}" in result.flags


def test_refused_returning_returned_is_the_return_leg():
    steps = [ev(0, "out_for_delivery"), ev(10, "refused"), ev(60, "returning"),
             ev(2000, "returned")]
    assert progress(None, steps).status == "returned"
    assert progress("returning", [ev(3000, "returned")], since=T0).status == "returned"


@pytest.mark.parametrize("final", ["returned", "cancelled"])
def test_returned_and_cancelled_are_left_by_nothing_but_an_interception(final):
    for target in set(STATUSES) - {final, "unknown", "intercepted"}:
        assert progress(final, [ev(10, target)], since=T0).status == final, target
    assert progress(final, [ev(10, "intercepted")], since=T0).status == "intercepted"


@pytest.mark.parametrize("start", [s for s in STATUSES if s != "unknown"])
def test_intercepted_is_entered_from_any_state(start):
    assert progress(start, [ev(10, "intercepted")], since=T0).status == "intercepted"


def test_after_an_interception_the_return_leg_follows():
    steps = [ev(0, "in_transit"), ev(10, "intercepted"), ev(40, "returning"),
             ev(3000, "returned")]
    assert [progress(None, steps[:i + 1]).status for i in range(4)] == \
        ["in_transit", "intercepted", "returning", "returned"]
    # a modified address: the parcel goes on to a new delivery
    assert progress("intercepted", [ev(40, "in_transit"), ev(900, "delivered")],
                    since=T0).status == "delivered"


def test_expired_is_soft_a_new_scan_revives_it():
    assert progress("expired", [ev(10, "in_transit")], since=T0).status == "in_transit"
    assert progress("expired", [ev(10, "pending")], since=T0).status == "expired"


def test_nothing_moves_back_to_pending():
    result = progress("in_transit", [ev(10, "pending")], since=T0)
    assert result.status == "in_transit" and result.held[0][1] == "regress_to_pending"


def test_unknown_events_never_move_the_status_and_never_raise():
    result = progress("in_transit", [ev(10, "unknown", "999"), ev(20, "teleported")], since=T0)
    assert result.status == "in_transit"
    assert [reason for _, reason in result.held] == ["unknown_status", "unknown_status"]
    assert progress(None, [ev(0, "unknown")]).status == "pending"


def test_same_status_newer_raw_code_updates_raw_and_time():
    result = progress("in_transit", [ev(30, "in_transit", "1001")], since=T0,
                      current_raw="1002")
    assert (result.status, result.raw_status, result.changed) == ("in_transit", "1001", False)
    assert result.at == T0 + timedelta(minutes=30)


def test_naive_since_is_taken_as_utc():
    naive = (T0 + timedelta(minutes=60)).replace(tzinfo=None)
    assert progress("picked_up", [ev(30, "info_received")], since=naive).status == "picked_up"


def test_every_final_state_has_documented_escapes():
    assert set(ESCAPES) == set(FINAL)
    machine = StatusMachine(escapes={**ESCAPES, "delivered": frozenset()})
    assert machine.progress("delivered", [ev(10, "returning")], since=T0).status == "delivered"
