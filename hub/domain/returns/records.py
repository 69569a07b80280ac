"""A platform's return record (``ReturnValues``) applied to the common model.

The status follows the return case's state machine (``hub.domain.returns.states``): it never
goes backwards; a platform status the hub's progress overrides is audited
(``return_case.status_kept``) when the platform's raw status changed, and every other
field is still updated, but a reason the merchant corrected is kept. The reason is the
platform's code when the taxonomy has it (``hub.domain.reasons``), else the buyer's words
classified (``reason_source`` ``keyword`` | ``model`` | ``correction``, with its
confidence). Older records are
dropped by ``remote_updated_at``. A new case gets its buyer page's unguessable token; the
buyer's platform id is stored as a keyed hash (``buyer_ref``: repeat returners are
counted by it).

A change publishes ``ReturnChanged`` (the return parcel and notice, and stop-ship,
subscribe to it).
"""
from __future__ import annotations

import secrets

from sqlalchemy import select

from hub.core import crypto
from hub.domain.reasons import classifier, taxonomy
from hub.domain.returns.states import platform_status
from hub.models import Order, ReasonCorrection, ReturnCase, ReturnLine, audit
from hub.pipeline.events import ReturnChanged
from hub.pipeline.sync import upsert
from hub.values import ReturnValues


def apply_return(session, account, v: ReturnValues):
    order = None
    if v.platform_order_id:
        order = session.scalar(select(Order).where(
            Order.merchant_id == account.merchant_id, Order.shop_account_id == account.id,
            Order.platform_order_id == v.platform_order_id))
    reason_code, reason_source, confidence = _reason(session, account, v)
    fields = dict(
        shop_account_id=account.id, order_id=order.id if order else None,
        platform_return_id=v.platform_return_id, kind=v.kind, reason_code=reason_code,
        reason_source=reason_source, reason_confidence=confidence,
        reason_text=v.reason_text, status=v.status, raw_status=v.raw_status,
        refund_minor=v.refund_minor, currency=v.currency, requested_at=v.requested_at,
        respond_by=v.respond_by, buyer_ship_by=v.buyer_ship_by,
        remote_updated_at=v.remote_updated_at, flags=list(v.flags),
        buyer_photos=v.buyer_photos, buyer_ref=_buyer_key(account, v.buyer_ref))
    before: dict = {}

    def keep_progress(case, fields):
        before.update(status=case.status, raw_status=case.raw_status)
        fields = {**fields, "status": platform_status(case.status, v.status)}
        if case.reason_source == "merchant":  # a merchant's correction outlives updates
            for key in ("reason_code", "reason_source", "reason_confidence"):
                fields.pop(key)
        return fields

    outcome, case = upsert(session, account, v, ReturnCase, fields, keep_progress)
    if case is None:
        return outcome, None
    if outcome == "created":
        case.public_token = secrets.token_urlsafe(24)
    if case.status != v.status and before.get("raw_status") != v.raw_status:
        audit.record(session, case.merchant_id, f"connector:{account.connector}:{account.id}",
                     "return_case.status_kept", "return_case", case.id,
                     {"status": case.status, "platform_status": v.status,
                      "raw_status": [before.get("raw_status"), v.raw_status]})
    _lines(case, order, v)
    session.flush()
    return outcome, ReturnChanged(account, case, v, before.get("status"), case.status)


def _reason(session, account, v: ReturnValues) -> tuple[str, str, int | None]:
    """The case's reason code, where it came from and how sure: the platform's code when
    it is one of the taxonomy's; else the buyer's words classified (a correction the
    merchant made for the same words first); else the code's family."""
    if v.reason_code != "other" and taxonomy.is_code(v.reason_code):
        return v.reason_code, "platform", None
    if not (v.reason_text or "").strip():
        return taxonomy.family_of(v.reason_code), "platform", None
    key = classifier.normalise(v.reason_text)
    corrected = session.scalar(select(ReasonCorrection.to_code).where(
        ReasonCorrection.merchant_id == account.merchant_id,
        ReasonCorrection.text_key == key[:1000])
        .order_by(ReasonCorrection.id.desc()).limit(1))
    found = classifier.classify(v.reason_text, {key: corrected} if corrected else None)
    return found.code, found.source, round(found.confidence * 100)


def _buyer_key(account, buyer_ref: str | None) -> str | None:
    """The platform's buyer id as a keyed hash (``crypto.fingerprint``): enough to count a
    buyer's returns, not reversible by trying ids."""
    if not buyer_ref:
        return None
    return crypto.fingerprint(f"{account.connector}:{buyer_ref}")


def _lines(case: ReturnCase, order: Order | None, v: ReturnValues) -> None:
    order_lines = {}
    if order is not None:
        for line in order.lines:
            order_lines.setdefault(line.platform_line_id, line)
            order_lines.setdefault(line.sku, line)
    existing = {line.sku: line for line in case.lines}
    for lv in v.lines:
        line = existing.get(lv.sku)
        if line is None:
            line = ReturnLine(merchant_id=case.merchant_id, sku=lv.sku)
            case.lines.append(line)
        match = order_lines.get(lv.platform_line_id) or order_lines.get(lv.sku)
        line.order_line_id = match.id if match else None
        line.quantity, line.reason_code = lv.quantity, lv.reason_code
