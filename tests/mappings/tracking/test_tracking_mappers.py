"""The provider mappers on recorded payloads, with golden outputs, and the monitoring
(re-subscribe) rules."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mappings.tracking import (
    MappingError, kuaidi100_monitoring, progress, resubscribe_plan,
)
from mappings.tracking import aftership, kuaidi100, track17

FIXTURES = Path(__file__).parents[2] / "connectors" / "couriers" / "fixtures"
NOW = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)


def jd_push() -> dict:
    return json.loads((FIXTURES / "kuaidi100/push_jd_signed_304.json").read_text("utf-8"))


def k100(status="polling", data=(), state="0", com="zhongtong", **extra) -> dict:
    return {"status": status, "message": extra.pop("message", ""), **extra,
            "lastResult": {"nu": "ZT1", "com": com, "state": state, "data": list(data)}}


def item(time, code=None, name=None, context="ctx"):
    out = {"time": time, "context": context}
    if code is not None:
        out["statusCode"] = code
    if name is not None:
        out["status"] = name
    return out


def test_kuaidi100_golden_captured_push():
    values = kuaidi100.map_push(jd_push())
    golden = [("2022-06-29T14:28:45+00:00", "in_transit", "1002"),
              ("2022-06-29T14:28:50+00:00", "in_transit", "1002"),
              ("2022-06-29T14:30:20+00:00", "in_transit", "0"),
              ("2022-06-30T00:27:50+00:00", "in_transit", "0"),
              ("2022-06-30T02:34:33+00:00", "delivered", "304")]
    assert [(e.occurred_at.isoformat(), e.status, e.raw_status) for e in values.events] == golden
    assert (values.carrier, values.tracking_number, values.current_status, values.monitoring,
            values.flags) == ("jd", "JD0076810060555", "delivered", "shutdown", ())
    assert values.external_id == "jd:JD0076810060555"


def test_kuaidi100_sub_code_in_last_result_state_beats_the_events_main_code():
    values = kuaidi100.map_push(k100(state="304", data=[item("2026-11-02 10:00:00", "3")]))
    assert values.events[0].raw_status == "304"


def test_kuaidi100_without_codes_uses_the_state_names_then_in_transit():
    data = [item("2026-11-02 12:00:00", name="派件"), item("2026-11-02 10:00:00", name="干线"),
            item("2026-11-02 09:00:00")]
    values = kuaidi100.map_push(k100(state="5", data=data))
    assert [(e.status, e.raw_status) for e in values.events] == \
        [("in_transit", None), ("in_transit", "1002"), ("out_for_delivery", "5")]
    assert "uncoded_events" in values.flags


def test_kuaidi100_unknown_code_is_kept_raw_flagged_and_does_not_move_the_status():
    data = [item("2026-11-02 12:00:00", "9999"), item("2026-11-02 10:00:00", "1002")]
    values = kuaidi100.map_push(k100(state="9999", data=data))
    assert values.events[-1].status == "unknown" and values.events[-1].raw_status == "9999"
    assert "unknown_status:kuaidi100:9999" in values.flags
    assert values.current_status == "in_transit"


def test_kuaidi100_bad_times_and_items_are_flagged_not_raised():
    data = [item("yesterday", "5"), "junk", item("2026-11-02 10:00:00", "1002")]
    values = kuaidi100.map_push(k100(data=data))
    assert len(values.events) == 1
    assert {"bad_event_time", "bad_event"} <= set(values.flags)


def test_kuaidi100_full_history_repush_dedupes_and_keeps_order():
    data = [item("2026-11-02 10:00:00", "1002", context="a"),
            item("2026-11-02 10:00:00", "1002", context="a"),
            item("2026-11-02 09:00:00", "103", context="b")]
    values = kuaidi100.map_push(k100(data=data))
    assert [e.description for e in values.events] == ["b", "a"]


@pytest.mark.parametrize("payload", [None, [], {"status": "polling"},
                                     {"lastResult": {"nu": ""}},
                                     {"lastResult": {"nu": "1", "data": "x"}}])
def test_kuaidi100_not_a_push_is_a_mapping_error(payload):
    with pytest.raises(MappingError):
        kuaidi100.map_push(payload)


def test_kuaidi100_abort_and_monitoring_flags():
    values = kuaidi100.map_push(k100(status="abort", message="3天查询无记录"))
    assert values.monitoring == "abort" and values.events == ()
    assert values.current_status is None
    assert "monitoring_abort:no_records" in values.flags
    odd = kuaidi100.map_push(k100(status="sleeping"))
    assert "unknown_monitoring:kuaidi100:sleeping" in odd.flags


def test_kuaidi100_interception_mapping():
    ok = kuaidi100.map_interception({"kuaidicom": "yuantong", "kuaidinum": "YT1",
                                     "status": "SUCCESS", "interceptType": "MODIFY_ADDR",
                                     "updateTime": "2026-11-02 10:00:00"})
    assert ok.carrier == "yto" and ok.interception == "succeeded"
    assert ok.events[0].raw_status == "intercept:MODIFY_ADDR"
    timeless = kuaidi100.map_interception({"kuaidicom": "yuantong", "kuaidinum": "YT1",
                                           "status": "success"}, received_at=NOW)
    assert timeless.events[0].occurred_at == NOW
    neither = kuaidi100.map_interception({"kuaidicom": "yuantong", "kuaidinum": "YT1",
                                          "status": "success"})
    assert neither.events == () and "interception_without_time" in neither.flags
    odd = kuaidi100.map_interception({"kuaidinum": "YT1", "status": "MAYBE"})
    assert odd.interception is None and odd.flags[-1] == "unknown_interception_status:MAYBE"


def test_mapped_values_feed_the_machine_from_the_stored_status():
    first = kuaidi100.map_push(k100(data=[item("2026-11-02 12:00:00", "5")]))
    stored = progress(None, first.events)
    late = kuaidi100.map_push(k100(data=[item("2026-11-02 10:00:00", "1002")]))
    assert progress(stored.status, late.events, since=stored.at).status == "out_for_delivery"


def test_aftership_and_track17_reject_non_objects():
    for bad in (None, [], {"tracking_number": ""}):
        with pytest.raises(MappingError):
            aftership.map_tracking(bad)
        with pytest.raises(MappingError):
            track17.map_tracking(bad if bad != {"tracking_number": ""} else {"number": ""})


def test_aftership_expired_without_checkpoints_becomes_an_event_at_updated_at():
    values = aftership.map_tracking({"tracking_number": "1", "slug": "yto", "tag": "Expired",
                                     "subtag": "Expired_001", "checkpoints": [],
                                     "updated_at": "2026-11-02T08:00:00+00:00"})
    assert [(e.status, e.occurred_at) for e in values.events] == [("expired", NOW)]
    pending = aftership.map_tracking({"tracking_number": "1", "slug": "yto", "tag": "Pending",
                                      "checkpoints": [], "updated_at": "2026-11-02T08:00:00Z"})
    assert pending.events == () and pending.current_status is None


# -- monitoring -------------------------------------------------------------------------------
def plan(param, count=0):
    return resubscribe_plan(kuaidi100_monitoring(param), received_at=NOW,
                            subscriptions_this_month=count)


def test_monitoring_states():
    assert kuaidi100_monitoring(k100("polling")).active
    assert not kuaidi100_monitoring(k100("shutdown")).active
    m = kuaidi100_monitoring(k100("abort", message="60天无变化"))
    assert (m.state, m.reason, m.active) == ("abort", "no_change", False)


def test_resubscribe_rules():
    assert plan(k100("polling")).action == "none"
    assert plan(k100("updateall")).action == "none"
    assert plan(k100("shutdown")).action == "done"
    p = plan(k100("abort", message="3天查询无记录"), count=1)
    assert p.action == "resubscribe" and p.not_before == NOW + timedelta(minutes=30)
    assert plan(k100("abort", message="3天查询无记录"), count=3).action == "resubscribe"
    assert plan(k100("abort", message="3天查询无记录"), count=4).action == "give_up"
    stopped = resubscribe_plan(track17_monitoring(), received_at=NOW, subscriptions_this_month=0)
    assert stopped.action == "done"


def track17_monitoring():
    from mappings.tracking import Monitoring

    return Monitoring(state="stopped")


def test_monitoring_from_values_matches_the_push():
    from mappings.tracking import monitoring_from_values

    for param in (k100("abort", message="3天查询无记录"), k100("shutdown"), k100("polling"),
                  k100("abort", autoCheck="1", comOld="shentong", comNew="zhongtong")):
        from_values = monitoring_from_values(kuaidi100.map_push(param))
        direct = kuaidi100_monitoring(param)
        assert (from_values.state, from_values.reason, from_values.carrier_old,
                from_values.carrier_new) == (direct.state, direct.reason, direct.carrier_old,
                                             direct.carrier_new)
        assert plan_of(from_values) == plan_of(direct)


def plan_of(m):
    return resubscribe_plan(m, received_at=NOW, subscriptions_this_month=1)
