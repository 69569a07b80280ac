"""The supplier's portal (role ``supplier``): only its own rows (``hub.web.kit.scope``), the
same steps as the supplier API (``hub.domain.fulfilment``, ``returns.inspection``).

| page | what |
|---|---|
| ``GET /console/supplier`` | orders to answer, to ship, shipped lately; stop-ships to answer; returns coming back |
| ``POST /console/supplier/orders/<id>/<step>`` | ``accept`` (its reference), ``reject`` (why), ``tracking`` (carrier, number), ``correct`` (the right number, why), ``stop`` (stopped, or shipped already with the parcel) |
| ``GET /console/supplier/sheet.xlsx`` | everything to answer as a sheet (the spreadsheet channel's) |
| ``GET/POST /console/supplier/returns/<id>`` | receive a return: condition, grade, the policy's checklist, notes, photos |
"""
from __future__ import annotations

from datetime import timedelta

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy import select

from hub.core.db import utcnow
from hub.core.errors import ApiError, Conflict
from hub.domain import fulfilment as flow
from hub.domain.fulfilment import ownership
from hub.domain.fulfilment.allocation import dispatch_lines
from hub.domain.returns import inspection as inspections
from hub.models import Fulfilment, Inspection, Order, ReturnCase, Shipment, Supplier
from hub.web.api.spreadsheets import sheet_download
from hub.web.console import kit
from hub.web.console.kit import console_blueprint as bp
from hub.web.console.kit import page
from hub.web.context import hub, request_session
from hub.web.kit.receipts import MAX_RECEIPT_BYTES, read_receipt, receipt_fields
from hub.web.kit.scope import get_visible, visible

SUPPLIER = frozenset({"supplier"})
COMING_BACK = ("approved", "awaiting_return", "return_in_transit", "received")
SHIPPED_DAYS = 7
STEPS = ("accept", "reject", "tracking", "correct", "stop")
kit.UPLOADS["console.receive"] = MAX_RECEIPT_BYTES


def _rows(session, who, *where):
    stmt = visible(Fulfilment, who).add_columns(Order.platform_order_id).join(
        Order, Order.id == Fulfilment.order_id).where(*where)
    return [(x, number, dispatch_lines(session, x)) for x, number in
            session.execute(stmt.order_by(Fulfilment.requested_at).limit(200))]


@bp.get("/console/supplier")
@page(SUPPLIER)
def portal(who, errors=None, status=200):
    session = request_session()
    f = Fulfilment
    parcels = {x.fulfilment_id: x for x in session.scalars(visible(Shipment, who).where(
        Shipment.direction == "outbound", Shipment.status != "cancelled",  # not corrected
        Shipment.created_at >= utcnow() - timedelta(days=SHIPPED_DAYS)).order_by(Shipment.id))}
    cases = session.scalars(visible(ReturnCase, who).where(ReturnCase.status.in_(COMING_BACK))
                            .order_by(ReturnCase.id)).all()
    return render_template(
        "console/portal.html", who=who, supplier=session.get(Supplier, who.supplier_id),
        to_answer=_rows(session, who, f.status == "requested"),
        to_ship=_rows(session, who, f.status == "accepted"),
        stops=_rows(session, who, f.status == "cancel_requested"),
        shipped=_rows(session, who, f.status == "shipped", f.id.in_(list(parcels))),
        parcels=parcels, cases=cases, errors=errors or {}, done=request.args.get("done"),
        days=SHIPPED_DAYS), status


@bp.post("/console/supplier/orders/<int:fulfilment_id>/<step>")
@page(SUPPLIER)
def answer(who, fulfilment_id, step):
    if step not in STEPS:
        abort(404)
    session, form = request_session(), request.form
    x = get_visible(session, Fulfilment, fulfilment_id, who)
    session.refresh(x, with_for_update=True)
    text = {k: form.get(k, "").strip()[:500] or None
            for k in ("reference", "reason", "carrier", "tracking_number")}
    try:
        _step(session, who, x, step, text, form.get("stopped") == "yes")
    except ApiError as e:
        session.rollback()
        return portal(errors={fulfilment_id: e.message}, status=e.status)
    session.commit()
    return redirect(url_for("console.portal", done=step) + f"#f-{fulfilment_id}", 303)


def _step(session, who, x: Fulfilment, step: str, text: dict, stopped: bool) -> None:
    var_dir, actor = hub().settings.var_dir, who.actor
    if step == "accept":
        flow.accept(session, x, actor, text["reference"])
    elif step == "reject":
        flow.reject(session, x, actor, text["reason"] or "")
    elif step in ("tracking", "correct") and not (text["carrier"] and text["tracking_number"]):
        raise ApiError(_("Give the carrier and the tracking number."), status=422)
    elif step == "tracking":
        flow.submit_tracking(session, x, text["carrier"], text["tracking_number"], actor,
                             var_dir)
    elif step == "correct":
        flow.correct_tracking(session, x, text["carrier"], text["tracking_number"], actor,
                              text["reason"] or "", var_dir)
    elif not stopped and not text["tracking_number"] and flow.outbound_shipment(session, x) \
            is None:
        raise ApiError(_("Shipped already: give the parcel's carrier and tracking number."),
                       status=422)
    else:
        flow.answer_stop_ship(session, x, stopped, actor,
                              reason=text["reason"] or (None if stopped else "already_shipped"),
                              carrier=text["carrier"], tracking_number=text["tracking_number"],
                              var_dir=var_dir)


@bp.get("/console/supplier/sheet.xlsx")
@page(SUPPLIER)
def sheet(who):
    session = request_session()
    return sheet_download(session, session.get(Supplier, who.supplier_id), "xlsx")


@bp.route("/console/supplier/returns/<int:case_id>", methods=["GET", "POST"])
@page(SUPPLIER)
def receive(who, case_id):
    session = request_session()
    case = get_visible(session, ReturnCase, case_id, who)
    checklist = inspections.checklist_for(session, case)
    error = None
    if request.method == "POST":
        try:
            if ownership.foreign_lines(session, case, who.supplier_id):
                raise Conflict(_("This return holds another supplier's goods too: the merchant "
                                 "receives it."))
            session.rollback()  # no transaction while the photos arrive
            data, photos = read_receipt(ignore=("csrf_token",))
            case = get_visible(session, ReturnCase, case_id, who)
            session.refresh(case, with_for_update=True)
            inspections.confirm_return_receipt(
                session, case, who.actor, data["condition"], photos=photos,
                var_dir=hub().settings.var_dir, location=f"supplier:{who.supplier_id}",
                **receipt_fields(data))
            session.commit()
            return redirect(url_for("console.portal", done="received"), 303)
        except ApiError as e:
            session.rollback()
            error = (e.message, e.status)
        except ValidationError as e:
            session.rollback()
            error = ("; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in
                               e.normalized_messages().items()), 422)
    looked = session.scalar(select(Inspection).where(Inspection.merchant_id == who.merchant_id,
                                                     Inspection.return_case_id == case.id))
    return render_template("console/receive.html", who=who, case=case, checklist=checklist,
                           conditions=inspections.CONDITIONS, grades=inspections.GRADES,
                           lines=case.lines, error=error and error[0],
                           inspected=looked), error[1] if error else 200
