"""The supplier sandbox over real HTTP, on its own: deliveries signed by the hub's
``hub_webhook`` connector are verified (rotation, tolerance) or refused with 401; orders
are accepted and shipped, stop-ships answered by progress, returns received with a photo,
notices acknowledged — all against a stand-in of the hub's supplier API that records
every call; and the misbehaviours (down, slow, garbage, duplicates)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from connectors import standard_webhooks
from connectors.base import AccountContext
from connectors.hub_webhook import HubWebhook
from mappings.tracking.codes import table
from sandbox.supplier import _QuietHandler, parcels, serve
from tests.factories import WHSEC

pytestmark = pytest.mark.slow

NEW = "whsec_cm90YXRlZC1zZWNyZXQtb2YtMzItYnl0ZXMtbG9uZyE="
ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 10


class HubStandIn:
    """The hub's supplier API as far as the sandbox uses it, recording every call."""

    def __init__(self):
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self, threaded=True,
                                  request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            call = {"method": request.method, "path": request.path,
                    "auth": request.headers.get("Authorization"), "args": request.args.to_dict(),
                    "json": request.get_json(silent=True), "form": request.form.to_dict(),
                    "files": [f.read() for f in request.files.getlist("photos")]}
        finally:
            request.close()  # the uploaded files
        with self.lock:
            self.calls.append(call)
        if request.path == "/api/v1/supplier/notices":
            body = {"data": [{"id": 70 + len(self.calls)}], "next_cursor": None}
        else:
            body = {"id": 1, "status": "ok"}
        return Response(json.dumps(body), content_type="application/json")(environ,
                                                                            start_response)

    def paths(self, *, action=None):
        with self.lock:
            return [c["path"] for c in self.calls
                    if action is None or c["path"].endswith(action)]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub():
    stand_in = HubStandIn()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def supplier(hub):
    server, base = serve(port=0, hub_url=hub.url, token="hub_sandbox_token", secrets=[WHSEC],
                         ship_delay_s=0)
    yield server, base
    server.stop()


def signer(base, secrets=(WHSEC,)) -> HubWebhook:
    config = HubWebhook.validate_config({"endpoint_url": f"{base}/webhook",
                                         "secrets": list(secrets)})
    return HubWebhook(AccountContext(account_id=1, merchant_id=1, name="t", config=config))


def send(base, topic, data, key, secrets=(WHSEC,)):
    """A delivery exactly as the hub's connector makes it; the connector's error or result."""
    return signer(base, secrets).push(topic, data, key)


def flush(base):
    assert requests.post(f"{base}/_sandbox/flush", json={"timeout": WAIT_S},
                         timeout=WAIT_S + 5).json()["idle"]


def control(base, what, **params):
    return requests.get(f"{base}/_sandbox/{what}", params=params, timeout=5).json()["data"]


def dispatch(fid, order="P-1"):
    return {"fulfilment_id": fid, "answer_by": None,
            "order": {"platform_order_id": order, "buyer": {"phone_masked": "138****5678"}},
            "lines": [{"sku": "SKU-1", "supplier_sku": None, "title": "", "quantity": 1}]}


def test_an_order_is_accepted_shipped_and_acknowledged(hub, supplier):
    server, base = supplier
    result = send(base, "order_dispatch", dispatch(41), "key-41")
    assert result.status_code == 200
    flush(base)
    [received] = control(base, "received")
    assert received["verified"] is True and received["type"] == "order_dispatch"
    assert received["webhook_id"] == "key-41" and received["received_epoch"] > 0
    assert hub.paths() == ["/api/v1/supplier/fulfilments/41/accept",
                           "/api/v1/supplier/notices", "/api/v1/supplier/notices/72/ack",
                           "/api/v1/supplier/fulfilments/41/tracking"]
    with hub.lock:
        tracking = hub.calls[-1]["json"]
        assert {c["auth"] for c in hub.calls} == {"Bearer hub_sandbox_token"}
        assert hub.calls[1]["args"] == {"webhook_id": "key-41"}
    assert tracking["carrier"] == "sf" and re.fullmatch(r"SF\d{13}", tracking["tracking_number"])
    [order] = control(base, "orders")
    assert order["state"] == "shipped" and order["tracking_number"] == tracking["tracking_number"]


