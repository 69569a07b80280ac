"""Insights: what the figures show that someone should look at, in words (Chinese and
English), from rules with thresholds. ``insights(session, merchant_id, filters)`` returns
``[{"rule", "subject", "zh", "en"}]``, the strongest first:

* ``sku_rate``: a SKU with at least ``MIN_SKU_RETURNS`` units returned whose return rate is
  at least ``SKU_RATIO`` times its category's (``Product.category``; all the merchant's
  SKUs when it has none), with its main reason's and main supplier's shares;
* ``supplier_damage``: a supplier whose inspected returns came back damaged at least
  ``DAMAGE_RATIO`` times as often as all suppliers' (``MIN_INSPECTED`` inspected);
* ``supplier_stops``: a supplier that stopped under ``MIN_STOP_RATE`` of the stop-ships
  asked of it (``MIN_STOPS`` asked), or answered them in over ``MAX_STOP_MINUTES`` on average;
* ``supplier_slow``: dispatch to shipment over ``MAX_SHIP_HOURS`` on average
  (``MIN_SHIPPED`` shipped);
* ``reason_rise``: a reason's share up ``MIN_RISE`` or more on the period before (at least
  ``MIN_REASON_RETURNS`` returns in each).
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from hub.domain.analytics import reports
from hub.domain.analytics.reports import Filters
from hub.domain.reasons import taxonomy
from hub.models import Product
from hub.models.analytics import ReturnDay, SalesDay

MIN_SKU_RETURNS, SKU_RATIO = 5, 2.0
MIN_INSPECTED, DAMAGE_RATIO = 10, 2.0
MIN_STOPS, MIN_STOP_RATE, MAX_STOP_MINUTES = 5, 0.8, 60
MIN_SHIPPED, MAX_SHIP_HOURS = 20, 48
MIN_REASON_RETURNS, MIN_RISE = 20, 0.10


def insights(session, merchant_id: int, f: Filters) -> list[dict]:
    found = _skus(session, merchant_id, f) + _suppliers(session, merchant_id, f) \
        + _reasons(session, merchant_id, f)
    return sorted(found, key=lambda x: -x["weight"])


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def _skus(session, merchant_id: int, f: Filters) -> list[dict]:
    sold, back = reports.units_by(session, merchant_id, f, "sku")
    category = dict(session.execute(select(Product.sku, Product.category).where(
        Product.merchant_id == merchant_id)).all())
    totals = defaultdict(lambda: [0, 0])
    for sku in set(sold) | set(back):
        totals[category.get(sku)][0] += int(back.get(sku) or 0)
        totals[category.get(sku)][1] += int(sold.get(sku) or 0)
    every = [sum(x[0] for x in totals.values()), sum(x[1] for x in totals.values())]
    found = []
    for sku, returned in back.items():
        returned, units = int(returned or 0), int(sold.get(sku) or 0)
        group = category.get(sku)
        base = totals[group] if group is not None and totals[group][1] else every
        if returned < MIN_SKU_RETURNS or not units or not base[0]:
            continue
        ratio = (returned / units) / (base[0] / base[1])
        if ratio < SKU_RATIO:
            continue
        reason, reason_share = _top(session, merchant_id, f, sku, ReturnDay.reason_code)
        supplier, supplier_share = _top(session, merchant_id, f, sku, ReturnDay.supplier_id)
        name = reports.supplier_names(session, merchant_id).get(supplier, "—")
        than = ("its category", "同类") if group is not None and totals[group][1] else \
            ("all your SKUs", "全部商品")
        found.append({
            "rule": "sku_rate", "subject": sku, "weight": ratio * returned,
            "en": f"SKU {sku}: return rate {returned / units:.1%}, {ratio:.1f}× {than[0]} over "
                  f"{f.days} days; {_pct(reason_share)} {taxonomy.label(reason, 'en')}; "
                  f"{_pct(supplier_share)} from supplier {name}",
            "zh": f"商品 {sku}：近 {f.days} 天退货率 {returned / units:.1%}，是{than[1]}的 "
                  f"{ratio:.1f} 倍；{_pct(reason_share)} 为「{taxonomy.label(reason, 'zh')}」；"
                  f"{_pct(supplier_share)} 来自供应商 {name}"})
    return found


def _top(session, merchant_id, f, sku, column):
    rows = session.execute(select(column, func.sum(ReturnDay.units)).where(
        *f.where(ReturnDay, merchant_id), ReturnDay.sku == sku).group_by(column)).all()
    total = sum(int(n or 0) for _, n in rows) or 1
    key, n = max(rows, key=lambda r: (int(r[1] or 0), str(r[0])))
    return key, int(n or 0) / total


def _suppliers(session, merchant_id: int, f: Filters) -> list[dict]:
    cards = reports.scorecards(session, merchant_id, f)
    inspected = sum(c["inspected"] for c in cards)
    damaged = sum((c["damage_rate"] or 0) * c["inspected"] for c in cards)
    average = damaged / inspected if inspected else None
    found = []
    for c in cards:
        name = c["supplier"]
        if average and c["inspected"] >= MIN_INSPECTED and c["damage_rate"] \
                and c["damage_rate"] >= DAMAGE_RATIO * average:
            found.append(_said("supplier_damage", name, c["damage_rate"] / average,
                               f"Supplier {name}: {_pct(c['damage_rate'])} of its returns came "
                               f"back damaged, {c['damage_rate'] / average:.1f}× the average",
                               f"供应商 {name}：{_pct(c['damage_rate'])} 的退货破损，是平均的 "
                               f"{c['damage_rate'] / average:.1f} 倍"))
        if c["stops_asked"] >= MIN_STOPS and (c["stop_rate"] or 0) < MIN_STOP_RATE:
            found.append(_said("supplier_stops", name, 2 - (c["stop_rate"] or 0),
                               f"Supplier {name}: stopped {_pct(c['stop_rate'] or 0)} of "
                               f"{c['stops_asked']} stop-ships asked",
                               f"供应商 {name}：{c['stops_asked']} 次拦截请求只拦下 "
                               f"{_pct(c['stop_rate'] or 0)}"))
        elif c["stops_asked"] >= MIN_STOPS and (c["stop_answer_minutes"] or 0) > MAX_STOP_MINUTES:
            found.append(_said("supplier_stops", name, c["stop_answer_minutes"] / MAX_STOP_MINUTES,
                               f"Supplier {name}: answers stop-ships in "
                               f"{c['stop_answer_minutes']:.0f} min on average",
                               f"供应商 {name}：拦截请求平均 {c['stop_answer_minutes']:.0f} 分钟才答复"))
        if c["dispatched"] >= MIN_SHIPPED and (c["ship_hours"] or 0) > MAX_SHIP_HOURS:
            found.append(_said("supplier_slow", name, c["ship_hours"] / MAX_SHIP_HOURS,
                               f"Supplier {name}: ships {c['ship_hours']:.0f} h after dispatch "
                               "on average", f"供应商 {name}：平均派单后 {c['ship_hours']:.0f} "
                               "小时才发货"))
    return found


def _reasons(session, merchant_id: int, f: Filters) -> list[dict]:
    now = {r["reason_code"]: r for r in reports.reasons(session, merchant_id, f)}
    then = {r["reason_code"]: r for r in reports.reasons(session, merchant_id, f.before())}
    if sum(r["returns"] for r in now.values()) < MIN_REASON_RETURNS \
            or sum(r["returns"] for r in then.values()) < MIN_REASON_RETURNS:
        return []
    found = []
    for code, r in now.items():
        was = then[code]["share"] if code in then else 0.0
        rise = r["share"] - was
        if rise >= MIN_RISE:
            found.append(_said("reason_rise", code, rise * 10,
                               f"{taxonomy.label(code, 'en')}: {_pct(r['share'])} of returns, "
                               f"up from {_pct(was)} the {f.days} days before",
                               f"「{taxonomy.label(code, 'zh')}」占退货 {_pct(r['share'])}，"
                               f"前 {f.days} 天为 {_pct(was)}"))
    return found


def _said(rule: str, subject, weight: float, en: str, zh: str) -> dict:
    return {"rule": rule, "subject": subject, "weight": weight, "en": en, "zh": zh}
