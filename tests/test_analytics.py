"""Analytics (issue 15): the rollups a day at a time in the merchant's zone, kept current by
the ``analytics_rollup`` job, and the reports and insights read from them."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from hub.core.db import utcnow
from hub.core.errors import ApiError
from hub.domain import fulfilment
from hub.domain.analytics import insights, reports, rollup
from hub.domain.analytics.reports import Filters
from hub.models import Fulfilment, Inspection, Order, ReturnCase
from hub.models.analytics import RollupMark, SalesDay
from jobs import analytics_rollup
from tests import factories as f
from tests.console_helpers import html, sign_in

T0 = f.T0  # 2026-11-01 08:00 UTC, 16:00 in Shanghai
NOVEMBER = Filters(date(2026, 11, 1), date(2026, 11, 30))


def sell(s, m, shop, supplier, sku, n, *, returns=(), day=0, province="330000"):
    """``n`` orders of one ``sku`` from ``supplier``; ``returns``: a reason per return."""
    f.sku_mapping(s, m, supplier, sku)
    made = []
    for i in range(n):
        order = f.order(s, m, shop, sku=sku, placed_at=T0 + timedelta(days=day, hours=i % 5))
        order.province_code = province
        for x in fulfilment.allocate(s, order):
            x.requested_at = order.placed_at  # dispatched at once
        made.append(order)
    for order, reason in zip(made, returns):
        case = f.return_case(s, m, shop, order, requested_at=T0 + timedelta(days=day + 2))
        case.reason_code = reason
    s.flush()
    return made


@pytest.fixture
def books(app, database):
    with database.session() as s:
        m = f.merchant(s)
        shop = f.shop(s, m.id)
        a, b = f.supplier(s, m.id, "FAC-A"), f.supplier(s, m.id, "FAC-B")
        mugs = sell(s, m.id, shop.id, a.id, "MUG", 20,
                    returns=["quality.defect"] * 6 + ["buyer.changed_mind"] * 2)
        sell(s, m.id, shop.id, b.id, "TEE", 10, returns=["buyer.size_fit"], province="440000")
        sell(s, m.id, shop.id, b.id, "CAP", 40, day=3)
        first = s.scalar(select(Fulfilment).where(Fulfilment.order_id == mugs[0].id))
        first.shipped_at = first.requested_at + timedelta(hours=30)
        first.cancel_requested_at = first.requested_at + timedelta(hours=1)
        first.cancel_answered_at = first.cancel_requested_at + timedelta(minutes=20)
        first.status = "cancelled"
        late = f.order(s, m.id, shop.id, sku="CAP", placed_at=T0 + timedelta(hours=9))
        late.province_code = None  # 17:00 UTC: 01:00 on 2 November in Shanghai
        fulfilment.allocate(s, late)
        case = s.scalar(select(ReturnCase).where(ReturnCase.order_id == mugs[0].id))
        s.add(Inspection(merchant_id=m.id, return_case_id=case.id, inspected_by="t",
                         received_at=case.requested_at + timedelta(days=3), condition="damaged"))
        return {"merchant": m.id, "shop": shop.id, "a": a.id, "b": b.id, "late": late.id}


def build(app, database) -> int:
    assert analytics_rollup.run(app, "test") == 1
    with database.session(readonly=True) as s:
        return s.scalar(select(RollupMark.id))


def test_reports_sum_what_was_sold_and_returned(app, database, books):
    build(app, database)
    with database.session(readonly=True) as s:
        m = books["merchant"]
        skus = {r["sku"]: (r["sold"], r["returned"], r["rate"])
                for r in reports.by_sku(s, m, NOVEMBER)}
        assert skus == {"MUG": (20, 8, 0.4), "TEE": (10, 1, 0.1)}
        suppliers = {r["supplier"]: (r["sold"], r["returned"])
                     for r in reports.by_supplier(s, m, NOVEMBER)}
        assert suppliers == {"FAC-A": (20, 8), "FAC-B": (51, 1)}
        shares = {r["reason_code"]: (r["returns"], r["share"]) for r in reports.reasons(
            s, m, NOVEMBER, "en")}
        assert shares == {"quality.defect": (6, 0.6667), "buyer.changed_mind": (2, 0.2222),
                          "buyer.size_fit": (1, 0.1111)}
        regions = {r["province"]: (r["orders"], r["returns"])
                   for r in reports.by_region(s, m, NOVEMBER)}
        assert regions == {"浙江省": (60, 8), "广东省": (10, 1), "—": (1, 0)}
        only_b = Filters(NOVEMBER.start, NOVEMBER.end, supplier_id=books["b"])
        assert {r["sku"] for r in reports.by_sku(s, m, only_b)} == {"TEE"}
        days = {r["period"]: (r["sold"], r["returned"])
                for r in reports.over_time(s, m, NOVEMBER, "day")}
        assert len(days) == 30 and days["2026-11-01"] == (30, 0)
        assert days["2026-11-02"] == (1, 0)  # 17:00 UTC is the next day in Shanghai
        assert days["2026-11-03"] == (0, 9) and days["2026-11-04"] == (40, 0)
        weeks = reports.over_time(s, m, NOVEMBER, "week")
        assert weeks[0]["period"] == "2026-10-26" and sum(w["sold"] for w in weeks) == 71
        [card] = [c for c in reports.scorecards(s, m, NOVEMBER) if c["supplier"] == "FAC-A"]
        assert (card["dispatched"], card["ship_hours"], card["stops_asked"], card["stop_rate"],
                card["stop_answer_minutes"]) == (20, 30.0, 1, 1.0, 20.0)
        assert (card["inspected"], card["damage_rate"], card["handling_days"]) == (1, 1.0, 3.0)


def test_an_insight_names_the_sku_its_reason_and_its_supplier(app, database, books):
    build(app, database)
    with database.session(readonly=True) as s:
        said = insights.insights(s, books["merchant"], NOVEMBER)
    [mug] = [x for x in said if x["rule"] == "sku_rate"]
    # MUG: 8 of 20 (40 %) against all SKUs' 9 of 71 (12.7 %): 3.2×
    assert mug["subject"] == "MUG" and "3.2× all your SKUs" in mug["en"]
    assert "75 % Defect or poor workmanship" in mug["en"] and "100 % from supplier FAC-A" \
        in mug["en"]
    assert "商品 MUG" in mug["zh"] and "3.2 倍" in mug["zh"]


def test_the_job_rebuilds_only_the_days_that_changed_and_never_counts_twice(
        app, database, books):
    mark_id = build(app, database)
    with database.session() as s:
        for model in (Order, Fulfilment, ReturnCase):  # the rows were written an hour ago
            s.execute(update(model).values(updated_at=utcnow() - timedelta(hours=1)))
    with database.session() as s:
        case = s.scalar(select(ReturnCase).where(ReturnCase.reason_code == "buyer.size_fit"))
        case.reason_code = "quality.defect"  # corrected later
        order = s.get(Order, books["late"])
        f.return_case(s, books["merchant"], books["shop"], order,
                      requested_at=T0 + timedelta(days=10))
        rows_before = s.scalar(select(func.count()).select_from(SalesDay))
    days = analytics_rollup.refresh(database, mark_id)
    assert days == 2  # the days the two returns were requested; the orders' are unchanged
    # the next run reads them again (OVERLAP: a late commit is not missed): the same sums
    assert analytics_rollup.refresh(database, mark_id) == 2
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(SalesDay)) == rows_before
        shares = {r["reason_code"]: r["returns"] for r in reports.reasons(
            s, books["merchant"], NOVEMBER)}
        assert shares == {"quality.defect": 7, "buyer.changed_mind": 2, "other": 1}
        assert {r["sku"]: r["returned"] for r in reports.by_sku(
            s, books["merchant"], NOVEMBER)}["CAP"] == 1


@pytest.mark.parametrize("args, field", [
    ({"from": "2026-13-01"}, "from"), ({"from": "yesterday"}, "from"),
    ({"from": "2026-11-30", "to": "2026-11-01"}, "from"), ({"shop": "x1"}, "shop"),
    ({"supplier": "9" * 30}, "supplier"), ({"from": "2020-01-01", "to": "2026-11-01"}, "from"),
])
def test_bad_filters_are_named(args, field):
    with pytest.raises(ApiError) as e:
        Filters.of(args, date(2026, 12, 5))
    assert e.value.status == 422 and field in e.value.details


def test_filters_default_to_the_last_thirty_days():
    f_ = Filters.of({}, date(2026, 12, 5))
    assert (f_.start, f_.end, f_.days) == (date(2026, 11, 6), date(2026, 12, 5), 30)
    assert f_.before().end == date(2026, 11, 5) and f_.before().days == 30


def test_the_analytics_page_draws_each_chart_from_its_data_and_gives_its_csv(
        app, database, books):
    build(app, database)
    with database.session() as s:
        login = f.user(s, books["merchant"], "finance")
        supplier_login = f.user(s, books["merchant"], "supplier", books["a"])
    client = app.test_client()
    sign_in(client, login)
    page = html(client.get("/console/analytics?from=2026-11-01&to=2026-11-30"))
    for name in ("trend", "reasons", "skus", "suppliers", "regions"):
        assert f'data-chart="{name}"' in page and f'id="csv-{name}"' in page
    assert "SKU MUG: return rate 40.0%" in page and 'id="refreshed"' in page
    data = json.loads(re.search(r'id="analytics-data">(.*?)</script>', page, re.S).group(1))
    assert [r["sku"] for r in data["data"]["skus"]] == ["MUG", "TEE"]
    sheet = client.get("/console/analytics/skus.csv?from=2026-11-01&to=2026-11-30&lang=en")
    rows = list(csv.reader(io.StringIO(sheet.data.decode("utf-8-sig"))))
    assert sheet.mimetype == "text/csv" and rows[0] == ["SKU", "Units sold", "Units returned",
                                                        "Return rate"]
    assert rows[1] == ["MUG", "20", "8", "0.4"]
    bad = client.get("/console/analytics?from=2026-11-31")
    assert bad.status_code == 422 and 'id="analytics-error"' in html(bad)
    assert client.get("/console/analytics/nothing.csv").status_code == 404
    zh = app.test_client()
    sign_in(zh, login, lang="zh")
    assert "商品 MUG" in html(zh.get("/console/analytics?from=2026-11-01&to=2026-11-30"))
    supplier = app.test_client()
    sign_in(supplier, supplier_login)
    assert supplier.get("/console/analytics").status_code == 403


def test_changed_days_are_rebuilt_in_runs_of_consecutive_days():
    d = [date(2026, 11, 1) + timedelta(days=n) for n in (0, 1, 2, 5, 40)]
    assert rollup.spans(d) == [(d[0], d[2]), (d[3], d[3]), (d[4], d[4])]
    month = [date(2026, 1, 1) + timedelta(days=n) for n in range(70)]
    assert [(b - a).days + 1 for a, b in rollup.spans(month)] == [31, 31, 8]