def test_bad_signatures_are_refused_and_nothing_is_done(hub, supplier):
    server, base = supplier
    body = b'{"type":"order_dispatch","id":"k","created_at":"x","data":{"fulfilment_id":5}}'
    now = int(time.time())
    cases = {
        "other secret": (standard_webhooks.headers([NEW], "k1", body), body),
        "stale": (standard_webhooks.headers([WHSEC], "k2", body, now - 301), body),
        "future": (standard_webhooks.headers([WHSEC], "k3", body, now + 301), body),
        "no signature": ({"webhook-id": "k4", "webhook-timestamp": str(now)}, body),
        "altered body": (standard_webhooks.headers([WHSEC], "k5", body), body + b" "),
    }
    for name, (headers, sent) in cases.items():
        resp = requests.post(f"{base}/webhook", data=sent, headers=headers, timeout=5)
        assert resp.status_code == 401, name
        assert "bad signature" in resp.json()["error"]
    flush(base)
    assert all(r["verified"] is False for r in control(base, "received"))
    assert len(control(base, "received")) == len(cases)
    assert hub.paths() == []


def test_rotation_and_tolerance(hub, supplier):
    server, base = supplier
    requests.put(f"{base}/_sandbox/config", json={"secrets": [NEW]}, timeout=5)
    assert send(base, "tracking_notice", {"shipment_id": 1}, "rot-1",
                secrets=(WHSEC, NEW)).status_code == 200   # both signatures, holds the new
    body = b'{"type":"tracking_notice","id":"x","created_at":"x","data":{}}'
    edge = standard_webhooks.headers([NEW], "edge", body, int(time.time()) - 290)
    assert requests.post(f"{base}/webhook", data=body, headers=edge, timeout=5).status_code == 200
    requests.put(f"{base}/_sandbox/config", json={"tolerance_s": 60}, timeout=5)
    late = standard_webhooks.headers([NEW], "late", body, int(time.time()) - 120)
    assert requests.post(f"{base}/webhook", data=body, headers=late, timeout=5).status_code == 401


def test_stop_ship_answered_by_progress(hub, supplier):
    server, base = supplier
    requests.put(f"{base}/_sandbox/config", json={"ship_delay_s": 3600}, timeout=5)
    send(base, "order_dispatch", dispatch(1), "d1")
    send(base, "order_dispatch", dispatch(2), "d2")
    flush(base)
    requests.post(f"{base}/_sandbox/orders/2/ship", timeout=5)
    flush(base)
    send(base, "stop_ship", {"fulfilment_id": 1, "reason": "refund", "answer_by": None}, "s1")
    send(base, "stop_ship", {"fulfilment_id": 2, "reason": "refund", "answer_by": None}, "s2")
    flush(base)
    with hub.lock:
        answers = {c["path"]: c["json"] for c in hub.calls if c["path"].endswith("stop-ship")}
    assert answers["/api/v1/supplier/fulfilments/1/stop-ship"] == {"accepted": True}
    rejected = answers["/api/v1/supplier/fulfilments/2/stop-ship"]
    assert rejected["accepted"] is False and rejected["carrier"] == "sf"
    shipped = {o["fulfilment_id"]: o for o in control(base, "orders")}
    assert rejected["tracking_number"] == shipped[2]["tracking_number"]
    assert shipped[1]["state"] == "stopped" and shipped[1]["stop_ship"]["answer"] == "accepted"
    assert control(base, "pending") == []  # order 1's shipping was called off
    assert hub.paths(action="/1/tracking") == []
    stops = control(base, "received", type="stop_ship")
    assert [r["webhook_id"] for r in stops] == ["s1", "s2"] and all(r["received_epoch"]
                                                                     for r in stops)


def test_a_return_is_received_with_a_photo(hub, supplier):
    server, base = supplier
    notice = {"return_case_id": 7, "fulfilment_id": 41, "platform_order_id": "P-1",
              "kind": "return_refund", "reason_code": "quality", "reason_text": None,
              "lines": [{"sku": "SKU-1", "quantity": 1}], "tracking": None,
              "expected_return": False}
    send(base, "return_notice", notice, "r1")   # no tracking yet: wait for the parcel
    flush(base)
    assert hub.paths(action="/receipt") == []
    send(base, "return_notice", {**notice, "tracking": {"carrier": "sf",
                                                        "tracking_number": "SF1"}}, "r2")
    flush(base)
    with hub.lock:
        [receipt] = [c for c in hub.calls if c["path"].endswith("/receipt")]
    assert receipt["path"] == "/api/v1/supplier/returns/7/receipt"
    assert receipt["form"]["condition"] == "intact" and receipt["form"]["grade"] == "A"
    [photo] = receipt["files"]
    assert photo.startswith(b"\x89PNG\r\n\x1a\n")
    [case] = control(base, "returns")
    assert case["state"] == "received" and case["notices"] == 2


