"""Analytics (staff and finance): return rates by SKU, supplier, region and over time,
reason shares, supplier scorecards and the insights the rules find, read from the rollups
(``hub.domain.analytics``). Charts are drawn in the browser by the vendored ECharts from
the page's own data; every chart's data is a table on the page and a CSV.

| page | what |
|---|---|
| ``GET /console/analytics?from=&to=&shop=&supplier=&grain=`` | the charts, scorecards and insights (the last 30 days by default) |
| ``GET /console/analytics/<report>.csv?...`` | one chart's data: ``skus``, ``suppliers``, ``regions``, ``reasons``, ``trend``, ``scorecards`` |
"""
from __future__ import annotations

import csv
import io
from datetime import datetime

from flask import Response, abort, render_template, request
from flask_babel import get_locale, get_timezone
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from hub.core.cells import safe_cell
from hub.core.errors import ApiError
from hub.domain.analytics import insights, reports
from hub.domain.analytics.reports import Filters
from hub.models import Account, Supplier
from hub.models.analytics import RollupMark
from hub.web.api.spreadsheets import attachment
from hub.web.console.kit import STAFF, page
from hub.web.console.kit import console_blueprint as bp
from hub.web.context import request_session

READERS = STAFF | {"finance"}
RATE, SOLD, RETURNED = _l("Return rate"), _l("Units sold"), _l("Units returned")
COLUMNS = {  # report → its columns: (key, header)
    "skus": (("sku", _l("SKU")), ("sold", SOLD), ("returned", RETURNED), ("rate", RATE)),
    "suppliers": (("supplier", _l("Supplier")), ("sold", SOLD), ("returned", RETURNED),
                  ("rate", RATE)),
    "regions": (("province", _l("Province")), ("orders", _l("Orders")),
                ("returns", _l("Returns")), ("rate", RATE)),
    "reasons": (("reason", _l("Reason")), ("reason_code", _l("Code")),
                ("returns", _l("Returns")), ("share", _l("Share"))),
    "trend": (("period", _l("Period")), ("sold", SOLD), ("returned", RETURNED),
              ("rate", RATE)),
    "scorecards": (("supplier", _l("Supplier")), ("dispatched", _l("Dispatched")),
                   ("ship_hours", _l("Hours to ship")), ("stops_asked", _l("Stop-ships asked")),
                   ("stop_rate", _l("Stopped")),
                   ("stop_answer_minutes", _l("Minutes to answer a stop-ship")),
                   ("inspected", _l("Returns inspected")), ("damage_rate", _l("Damaged")),
                   ("handling_days", _l("Days from request to inspection")),
                   ("claims_sent", _l("Claims")), ("claim_acceptance", _l("Claims accepted"))),
}


def _read(who) -> tuple[Filters, str, dict]:
    session = request_session()
    today = datetime.now(get_timezone()).date()
    f = Filters.of(request.args, today)
    grain = request.args.get("grain") or ("day" if f.days <= 62 else "week")
    lang = get_locale().language
    m = who.merchant_id
    return f, grain, {
        "skus": lambda: reports.by_sku(session, m, f),
        "suppliers": lambda: reports.by_supplier(session, m, f),
        "regions": lambda: reports.by_region(session, m, f),
        "reasons": lambda: reports.reasons(session, m, f, lang),
        "trend": lambda: reports.over_time(session, m, f, grain),
        "scorecards": lambda: reports.scorecards(session, m, f)}


@bp.get("/console/analytics")
@page(READERS)
def analytics(who):
    session = request_session()
    try:
        f, grain, report = _read(who)
        data = {name: run() for name, run in report.items()}
        said = insights.insights(session, who.merchant_id, f)
    except ApiError as e:
        return render_template("console/analytics.html", who=who, error=e, f=None, args={},
                               **_choices(session, who)), e.status
    mark = session.scalar(select(RollupMark.refreshed_at).where(
        RollupMark.merchant_id == who.merchant_id))
    zh = get_locale().language == "zh"
    return render_template(
        "console/analytics.html", who=who, error=None, f=f, grain=grain, data=data,
        insights=[x["zh" if zh else "en"] for x in said], columns=COLUMNS, refreshed=mark,
        args={k: v for k, v in request.args.items() if k in ("from", "to", "shop", "supplier",
                                                             "grain")},
        labels={"rate": str(RATE), "sold": str(SOLD), "returned": str(RETURNED)},
        **_choices(session, who))


@bp.get("/console/analytics/<report>.csv")
@page(READERS)
def analytics_csv(who, report):
    if report not in COLUMNS:
        abort(404)
    try:
        f, _, run = _read(who)
        rows = run[report]()
    except ApiError as e:
        abort(e.status)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([str(header) for _, header in COLUMNS[report]])
    for row in rows:
        writer.writerow(["" if row[k] is None else safe_cell(row[k]) if isinstance(row[k], str)
                         else row[k] for k, _ in COLUMNS[report]])
    response = Response(out.getvalue().encode("utf-8-sig"), mimetype="text/csv")
    response.headers["Content-Disposition"] = attachment(
        f"{report}-{f.start.isoformat()}-{f.end.isoformat()}.csv")
    return response


def _choices(session, who) -> dict:
    shops = session.execute(select(Account.id, Account.name).where(
        Account.merchant_id == who.merchant_id, Account.kind == "platform")
        .order_by(Account.name)).all()
    suppliers = session.execute(select(Supplier.id, Supplier.code).where(
        Supplier.merchant_id == who.merchant_id).order_by(Supplier.code)).all()
    return {"shops": shops, "suppliers": suppliers}
