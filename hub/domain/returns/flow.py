"""Returns that go back to a supplier: the return notice, and the supplier's receipt.

**Return parcel** (``ReturnChanged``): a platform record that names the buyer's
return waybill (``ReturnValues.return_carrier`` / ``return_tracking_number``) registers
it through ``hub.domain.tracking.shipments.register_shipment`` as a ``return`` shipment of the case (and
its order), subscribed with the merchant's courier account, before the notice below is
worked out — so the notice carries it. Registering the same parcel again only retries
a subscription that failed; a corrected waybill is a new shipment, the latest one being
the case's. A carrier the mapper did not know (flagged on the case) is registered all
the same (a courier that has no code for it fails the subscription: alert
``tracking_subscription_failed``).

**Return notice** (``ReturnChanged`` and ``ShipmentTracked``): when a
``return_refund`` or ``exchange`` case is ``approved``, ``awaiting_return`` or
``return_in_transit`` and its goods go to the supplier that shipped them
(``Supplier.contract_terms.get("receives_returns", True)``), a ``return_notice`` is
queued on that supplier's channel with the lines it will receive and the buyer's return
tracking when known. The notice's version is a hash of its content: a repeated webhook
queues nothing, and the return tracking arriving later queues an updated notice (which
supersedes the first if that was not sent yet). ``on_expected_return`` sends the
same notice for a parcel that could not be stopped (``hub.domain.fulfilment.stopship``), with
``expected_return: true``.

**Receipt** — ``confirm_return_receipt(session, case, actor, condition, ...)`` records an
``Inspection``: photos are validated (at most 6, each at most 5 MB, JPEG/PNG/WebP by their
magic bytes) and stored content-addressed under ``var_dir/files/<aa>/<sha256>`` (the
same photo twice is one file); the case becomes ``received`` (``inspected`` when a grade
is given). An acceptable condition (``intact``) of a ``return_refund`` tells the platform
(``hub.domain.pushes.platform_actions.confirm_return_receipt``, which refunds on Kuaishou); any other
condition leaves the decision to the merchant (alert ``return_needs_decision``).
Invalid input raises ``ApiError`` 422 having changed nothing; a repeated identical
receipt returns the first inspection.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.db import iso, utcnow
from hub.core.errors import ApiError, Conflict
from hub.core.wakeup import current_var_dir
from hub.domain.fulfilment import fulfilments_for
from hub.domain.pushes import platform_actions, supplier_notices
from hub.domain.returns.states import BEFORE_RECEIPT, RETURN_CASE
from hub.domain.tracking import effects, shipments as tracking
from hub.models import Fulfilment, Inspection, Order, ReturnCase, Shipment, Supplier, alerts, audit
from hub.pipeline.events import ExpectedReturn, ReturnChanged, ShipmentTracked
from hub.pipeline.sync import lock

NOTICE_KINDS = ("return_refund", "exchange", "repair")
NOTICE_STATUSES = ("approved", "awaiting_return", "return_in_transit")
CONDITIONS = ("intact", "damaged", "missing_parts", "wrong_item", "empty", "used")
ACCEPTABLE = ("intact",)
GRADES = ("A", "B", "C", "D")  # A resellable .. D scrap
MAX_PHOTOS = 6
MAX_PHOTO_BYTES = 5 * 1024 * 1024
RECEIVABLE = BEFORE_RECEIPT + ("received", "inspected", "refunded")


# -- return notices ------------------------------------------------------------------------

def on_return_changed(session: Session, event: ReturnChanged) -> None:
    register_return_parcel(session, event.case, event.values.return_carrier,
                           event.values.return_tracking_number)
    notify_return(session, event.case)


def register_return_parcel(session: Session, case: ReturnCase, carrier: str | None,
                           tracking_number: str | None,
                           var_dir: Path | None = None) -> Shipment | None:
    """Register the buyer's return parcel of ``case`` (None when either part is missing)."""
    if not carrier or not tracking_number:
        return None
    return tracking.register_shipment(
        session, merchant_id=case.merchant_id, carrier=carrier,
        tracking_number=tracking_number, direction="return", order_id=case.order_id,
        return_case_id=case.id, var_dir=current_var_dir(var_dir))


def on_shipment_tracked(session: Session, event: ShipmentTracked) -> None:
    """The buyer's return parcel moved: its case moves with it, then the return notice."""
    shipment = event.shipment
    if shipment.direction != "return":
        return
    case = session.get(ReturnCase, shipment.return_case_id) if shipment.return_case_id \
        else None
    if event.status_changed:
        _parcel_progress(session, shipment, case, event.previous_status)
    if case is not None:
        notify_return(session, case)


