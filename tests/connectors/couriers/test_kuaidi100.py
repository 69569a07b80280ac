"""The Kuaidi100 connector: acknowledgement bodies, event ids and dedup, records and
mapping, and the subscribe / query / intercept clients against ``responses``."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import responses

from connectors.base import ConnectorError, ErrorClass, WebhookRejected, bad_signature
from connectors.http import TokenBucket
from connectors.kuaidi100 import interception_payload, signing, subscription_payload
from connectors.kuaidi100.client import Kuaidi100Client
from mappings.tracking import kuaidi100_monitoring, resubscribe_plan
from tests.connectors.couriers.conftest import K100_CAPTURED_SIGN, K100_SALT, kuaidi100

POLL = "https://poll.k100.test"
API = "https://api.k100.test"


def signed_form(conn, param) -> bytes:
    text = param if isinstance(param, str) else signing.dumps(param)
    return urlencode({"param": text, "sign": signing.push_sign(text, conn.config["salt"])}) \
        .encode("utf-8")


def form_of(request) -> dict:
    body = request.body if isinstance(request.body, str) else request.body.decode("utf-8")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def push_param(status="polling", data=None, state="0", com="zhongtong", nu="ZT100", **extra):
    data = data if data is not None else [
        {"time": "2026-11-02 10:00:00", "context": "快件已到达【上海转运中心】",
         "status": "干线", "statusCode": "1002"}]
    return {"status": status, "message": "", **extra,
            "lastResult": {"message": "ok", "nu": nu, "ischeck": "0", "com": com,
                           "status": "200", "state": state, "data": data}}


# -- acknowledgements -------------------------------------------------------------------------
def test_ack_body_is_exactly_what_kuaidi100_expects(jd_param):
    conn = kuaidi100()
    ack = conn.webhook_ack([])
    assert ack.body == '{"result":true,"returnCode":"200","message":"成功"}'.encode("utf-8")
    assert ack.status == 200 and ack.content_type.startswith("application/json")


def test_error_ack_is_a_failure_body_with_the_rejection_status():
    ack = kuaidi100().webhook_error_ack(bad_signature("sign missing or not MD5(param + salt)"))
    assert ack.status == 401
    body = json.loads(ack.body)
    assert body["result"] is False and body["returnCode"] == "401"
    assert body != {"result": True, "returnCode": "200", "message": "成功"}


# -- event ids --------------------------------------------------------------------------------
def test_a_repush_of_the_same_history_is_the_same_event():
    conn = kuaidi100()
    first = conn.verify_webhook({}, signed_form(conn, push_param()))
    again = conn.verify_webhook({}, signed_form(conn, push_param()))
    assert first[0].external_event_id == again[0].external_event_id


def test_a_newer_event_or_a_new_monitoring_state_is_a_new_event():
    conn = kuaidi100()
    base = conn.verify_webhook({}, signed_form(conn, push_param()))[0].external_event_id
    newer = push_param(data=[
        {"time": "2026-11-02 12:00:00", "context": "派件中", "statusCode": "5"},
        {"time": "2026-11-02 10:00:00", "context": "快件已到达【上海转运中心】",
         "statusCode": "1002"}])
    aborted = push_param(status="abort", message="60天无变化")
    ids = {base, conn.verify_webhook({}, signed_form(conn, newer))[0].external_event_id,
           conn.verify_webhook({}, signed_form(conn, aborted))[0].external_event_id}
    assert len(ids) == 3
    assert all(i.startswith("k100t:") and len(i) <= 191 for i in ids)


def test_captured_push_event_id_is_stable(jd_param):
    conn = kuaidi100()
    conn.config["salt"] = K100_SALT
    body = urlencode({"param": jd_param, "sign": K100_CAPTURED_SIGN}).encode()
    assert conn.verify_webhook({}, body) == conn.verify_webhook({}, body)


# -- records and mapping ----------------------------------------------------------------------
def test_records_and_mapping_of_the_captured_push(jd_param):
    conn = kuaidi100()
    [record] = conn.records_for_event("tracking", jd_param.encode())
    assert (record.entity, record.external_id) == ("tracking", "jd:JD0076810060555")
    assert record.updated_at == datetime(2022, 6, 30, 2, 34, 33, tzinfo=timezone.utc)
    values = conn.map_record(record)
    assert values.carrier == "jd" and values.carrier_raw == "jd"
    assert values.current_status == "delivered"      # lastResult.state is the sub-code 304
    assert values.monitoring == "shutdown"
    assert [e.raw_status for e in values.events] == ["1002", "1002", "0", "0", "304"]
    assert values.events[0].occurred_at == datetime(2022, 6, 29, 14, 28, 45,
                                                    tzinfo=timezone.utc)   # 22:28:45 +08:00
    assert values.events[0].location == "陕西,西安市,灞桥区"


def test_unknown_event_type_has_no_records():
    assert kuaidi100().records_for_event("something_else", b"{}") == []


def test_stored_body_of_the_wrong_kind_is_fail_data():
    with pytest.raises(ConnectorError) as e:
        kuaidi100().records_for_event("tracking", b'{"kuaidinum":"x","orderId":"1"}')
    assert e.value.error_class is ErrorClass.FAIL_DATA


def test_carrier_correction_maps_to_the_new_carrier_and_is_flagged():
    conn = kuaidi100()
    param = push_param(com="yuantong", autoCheck="1", comOld="zhongtong", comNew="yuantong")
    [event] = conn.verify_webhook({}, signed_form(conn, param))
    [record] = conn.records_for_event(event.event_type, event.body)
    assert record.external_id == "yto:ZT100"
    values = conn.map_record(record)
    assert values.carrier == "yto"
    assert "carrier_corrected:zto->yto" in values.flags
    plan = resubscribe_plan(kuaidi100_monitoring(param | {"status": "abort"}),
                            received_at=datetime(2026, 11, 2, tzinfo=timezone.utc),
                            subscriptions_this_month=1)
    assert (plan.action, plan.carrier) == ("none", "yto")   # Kuaidi100 goes on by itself


def test_interception_callback_becomes_an_interception_record():
    conn = kuaidi100()
    callback = {"orderId": "int-1", "taskId": "T1", "kuaidicom": "zhongtong",
                "kuaidinum": "ZT100", "interceptType": "RETURN_SEND_ADDR", "status": "SUCCESS",
                "message": "拦截成功", "updateTime": "2026-11-02 11:00:00"}
    [event] = conn.verify_webhook({}, signed_form(conn, callback))
    assert event.event_type == "interception" and event.external_event_id.startswith("k100i:")
    [record] = conn.records_for_event(event.event_type, event.body)
    assert (record.entity, record.external_id) == ("interception", "int-1")
    assert record.payload["outcome"] == "succeeded"
    values = conn.map_record(record)
    assert values.interception == "succeeded" and values.current_status == "intercepted"
    assert [e.status for e in values.events] == ["intercepted"]
    assert values.events[0].occurred_at == datetime(2026, 11, 2, 3, tzinfo=timezone.utc)


def test_failed_interception_has_no_event():
    conn = kuaidi100()
    callback = {"orderId": "int-2", "kuaidicom": "zhongtong", "kuaidinum": "ZT100",
                "interceptType": "MODIFY_ADDR", "status": "FAILED",
                "message": "拦截失败：快件已派件", "updateTime": "2026-11-02 11:00:00"}
    [event] = conn.verify_webhook({}, signed_form(conn, callback))
    values = conn.map_record(conn.records_for_event(event.event_type, event.body)[0])
    assert values.interception == "failed" and values.events == ()
    assert values.current_status is None


def test_malformed_record_is_fail_data():
    conn = kuaidi100()
    from connectors.base import Record
    with pytest.raises(ConnectorError) as e:
        conn.map_record(Record("tracking", "x", {"lastResult": {"nu": ""}}))
    assert e.value.error_class is ErrorClass.FAIL_DATA


# -- subscribe --------------------------------------------------------------------------------
@responses.activate
def test_subscribe_sends_schema_json_and_the_documented_param():
    responses.post(f"{POLL}/poll", json={"result": True, "returnCode": "200",
                                         "message": "提交成功"})
    conn = kuaidi100()
    payload = subscription_payload("sf", "SF1234567890", shipment_ref="S-42",
                                   phone="138****5678", to="上海市浦东新区")
    result = conn.push("subscribe", payload, "idem-1")
    form = form_of(responses.calls[0].request)
    assert form["schema"] == "json"
    assert "sign" not in form
    param = json.loads(form["param"])
    assert param["company"] == "shunfeng" and param["number"] == "SF1234567890"
    assert param["key"] == "testkey" and param["to"] == "上海市浦东新区"
    p = param["parameters"]
    assert p["salt"] == "salt-0123456789abcdef" and p["resultv2"] == "4"
    assert p["autoCom"] == "0"
    assert p["phone"] == "5678"                      # only the last 4 digits travel
    url = urlsplit(p["callbackurl"])
    assert (url.scheme, url.netloc, url.path) == ("https", "hub.example.com",
                                                  "/webhooks/kuaidi100/7")
    assert parse_qs(url.query) == {"shipment": ["S-42"]}
    assert result.external_id == "sf:SF1234567890"
    assert result.data["already_subscribed"] is False


@pytest.mark.parametrize("carrier", ["sf", "zto"])
def test_subscribe_refuses_phone_carriers_without_a_phone(carrier):
    with pytest.raises(ConnectorError) as e:
        kuaidi100().push("subscribe", {"carrier": carrier, "tracking_number": "X1"}, "k")
    assert e.value.error_class is ErrorClass.FAIL_DATA and "phone" in e.value.message
    with pytest.raises(Exception):
        subscription_payload(carrier, "X1", phone="138****56**")   # not ending in 4 digits


@responses.activate
def test_subscribe_sends_no_phone_for_carriers_that_do_not_need_it():
    responses.post(f"{POLL}/poll", json={"result": True, "returnCode": "200", "message": "ok"})
    kuaidi100().push("subscribe", subscription_payload("yto", "YT1", phone="13800005678"), "k")
    param = json.loads(form_of(responses.calls[0].request)["param"])
    assert "phone" not in param["parameters"]


@responses.activate
def test_subscribe_with_auto_detect_sends_an_empty_company():
    responses.post(f"{POLL}/poll", json={"result": True, "returnCode": "200", "message": "ok"})
    kuaidi100().push("subscribe", subscription_payload(None, "YT1", auto_detect=True), "k")
    param = json.loads(form_of(responses.calls[0].request)["param"])
    assert param["company"] == "" and param["parameters"]["autoCom"] == "1"


@responses.activate
def test_subscribe_duplicate_501_is_success():
    responses.post(f"{POLL}/poll", json={"result": False, "returnCode": "501",
                                         "message": "POLL:重复订阅"})
    result = kuaidi100().push("subscribe", subscription_payload("yto", "YT1"), "k")
    assert result.data["already_subscribed"] is True


@responses.activate
@pytest.mark.parametrize("code, cls", [
    ("500", ErrorClass.RETRY), ("600", ErrorClass.FAIL_CONFIG), ("601", ErrorClass.FAIL_CONFIG),
    ("700", ErrorClass.FAIL_DATA), ("701", ErrorClass.FAIL_DATA), ("702", ErrorClass.FAIL_DATA),
])
def test_subscribe_error_codes_are_classified(code, cls):
    responses.post(f"{POLL}/poll", json={"result": False, "returnCode": code, "message": "m"})
    with pytest.raises(ConnectorError) as e:
        kuaidi100().push("subscribe", subscription_payload("yto", "YT1"), "k")
    assert e.value.error_class is cls
    assert len(responses.calls) == 1               # one request per push: the outbox retries


@responses.activate
def test_subscribe_http_failure_is_retryable_and_not_retried_in_place():
    responses.post(f"{POLL}/poll", status=502, body="bad gateway")
    with pytest.raises(ConnectorError) as e:
        kuaidi100().push("subscribe", subscription_payload("yto", "YT1"), "k")
    assert e.value.error_class is ErrorClass.RETRY and len(responses.calls) == 1


def test_subscribe_without_a_public_url_is_fail_config():
    with pytest.raises(ConnectorError) as e:
        kuaidi100(public_url="").push("subscribe", subscription_payload("yto", "YT1"), "k")
    assert e.value.error_class is ErrorClass.FAIL_CONFIG


def test_unknown_topic_and_unknown_carrier():
    with pytest.raises(ConnectorError) as e:
        kuaidi100().push("shipment", {}, "k")
    assert e.value.error_class is ErrorClass.FAIL_CONFIG
    with pytest.raises(ConnectorError) as e:
        kuaidi100().push("subscribe", {"carrier": "nosuch", "tracking_number": "1"}, "k")
    assert e.value.error_class is ErrorClass.FAIL_DATA


# -- real-time query --------------------------------------------------------------------------
class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


QUERY_OK = {"message": "ok", "nu": "YT9693083639795", "ischeck": "0", "condition": "00",
            "com": "yuantong", "status": "200", "state": "0",
            "data": [{"time": "2026-11-02 10:00:00", "context": "运输中", "statusCode": "0"}]}


@responses.activate
def test_query_signs_param_key_customer_and_returns_a_tracking_record():
    responses.post(f"{POLL}/poll/query.do", json=QUERY_OK)
    fake = FakeClock()
    conn = kuaidi100()
    conn.client = lambda **kw: Kuaidi100Client(
        conn.config, query_bucket=TokenBucket(1.0, clock=fake.clock, sleep=fake.sleep))
    record = conn.query_tracking("yto", "YT9693083639795")
    form = form_of(responses.calls[0].request)
    assert form["customer"] == "TESTCUSTOMER"
    assert form["sign"] == signing.query_sign(form["param"], "testkey", "TESTCUSTOMER")
    assert json.loads(form["param"]) == {"com": "yuantong", "num": "YT9693083639795",
                                         "resultv2": "4"}
    assert record.external_id == "yto:YT9693083639795"
    assert conn.map_record(record).current_status == "in_transit"


@responses.activate
def test_query_budget_is_one_call_per_second_per_customer():
    responses.post(f"{POLL}/poll/query.do", json=QUERY_OK)
    fake = FakeClock()
    bucket = TokenBucket(1.0, clock=fake.clock, sleep=fake.sleep)
    conn = kuaidi100()
    client = Kuaidi100Client(conn.config, query_bucket=bucket)
    for _ in range(3):
        client.query({"com": "yuantong", "num": "YT1"})
    assert len(responses.calls) == 3
    assert fake.slept == [pytest.approx(1.0), pytest.approx(1.0)]   # first free, then 1/s


def test_default_query_bucket_is_shared_per_customer_at_one_per_second():
    a = Kuaidi100Client(kuaidi100().config)
    b = Kuaidi100Client(kuaidi100().config)
    assert a.query_bucket is b.query_bucket
    assert a.query_bucket.rate == 1.0 and a.query_bucket.capacity == 1.0


@responses.activate
def test_query_phone_rule_and_not_found():
    responses.post(f"{POLL}/poll/query.do", json={"result": False, "returnCode": "500",
                                                  "message": "查询无结果"})
    conn = kuaidi100()
    with pytest.raises(ConnectorError) as e:
        conn.query_tracking("sf", "SF1")
    assert e.value.error_class is ErrorClass.FAIL_DATA and not responses.calls
    assert conn.query_tracking("sf", "SF1", phone="13800005678") is None
    assert json.loads(form_of(responses.calls[0].request)["param"])["phone"] == "5678"


@responses.activate
@pytest.mark.parametrize("reply, cls", [
    ({"status": 429, "json": {"result": False, "returnCode": "429"},
      "headers": {"Retry-After": "1"}}, ErrorClass.RATE_LIMITED),
    ({"json": {"result": False, "returnCode": "503", "message": "验证签名失败"}},
     ErrorClass.FAIL_CONFIG),
    ({"json": {"result": False, "returnCode": "400", "message": "参数错误"}},
     ErrorClass.FAIL_DATA),
    ({"json": {"result": False, "returnCode": "502", "message": "繁忙"}}, ErrorClass.RETRY),
])
def test_query_failures_are_classified_and_never_looped(reply, cls):
    responses.post(f"{POLL}/poll/query.do", **reply)
    with pytest.raises(ConnectorError) as e:
        kuaidi100().query_tracking("yto", "YT1")
    assert e.value.error_class is cls
    assert len(responses.calls) == 1


# -- interception -----------------------------------------------------------------------------
@responses.activate
def test_intercept_signs_param_t_key_secret_and_asks_for_a_callback():
    responses.post(f"{API}/label/order", json={"result": True, "returnCode": "200",
                                               "message": "提交成功",
                                               "data": {"taskId": "T9", "orderId": "int-7"}})
    conn = kuaidi100()
    payload = interception_payload("zto", "ZT100", "return_to_sender", reason="买家取消")
    result = conn.push("intercept", payload, "int-7")
    form = form_of(responses.calls[0].request)
    assert form["key"] == "testkey" and form["method"] == "interceptOrder"
    assert form["sign"] == signing.label_sign(form["param"], form["t"], "testkey", "label-secret")
    param = json.loads(form["param"])
    assert param["orderId"] == "int-7" and param["kuaidicom"] == "zhongtong"
    assert param["kuaidinum"] == "ZT100" and param["interceptType"] == "RETURN_SEND_ADDR"
    assert param["salt"] == "salt-0123456789abcdef"
    assert parse_qs(urlsplit(param["callbackUrl"]).query) == {"interception": ["int-7"]}
    assert "recManInfo" not in param
    assert result.external_id == "T9" and result.data["interception"] == "requested"


@responses.activate
def test_intercept_modify_address_carries_the_new_address():
    responses.post(f"{API}/label/order", json={"result": True, "returnCode": "200",
                                               "data": {"taskId": "T1"}})
    address = {"name": "张三", "mobile": "13800000000", "print_addr": "上海市浦东新区XX路1号"}
    kuaidi100().push("intercept", interception_payload("yto", "YT1", "modify_address",
                                                       address=address), "int-8")
    param = json.loads(form_of(responses.calls[0].request)["param"])
    assert param["interceptType"] == "MODIFY_ADDR"
    assert param["recManInfo"] == {"name": "张三", "mobile": "13800000000",
                                   "printAddr": "上海市浦东新区XX路1号"}


def test_intercept_payload_rules():
    with pytest.raises(ConnectorError) as e:
        kuaidi100().push("intercept", {"carrier": "yto", "tracking_number": "YT1",
                                       "intercept_type": "modify_address"}, "k")
    assert e.value.error_class is ErrorClass.FAIL_DATA
    with pytest.raises(ConnectorError) as e:
        kuaidi100().push("intercept", {"carrier": "yto", "tracking_number": "YT1",
                                       "intercept_type": "explode"}, "k")
    assert e.value.error_class is ErrorClass.FAIL_DATA
    with pytest.raises(ConnectorError) as e:
        kuaidi100(secret=None).push("intercept", interception_payload(
            "yto", "YT1", "return_to_sender"), "k")
    assert e.value.error_class is ErrorClass.FAIL_CONFIG


@responses.activate
def test_intercept_refusal_is_fail_data():
    responses.post(f"{API}/label/order", json={"result": False, "returnCode": "400",
                                               "message": "该单号不支持拦截"})
    with pytest.raises(ConnectorError) as e:
        kuaidi100().push("intercept", interception_payload("yto", "YT1", "return_to_sender"),
                         "k")
    assert e.value.error_class is ErrorClass.FAIL_DATA


def test_rejected_delivery_never_reaches_records():
    conn = kuaidi100()
    with pytest.raises(WebhookRejected):
        conn.verify_webhook({}, urlencode({"param": signing.dumps(push_param()),
                                           "sign": "0" * 32}).encode())
