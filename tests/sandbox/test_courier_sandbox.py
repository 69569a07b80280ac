"""The courier sandbox over real HTTP, driven by the real Kuaidi100 connector: subscribe
codes, signed pushes along each scenario's timeline (verified with the salt), retries
until the exact acknowledgement, the 1 request/s query, interceptions that succeed or
fail by how far the parcel has gone, and the misbehaviours the hub must survive."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from connectors.base import AccountContext, WebhookRejected
from connectors.kuaidi100 import Kuaidi100, interception_payload, subscription_payload
from mappings.tracking import kuaidi100_monitoring, progress, resubscribe_plan
from sandbox.courier import serve

pytestmark = pytest.mark.slow

CHINA = timezone(timedelta(hours=8))
START = datetime(2026, 11, 2, 9, 0, tzinfo=CHINA)
SALT = "sandbox-salt-0123456789"
KEY, CUSTOMER, SECRET = "sandbox-key", "SANDBOXCUSTOMER", "sandbox-secret"
ROOT = Path(__file__).resolve().parents[2]


class HubStandIn:
    """A real HTTP endpoint in front of the Kuaidi100 connector's verify + ack, recording
    every delivery; ``mode`` makes it answer badly."""

    def __init__(self):
        self.deliveries: list[dict] = []
        self.mode = "ok"
        self.lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def connector(self) -> Kuaidi100:
        return connector_for(self.url, "http://unused.test")

    def __call__(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        conn = self.connector()
        entry = {"path": request.path, "query": request.args.to_dict(),
                 "form": {k: v for k, v in request.form.items()}}
        try:
            entry["events"] = conn.verify_webhook(dict(request.headers), body)
            ack = conn.webhook_ack(entry["events"])
        except WebhookRejected as rejected:
            entry["rejected"] = rejected.reason
            ack = conn.webhook_error_ack(rejected)
        with self.lock:
            self.deliveries.append(entry)
        if self.mode == "wrong_ack":
            response = Response('{"result":true}', 200, content_type="application/json")
        elif self.mode == "error":
            response = Response("boom", 500)
        else:
            response = Response(ack.body, ack.status, content_type=ack.content_type)
        return response(environ, start_response)

    def accepted(self) -> list[dict]:
        with self.lock:
            return [d for d in self.deliveries if "events" in d]

    def close(self):
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()


def connector_for(public_url: str, base: str) -> Kuaidi100:
    config = Kuaidi100.validate_config({"key": KEY, "customer": CUSTOMER, "salt": SALT,
                                        "secret": SECRET, "poll_base_url": base,
                                        "api_base_url": base})
    return Kuaidi100(AccountContext(account_id=3, merchant_id=1, name="k100", config=config,
                                    public_url=public_url))


@pytest.fixture
def courier():
    server, base = serve(start=START, retry_interval_s=0.05)
    yield base
    server.shutdown()


@pytest.fixture
def hub():
    stand_in = HubStandIn()
    yield stand_in
    stand_in.close()


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


def control(http, base, path, body=None, method="POST"):
    response = http.request(method, f"{base}/_sandbox/{path}", json=body)
    assert response.status_code < 300, response.text
    return response.json()


def flush(http, base):
    assert control(http, base, "flush", {"timeout": 10})["settled"] is True


def subscribe_raw(http, base, param: dict) -> dict:
    return http.post(f"{base}/poll", data={"schema": "json",
                                           "param": json.dumps(param, ensure_ascii=False)}).json()


def apply_all(conn: Kuaidi100, deliveries) -> tuple[str | None, list]:
    """Process deliveries in arrival order the way the hub will: map, then progress from
    the stored status."""
    status, since, trail = None, None, []
    for delivery in deliveries:
        for event in delivery["events"]:
            for record in conn.records_for_event(event.event_type, event.body):
                values = conn.map_record(record)
                result = progress(status, values.events, since=since)
                status, since = result.status, result.at
                trail.append(status)
    return status, trail


# -- subscribe --------------------------------------------------------------------------------
def test_subscribe_answers_every_documented_code(courier, http):
    control(http, courier, "accounts", {"key": "old-key", "customer": "OLD", "secret": "s",
                                        "expired": True})
    ok = {"company": "yuantong", "number": "YT1", "key": KEY,
          "parameters": {"callbackurl": "http://127.0.0.1:9/cb", "salt": SALT, "resultv2": "4"}}
    assert subscribe_raw(http, courier, ok) == {"result": True, "returnCode": "200",
                                                 "message": "提交成功"}
    assert subscribe_raw(http, courier, ok)["returnCode"] == "501"
    assert subscribe_raw(http, courier, {**ok, "key": "nope"})["returnCode"] == "600"
    assert subscribe_raw(http, courier, {**ok, "key": "old-key"})["returnCode"] == "601"
    bad_cb = {**ok, "number": "YT2", "parameters": {"callbackurl": "ftp://x"}}
    assert subscribe_raw(http, courier, bad_cb)["returnCode"] == "700"
    no_phone = {**ok, "company": "shunfeng", "number": "SF9"}
    assert subscribe_raw(http, courier, no_phone)["returnCode"] == "700"
    assert subscribe_raw(http, courier, {**no_phone, "parameters": {
        **ok["parameters"], "phone": "5678"}})["returnCode"] == "200"
    assert subscribe_raw(http, courier, {**ok, "company": "dhl"})["returnCode"] == "701"
    auto = {**ok, "company": "", "number": "9999000", "parameters": {**ok["parameters"],
                                                                      "autoCom": "1"}}
    assert subscribe_raw(http, courier, auto)["returnCode"] == "702"
    assert subscribe_raw(http, courier, {**auto, "number": "YT777"})["returnCode"] == "200"
    subs = control(http, courier, "subscriptions", method="GET")
    assert [(s["com"], s["number"]) for s in subs] == [("yuantong", "YT1"), ("shunfeng", "SF9"),
                                                       ("yuantong", "YT777")]
    assert subs[0]["salt"] == SALT and subs[0]["resultv2"] == "4"


# -- pushes along the timeline ----------------------------------------------------------------
def test_pushes_follow_the_timeline_signed_with_the_salt(courier, hub, http):
    control(http, courier, "parcels", {"number": "ZT100", "com": "zhongtong",
                                       "scenario": "normal", "phone": "13800005678"})
    conn = connector_for(hub.url, courier)
    result = conn.push("subscribe", subscription_payload("zto", "ZT100", shipment_ref="S-1",
                                                         phone="138****5678"), "sub-1")
    assert result.data["return_code"] == "200"
    sub = control(http, courier, "subscriptions", method="GET")[0]
    assert sub["phone"] == "5678" and sub["callbackurl"].endswith("/webhooks/kuaidi100/3?shipment=S-1")

    control(http, courier, "parcels/ZT100/fast_forward", {"steps": 3})
    flush(http, courier)
    assert len(hub.accepted()) == 4
    control(http, courier, "parcels/ZT100/fast_forward")
    flush(http, courier)

    deliveries = hub.accepted()
    assert len(deliveries) == 7 and len(hub.deliveries) == 7      # nothing rejected
    for d in deliveries:
        param, sign = d["form"]["param"], d["form"]["sign"]
        assert hashlib.md5((param + SALT).encode()).hexdigest().upper() == sign
        assert d["query"] == {"shipment": "S-1"}
    params = [json.loads(d["form"]["param"]) for d in deliveries]
    assert [p["status"] for p in params] == ["polling"] * 6 + ["shutdown"]
    assert [len(p["lastResult"]["data"]) for p in params] == [1, 2, 3, 4, 5, 6, 7]
    assert params[-1]["lastResult"]["state"] == "301"
    status, trail = apply_all(conn, deliveries)
    assert trail == ["info_received", "picked_up", "in_transit", "in_transit", "in_transit",
                     "out_for_delivery", "delivered"]
    pushes = control(http, courier, "pushes", method="GET")
    assert all(p["state"] == "acked" and len(p["attempts"]) == 1 for p in pushes)
    # monitoring ended: a new subscription is possible after 30 minutes
    assert control(http, courier, "subscriptions", method="GET")[0]["end_status"] == "shutdown"


@pytest.mark.parametrize("scenario, trail_end, monitoring", [
    ("delivery_failed", ["out_for_delivery", "delivery_failed", "out_for_delivery",
                         "delivery_failed", "out_for_delivery", "delivered"], "shutdown"),
    ("refused", ["out_for_delivery", "refused", "returning", "returning", "returned"],
     "shutdown"),
    ("return_to_sender", ["in_transit", "returning", "returning", "returned"], "shutdown"),
    ("customs", ["in_transit", "in_customs", "in_customs", "in_transit", "in_transit",
                 "out_for_delivery", "delivered"], "shutdown"),
    ("lost", ["in_transit", "exception", "exception"], "abort"),
])
def test_every_scenario_plays_out(courier, hub, http, scenario, trail_end, monitoring):
    control(http, courier, "parcels", {"number": "YT5", "com": "yuantong",
                                       "scenario": scenario})
    conn = connector_for(hub.url, courier)
    conn.push("subscribe", subscription_payload("yto", "YT5", shipment_ref="S-5"), "k")
    control(http, courier, "parcels/YT5/fast_forward")
    flush(http, courier)
    deliveries = hub.accepted()
    _, trail = apply_all(conn, deliveries)
    assert trail[-len(trail_end):] == trail_end
    last = json.loads(deliveries[-1]["form"]["param"])
    assert last["status"] == monitoring
    if scenario == "lost":
        assert last["message"] == "60天无变化"


def test_no_records_aborts_after_three_days_and_allows_a_resubscription(courier, hub, http):
    control(http, courier, "parcels", {"number": "YT6", "com": "yuantong",
                                       "scenario": "no_records"})
    conn = connector_for(hub.url, courier)
    payload = subscription_payload("yto", "YT6", shipment_ref="S-6")
    conn.push("subscribe", payload, "k")
    control(http, courier, "advance", {"minutes": 3 * 24 * 60 - 1})
    flush(http, courier)
    assert hub.accepted() == []
    control(http, courier, "advance", {"minutes": 1})
    flush(http, courier)
    [delivery] = hub.accepted()
    param = json.loads(delivery["form"]["param"])
    assert (param["status"], param["message"], param["lastResult"]["data"]) == \
        ("abort", "3天查询无记录", [])
    received = datetime(2026, 11, 5, 1, tzinfo=timezone.utc)
    plan = resubscribe_plan(kuaidi100_monitoring(param), received_at=received,
                            subscriptions_this_month=1)
    assert plan.action == "resubscribe" and plan.not_before == received + timedelta(minutes=30)
    with pytest.raises(Exception):            # within 30 minutes the courier refuses
        conn.push("subscribe", payload, "k2")
    control(http, courier, "advance", {"minutes": 30})
    assert conn.push("subscribe", payload, "k3").data["return_code"] == "200"


def test_a_corrected_carrier_aborts_the_old_code_and_goes_on_under_the_new(courier, hub, http):
    control(http, courier, "parcels", {"number": "YT7", "com": "yuantong"})
    conn = connector_for(hub.url, courier)
    conn.push("subscribe", subscription_payload("sto", "YT7"), "k")      # wrong carrier
    control(http, courier, "advance", {"minutes": 0})
    flush(http, courier)
    first, second = [json.loads(d["form"]["param"]) for d in hub.accepted()]
    assert (first["status"], first["autoCheck"], first["comOld"], first["comNew"]) == \
        ("abort", "1", "shentong", "yuantong")
    assert second["lastResult"]["com"] == "yuantong" and second["autoCheck"] == "1"
    values = conn.map_record(conn.records_for_event(
        "tracking", hub.accepted()[1]["events"][0].body)[0])
    assert values.carrier == "yto" and "carrier_corrected:sto->yto" in values.flags


# -- acknowledgement and retries --------------------------------------------------------------
@pytest.mark.parametrize("mode", ["wrong_ack", "error"])
def test_a_push_without_the_exact_ack_is_retried_three_times(courier, hub, http, mode):
    hub.mode = mode
    control(http, courier, "parcels", {"number": "YT8", "com": "yuantong"})
    connector_for(hub.url, courier).push("subscribe", subscription_payload("yto", "YT8"), "k")
    control(http, courier, "parcels/YT8/fast_forward", {"steps": 1})
    flush(http, courier)
    pushes = control(http, courier, "pushes", method="GET")
    assert len(pushes) == 2
    assert all(p["state"] == "failed" and len(p["attempts"]) == 4 for p in pushes)
    assert len(hub.deliveries) == 8


def test_a_forged_push_is_rejected_by_the_hub_and_retried(courier, hub, http):
    control(http, courier, "misbehave", {"bad_signature": True})
    control(http, courier, "parcels", {"number": "YT9", "com": "yuantong"})
    connector_for(hub.url, courier).push("subscribe", subscription_payload("yto", "YT9"), "k")
    control(http, courier, "advance", {"minutes": 30})
    flush(http, courier)
    assert hub.accepted() == []
    assert {d["rejected"] for d in hub.deliveries} == {"bad_signature"}
    [push] = control(http, courier, "pushes", method="GET")
    assert push["state"] == "failed" and push["attempts"][0]["status"] == 401
    assert json.loads(push["attempts"][0]["body"])["result"] is False


# -- misbehaviour: duplicates, out of order, late ---------------------------------------------
def test_duplicate_out_of_order_and_late_pushes_never_move_the_parcel_back(courier, hub, http):
    control(http, courier, "misbehave", {"duplicate": True, "out_of_order": True})
    control(http, courier, "parcels", {"number": "YT10", "com": "yuantong"})
    conn = connector_for(hub.url, courier)
    conn.push("subscribe", subscription_payload("yto", "YT10"), "k")
    control(http, courier, "parcels/YT10/fast_forward")
    flush(http, courier)
    control(http, courier, "misbehave", {"duplicate": False, "out_of_order": False})
    control(http, courier, "parcels/YT10/replay", {"steps": 2})     # a late, old snapshot
    flush(http, courier)
    # replay went nowhere: the subscription ended (shutdown) before it
    deliveries = hub.accepted()
    assert len(deliveries) == 14
    ids = [d["events"][0].external_event_id for d in deliveries]
    assert len(set(ids)) == 7                         # every duplicate has the same event id
    params = [json.loads(d["form"]["param"]) for d in deliveries]
    assert params[0]["status"] == "shutdown"          # the newest arrived first
    status, trail = apply_all(conn, deliveries)
    assert status == "delivered" and set(trail) == {"delivered"}


def test_a_late_replay_of_an_old_snapshot_is_history_only(courier, hub, http):
    control(http, courier, "parcels", {"number": "YT11", "com": "yuantong"})
    conn = connector_for(hub.url, courier)
    conn.push("subscribe", subscription_payload("yto", "YT11"), "k")
    control(http, courier, "parcels/YT11/fast_forward", {"steps": 5})    # out for delivery
    flush(http, courier)
    assert control(http, courier, "parcels/YT11/replay", {"steps": 2})["pushes_queued"] == 1
    flush(http, courier)
    deliveries = hub.accepted()
    late = json.loads(deliveries[-1]["form"]["param"])
    assert len(late["lastResult"]["data"]) == 2
    status, trail = apply_all(conn, deliveries)
    assert trail[-2:] == ["out_for_delivery", "out_for_delivery"]


# -- interception -----------------------------------------------------------------------------
def test_interception_succeeds_in_transit_and_the_parcel_returns(courier, hub, http):
    control(http, courier, "parcels", {"number": "ZT20", "com": "zhongtong",
                                       "phone": "13800005678"})
    conn = connector_for(hub.url, courier)
    conn.push("subscribe", subscription_payload("zto", "ZT20", phone="5678"), "k")
    control(http, courier, "parcels/ZT20/fast_forward", {"steps": 2})     # 干线, in transit
    result = conn.push("intercept", interception_payload("zto", "ZT20", "return_to_sender",
                                                         reason="买家取消"), "int-20")
    assert result.data["interception"] == "requested"
    again = conn.push("intercept", interception_payload("zto", "ZT20", "return_to_sender"),
                      "int-20")
    assert again.external_id == result.external_id          # same order id, same task
    control(http, courier, "parcels/ZT20/fast_forward")
    flush(http, courier)
    [record] = control(http, courier, "interceptions", method="GET")
    assert (record["outcome"], record["type"], record["state_at_request"]) == \
        ("SUCCESS", "RETURN_SEND_ADDR", "1002")
    callbacks = [d for d in hub.accepted() if d["events"][0].event_type == "interception"]
    assert len(callbacks) == 1 and callbacks[0]["query"] == {"interception": "int-20"}
    form = callbacks[0]["form"]
    assert hashlib.md5((form["param"] + SALT).encode()).hexdigest().upper() == form["sign"]
    status, trail = apply_all(conn, hub.accepted())
    assert "intercepted" in trail and status == "returned"
    assert trail[trail.index("intercepted"):] == ["intercepted", "returning", "returning",
                                                  "returned"]


@pytest.mark.parametrize("steps, state", [(6, "5"), (7, "301")])
def test_interception_fails_once_out_for_delivery_or_delivered(courier, hub, http, steps, state):
    control(http, courier, "parcels", {"number": "YT21", "com": "yuantong"})
    conn = connector_for(hub.url, courier)
    conn.push("subscribe", subscription_payload("yto", "YT21"), "k")
    control(http, courier, "parcels/YT21/fast_forward", {"steps": steps - 1})
    conn.push("intercept", interception_payload("yto", "YT21", "return_to_sender"), f"int-{steps}")
    flush(http, courier)
    [record] = control(http, courier, "interceptions", method="GET")
    assert (record["outcome"], record["state_at_request"]) == ("FAILED", state)
    [callback] = [d for d in hub.accepted() if d["events"][0].event_type == "interception"]
    values = conn.map_record(conn.records_for_event("interception",
                                                    callback["events"][0].body)[0])
    assert values.interception == "failed" and values.events == ()
    parcel = control(http, courier, "parcels/YT21", method="GET")
    assert [s.get("code") for s in parcel["steps"]][-1] == "301"     # timeline unchanged


def test_modify_address_interception_reroutes_the_parcel(courier, hub, http):
    control(http, courier, "parcels", {"number": "YT22", "com": "yuantong"})
    conn = connector_for(hub.url, courier)
    conn.push("intercept", interception_payload(
        "yto", "YT22", "modify_address",
        address={"name": "张三", "mobile": "13800000000", "print_addr": "北京市朝阳区XX路"}),
        "int-22")
    parcel = control(http, courier, "parcels/YT22", method="GET")
    assert [s["code"] for s in parcel["steps"]][-4:] == ["1003", "1001", "5", "301"]
    [record] = control(http, courier, "interceptions", method="GET")
    assert record["param"]["recManInfo"]["printAddr"] == "北京市朝阳区XX路"


def test_interception_request_is_checked(courier, http):
    control(http, courier, "parcels", {"number": "YT23", "com": "yuantong"})
    bad_sign = {"key": KEY, "method": "interceptOrder", "t": "1", "param": "{}", "sign": "X"}
    assert http.post(f"{courier}/label/order", data=bad_sign).json()["returnCode"] == "503"


# -- query ------------------------------------------------------------------------------------
def test_query_is_rate_limited_to_one_per_second_and_the_client_keeps_to_it(courier, hub, http):
    control(http, courier, "parcels", {"number": "YT30", "com": "yuantong"})
    control(http, courier, "advance", {"minutes": 300})
    param = json.dumps({"com": "yuantong", "num": "YT30", "resultv2": "4"})
    sign = hashlib.md5((param + KEY + CUSTOMER).encode()).hexdigest().upper()
    form = {"customer": CUSTOMER, "sign": sign, "param": param}
    first = http.post(f"{courier}/poll/query.do", data=form)
    second = http.post(f"{courier}/poll/query.do", data=form)
    assert first.status_code == 200 and first.json()["state"] == "1002"
    assert second.status_code == 429 and second.headers["Retry-After"] == "1"
    forged = http.post(f"{courier}/poll/query.do", data={**form, "sign": "0" * 32})
    assert forged.json()["returnCode"] == "503"
    time.sleep(1.05)
    conn = connector_for(hub.url, courier)
    started = time.monotonic()
    records = [conn.query_tracking("yto", "YT30") for _ in range(2)]
    assert time.monotonic() - started >= 0.9            # the bucket spaced the two calls
    assert all(r is not None and conn.map_record(r).current_status == "in_transit"
               for r in records)
    assert conn.query_tracking("yto", "YT-NOT-THERE") is None


# -- control API and isolation ----------------------------------------------------------------
def test_control_api_reset_and_errors(courier, http):
    control(http, courier, "parcels", {"number": "YT40", "com": "yuantong"})
    assert http.post(f"{courier}/_sandbox/parcels", json={"number": "X", "com": "yuantong",
                                                          "scenario": "nope"}).status_code == 400
    assert http.post(f"{courier}/_sandbox/advance", json={"minutes": -1}).status_code == 400
    assert http.post(f"{courier}/_sandbox/misbehave", json={"explode": True}).status_code == 400
    assert http.get(f"{courier}/_sandbox/nothing").status_code == 404
    assert "normal" in control(http, courier, "scenarios", method="GET")
    control(http, courier, "reset", {"start": "2026-12-01T08:00:00+08:00"})
    assert control(http, courier, "health", method="GET")["now"] == "2026-12-01 08:00:00"
    assert http.get(f"{courier}/_sandbox/parcels/YT40").status_code == 400


def test_the_sandbox_imports_nothing_of_the_hub():
    code = ("import sys, sandbox.courier, sandbox.courier.__main__; "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('hub', 'connectors', 'mappings', 'jobs')]; print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_python_dash_m_serves_the_sandbox():
    proc = subprocess.Popen([sys.executable, "-m", "sandbox.courier", "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "courier sandbox on http://" in line
        base = line.split(" on ")[1].split()[0]
        assert requests.get(f"{base}/_sandbox/health", timeout=5).json()["ok"] is True
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


def test_a_live_clock_plays_journeys_faster_with_times_that_are_not_in_the_future():
    from sandbox.courier import scenarios
    from sandbox.courier.core import CHINA, Sandbox

    sandbox = Sandbox()
    try:
        waiting = sandbox.parcels[sandbox.add_parcel("ZT201", "zhongtong")["number"]]
        time.sleep(0.2)
        assert len(sandbox.visible(waiting)) <= 1  # virtual time: nothing moves by itself
        journey_min = scenarios.SCENARIOS["normal"][-1]["at"]
        sandbox.live(time_scale=journey_min * 60 / 1.5, tick_s=0.05)  # a journey in 1.5 s
        time.sleep(0.1)
        parcel = sandbox.parcels[sandbox.add_parcel("ZT200", "zhongtong")["number"]]
        assert sandbox.latest_code(parcel) != "301"  # not at once
        deadline = time.monotonic() + 10
        while sandbox.latest_code(parcel) != "301" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sandbox.latest_code(parcel) == "301"  # signed for
        times = [sandbox.step_time(parcel, s) for s in parcel["steps"]]
        assert times == sorted(times) and times[-1] <= datetime.now(CHINA)
    finally:
        sandbox.close()
