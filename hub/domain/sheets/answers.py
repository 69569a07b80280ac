"""Importing a filled-in supplier sheet: check every row, then apply all, the valid, or none.

    report = import_sheet(session, supplier, data, filename, actor, var_dir, apply="all")

Every row is checked against the current state before anything changes (``check_rows``):
the section and answer are known values (English or the Chinese words in ``*_WORDS``); the
fulfilment, return case, claim or statement line belongs to this supplier (a return case
holds lines of its fulfilments and none of another supplier's, whose receipt is the
merchant's: ``hub.domain.fulfilment.ownership``; a claim or statement was sent to it); the
answer fits the section (a reject has a reason; a tracking number has its carrier; a
return's grade is A–D, its scores four numbers 0–5 in halves that agree with the grade and
the condition; a claim's accepted amount is yuan with at most two decimals, above 0 and at
most the claim, a dispute has a reason; a statement's lines are answered all or none,
``confirm`` or ``dispute`` with a reason: ``hub.domain.sheets.statements``); carrier and
tracking number pass the domain's ``hub.domain.fulfilment.validate_tracking`` (known
carrier, the carrier's pattern, not used by another order or a return); no tracking number
appears twice in the sheet and no fulfilment, return, claim or statement line is answered
twice; and the answer still makes sense for the record (an order rejected meanwhile cannot
be accepted, a claim accepted cannot be disputed, a statement answered is not answered
again). An answer the record already reflects is ``unchanged`` (so importing the same
sheet again changes nothing); a row without any answer is ``skipped``. Every problem is
reported with its row number and column.

``apply="all"`` (the default) applies nothing when any row has an error (``ApiError`` 422
``sheet_has_errors`` with the report as details). ``apply="valid"`` applies the rows
without errors. Either way the rows are applied through the domain services
(``hub.domain.fulfilment``, ``hub.domain.returns.inspection``,
``hub.domain.liability.claims``, ``hub.domain.finance.statements``: a statement by its
first row, its other rows following), one savepoint each, in the caller's one transaction;
a row the domain refuses at that moment (a race) becomes an error — under ``all``
everything is then undone. Notices about an answered record are marked acknowledged. The
caller commits.
"""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.core.db import utcnow
from hub.core.errors import ApiError
from hub.domain import fulfilment
from hub.domain.returns import inspection as inspections
from hub.domain.sheets import claims as claim_sheet, statements as statement_sheet
from hub.domain.sheets.checks import MODES, RowCheck, check_rows
from hub.domain.sheets.files import read_sheet
from hub.models import Fulfilment, OutboxMessage, ReturnCase, Supplier, audit


def _acknowledge(session, supplier: Supplier, entity: str, entity_id: int, actor: str) -> None:
    if supplier.channel_account_id is None:
        return
    now = utcnow()
    ids = list(session.scalars(select(OutboxMessage.id).where(
        OutboxMessage.account_id == supplier.channel_account_id,
        OutboxMessage.entity == entity, OutboxMessage.entity_id == entity_id,
        OutboxMessage.status == "sent", OutboxMessage.acknowledged_at.is_(None))))
    if ids:
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                        .values(acknowledged_at=now).execution_options(synchronize_session=False))
        for message_id in ids:
            audit.record(session, supplier.merchant_id, actor, "notice.acknowledged",
                         "outbox_message", message_id, {"via": "sheet",
                                                        "acknowledged_at": now.isoformat()})


