"""The provider code tables: every code maps to a vocabulary status, sub-codes beat main
codes wherever they arrive, unknown codes are kept raw and flagged, and the carrier
table is consistent."""
from __future__ import annotations

import pytest

from hub.models.logistics import SHIPMENT_STATUSES
from mappings.tracking import codes
from mappings.tracking.carriers import carriers, normalise, provider_code, requires_phone
from mappings.tracking.vocabulary import FINAL, RANK, STATUSES

K100 = codes.table("kuaidi100_states.json")["codes"]
AS = codes.table("aftership_statuses.json")
T17 = codes.table("track17_statuses.json")


def test_vocabulary_is_the_models_vocabulary():
    assert STATUSES == SHIPMENT_STATUSES
    assert set(RANK) == set(STATUSES) and FINAL <= set(STATUSES)


# -- every code maps ------------------------------------------------------------------------
@pytest.mark.parametrize("code", sorted(K100, key=int))
def test_every_kuaidi100_code_maps_to_a_vocabulary_status(code):
    entry = K100[code]
    assert entry["status"] in STATUSES and entry["status"] != "unknown"
    match = codes.kuaidi100(status_code=code)
    assert (match.status, match.raw, match.known) == (entry["status"], code, True)
    # the state name maps to the same code when no code is sent (resultv2 < 4)
    assert codes.kuaidi100(status_name=entry["name"]).raw == code
    if entry["level"] == "sub":
        assert entry["parent"] in K100 and K100[entry["parent"]]["level"] == "main"


def test_kuaidi100_table_is_complete():
    mains = {c for c, e in K100.items() if e["level"] == "main"}
    assert mains == {"0", "1", "2", "3", "4", "5", "6", "7", "8"}
    assert {"10", "11", "12", "13", "14"} <= set(K100)            # customs + 拒签
    assert {str(c) for c in range(201, 211)} <= set(K100)
    assert {"101", "102", "103", "1001", "1002", "1003", "501", "301", "302", "303", "304",
            "401"} <= set(K100)


@pytest.mark.parametrize("code, status", [
    ("0", "in_transit"), ("1", "picked_up"), ("2", "exception"), ("3", "delivered"),
    ("4", "returned"), ("5", "out_for_delivery"), ("6", "returning"), ("7", "in_transit"),
    ("8", "in_customs"), ("10", "in_customs"), ("11", "in_customs"), ("12", "in_transit"),
    ("13", "exception"), ("14", "refused"), ("101", "info_received"), ("102", "info_received"),
    ("103", "picked_up"), ("501", "available_for_pickup"), ("304", "delivered"),
    ("401", "cancelled"), ("203", "refused"), ("204", "delivery_failed"),
    ("206", "delivery_failed"), ("210", "cancelled"), ("1003", "in_transit"),
])
def test_kuaidi100_key_codes(code, status):
    assert codes.kuaidi100(status_code=code).status == status


@pytest.mark.parametrize("tag", sorted(AS["tags"]))
def test_every_aftership_tag_maps(tag):
    match = codes.aftership(tag)
    assert match.status in STATUSES and match.status != "unknown" and match.known


@pytest.mark.parametrize("subtag", sorted(AS["subtags"]))
def test_every_aftership_subtag_maps(subtag):
    tag = subtag.split("_")[0]
    assert tag in AS["tags"]
    match = codes.aftership(tag, subtag)
    assert match.status == AS["subtags"][subtag]["status"] != "unknown"
    assert match.raw == subtag and match.known and not match.flags


@pytest.mark.parametrize("status", sorted(T17["statuses"]))
def test_every_track17_status_maps(status):
    assert codes.track17(status).status not in ("unknown", None)


@pytest.mark.parametrize("sub", sorted(T17["sub_statuses"]))
def test_every_track17_sub_status_maps(sub):
    match = codes.track17(sub.split("_")[0], sub)
    assert match.status == T17["sub_statuses"][sub]["status"] != "unknown"
    assert match.raw == sub and match.known


@pytest.mark.parametrize("stage", sorted(T17["stages"]))
def test_every_track17_stage_maps(stage):
    assert codes.track17(stage=stage).status in STATUSES


