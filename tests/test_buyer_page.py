"""The buyer's progress page (issue 12, item 9): ``/r/<public_token>`` shows where the
return stands, in Chinese or English, with the packing instructions and address once
approved and the parcel's tracking once on its way; nothing personal, and one and the
same 404 for every bad token."""
from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest

from hub.core.db import utcnow
from hub.domain import fulfilment as flow
from hub.domain.returns.progress import buyer_link, steps_of
from hub.models import ReturnAddress
from tests import factories as f
from tests.supplier_helpers import (  # noqa: F401 (fixtures)
    apply, courier_id, fake_connectors, fulfilments, order_values, return_values, the_case,
    tracking_values, world,
)

BUYER = ("张*", "138****5678", "北京市***", "leave at the door", "changed my mind")
WAREHOUSE = {"name": "S1 供应商退货仓", "contact": "王仓管", "phone": "021-55550000",
             "address": "上海市浦东新区仓库路1号"}


@pytest.fixture
def w(app, database, fake_connectors):  # noqa: F811
    with database.session() as s:
        w = world(s)
        s.add(ReturnAddress(merchant_id=w["merchant_id"], supplier_id=w["supplier_id"],
                            shop_account_id=w["shop_id"], is_default=True, **WAREHOUSE))
    apply(database, w["shop_id"], order_values())
    with database.session() as s:  # the supplier shipped: the goods go back to it
        [x] = fulfilments(s, w["merchant_id"])
        flow.submit_tracking(s, x, "sf", "SF1234567890123", "supplier:1", None)
    return w


def platform_says(database, w, status, hours=1, kind="return_refund", **more):
    values = return_values(kind=kind, status=status, updated=f.T0 + timedelta(hours=hours))
    apply(database, w["shop_id"], dataclasses.replace(values, **more))
    with database.session(readonly=True) as s:
        return the_case(s, w["merchant_id"]).public_token


def page(client, token, lang=None, **headers):
    got = client.get(f"/r/{token}" + (f"?lang={lang}" if lang else ""), headers=headers)
    assert got.status_code == 200, got.get_data(as_text=True)[:500]
    html = got.get_data(as_text=True)
    assert not [text for text in BUYER if text in html]
    assert "<script" not in html and not re.search(r'(?:src|href)="(?:https?:)?//', html)
    return got, html


def now(html) -> str:
    return re.search(r'<p class="now" id="now" data-step="([a-z_]+)">', html).group(1)


def steps(html) -> list[tuple[str, str]]:
    return re.findall(r'<li class="(done|current|todo)" data-step="([a-z_]+)"', html)


def test_requested_in_chinese_by_default_and_in_english(client, database, w):
    token = platform_says(database, w, "requested")
    got, html = page(client, token)
    assert now(html) == "requested" and "正在审核" in html and '<html lang="zh-CN">' in html
    assert steps(html) == [("current", "requested"), ("todo", "approved"),
                           ("todo", "on_its_way"), ("todo", "received"),
                           ("todo", "inspected"), ("todo", "refunded")]
    assert "R1" in html and "P1" in html and "¥19.90" in html
    assert "打包说明" not in html and WAREHOUSE["address"] not in html
    assert '<meta name="robots" content="noindex' in html
    _, english = page(client, token, "en")
    assert "We have your request and are reviewing it." in english
    assert '<html lang="en">' in english and "正在审核" not in english
    _, preferred = page(client, token, **{"Accept-Language": "en-US,en;q=0.9"})
    assert "Requested" in preferred and '<html lang="en">' in preferred
    _, asked_zh = page(client, token, "zh", **{"Accept-Language": "en"})
    assert "正在审核" in asked_zh
    assert "正在审核" in page(client, token, "fr")[1]  # an unknown language: the default


def test_approved_shows_how_to_pack_and_where_to_send(client, database, w):
    platform_says(database, w, "requested")
    token = platform_says(database, w, "approved", hours=2)
    _, html = page(client, token)
    assert now(html) == "approved" and "请按下方说明打包" in html
    assert steps(html)[:3] == [("done", "requested"), ("current", "approved"),
                               ("todo", "on_its_way")]
    assert "请用原包装或纸箱包好商品" in html  # the default category's instructions
    for text in (WAREHOUSE["contact"], WAREHOUSE["phone"], WAREHOUSE["address"]):
        assert text in html
    assert WAREHOUSE["name"] not in html and "Supplier S1" not in html
    assert "退货运费由" in html
    _, english = page(client, token, "en")
    assert "How to pack" in english and "Pack the goods in their original box" in english
    assert WAREHOUSE["address"] in english


