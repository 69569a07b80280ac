"""AfterShip and 17TRACK connectors: verified deliveries → records → tracking values, and
17TRACK number registration."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import responses

from connectors.aftership import signature as as_sign
from connectors.base import ConnectorError, ErrorClass, WebhookRejected
from connectors.track17 import signature as t17_sign
from tests.connectors.couriers.conftest import (
    AFTERSHIP_SIGN, TRACK17_SIGN, aftership, fixture_bytes, track17,
)


def as_event(msg: dict, event: str = "tracking_update", event_id: str = "e-1"):
    body = json.dumps({"event": event, "event_id": event_id, "msg": msg,
                       "ts": 1762070400}).encode()
    conn = aftership()
    [ev] = conn.verify_webhook({"aftership-hmac-sha256": as_sign("test_secret", body)}, body)
    return conn, ev


# -- AfterShip --------------------------------------------------------------------------------
def test_aftership_fixture_to_values():
    body = fixture_bytes("aftership/tracking_update_doc_sample.json")
    conn = aftership()
    [ev] = conn.verify_webhook({"aftership-hmac-sha256": AFTERSHIP_SIGN}, body)
    [record] = conn.records_for_event(ev.event_type, ev.body)
    assert (record.entity, record.external_id) == ("tracking", "usps:0000000000000000")
    values = conn.map_record(record)
    assert values.current_status == "in_transit"
    assert [(e.status, e.raw_status) for e in values.events] == [("in_transit", "InTransit_001")]
    assert "unknown_carrier:usps" in values.flags and "naive_time" in values.flags


def test_aftership_chinese_carrier_and_subtags():
    msg = {"tracking_number": "SF1", "slug": "sf-express", "tag": "Exception",
           "subtag": "Exception_010", "updated_at": "2026-11-03T10:00:00+08:00",
           "checkpoints": [
               {"checkpoint_time": "2026-11-02T09:00:00+08:00", "tag": "InTransit",
                "subtag": "InTransit_002", "message": "已揽收", "city": "杭州"},
               {"checkpoint_time": "2026-11-02T20:00:00+08:00", "tag": "OutForDelivery",
                "subtag": "OutForDelivery_001", "message": "派送中"},
               {"checkpoint_time": "2026-11-02T21:00:00+08:00", "tag": "Exception",
                "subtag": "Exception_003", "message": "收件人拒收"}]}
    conn, ev = as_event(msg)
    values = conn.map_record(conn.records_for_event(ev.event_type, ev.body)[0])
    assert values.carrier == "sf"
    # the tracking-level subtag (returning) is newer than the last checkpoint: one more event
    assert [e.status for e in values.events] == ["picked_up", "out_for_delivery", "refused",
                                                 "returning"]
    assert values.current_status == "returning"
    assert values.events[0].occurred_at == datetime(2026, 11, 2, 1, tzinfo=timezone.utc)
    assert values.events[0].location == "杭州"


def test_aftership_unknown_subtag_falls_back_to_its_tag_and_is_flagged():
    msg = {"tracking_number": "X", "slug": "yunda", "tag": "InTransit", "subtag": "InTransit_099",
           "checkpoints": [{"checkpoint_time": "2026-11-02T09:00:00Z", "tag": "InTransit",
                            "subtag": "InTransit_099", "message": "?"}]}
    conn, ev = as_event(msg)
    values = conn.map_record(conn.records_for_event(ev.event_type, ev.body)[0])
    assert values.events[0].status == "in_transit"
    assert "unknown_status:aftership:InTransit_099" in values.flags


def test_aftership_event_without_id_gets_a_content_hash_and_bad_bodies():
    body = b'{"event":"tracking_update","msg":{"tracking_number":"1"}}'
    [ev] = aftership().verify_webhook({"aftership-hmac-sha256": as_sign("test_secret", body)},
                                      body)
    assert ev.external_event_id.startswith("sha256:")
    for bad in (b"not json", b"[1]", b'{"msg":{}}'):
        with pytest.raises(WebhookRejected) as e:
            aftership().verify_webhook({"aftership-hmac-sha256": as_sign("test_secret", bad)}, bad)
        assert e.value.reason == "unparseable"
    with pytest.raises(ConnectorError) as e:
        aftership().records_for_event("tracking_update", b'{"event":"tracking_update","msg":{}}')
    assert e.value.error_class is ErrorClass.FAIL_DATA
    assert aftership().records_for_event("unknown_event", body) == []


# -- 17TRACK ----------------------------------------------------------------------------------
def test_track17_fixture_to_values():
    body = fixture_bytes("track17/tracking_updated_ups.json")
    conn = track17()
    [ev] = conn.verify_webhook({"sign": TRACK17_SIGN}, body)
    [record] = conn.records_for_event(ev.event_type, ev.body)
    assert record.entity == "tracking"
    values = conn.map_record(record)
    assert values.tracking_number == "1Z2617V10397725789"
    assert values.monitoring == "tracking"
    assert values.current_status == "delivered"
    assert [e.status for e in values.events] == ["info_received", "in_transit", "in_transit",
                                                 "out_for_delivery", "delivered"]
    assert values.events[-1].raw_status == "Delivered_Other"   # latest_status beats the stage
    assert "uncoded_events" in values.flags


def test_track17_stopped_and_sub_status_mapping():
    data = {"number": "RR1CN", "carrier": 3011, "track_info": {
        "latest_status": {"status": "Exception", "sub_status": "Exception_Returning"},
        "latest_event": {"time_utc": "2026-11-03T01:00:00Z", "description": "returning"},
        "tracking": {"providers": [{"events": [
            {"time_utc": "2026-11-03T01:00:00Z", "description": "returning"},
            {"time_utc": "2026-11-02T01:00:00Z", "description": "rejected",
             "sub_status": "DeliveryFailure_Rejected"}]}]}}}
    body = json.dumps({"event": "TRACKING_STOPPED", "data": data}).encode()
    conn = track17()
    [ev] = conn.verify_webhook({"sign": t17_sign("test_key", body)}, body)
    values = conn.map_record(conn.records_for_event(ev.event_type, ev.body)[0])
    assert values.carrier == "chinapost" and values.monitoring == "stopped"
    assert [e.status for e in values.events] == ["refused", "returning"]
    assert values.current_status == "returning"


def test_track17_bad_bodies():
    for bad in (b"nope", b'{"event":"X"}', b"[]"):
        with pytest.raises(WebhookRejected) as e:
            track17().verify_webhook({"sign": t17_sign("test_key", bad)}, bad)
        assert e.value.reason == "unparseable"
    with pytest.raises(ConnectorError):
        track17().records_for_event("TRACKING_UPDATED", b'{"data":{}}')
    assert track17().records_for_event("OTHER", b"{}") == []


@responses.activate
def test_track17_register_push():
    responses.post("https://api.17track.net/track/v2.2/register",
                   json={"code": 0, "data": {"accepted": [{"number": "RR1CN"}], "rejected": []}})
    result = track17(api_token="tok").push("subscribe", {"tracking_number": "RR1CN",
                                                         "carrier": "chinapost"}, "k")
    call = responses.calls[0].request
    assert call.headers["17token"] == "tok"
    assert json.loads(call.body) == [{"number": "RR1CN", "carrier": 3011}]
    assert result.external_id == "RR1CN"


@responses.activate
def test_track17_register_rejections():
    responses.post("https://api.17track.net/track/v2.2/register",
                   json={"code": 0, "data": {"accepted": [], "rejected": [
                       {"number": "X", "error": {"code": -18010012, "message": "invalid"}}]}})
    with pytest.raises(ConnectorError) as e:
        track17(api_token="tok").push("subscribe", {"tracking_number": "X"}, "k")
    assert e.value.error_class is ErrorClass.FAIL_DATA
    with pytest.raises(ConnectorError) as e:
        track17().push("subscribe", {"tracking_number": "X"}, "k")
    assert e.value.error_class is ErrorClass.FAIL_CONFIG
