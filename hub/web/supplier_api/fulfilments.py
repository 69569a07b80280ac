"""A supplier's fulfilments and its answers to them.

* ``GET  /supplier/fulfilments?status=`` and ``GET /supplier/fulfilments/<id>``;
* ``POST /supplier/fulfilments/<id>/accept`` ``{supplier_reference?}`` and ``/reject``
  ``{reason}``;
* ``POST /supplier/fulfilments/<id>/tracking`` ``{carrier, tracking_number}`` → the shipment;
  ``.../tracking-correction`` ``{carrier, tracking_number, reason}`` replaces a wrong one;
* ``POST /supplier/fulfilments/<id>/stop-ship`` ``{accepted, reason?, carrier?,
  tracking_number?}``: accepted (the parcel will not leave), or rejected because it
  already shipped, with its tracking (unless the hub already has it).

The state rules live in the domain (``hub.domain.fulfilment.allocation``, ``hub.domain.fulfilment.stopship``); a wrong state
is a 409 saying why, an unknown or another supplier's id a 404, a bad tracking number a
422. The same answer sent again returns the same result and changes nothing. Every change
is audited with the supplier token as the actor.
"""
from __future__ import annotations

from sqlalchemy.orm import selectinload

from hub.domain import fulfilment as flow
from hub.web.kit import api_blueprint as bp
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.pagination import Page, paginate
from hub.web.kit.schemas import ShipmentOut
from hub.web.kit.scope import get_visible, visible
from hub.core.errors import ApiError
from hub.models import Fulfilment, Order
from hub.web.supplier_api import schemas as s
from hub.web.supplier_api.common import SUPPLIER, TAGS, FulfilmentView, commit, locked, var_dir
from hub.web.context import request_session

LOADED = (selectinload(Fulfilment.order).selectinload(Order.lines),
          selectinload(Fulfilment.lines))


@bp.get("/supplier/fulfilments")
@endpoint(roles=SUPPLIER, query=s.FulfilmentListArgs, response=s.SupplierFulfilmentOut,
          many=True, summary="Your fulfilments (orders to ship), newest first", tags=TAGS)
def supplier_fulfilments(args):
    stmt = visible(Fulfilment, principal()).options(*LOADED)
    if "status" in args:
        stmt = stmt.where(Fulfilment.status == args["status"])
    page = paginate(request_session(), stmt, Fulfilment.id, args)
    return Page([FulfilmentView(f) for f in page.items], page.next_cursor)


@bp.get("/supplier/fulfilments/<int:fulfilment_id>")
@endpoint(roles=SUPPLIER, response=s.SupplierFulfilmentOut, summary="One of your fulfilments",
          tags=TAGS)
def supplier_fulfilment(fulfilment_id):
    return FulfilmentView(get_visible(request_session(), Fulfilment, fulfilment_id,
                                      principal(), *LOADED))


@bp.post("/supplier/fulfilments/<int:fulfilment_id>/accept")
@endpoint(roles=SUPPLIER, body=s.AcceptIn, response=s.SupplierFulfilmentOut,
          summary="Accept an order (send {} when you have no reference of your own)", tags=TAGS)
def supplier_accept(fulfilment_id, body):
    f = locked(Fulfilment, fulfilment_id)
    flow.accept(request_session(), f, principal().actor, body["supplier_reference"])
    commit()
    return FulfilmentView(f)


@bp.post("/supplier/fulfilments/<int:fulfilment_id>/reject")
@endpoint(roles=SUPPLIER, body=s.RejectIn, response=s.SupplierFulfilmentOut,
          summary="Reject an order you cannot fulfil, with the reason", tags=TAGS)
def supplier_reject(fulfilment_id, body):
    f = locked(Fulfilment, fulfilment_id)
    flow.reject(request_session(), f, principal().actor, body["reason"])
    commit()
    return FulfilmentView(f)


@bp.post("/supplier/fulfilments/<int:fulfilment_id>/tracking")
@endpoint(roles=SUPPLIER, body=s.TrackingIn, response=ShipmentOut,
          summary="Hand back the tracking number of the parcel you shipped", tags=TAGS)
def supplier_tracking(fulfilment_id, body):
    f = locked(Fulfilment, fulfilment_id)
    shipment = flow.submit_tracking(request_session(), f, body["carrier"],
                                    body["tracking_number"], principal().actor, var_dir())
    commit()
    return shipment


@bp.post("/supplier/fulfilments/<int:fulfilment_id>/tracking-correction")
@endpoint(roles=SUPPLIER, body=s.TrackingCorrectionIn, response=ShipmentOut,
          summary="Correct a tracking number handed back by mistake (the platform and the "
                  "courier get the new one)", tags=TAGS)
def supplier_tracking_correction(fulfilment_id, body):
    f = locked(Fulfilment, fulfilment_id)
    shipment = flow.correct_tracking(request_session(), f, body["carrier"],
                                     body["tracking_number"], principal().actor,
                                     body["reason"], var_dir())
    commit()
    return shipment


@bp.post("/supplier/fulfilments/<int:fulfilment_id>/stop-ship")
@endpoint(roles=SUPPLIER, body=s.StopShipIn, response=s.SupplierFulfilmentOut,
          summary="Answer a stop-ship request: accepted, or rejected because already shipped "
                  "(with the tracking)", tags=TAGS)
def supplier_stop_ship(fulfilment_id, body):
    session = request_session()
    f = locked(Fulfilment, fulfilment_id)
    if not body["accepted"] and not body.get("tracking_number") \
            and flow.outbound_shipment(session, f) is None:
        raise ApiError("a stop-ship rejected because the parcel already shipped must carry "
                       "its carrier and tracking_number", code="validation_error", status=422,
                       details={"tracking_number": ["required when accepted is false"]})
    flow.answer_stop_ship(session, f, body["accepted"], principal().actor,
                              reason=body.get("reason") or (None if body["accepted"]
                                                            else "already_shipped"),
                              carrier=body.get("carrier"),
                              tracking_number=body.get("tracking_number"), var_dir=var_dir())
    commit()
    return FulfilmentView(f)
