"""The analytics reports, summed from the rollups (``hub.models.analytics``): each a list
of rows (dicts) for a chart, a table and its CSV.

    Filters.of(args, today)   from/to (days in the merchant's zone), shop, supplier
    by_sku, by_supplier       units sold and returned, return rate (units returned / sold)
    by_region                 orders and returns by province (returns / orders)
    reasons                   returns by reason, with shares
    over_time                 units sold and returned per day, week or month
    scorecards                a supplier's dispatch, stop-ship, inspection and claim figures

A period's rate compares what was returned in it with what was sold in it (the usual
reading of a return rate; a return requested today may be of last month's order).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from importlib import resources

from sqlalchemy import func, select

from hub.core.db import MAX_ID
from hub.core.errors import ApiError
from hub.domain.reasons import taxonomy
from hub.models import Supplier
from hub.models.analytics import SCORES, RegionDay, ReturnDay, SalesDay, SupplierDay

DEFAULT_DAYS, MAX_DAYS = 30, 3 * 366
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
GRAINS = ("day", "week", "month")


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # inclusive
    shop_id: int | None = None
    supplier_id: int | None = None

    @classmethod
    def of(cls, args, today: date) -> Filters:
        """From a query's ``from``, ``to``, ``shop``, ``supplier`` (the last 30 days by
        default); ``ApiError`` 422 naming each bad one."""
        errors, days = {}, {}
        for name in ("from", "to"):
            text = (args.get(name) or "").strip()
            try:
                days[name] = date.fromisoformat(text) if DAY.match(text) else None
            except ValueError:
                days[name] = None
            if text and days[name] is None:
                errors[name] = ["a day, YYYY-MM-DD"]
        ids = {}
        for name in ("shop", "supplier"):
            text = (args.get(name) or "").strip()
            ids[name] = int(text) if text.isascii() and text.isdigit() and len(text) < 19 \
                and 0 < int(text) <= MAX_ID else None
            if text and ids[name] is None:
                errors[name] = ["an id"]
        end = days["to"] or today
        start = days["from"] or end - timedelta(days=DEFAULT_DAYS - 1)
        if not errors and not timedelta(0) <= end - start < timedelta(days=MAX_DAYS):
            errors["from"] = [f"on or before 'to', at most {MAX_DAYS} days before it"]
        if errors:
            raise ApiError("the filters are invalid", code="validation_error", status=422,
                           details=errors)
        return cls(start, end, ids["shop"], ids["supplier"])

    def where(self, model, merchant_id: int) -> list:
        found = [model.merchant_id == merchant_id, model.day >= self.start, model.day <= self.end]
        if self.shop_id is not None and hasattr(model, "shop_account_id"):
            found.append(model.shop_account_id == self.shop_id)
        if self.supplier_id is not None:
            found.append(model.supplier_id == self.supplier_id)
        return found

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def before(self) -> Filters:
        """The period of the same length just before."""
        return Filters(self.start - timedelta(days=self.days), self.start - timedelta(days=1),
                       self.shop_id, self.supplier_id)


def _rate(returned: int, sold: int) -> float | None:
    return round(returned / sold, 4) if sold else None


def units_by(session, merchant_id: int, f: Filters, key) -> tuple[dict, dict]:
    """key (a column name) → units sold, units returned."""
    sold = dict(session.execute(
        select(getattr(SalesDay, key), func.sum(SalesDay.units))
        .where(*f.where(SalesDay, merchant_id)).group_by(getattr(SalesDay, key))).all())
    back = dict(session.execute(
        select(getattr(ReturnDay, key), func.sum(ReturnDay.units))
        .where(*f.where(ReturnDay, merchant_id)).group_by(getattr(ReturnDay, key))).all())
    return sold, back


def by_sku(session, merchant_id: int, f: Filters, limit: int = 20) -> list[dict]:
    """The SKUs with the most units returned (ties: the higher rate first)."""
    sold, back = units_by(session, merchant_id, f, "sku")
    rows = [{"sku": sku, "sold": int(sold.get(sku) or 0), "returned": int(n or 0),
             "rate": _rate(int(n or 0), int(sold.get(sku) or 0))} for sku, n in back.items()]
    rows.sort(key=lambda r: (-r["returned"], -(r["rate"] or 0), r["sku"]))
    return rows[:limit]


def by_supplier(session, merchant_id: int, f: Filters) -> list[dict]:
    sold, back = units_by(session, merchant_id, f, "supplier_id")
    names = supplier_names(session, merchant_id)
    rows = [{"supplier_id": s, "supplier": names.get(s, "—"), "sold": int(sold.get(s) or 0),
             "returned": int(back.get(s) or 0),
             "rate": _rate(int(back.get(s) or 0), int(sold.get(s) or 0))}
            for s in set(sold) | set(back)]
    return sorted(rows, key=lambda r: (-(r["rate"] or 0), r["supplier"]))


def by_region(session, merchant_id: int, f: Filters) -> list[dict]:
    totals: dict[str, list[int]] = {}
    for code, orders, returns in session.execute(
            select(RegionDay.province_code, func.sum(RegionDay.orders), func.sum(RegionDay.returns))
            .where(*f.where(RegionDay, merchant_id)).group_by(RegionDay.province_code)):
        prefix = code[:2] if code[:2].isdigit() else ""
        got = totals.setdefault(prefix, [0, 0])
        got[0] += int(orders or 0)
        got[1] += int(returns or 0)
    rows = [{"province_code": p, "province": province_name(p), "orders": o, "returns": r,
             "rate": _rate(r, o)} for p, (o, r) in totals.items()]
    return sorted(rows, key=lambda r: (-r["returns"], r["province_code"]))


def reasons(session, merchant_id: int, f: Filters, lang: str = "zh") -> list[dict]:
    counts = session.execute(
        select(ReturnDay.reason_code, func.sum(ReturnDay.returns))
        .where(*f.where(ReturnDay, merchant_id)).group_by(ReturnDay.reason_code)).all()
    total = sum(int(n or 0) for _, n in counts)
    rows = [{"reason_code": code, "reason": taxonomy.label(code, lang), "returns": int(n or 0),
             "share": round(int(n or 0) / total, 4) if total else None} for code, n in counts]
    return sorted(rows, key=lambda r: (-r["returns"], r["reason_code"]))


def over_time(session, merchant_id: int, f: Filters, grain: str = "day") -> list[dict]:
    if grain not in GRAINS:
        raise ApiError("grain is day, week or month", code="validation_error", status=422,
                       details={"grain": list(GRAINS)})
    buckets: dict[date, list[int]] = {}
    for n, model in enumerate((SalesDay, ReturnDay)):
        for day, units in session.execute(select(model.day, func.sum(model.units)).where(
                *f.where(model, merchant_id)).group_by(model.day)):
            buckets.setdefault(_bucket(day, grain), [0, 0])[n] += int(units or 0)
    rows, day = [], _bucket(f.start, grain)
    while day <= f.end:  # every bucket, an empty one too: a line chart without gaps
        sold, back = buckets.get(day, (0, 0))
        rows.append({"period": day.isoformat(), "sold": sold, "returned": back,
                     "rate": _rate(back, sold)})
        day = _next(day, grain)
    return rows


def scorecards(session, merchant_id: int, f: Filters) -> list[dict]:
    s = SupplierDay
    sums = [func.sum(getattr(s, name)) for name in SCORES]
    names = supplier_names(session, merchant_id)
    rows = []
    for supplier_id, *values in session.execute(
            select(s.supplier_id, *sums).where(*f.where(s, merchant_id)).group_by(s.supplier_id)):
        v = dict(zip(SCORES, (int(x or 0) for x in values)))
        rows.append({
            "supplier_id": supplier_id, "supplier": names.get(supplier_id, "—"),
            "dispatched": v["dispatched"],
            "ship_hours": _per(v["ship_seconds"], v["shipped"], 3600),
            "stops_asked": v["stops_asked"],
            "stop_rate": _rate(v["stops_made"], v["stops_asked"]),
            "stop_answer_minutes": _per(v["stop_answer_seconds"], v["stops_answered"], 60),
            "inspected": v["inspected"], "damage_rate": _rate(v["damaged"], v["inspected"]),
            "handling_days": _per(v["handling_seconds"], v["inspected"], 86400),
            "claims_sent": v["claims_sent"],
            "claim_acceptance": _rate(v["claims_accepted"], v["claims_answered"])})
    return sorted(rows, key=lambda r: r["supplier"])


def _per(total: int, count: int, unit: int) -> float | None:
    return round(total / count / unit, 1) if count else None


def _bucket(day: date, grain: str) -> date:
    if grain == "week":
        return day - timedelta(days=day.weekday())  # Monday
    return day.replace(day=1) if grain == "month" else day


def _next(day: date, grain: str) -> date:
    if grain == "month":
        return (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return day + timedelta(days=7 if grain == "week" else 1)


def supplier_names(session, merchant_id: int) -> dict:
    return dict(session.execute(select(Supplier.id, Supplier.code).where(
        Supplier.merchant_id == merchant_id)).all())


@cache
def _provinces() -> dict:
    text = resources.files("mappings").joinpath("cn_regions.json").read_text("utf-8")
    return {k: v[0] for k, v in json.loads(text)["provinces"].items()}


def province_name(prefix: str) -> str:
    return _provinces().get(prefix, "—")
