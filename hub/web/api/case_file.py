"""A return case's electronic file (``hub.domain.returns.casefile``).

* ``GET /returns/<id>/file`` — the whole record of the case as JSON: ``case``, ``lines``,
  ``parcels`` and the ``timeline`` of every event with its time (UTC) and source, plus
  ``buyer_page``, the link to send the buyer (``hub.web.buyer_page``).
* ``GET /returns/<id>/file.html`` — the same, as a printable page (A4, Chinese and
  English headings, times in China time, Asia/Shanghai: the hub keeps no time zone per
  merchant).

For ``merchant_admin``, ``operator`` and ``finance`` tokens, scoped to the token's
merchant: another merchant's case is a 404.
"""
from __future__ import annotations

import json

from flask import render_template
from marshmallow import fields

from hub.core.china import ZONE, china_time, yuan
from hub.core.db import utcnow
from hub.domain.returns.casefile import casefile
from hub.domain.returns.progress import buyer_link
from hub.models import Merchant, ReturnCase
from hub.web.context import hub, request_session
from hub.web.kit import api_blueprint as bp
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.fields import Id, Integer, Money
from hub.web.kit.schemas import Out, ReturnLineOut
from hub.web.kit.scope import get_visible

ROLES = {"merchant_admin", "operator", "finance"}
TAGS = ["returns"]


def _time(**kw):
    return fields.String(allow_none=True, metadata={"format": "date-time",
                                                    "description": "ISO 8601, UTC"}, **kw)


class FileCaseOut(Out):
    id = Id()
    platform_return_id = fields.String()
    shop_account_id = Id()
    order_id = Id(allow_none=True)
    platform_order_id = fields.String(allow_none=True)
    kind = fields.String()
    status = fields.String()
    raw_status = fields.String(allow_none=True)
    reason_code = fields.String()
    reason_text = fields.String(allow_none=True)
    reason_source = fields.String(allow_none=True)
    reason_confidence = Integer(allow_none=True, metadata={"description": "percent"})
    refund_minor = Money()
    currency = fields.String()
    freight_payer = fields.String(allow_none=True)
    buyer_photos = Integer()
    flags = fields.List(fields.String())
    requested_at = _time()
    respond_by = _time()
    buyer_ship_by = _time()
    receive_by = _time()
    remote_updated_at = _time()
    created_at = _time()
    updated_at = _time()


class FileTrackingOut(Out):
    at = _time()
    status = fields.String()
    raw_status = fields.String(allow_none=True)
    description = fields.String()
    location = fields.String(allow_none=True)


class FileParcelOut(Out):
    id = Id()
    direction = fields.String(metadata={
        "enum": ["return", "outbound"], "description": "outbound: the case's second dispatch"})
    carrier = fields.String()
    tracking_number = fields.String()
    status = fields.String()
    raw_status = fields.String(allow_none=True)
    shipped_at = _time()
    delivered_at = _time()
    interception_status = fields.String()
    subscription_status = fields.String()
    events = fields.List(fields.Nested(FileTrackingOut))


class TimelineEntryOut(Out):
    at = _time()
    source = fields.String(metadata={"description": "platform, hub, courier, "
                                     "supplier:<id>, policy:v<n>, or a merchant's actor"})
    actor = fields.String(allow_none=True)
    kind = fields.String(metadata={"enum": ["case", "audit", "message", "delivery",
                                            "policy", "inspection", "stock", "alert",
                                            "tracking"]})
    action = fields.String()
    id = Id(metadata={"description": "the row's id in its kind's table"})
    details = fields.Dict(keys=fields.String())


class ReturnFileOut(Out):
    case = fields.Nested(FileCaseOut)
    lines = fields.List(fields.Nested(ReturnLineOut))
    parcels = fields.List(fields.Nested(FileParcelOut))
    timeline = fields.List(fields.Nested(TimelineEntryOut))
    buyer_page = fields.String(allow_none=True, metadata={
        "description": "the buyer's progress page, to send the buyer"})


def _file(return_id: int) -> dict:
    session = request_session()
    case = get_visible(session, ReturnCase, return_id, principal())
    return {**casefile(session, case),
            "buyer_page": buyer_link(case, hub().settings.public_url)}


@bp.get("/returns/<int:return_id>/file")
@endpoint(roles=ROLES, response=ReturnFileOut, tags=TAGS,
          summary="The return's electronic file: every event with its time and source")
def return_file(return_id):
    return _file(return_id)


def shown(value) -> str:
    """A detail's value as text: lists one item a line, objects as compact JSON."""
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return "\n".join(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


@bp.get("/returns/<int:return_id>/file.html")
@endpoint(roles=ROLES, produces="text/html", tags=TAGS,
          summary="The return's electronic file as a printable page")
def return_file_html(return_id):
    document = _file(return_id)
    merchant = request_session().get(Merchant, principal().merchant_id)
    return render_template(
        "return_file.html", file=document, merchant=merchant.name if merchant else "",
        zone=ZONE, printed=china_time(utcnow(), seconds=True),
        when=lambda at: china_time(at, seconds=True),
        shown=shown, money=yuan)
