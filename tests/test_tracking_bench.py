"""The ``tracking`` benchmark's pushes are what Kuaidi100 sends: signed so the real
connector verifies them, one inbox event each, and mapped along the whole journey (the
benchmark itself checks that every push was applied)."""
from __future__ import annotations

from bench import harness
from bench.tracking import JOURNEY, SALT, signed_pushes
from tests.connectors.couriers.conftest import kuaidi100


def test_the_pushes_verify_and_map_along_the_journey():
    conn = kuaidi100(salt=SALT)
    pushes = signed_pushes(0, "YT", parcels=2, steps=len(JOURNEY))
    assert len(pushes) == 2 * len(JOURNEY)
    ids, last = set(), {}
    for headers, body in pushes:
        [event] = conn.verify_webhook({k.lower(): v for k, v in headers.items()}, body)
        ids.add(event.external_event_id)
        [record] = conn.records_for_event(event.event_type, event.body)
        values = conn.map_record(record)
        last[values.tracking_number] = values
    assert len(ids) == len(pushes)
    for values in last.values():
        assert [e.status for e in values.events] == \
            ["info_received", "picked_up", "in_transit", "in_transit", "out_for_delivery",
             "delivered"]
        assert values.monitoring == "shutdown" and values.carrier == "yto"


def test_the_ack_loop_gets_as_many_pushes_as_it_asks_for():
    assert len(signed_pushes(50, "AK", parcels=0, steps=6, cycle_steps=True)) == 50


def test_the_benchmark_is_registered():
    assert "tracking" in harness.load_all()