def test_misbehaviour(hub, supplier):
    server, base = supplier
    requests.put(f"{base}/_sandbox/config", json={"down": True}, timeout=5)
    resp = requests.post(f"{base}/webhook", data=b"{}", timeout=5)
    assert resp.status_code == 503
    requests.put(f"{base}/_sandbox/config", json={"down": False, "garbage": True,
                                                  "auto_ship": False}, timeout=5)
    result = send(base, "order_dispatch", dispatch(9), "g1")   # the hub takes 2xx as delivered
    assert result.status_code == 200 and "not json" in result.response_excerpt
    send(base, "order_dispatch", dispatch(9), "g1")             # a duplicate delivery
    flush(base)
    assert hub.paths(action="/accept") == ["/api/v1/supplier/fulfilments/9/accept"]
    dupes = control(base, "received", webhook_id="g1")
    assert [r["duplicate"] for r in dupes] == [False, True]
    requests.put(f"{base}/_sandbox/config", json={"dedupe": False}, timeout=5)
    send(base, "order_dispatch", dispatch(9), "g1")             # now acted on again
    flush(base)
    assert len(hub.paths(action="/accept")) == 2
    garbage = requests.post(f"{base}/webhook", data=b"not json",
                            headers=standard_webhooks.headers([WHSEC], "x", b"not json"),
                            timeout=5)
    assert garbage.status_code == 400


def test_control_api(supplier):
    server, base = supplier
    bad = requests.put(f"{base}/_sandbox/config", json={"no_such_knob": 1}, timeout=5)
    assert bad.status_code == 400 and "no_such_knob" in bad.json()["error"]
    assert requests.put(f"{base}/_sandbox/config", json={"return_mode": "never"},
                        timeout=5).status_code == 400
    send(base, "tracking_notice", {"shipment_id": 3}, "t1")
    flush(base)
    assert control(base, "received") and control(base, "actions")
    config = requests.post(f"{base}/_sandbox/reset", json={"carrier": "yto"}, timeout=5).json()
    assert config["carrier"] == "yto" and config["secrets"] == [WHSEC]  # connection kept
    assert control(base, "received") == [] and control(base, "actions") == []
    assert requests.get(f"{base}/nowhere", timeout=5).status_code == 404


def test_parcels_fit_the_carrier_patterns():
    patterns = table("tracking_patterns.json")["carriers"]
    numbers = set()
    for carrier in parcels.CARRIERS:
        for _ in range(20):
            number = parcels.tracking_number(carrier)
            assert re.fullmatch(patterns[carrier]["pattern"], number), (carrier, number)
            numbers.add(number)
    assert len(numbers) == 20 * len(parcels.CARRIERS)
    png = parcels.photo_png(seed=3)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png.endswith(b"IEND\xaeB`\x82")


def test_parcels_are_registered_with_the_courier_sandbox(hub):
    from sandbox.courier import serve as courier_serve

    courier, courier_url = courier_serve(port=0)
    server, base = serve(port=0, hub_url=hub.url, token="t", secrets=[WHSEC], ship_delay_s=0,
                         courier_url=courier_url, carrier="zto")
    try:
        send(base, "order_dispatch", dispatch(5), "c1")
        flush(base)
        [order] = control(base, "orders")
        parcel = requests.get(f"{courier_url}/_sandbox/parcels/{order['tracking_number']}",
                              timeout=5)
        assert parcel.status_code == 200
        assert parcel.json()["com"] == "zhongtong"
        assert courier.sandbox.parcels[order["tracking_number"]]["phone"] == "5678"
    finally:
        server.stop()
        courier.shutdown()


def test_python_dash_m_starts_it(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "sandbox.supplier", "--port", "0",
                             "--secret", WHSEC], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://\S+", line).group(0)
        assert requests.get(f"{url}/_sandbox/health", timeout=5).json() == {"ok": True}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_damaged_every_is_a_whole_number():
    from sandbox.supplier.state import ConfigError, check_config

    assert check_config({"damaged_every": 3}) == {"damaged_every": 3}
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ConfigError):
            check_config({"damaged_every": bad})