def _parcel_progress(session: Session, shipment: Shipment, case: ReturnCase | None,
                     previous_status: str) -> None:
    """Picked up or on its way: ``parcel_moving`` (notice ``return_picked_up`` on the
    first such scan); delivered: ``parcel_delivered`` (notice ``return_delivered``)."""
    status = shipment.status
    if status == "delivered":
        event, kind = "parcel_delivered", "return_delivered"
    elif status in effects.ON_THE_WAY:
        first_scan = previous_status in effects.NOT_MOVING
        event, kind = "parcel_moving", "return_picked_up" if first_scan else None
    else:
        return
    if case is not None and RETURN_CASE.can(lock(session, case).status, event):
        to = RETURN_CASE.next(case.status, event)
        audit.record(session, case.merchant_id, effects.ACTOR, f"return.{to}", "return_case",
                     case.id, {"status": [case.status, to], "shipment_id": shipment.id})
        case.status = to
    if kind is not None:
        order_id = shipment.order_id or (case.order_id if case else None)
        order = session.get(Order, order_id) if order_id else None
        effects.notice(session, shipment, kind, order,
                       effects.fulfilment_of(session, shipment, order))


def return_shipment(session: Session, case: ReturnCase | None) -> Shipment | None:
    if case is None:
        return None
    return session.scalar(select(Shipment).where(
        Shipment.return_case_id == case.id, Shipment.direction == "return")
        .order_by(Shipment.id.desc()).limit(1))


def _receives_returns(supplier: Supplier) -> bool:
    return bool((supplier.contract_terms or {}).get("receives_returns", True))


def receiving_suppliers(session: Session, case: ReturnCase) -> list[Supplier]:
    """The suppliers the goods of ``case`` go back to: those that shipped its lines and
    receive returns (none: the goods go to the merchant)."""
    if case.order_id is None:
        return []
    order = session.get(Order, case.order_id)
    ids = dict.fromkeys(f.supplier_id for f in fulfilments_for(order, case)
                        if f.shipped_at is not None)
    suppliers = [session.get(Supplier, supplier_id) for supplier_id in ids]
    return [x for x in suppliers if x is not None and _receives_returns(x)]


def _lines(order: Order, fulfilment: Fulfilment, case: ReturnCase | None) -> list[dict]:
    mine = {x.order_line_id for x in fulfilment.lines}
    if case is not None and case.lines:
        picked = [x for x in case.lines if x.order_line_id in mine]
        return [{"sku": x.sku, "quantity": x.quantity} for x in (picked or case.lines)]
    skus = {line.id: line.sku for line in order.lines}
    return [{"sku": skus.get(x.order_line_id, ""), "quantity": x.quantity}
            for x in fulfilment.lines]


def _send(session, fulfilment, order, case, var_dir):
    supplier = session.get(Supplier, fulfilment.supplier_id)
    if not _receives_returns(supplier):
        return None  # the goods go to the merchant: nothing to tell the supplier
    payload = supplier_notices.return_notice(fulfilment, order, case,
                                             _lines(order, fulfilment, case),
                                             return_shipment(session, case))
    entity, entity_id = ("return_case", case.id) if case else ("fulfilment", fulfilment.id)
    return supplier_notices.send(session, supplier, supplier_notices.RETURN_NOTICE, entity,
                                 entity_id, payload, supplier_notices.content_version(payload),
                                 var_dir=var_dir)


def notify_return(session: Session, case: ReturnCase | None, var_dir: Path | None = None) -> list:
    """Queue the return notice(s) of ``case`` if its goods are on their way to a supplier."""
    if (case is None or case.kind not in NOTICE_KINDS or case.status not in NOTICE_STATUSES
            or case.order_id is None):
        return []
    order = session.get(Order, case.order_id)
    shipped = [f for f in fulfilments_for(order, case) if f.shipped_at is not None]
    sent = [_send(session, f, order, case, var_dir) for f in shipped]
    return [m for m in sent if m is not None]


def on_expected_return(session: Session, event: ExpectedReturn) -> None:
    """Tell the supplier a parcel it shipped is coming back (it could not be stopped)."""
    fulfilment = event.fulfilment
    order = fulfilment.order
    cases = session.scalars(select(ReturnCase).where(
        ReturnCase.order_id == order.id, ReturnCase.status.not_in(("rejected", "closed")))
        .order_by(ReturnCase.id.desc()))
    case = next((c for c in cases if fulfilment in fulfilments_for(order, c)), None)
    _send(session, fulfilment, order, case, None)


# -- receipt -----------------------------------------------------------------------------------