def _apply(session, supplier: Supplier, c: RowCheck, actor: str, var_dir,
           checks: list[RowCheck]) -> None:
    if c.section == "statement":
        if statement_sheet.apply(session, c, checks, actor) is not None:
            _acknowledge(session, supplier, "statement", c.statement_id, actor)
        return
    if c.section == "claim":
        claim_sheet.apply(session, c, actor)
        _acknowledge(session, supplier, "claim", c.claim_id, actor)
        return
    if c.action == "receive":
        case = session.get(ReturnCase, c.return_case_id)
        session.refresh(case, with_for_update=True)
        inspections.confirm_return_receipt(
            session, case, actor, c.condition, notes=c.notes, grade=c.grade, scores=c.scores,
            barcode=c.barcode, var_dir=var_dir, location=f"supplier:{supplier.id}")
        _acknowledge(session, supplier, "return_case", case.id, actor)
        return
    f = session.get(Fulfilment, c.fulfilment_id)
    session.refresh(f, with_for_update=True)
    if c.action == "accept":
        fulfilment.accept(session, f, actor)
    elif c.action == "reject":
        fulfilment.reject(session, f, actor, c.reason)
    elif c.action == "ship":
        fulfilment.submit_tracking(session, f, c.carrier, c.tracking_number, actor, var_dir)
    elif c.action == "correct":
        fulfilment.correct_tracking(session, f, c.carrier, c.tracking_number, actor, c.reason,
                                    var_dir)
    elif c.action == "stop_accepted":
        fulfilment.answer_stop_ship(session, f, True, actor, reason=c.reason, var_dir=var_dir)
    elif c.action == "stop_rejected":
        fulfilment.answer_stop_ship(session, f, False, actor, reason=c.reason or "already shipped",
                                  carrier=c.carrier, tracking_number=c.tracking_number,
                                  var_dir=var_dir)
    _acknowledge(session, supplier, "fulfilment", f.id, actor)


def _report(supplier: Supplier, kind: str, mode: str, checks: list[RowCheck]) -> dict:
    counts = {k: 0 for k in ("applied", "unchanged", "skipped", "error", "not_applied")}
    for c in checks:
        counts[c.outcome if c.outcome in counts else "not_applied"] += 1
    return {"supplier_id": supplier.id, "format": kind, "apply": mode, "rows": len(checks),
            "counts": counts, "applied": counts["applied"] > 0,
            "errors": [{"row": c.row, **e} for c in checks for e in c.errors],
            "results": [c.public() for c in checks]}


def import_sheet(session: Session, supplier: Supplier, data: bytes, filename: str | None,
                 actor: str, var_dir=None, apply: str = "all") -> dict:
    """Check and apply a sheet (see the module doc); the report, or ``ApiError``."""
    if apply not in MODES:
        raise ApiError(f"apply must be one of {', '.join(MODES)}", code="validation_error",
                       status=422, details={"apply": [f"one of {', '.join(MODES)}"]})
    kind, rows = read_sheet(data, filename)
    checks = check_rows(session, supplier, rows)
    failed = any(c.outcome == "error" for c in checks)
    if failed and apply == "all":
        for c in checks:
            if c.outcome == "ready":
                c.outcome = "not_applied"
        report = _report(supplier, kind, apply, checks)
        raise ApiError(f"{report['counts']['error']} of {len(checks)} rows have errors; "
                       "nothing was applied. Fix them, or import with apply=valid to apply "
                       "the other rows", code="sheet_has_errors", status=422, details=report)
    for c in checks:
        if c.outcome != "ready":
            continue
        try:
            with session.begin_nested():
                _apply(session, supplier, c, actor, var_dir, checks)
            c.outcome = "applied"
        except ApiError as e:
            c.error("answer", e.message)
            if apply == "all":
                session.rollback()
                for other in checks:
                    if other.outcome in ("applied", "ready"):
                        other.outcome = "not_applied"
                report = _report(supplier, kind, apply, checks)
                raise ApiError(f"row {c.row} could not be applied ({e.message}); nothing was "
                               "applied", code="sheet_has_errors", status=422,
                               details=report) from None
    report = _report(supplier, kind, apply, checks)
    if report["applied"]:
        audit.record(session, supplier.merchant_id, actor, "supplier.sheet_imported",
                     "supplier", supplier.id, {"format": kind, "apply": apply,
                                               "rows": len(checks), **report["counts"]})
    return report
