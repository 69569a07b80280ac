"""Kuaishou expressCode ↔ the hub's carrier codes, both directions."""
import pytest

from mappings.kuaishou.carriers import (
    UnknownCarrier, carrier_for_code, express_code_for, known_carriers, known_codes,
)

INBOUND = {1: "jitu", 2: "ems", 3: "sto", 4: "sf", 6: "yto", 8: "chinapost", 9: "zto", 10: "zjs",
           11: "yunda", 13: "yto", 14: "jd", 17: "deppon", 53: "deppon", 109: "jitu",
           113: "cainiao", 128: "yizhantong"}
OUTBOUND = {"sf": 4, "ems": 2, "sto": 3, "yto": 6, "yunda": 11, "zto": 9, "jd": 14, "jitu": 109,
            "best": 109, "deppon": 17, "chinapost": 8, "zjs": 10, "cainiao": 113}


@pytest.mark.parametrize("code,carrier", INBOUND.items())
def test_inbound(code, carrier):
    found = carrier_for_code(code)
    assert found.code == carrier and found.known and found.flag is None
    assert carrier_for_code(str(code)).code == carrier


@pytest.mark.parametrize("carrier,code", OUTBOUND.items())
def test_outbound(carrier, code):
    assert express_code_for(carrier) == code
    assert express_code_for(carrier.upper()) == code


def test_every_pushable_carrier_reads_back_as_itself_except_aliases():
    for carrier, code in known_carriers().items():
        back = carrier_for_code(code).code
        assert back == carrier or carrier == "best", (carrier, code, back)


def test_unknown_codes_are_kept_raw_and_flagged():
    found = carrier_for_code(777)
    assert (found.code, found.raw, found.known, found.flag) == ("unknown", "777", False,
                                                                "unknown_express_code:777")
    assert carrier_for_code(None).code == "unknown" and carrier_for_code("x").raw == "x"


def test_unknown_carriers_cannot_be_pushed():
    with pytest.raises(UnknownCarrier):
        express_code_for("pigeon-post")
    assert express_code_for("kuaishou:128") == 128 and express_code_for("15") == 15


def test_the_core_carriers_share_the_tracking_vocabulary():
    from mappings.tracking.carriers import carriers as tracking_carriers
    core = {"sf", "zto", "yto", "sto", "yunda", "jd", "ems", "chinapost", "jitu", "deppon", "zjs"}
    assert core <= set(tracking_carriers())
    assert core <= set(known_codes().values())
