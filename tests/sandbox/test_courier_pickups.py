"""Return pickups (商家寄件) in the courier sandbox over real HTTP, booked by the real
Kuaidi100 connector: a waybill that fits the carrier's pattern, the same booking for the
same key, the parcel tracked and pushed like any other, and refusals in Kuaidi100's
shape."""
from __future__ import annotations

import dataclasses
import json
import re

import pytest

from connectors.base import ConnectorError, ErrorClass
from connectors.capabilities import ReturnLabel
from connectors.kuaidi100 import Kuaidi100, signing, subscription_payload
from sandbox.courier import pickup
from tests.connector_capabilities import LABEL_KEY, LABEL_REQUEST
from tests.sandbox.test_courier_sandbox import (  # noqa: F401 (fixtures)
    KEY, SECRET, connector_for, control, courier, flush, http, hub,
)

pytestmark = pytest.mark.slow


def book(conn: Kuaidi100, key: str = LABEL_KEY, **changes) -> ReturnLabel:
    request = dataclasses.replace(LABEL_REQUEST, **changes)
    result = conn.push("return_label", Kuaidi100.return_label_payload(request), key)
    return ReturnLabel.from_data(result.data["return_label"])


def raw_booking(http, base, param: dict, *, method: str = "bOrder", secret: str = SECRET):
    text, t = json.dumps(param, ensure_ascii=False), "1700000000000"
    return http.post(f"{base}/order/borderapi.do", data={
        "key": KEY, "method": method, "t": t, "param": text,
        "sign": signing.label_sign(text, t, KEY, secret)}).json()


def test_a_booking_issues_a_waybill_the_sandbox_tracks(courier, hub, http):
    conn = connector_for(hub.url, courier)
    label = book(conn)
    assert label.carrier == "yto" and re.fullmatch(r"YT\d{13}", label.tracking_number)
    assert label.booking_id and label.pickup_from < label.pickup_until
    assert book(conn) == label                             # the same key: the same booking
    zto = book(conn, "1f" * 20, carrier="zto")
    assert re.fullmatch(r"73\d{12}", zto.tracking_number)

    [first, _] = control(http, courier, "bookings", method="GET")
    assert first["third_order_id"] == LABEL_KEY[:32]
    assert first["param"]["sendManMobile"] == LABEL_REQUEST.sender.phone_cipher
    assert LABEL_REQUEST.sender.phone_masked not in json.dumps(first["param"],
                                                               ensure_ascii=False)
    parcel = control(http, courier, f"parcels/{label.tracking_number}", method="GET")
    assert (parcel["com"], parcel["scenario"]) == ("yuantong", "normal")

    subscribed = conn.push("subscribe", subscription_payload(
        "yto", label.tracking_number, shipment_ref="S-9"), "sub-9")
    assert subscribed.data["return_code"] == "200"
    control(http, courier, f"parcels/{label.tracking_number}/fast_forward")
    flush(http, courier)
    pushed = [json.loads(d["form"]["param"]) for d in hub.accepted()]
    assert {p["lastResult"]["nu"] for p in pushed} == {label.tracking_number}
    assert pushed[-1]["status"] == "shutdown" and pushed[-1]["lastResult"]["state"] == "301"


def test_bad_bookings_are_refused_in_kuaidi100s_shape(courier, hub, http):
    good = {"kuaidicom": "yuantong", "recManName": "王五", "recManMobile": "0571-88880000",
            "recManPrintAddr": "浙江省杭州市余杭区仓前街道 1 号", "sendManName": "#n#",
            "sendManMobile": "#p#", "sendManPrintAddr": "#a#", "cargo": "杯子"}
    assert raw_booking(http, courier, good)["returnCode"] == "200"
    refusals = {
        "503": raw_booking(http, courier, good, secret="wrong"),
        "400-method": raw_booking(http, courier, good, method="cOrder"),
        "400-carrier": raw_booking(http, courier, {**good, "kuaidicom": "debangkuaidi"}),
        "400-sender": raw_booking(http, courier, {**good, "sendManPrintAddr": ""}),
        "400-sf-window": raw_booking(http, courier, {**good, "kuaidicom": "shunfeng"}),
        "400-payment": raw_booking(http, courier, {**good, "payment": "CONSIGNEE"}),
    }
    for name, answer in refusals.items():
        assert answer["result"] is False and answer["data"] is None, name
        assert answer["returnCode"] == name.split("-")[0] and answer["message"], name
    assert "sendManPrintAddr" in refusals["400-sender"]["message"]
    assert len(control(http, courier, "bookings", method="GET")) == 1

    conn = connector_for(hub.url, courier)
    with pytest.raises(ConnectorError) as refused:
        book(conn, carrier="deppon")                        # a carrier the sandbox lacks
    assert refused.value.error_class == ErrorClass.FAIL_DATA
    assert "debangkuaidi" in refused.value.message
    conn.config["secret"] = "not-the-secret"
    with pytest.raises(ConnectorError) as unsigned:
        book(conn, "2f" * 20)
    assert unsigned.value.error_class == ErrorClass.FAIL_CONFIG


def test_waybills_fit_each_carriers_pattern():
    shapes = {"shunfeng": r"SF\d{13}", "yuantong": r"YT\d{13}", "jtexpress": r"JT\d{13}",
              "jd": r"JD\d{13}", "zhongtong": r"73\d{12}", "shentong": r"77\d{12}",
              "yunda": r"43\d{11}", "ems": r"1\d{12}"}
    assert set(shapes) == set(pickup.SHAPES)
    for com, pattern in shapes.items():
        assert re.fullmatch(pattern, pickup.waybill(com, 42)), com