# -- sub beats main ---------------------------------------------------------------------------
def test_kuaidi100_sub_code_beats_main_code_either_way_round():
    assert codes.kuaidi100(state="3", status_code="304").raw == "304"
    assert codes.kuaidi100(state="304", status_code="3").raw == "304"   # sub in lastResult.state
    assert codes.kuaidi100(state="4", status_code="14").status == "refused"
    assert codes.kuaidi100(state="14").status == "refused"
    assert codes.kuaidi100(state="4").status == "returned"
    assert codes.kuaidi100(state="4", status_code="401").status == "cancelled"
    assert codes.kuaidi100(state="8", status_code="12").status == "in_transit"
    assert codes.kuaidi100(state="2", status_code="204").status == "delivery_failed"


def test_kuaidi100_event_code_first_between_equals():
    assert codes.kuaidi100(state="1002", status_code="1001").raw == "1001"
    assert codes.kuaidi100(state="0", status_code="5").raw == "5"


def test_aftership_and_track17_sub_beats_main():
    assert codes.aftership("Exception", "Exception_011").status == "returned"
    assert codes.aftership("Exception", "Exception_003").status == "refused"
    assert codes.aftership("InTransit", "InTransit_002").status == "picked_up"
    assert codes.track17("Exception", "Exception_Returned").status == "returned"
    assert codes.track17("DeliveryFailure", "DeliveryFailure_Rejected").status == "refused"
    assert codes.track17("InTransit", "InTransit_CustomsProcessing").status == "in_customs"


# -- unknown codes ----------------------------------------------------------------------------
def test_unknown_codes_are_kept_raw_and_flagged_never_raised():
    m = codes.kuaidi100(status_code="999")
    assert (m.status, m.raw, m.known) == ("unknown", "999", False)
    assert m.flags == ("unknown_status:kuaidi100:999",)
    m = codes.kuaidi100(state="3", status_code="999")      # known main code still used
    assert (m.status, m.raw) == ("delivered", "3") and "unknown_status:kuaidi100:999" in m.flags
    m = codes.aftership("Teleported", "Teleported_001")
    assert (m.status, m.known) == ("unknown", False)
    m = codes.aftership("Delivered", "Delivered_099")
    assert m.status == "delivered" and m.flags == ("unknown_status:aftership:Delivered_099",)
    m = codes.track17("Exception", "Exception_Alien")
    assert m.status == "exception" and m.flags
    assert codes.track17("Nope").status == "unknown"
    for weird in ({"a": 1}, True, 3.5):
        assert codes.kuaidi100(status_code=weird) is None or \
            codes.kuaidi100(status_code=weird).status in STATUSES


def test_no_code_at_all_is_none():
    assert codes.kuaidi100() is None and codes.kuaidi100(status_name="") is None
    assert codes.aftership() is None and codes.track17() is None
    assert codes.kuaidi100(status_name="不认识") is None


# -- carriers ---------------------------------------------------------------------------------
def test_carrier_codes():
    expected = {"sf": "shunfeng", "zto": "zhongtong", "yto": "yuantong", "sto": "shentong",
                "yunda": "yunda", "jd": "jd", "ems": "ems", "jitu": "jtexpress",
                "deppon": "debangkuaidi", "zjs": "zhaijisong", "chinapost": "youzhengguonei",
                "best": "huitongkuaidi", "fengwang": "fengwang"}
    assert set(carriers()) == set(expected)
    for ours, theirs in expected.items():
        assert provider_code("kuaidi100", ours) == theirs
        assert normalise("kuaidi100", theirs).carrier == ours
    assert normalise("kuaidi100", "debangwuliu").carrier == "deppon"
    assert normalise("kuaidi100", "ShunFeng ").carrier == "sf"
    assert normalise("aftership", "800bestex").carrier == "best"
    assert normalise("track17", 3011).carrier == "chinapost"
    assert {c for c in carriers() if requires_phone(c)} == {"sf", "zto", "fengwang"}


def test_provider_codes_are_unique_per_provider():
    for provider in ("kuaidi100", "aftership", "track17"):
        seen = [str(c) for row in carriers().values() for c in row.get(provider, [])]
        assert len(seen) == len(set(seen)), provider


def test_unknown_carrier_is_kept_and_flagged():
    m = normalise("kuaidi100", "SomeNewCo")
    assert (m.carrier, m.known, m.flag) == ("somenewco", False, "unknown_carrier:SomeNewCo")
    assert provider_code("kuaidi100", "nosuch") is None