def test_on_its_way_shows_the_carrier_tracking_number_and_latest_events(client, database, w):
    platform_says(database, w, "requested")
    token = platform_says(database, w, "awaiting_return", hours=2, return_carrier="sf",
                          return_tracking_number="SFRET1")
    _, html = page(client, token)
    assert now(html) == "approved" and "SFRET1" in html and "暂无物流信息" in html
    assert "打包说明" in html  # approved, not yet picked up: still how to pack it
    with database.session(readonly=True) as s:
        courier = courier_id(s, w["merchant_id"])
    apply(database, courier, tracking_values("SFRET1", status="in_transit", at=utcnow()))
    _, html = page(client, token)
    assert now(html) == "on_its_way" and "寄回途中" in html
    assert "SFRET1" in html and "顺丰速运" in html and "运输中" in html
    assert "parcel in_transit" not in html  # never the courier's free text (names, phones)
    assert ("current", "on_its_way") in steps(html) and "打包说明" not in html
    _, english = page(client, token, "en")
    assert "SF Express" in english and "on its way back" in english


def test_refunded_and_rejected_are_said_plainly(client, database, w):
    platform_says(database, w, "requested")
    token = platform_says(database, w, "refunded", hours=3)
    _, html = page(client, token)
    assert now(html) == "refunded" and "退款完成" in html and "¥19.90" in html
    assert all(state == "done" for state, _ in steps(html))
    assert "Your refund is done" in page(client, token, "en")[1]
    token = platform_says(database, w, "rejected", hours=4)
    _, html = page(client, token)
    assert now(html) == "rejected" and "申请未通过" in html
    assert steps(html) == [("done", "requested"), ("done", "rejected")]
    assert "not approved" in page(client, token, "en")[1]


def test_a_refund_only_has_no_parcel_steps(client, database, w):
    token = platform_says(database, w, "approved", kind="refund_only")
    _, html = page(client, token)
    assert [key for _, key in steps(html)] == ["requested", "approved", "refunded"]
    assert now(html) == "approved" and "打包说明" not in html
    assert steps_of("exchange")[-1] == "resolved"


@pytest.mark.parametrize("bad", ["nope", "x" * 32, "A" * 65, "a/b/c", "%00" * 20,
                                 "..%2F..%2Fetc", "' OR 1=1 --" + "a" * 20])
def test_a_bad_token_is_the_same_404_that_says_nothing(client, database, w, bad):
    real = platform_says(database, w, "requested")
    known = client.get(f"/r/{real[:-1]}{'A' if real[-1] != 'A' else 'B'}")  # one off
    got = client.get(f"/r/{bad}")
    assert got.status_code == known.status_code == 404
    assert got.mimetype == "text/html"
    assert got.get_data() == known.get_data()
    body = got.get_data(as_text=True)
    assert "R1" not in body and "Traceback" not in body and "页面不存在" in body
    assert got.headers["Cache-Control"] == "no-store"


def test_headers_and_the_link(client, database, w):
    token = platform_says(database, w, "requested")
    got, _ = page(client, token)
    assert got.headers["Cache-Control"] == "no-store"
    assert got.headers["X-Robots-Tag"].startswith("noindex")
    assert got.headers["Referrer-Policy"] == "no-referrer"
    assert got.headers["X-Frame-Options"] == "DENY"
    assert "script-src" not in got.headers["Content-Security-Policy"]
    assert "default-src 'self'" in got.headers["Content-Security-Policy"]
    with database.session(readonly=True) as s:
        case = the_case(s, w["merchant_id"])
        assert buyer_link(case, "https://hub.example.com/") == \
            f"https://hub.example.com/r/{token}"
        case.public_token = None
        assert buyer_link(case, "https://hub.example.com") is None
    assert client.post(f"/r/{token}").status_code == 405