def image_kind(data: bytes) -> str | None:
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _validate(condition, grade, photos, notes, barcode, checklist) -> None:
    errors: dict[str, list[str]] = {}
    if condition not in CONDITIONS:
        errors["condition"] = [f"must be one of {', '.join(CONDITIONS)}"]
    if grade is not None and grade not in GRADES:
        errors["grade"] = [f"must be one of {', '.join(GRADES)}"]
    if len(photos) > MAX_PHOTOS:
        errors.setdefault("photos", []).append(f"at most {MAX_PHOTOS} photos, got {len(photos)}")
    for n, data in enumerate(photos, 1):
        if not isinstance(data, (bytes, bytearray)):
            errors.setdefault("photos", []).append(f"photo {n} is not binary data")
        elif len(data) > MAX_PHOTO_BYTES:
            errors.setdefault("photos", []).append(
                f"photo {n} is {len(data) / 1048576:.1f} MB; at most 5 MB each")
        elif image_kind(bytes(data[:12])) is None:
            errors.setdefault("photos", []).append(f"photo {n} is not a JPEG, PNG or WebP image")
    if notes is not None and len(notes) > 2000:
        errors["notes"] = ["at most 2000 characters"]
    if barcode is not None and len(barcode) > 128:
        errors["barcode"] = ["at most 128 characters"]
    if checklist is not None and not isinstance(checklist, dict):
        errors["checklist"] = ["must be an object"]
    elif checklist and "\\u0000" in json.dumps(checklist):
        errors["checklist"] = ["must not contain NUL characters"]
    for name, text in (("notes", notes), ("barcode", barcode)):
        if isinstance(text, str) and "\x00" in text:
            errors.setdefault(name, []).append("must not contain NUL characters")
    if errors:
        raise ApiError("the return receipt is invalid", code="validation_error", status=422,
                       details=errors)


def photo_path(var_dir: Path, digest: str) -> Path:
    return Path(var_dir) / "files" / digest[:2] / digest


def store_photo(var_dir: Path, data: bytes) -> str:
    """Write ``data`` content-addressed (once); returns its sha256 hex."""
    digest = hashlib.sha256(data).hexdigest()
    path = photo_path(var_dir, digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)  # atomic: a reader never sees half a file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return digest


def confirm_return_receipt(session: Session, return_case: ReturnCase, actor: str,
                           condition: str, notes: str | None = None, grade: str | None = None,
                           photos=(), barcode: str | None = None, checklist: dict | None = None,
                           var_dir: Path | None = None) -> Inspection:
    photos = list(photos or ())
    _validate(condition, grade, photos, notes, barcode, checklist)
    case = lock(session, return_case)
    if case.status not in RECEIVABLE:
        raise Conflict(f"return case {case.id} is {case.status}: no goods are expected",
                       details={"status": case.status})
    var_dir = current_var_dir(var_dir)
    if photos and var_dir is None:
        raise RuntimeError("var_dir is needed to store photos")
    hashes = [store_photo(var_dir, bytes(data)) for data in photos]
    same = session.scalars(select(Inspection).where(
        Inspection.return_case_id == case.id, Inspection.inspected_by == actor[:128],
        Inspection.condition == condition).order_by(Inspection.id.desc()))
    for earlier in same:
        if (earlier.grade, earlier.notes, earlier.barcode, earlier.photos,
                earlier.checklist or {}) == (grade, notes, barcode, hashes, checklist or {}):
            return earlier  # the same receipt again
    now = utcnow()
    inspection = Inspection(merchant_id=case.merchant_id, return_case_id=case.id,
                            inspected_by=actor[:128], received_at=now, condition=condition,
                            grade=grade, notes=notes, photos=hashes, barcode=barcode,
                            checklist=checklist or {})
    session.add(inspection)
    before, event = case.status, "inspect" if grade else "receive"
    if RETURN_CASE.can(before, event):
        case.status = RETURN_CASE.next(before, event)
    if before in BEFORE_RECEIPT + ("received",):  # "received" may be the courier's word
        for line in case.lines:
            line.qty_received = line.qty_received or line.quantity
            if condition == "damaged":
                line.qty_damaged = line.qty_damaged or line.quantity
    session.flush()
    tell_platform = (condition in ACCEPTABLE and case.kind == "return_refund"
                     and before in BEFORE_RECEIPT + ("received",))
    audit.record(session, case.merchant_id, actor, "return_case.received", "return_case",
                 case.id, {"inspection_id": inspection.id, "received_at": iso(now),
                           "condition": condition, "grade": grade, "photos": hashes,
                           "status": [before, case.status],
                           "platform_confirmation": tell_platform})
    if tell_platform:
        platform_actions.confirm_return_receipt(session, case, var_dir=var_dir)
    elif condition not in ACCEPTABLE:
        alerts.raise_alert(
            session, case.merchant_id, "return_needs_decision", "return_case", case.id,
            f"Return {case.platform_return_id} arrived {condition}: decide whether to refund, "
            "refund partly or dispute it.",
            details={"inspection_id": inspection.id, "condition": condition, "grade": grade,
                     "notes": notes, "photos": hashes, "received_by": actor})
    return inspection
