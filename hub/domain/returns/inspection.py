"""Receiving and inspecting returned goods: the receipt, its evidence, the grade, and the
disposition the grade suggests.

**Receipt** — ``confirm_return_receipt(session, case, actor, condition, ...)`` records an
``Inspection``: photos are validated (at most 6, each at most 5 MB, JPEG/PNG/WebP by their
magic bytes) and stored content-addressed under ``var_dir/files/<aa>/<sha256>`` (the
same photo twice is one file); the case becomes ``received`` (``inspected`` when it is
graded). An acceptable condition (``intact``) of a ``return_refund`` whose barcode is not
the wrong item and whose checklist has no item answered ``false`` tells the platform
(``hub.domain.pushes.platform_actions.confirm_return_receipt``, which refunds on
Kuaishou), once per case; anything else leaves the decision to the merchant (alert
``return_needs_decision``), except for a repair, whose goods come back faulty by design
and are not booked into the returns stock (they go back to the buyer). The goods enter the returns stock of ``location``
(``hub.domain.returns.stock``). Invalid input raises ``ApiError`` 422 having changed
nothing; a repeated identical receipt returns the first inspection and books nothing.

**Checklist** — ``checklist_for(session, case)``: what the policy in force asks an
inspector to check for the categories of the case's SKUs (``Policy.category``), and for a
return without a fault what it must come back with (``Policy.conditions``). The
inspection keeps the answers as given (``{item: true | false | text | number}``).

**What was shipped** — a scanned ``barcode`` is compared with what the case's lines
shipped: their SKUs, the platform's SKU ids, the suppliers' SKUs (``SkuMapping``) and the
catalogue's barcodes (``Product.barcode``, the EAN on the goods),
case and surrounding spaces ignored. ``serial_matched`` is True or False (alert
``return_wrong_item`` on the case), None when nothing was scanned. A ``serial`` is kept
as evidence; no serial is recorded at dispatch yet, so it is not compared.

**Grade and disposition** — ``hub.domain.returns.grading``.

**Override** — ``override_disposition(session, inspection, disposition, reason, actor)``:
the merchant's choice on the case's latest inspection, with a reason (422 without one;
409 on an earlier inspection), audited ``inspection.disposition_overridden``; the units the
case holds move to the new disposition.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.db import MAX_ID, iso, utcnow
from hub.core.errors import ApiError, Conflict
from hub.core.wakeup import current_var_dir
from hub.domain.policy import versions
from hub.domain.policy.review import BUYER_FAMILIES
from hub.domain.policy.document import DISPOSITIONS, GRADES
from hub.domain.pushes import platform_actions
from hub.domain.reasons import taxonomy
from hub.domain.returns import grading, resolutions, stock
from hub.domain.returns.states import BEFORE_RECEIPT, RETURN_CASE
from hub.models import (
    Inspection, OrderLine, OutboxMessage, Product, ReturnCase, SkuMapping, alerts, audit,
)
from hub.pipeline import events
from hub.pipeline.sync import lock

CONDITIONS = ("intact", "damaged", "missing_parts", "wrong_item", "empty", "used")
ACCEPTABLE = ("intact",)
MAX_PHOTOS = 6
MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_CHECKLIST = 50
RECEIVABLE = BEFORE_RECEIPT + ("received", "inspected", "refunded")


def _invalid(errors: dict) -> ApiError:
    return ApiError("the return receipt is invalid", code="validation_error", status=422,
                    details=errors)


# -- validating ------------------------------------------------------------------------------

def image_kind(data: bytes) -> str | None:
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def score_errors(scores) -> list[str]:
    if not isinstance(scores, dict):
        return ["must be an object of the dimensions' scores"]
    unknown = sorted(set(scores) - set(grading.DIMENSIONS), key=str)
    missing = [d for d in grading.DIMENSIONS if d not in scores]
    if unknown or missing:
        return [f"score every one of {', '.join(grading.DIMENSIONS)}"
                + (f"; unknown: {', '.join(map(str, unknown))}" if unknown else "")]
    bad = [d for d in grading.DIMENSIONS if not _number(scores[d]) or not 0 <= scores[d] <= 5
           or scores[d] * 2 != int(scores[d] * 2)]
    return [f"{', '.join(bad)}: 0 to 5, in whole or half points"] if bad else []


def _checklist_errors(checklist) -> list[str]:
    if not isinstance(checklist, dict):
        return ["must be an object"]
    if len(checklist) > MAX_CHECKLIST:
        return [f"at most {MAX_CHECKLIST} items"]
    if "\\u0000" in json.dumps(checklist):
        return ["must not contain NUL characters"]
    for item, answer in checklist.items():
        if not 0 < len(item) <= 64:
            return ["each item is named in 1 to 64 characters"]
        if not (isinstance(answer, bool) or _number(answer)
                or (isinstance(answer, str) and len(answer) <= 200)):
            return [f"{item[:64]}: true, false, a number or a text of at most 200 characters"]
    return []


def validate_receipt(condition, grade, photos, notes, barcode, checklist, scores=None,
                     serial=None, repair_cost_minor=None) -> None:
    """``ApiError`` 422 naming every bad field (nothing is read or written)."""
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
    for name, code in (("barcode", barcode), ("serial", serial)):
        if code is not None and not 0 < len(code) <= 128:
            errors[name] = ["1 to 128 characters"]
    if checklist is not None and _checklist_errors(checklist):
        errors["checklist"] = _checklist_errors(checklist)
    if scores and score_errors(scores):
        errors["scores"] = score_errors(scores)
    if repair_cost_minor is not None and (not isinstance(repair_cost_minor, int) or isinstance(
            repair_cost_minor, bool) or not 0 <= repair_cost_minor <= MAX_ID):
        errors["repair_cost_minor"] = ["a whole number of fen, at least 0"]
    for name, text in (("notes", notes), ("barcode", barcode), ("serial", serial)):
        if isinstance(text, str) and "\x00" in text:
            errors.setdefault(name, []).append("must not contain NUL characters")
    if errors:
        raise _invalid(errors)


# -- photos ----------------------------------------------------------------------------------

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


# -- checklist, what was shipped ---------------------------------------------------------------

def checklist_for(session: Session, case: ReturnCase) -> list[str]:
    """The items the policy in force asks to check for the categories of the case's SKUs;
    for a return without a fault (the buyer's reasons), also what it must come back with
    (``conditions``: unopened, tags attached, original packaging)."""
    policy = versions.in_force(session, case.merchant_id)
    categories = versions.categories_of(session, case.merchant_id, [x.sku for x in case.lines])
    changed_mind = taxonomy.family_of(case.reason_code) in BUYER_FAMILIES
    items: list[str] = []
    for category in sorted(set(categories.values())) or ["default"]:
        wanted = policy.category(category).get("checklist", []) + (
            policy.conditions(category) if changed_mind else [])
        items += [x for x in wanted if x not in items]
    return items


def _shipped_codes(session: Session, case: ReturnCase) -> set[str]:
    skus = {x.sku for x in case.lines}
    codes = set(skus)
    line_ids = [x.order_line_id for x in case.lines if x.order_line_id]
    if line_ids:
        for sku, platform_id in session.execute(select(OrderLine.sku, OrderLine.platform_sku_id)
                                                .where(OrderLine.id.in_(line_ids))):
            skus.add(sku)
            codes |= {sku, platform_id}
    if skus:
        codes |= set(session.scalars(select(SkuMapping.supplier_sku).where(
            SkuMapping.merchant_id == case.merchant_id, SkuMapping.sku.in_(skus))))
        codes |= set(session.scalars(select(Product.barcode).where(
            Product.merchant_id == case.merchant_id, Product.sku.in_(skus))))
    return {_code(x) for x in codes if x}


def _code(text: str) -> str:
    return text.strip().casefold()


def matches_shipped(session: Session, case: ReturnCase, barcode: str | None) -> bool | None:
    """Whether the scanned ``barcode`` is one of what was shipped (None: nothing to compare)."""
    if not barcode:
        return None
    shipped = _shipped_codes(session, case)
    return _code(barcode) in shipped if shipped else None


# -- receipt ---------------------------------------------------------------------------------

def _same(earlier: Inspection, found: dict) -> bool:
    return all((getattr(earlier, k) or None) == (v or None) for k, v in found.items())


def confirm_return_receipt(session: Session, return_case: ReturnCase, actor: str,
                           condition: str, notes: str | None = None, grade: str | None = None,
                           photos=(), barcode: str | None = None, checklist: dict | None = None,
                           var_dir: Path | None = None, *, scores: dict | None = None,
                           serial: str | None = None, repair_cost_minor: int | None = None,
                           location: str = stock.DEFAULT_LOCATION) -> Inspection:
    photos = list(photos or ())
    validate_receipt(condition, grade, photos, notes, barcode, checklist, scores, serial,
                     repair_cost_minor)
    if stock.location_errors(location):
        raise _invalid({"location": stock.location_errors(location)})
    case = lock(session, return_case)
    if case.status not in RECEIVABLE:
        raise Conflict(f"return case {case.id} is {case.status}: no goods are expected",
                       details={"status": case.status})
    terms = grading.grading_of(session, case.merchant_id)
    grade = grading.grade_of(terms, condition, grade, scores)
    var_dir = current_var_dir(var_dir)
    if photos and var_dir is None:
        raise RuntimeError("var_dir is needed to store photos")
    hashes = [store_photo(var_dir, bytes(data)) for data in photos]
    found = {"grade": grade, "notes": notes, "barcode": barcode, "photos": hashes,
             "checklist": checklist, "scores": scores, "serial": serial,
             "repair_cost_minor": repair_cost_minor}
    for earlier in session.scalars(select(Inspection).where(
            Inspection.return_case_id == case.id, Inspection.inspected_by == actor[:128],
            Inspection.condition == condition).order_by(Inspection.id.desc())):
        if _same(earlier, found):
            return earlier  # the same receipt again
    now = utcnow()
    before, event = case.status, "inspect" if grade else "receive"
    if RETURN_CASE.can(before, event):
        case.status = RETURN_CASE.next(before, event)
    if before in BEFORE_RECEIPT + ("received",):  # "received" may be the courier's word
        for line in case.lines:
            line.qty_received = line.qty_received or line.quantity
            if condition == "damaged":
                line.qty_damaged = line.qty_damaged or line.quantity
    disposition, price = grading.suggest(session, case, grade, repair_cost_minor, terms,
                                 stock.received(case, condition))
    matched = matches_shipped(session, case, barcode)
    inspection = Inspection(
        merchant_id=case.merchant_id, return_case_id=case.id, inspected_by=actor[:128],
        received_at=now, condition=condition, grade=grade, notes=notes, photos=hashes,
        barcode=barcode, checklist=checklist or {}, scores=scores or {}, serial=serial,
        serial_matched=matched, suggested_disposition=disposition, disposition=disposition,
        resale_price_minor=price, repair_cost_minor=repair_cost_minor)
    session.add(inspection)
    session.flush()
    if case.kind != "repair":  # a repair's goods are the buyer's: they go back to them
        stock.book(session, case, inspection, location, actor)
    unmet = [item for item, answer in (checklist or {}).items() if answer is False]
    tell_platform = (condition in ACCEPTABLE and case.kind == "return_refund"
                     and before in BEFORE_RECEIPT + ("received",) and matched is not False
                     and not unmet and not _receipt_confirmed(session, case))
    audit.record(session, case.merchant_id, actor, "return_case.received", "return_case",
                 case.id, {"inspection_id": inspection.id, "received_at": iso(now),
                           "condition": condition, "grade": grade, "photos": hashes,
                           "disposition": disposition, "location": location,
                           "serial_matched": matched, "status": [before, case.status],
                           "platform_confirmation": tell_platform})
    if matched is False:
        alerts.raise_alert(
            session, case.merchant_id, "return_wrong_item", "return_case", case.id,
            f"Return {case.platform_return_id}: the scanned code {barcode} is not what was "
            "shipped: check the goods before refunding.",
            details={"inspection_id": inspection.id, "barcode": barcode,
                     "shipped": sorted(_shipped_codes(session, case))})
    if tell_platform:
        platform_actions.confirm_return_receipt(session, case, var_dir=var_dir)
    elif (condition not in ACCEPTABLE or unmet) and case.kind != "repair":  # faulty by design
        alerts.raise_alert(
            session, case.merchant_id, "return_needs_decision", "return_case", case.id,
            f"Return {case.platform_return_id} arrived {condition}"
            + (f", failing {', '.join(unmet)}" if unmet else "")
            + ": decide whether to refund, refund partly or dispute it.",
            details={"inspection_id": inspection.id, "condition": condition, "grade": grade,
                     "notes": notes, "photos": hashes, "received_by": actor,
                     "checklist_failed": unmet})
    resolutions.after_progress(session, case)  # an exchange or repair back: send it on
    events.publish(session, events.ReturnInspected(case, inspection))
    return inspection


# -- the merchant's override -------------------------------------------------------------------

def _receipt_confirmed(session: Session, case: ReturnCase) -> bool:
    """Whether the platform was already told the goods are back (an earlier inspection,
    or a fast refund): the receipt refunds, so it is sent once."""
    return session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.merchant_id == case.merchant_id, OutboxMessage.entity == "return_case",
        OutboxMessage.entity_id == case.id, OutboxMessage.topic == "return_receipt",
        OutboxMessage.status != "dead").limit(1)) is not None


def override_disposition(session: Session, inspection: Inspection, disposition: str,
                         reason: str, actor: str) -> Inspection:
    errors = {}
    if disposition not in DISPOSITIONS:
        errors["disposition"] = [f"must be one of {', '.join(DISPOSITIONS)}"]
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
        errors["reason"] = ["say why the disposition changes, in at most 500 characters"]
    if errors:
        raise ApiError("the override is invalid", code="validation_error", status=422,
                       details=errors)
    case = lock(session, session.get(ReturnCase, inspection.return_case_id))
    lock(session, inspection)  # as a concurrent override may have left it
    latest = session.scalar(select(Inspection.id).where(
        Inspection.return_case_id == case.id).order_by(Inspection.id.desc()).limit(1))
    if latest != inspection.id:
        raise Conflict(f"inspection {inspection.id} was followed by inspection {latest}: "
                       "decide on the latest", details={"latest_inspection_id": latest})
    before = inspection.disposition
    if disposition == before:
        return inspection
    moved = stock.shift(session, case, inspection, disposition, actor, reason.strip())
    if disposition == "discount" and inspection.resale_price_minor is None \
            and inspection.grade is not None:
        terms = grading.grading_of(session, case.merchant_id)
        inspection.resale_price_minor = grading.price(
            grading.value_of(session, case, stock.received(case, inspection.condition)),
            terms["discount"][inspection.grade])
    inspection.disposition = disposition
    inspection.disposition_reason = reason.strip()
    inspection.disposition_by = actor[:128]
    audit.record(session, case.merchant_id, actor, "inspection.disposition_overridden",
                 "inspection", inspection.id, {
                     "disposition": [before, disposition], "reason": reason.strip(),
                     "suggested": inspection.suggested_disposition, "units_moved": moved})
    return inspection
