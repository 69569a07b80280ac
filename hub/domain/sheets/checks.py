"""Checking a filled-in supplier sheet, row by row, before anything changes
(``check_rows``; the rules are listed in ``hub.domain.sheets.answers``; a claim's answer is
checked in ``hub.domain.sheets.claims``, a statement's in ``hub.domain.sheets.statements``)."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.errors import ApiError
from hub.domain import fulfilment
from hub.domain.fulfilment import ownership
from hub.domain.returns import grading, inspection as inspections
from hub.domain.returns.inspection import CONDITIONS, GRADES
from hub.domain.returns.states import BEFORE_RECEIPT
from hub.domain.sheets import claims as claim_sheet, statements as statement_sheet
from hub.domain.sheets.files import ANSWER_KEYS
from hub.models import Fulfilment, Inspection, ReturnCase, Supplier

SECTION_WORDS = {"dispatch": "dispatch", "发货": "dispatch", "订单": "dispatch",
                 "stop_ship": "stop_ship", "stop-ship": "stop_ship", "停发": "stop_ship",
                 "截单": "stop_ship", "return": "return", "退货": "return",
                 "claim": "claim", "索赔": "claim", "statement": "statement",
                 "对账单": "statement", "对账": "statement"}
DISPATCH_WORDS = {"accept": "accept", "accepted": "accept", "接单": "accept", "接受": "accept",
                  "reject": "reject", "rejected": "reject", "拒单": "reject", "拒绝": "reject",
                  "correct": "correct", "更正": "correct"}   # a wrong tracking number
STOP_WORDS = {"accepted": "accepted", "accept": "accepted", "同意": "accepted",
              "已停发": "accepted", "rejected": "rejected", "reject": "rejected",
              "拒绝": "rejected", "已发货": "rejected"}
RETURN_WORDS = {"received": "received", "receive": "received", "已收货": "received",
                "收到": "received"}
CLAIM_WORDS = {"accept": "accept", "accepted": "accept", "同意": "accept", "接受": "accept",
               "dispute": "dispute", "disputed": "dispute", "reject": "dispute",
               "拒绝": "dispute", "申诉": "dispute", "异议": "dispute"}
STATEMENT_WORDS = {"confirm": "confirm", "confirmed": "confirm", "确认": "confirm",
                   "无误": "confirm", "同意": "confirm", "dispute": "dispute",
                   "disputed": "dispute", "异议": "dispute", "有误": "dispute", "申诉": "dispute"}
CONDITION_WORDS = {"完好": "intact", "破损": "damaged", "缺件": "missing_parts",
                   "错发": "wrong_item", "空包": "empty", "已使用": "used"}
SCIENTIFIC = re.compile(r"^\d(\.\d+)?e\+?\d+$", re.I)
SCORE_SEPARATORS = re.compile(r"[\s,，、/;；]+")
MODES = ("all", "valid")


@dataclass
class RowCheck:
    row: int
    section: str | None = None
    fulfilment_id: int | None = None
    return_case_id: int | None = None
    claim_id: int | None = None
    statement_id: int | None = None
    line_id: int | None = None
    action: str | None = None    # accept | reject | ship | correct | stop_accepted | stop_rejected
    #                              | receive | claim_accept | claim_dispute | statement_confirm
    #                              | statement_dispute
    outcome: str = "ready"       # ready | unchanged | skipped | error | applied | not_applied
    errors: list = field(default_factory=list)
    carrier: str | None = None
    tracking_number: str | None = None
    reason: str | None = None
    condition: str | None = None
    grade: str | None = None
    scores: dict | None = None
    barcode: str | None = None
    notes: str | None = None
    amount_minor: int | None = None  # fen: a claim's accepted part (None: all of it), or the
    #                                  right amount of a disputed statement line (None: none)

    def error(self, column: str, message: str) -> None:
        self.errors.append({"column": column, "message": message})
        self.outcome = "error"

    def public(self) -> dict:
        keep = ("row", "section", "fulfilment_id", "return_case_id", "claim_id", "statement_id",
                "line_id", "action", "outcome", "errors")
        optional = ("claim_id", "statement_id", "line_id")
        return {k: v for k, v in asdict(self).items()
                if k in keep and (k not in optional or v is not None)}


def _int(check: RowCheck, row: dict, key: str) -> int | None:
    value = row.get(key, "")
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        check.error(key, f"{key} must be a whole number, not {value[:30]!r}")
        return None
    return int(value)


def _word(check: RowCheck, value: str, words: dict, column: str, what: str) -> str | None:
    found = words.get(value.strip().lower()) or words.get(value.strip())
    if found is None:
        allowed = sorted({v for k, v in words.items() if k.isascii()})
        check.error(column, f"{what} {value[:30]!r} is not one of {', '.join(allowed)}")
    return found


def _parcel(session, check: RowCheck, f: Fulfilment, row: dict):
    """Validate carrier + tracking number; ``(carrier, number, same)`` or None."""

    carrier, number = row.get("carrier", ""), row.get("tracking_number", "")
    if not carrier and not number:
        return None
    if not (carrier and number):
        check.error("carrier" if not carrier else "tracking_number",
                    "a tracking number needs its carrier, and a carrier its tracking number")
        return None
    if SCIENTIFIC.match(number):
        check.error("tracking_number", f"{number!r} looks like a number Excel turned into "
                    "scientific notation: format the column as text and type it again")
        return None
    try:
        found = fulfilment.validate_tracking(session, f, carrier, number)
    except ApiError as e:
        column = next(iter(e.details), "tracking_number") if isinstance(e.details, dict) \
            else "tracking_number"
        check.error(column if column in ("carrier", "tracking_number") else "tracking_number",
                    e.message)
        return None
    check.carrier, check.tracking_number = found[0], found[1]
    return found


def _fulfilment(session, check: RowCheck, supplier: Supplier) -> Fulfilment | None:
    if check.fulfilment_id is None:
        if not check.errors:
            check.error("fulfilment_id", "fulfilment_id is required for this section")
        return None
    f = session.get(Fulfilment, check.fulfilment_id)
    if f is None or f.merchant_id != supplier.merchant_id or f.supplier_id != supplier.id:
        check.error("fulfilment_id", f"fulfilment {check.fulfilment_id} is not an order of "
                    f"supplier {supplier.code}")
        return None
    return f


def _check_dispatch(session, check, f: Fulfilment, row: dict) -> None:
    answer = _word(check, row["answer"], DISPATCH_WORDS, "answer", "answer") \
        if row.get("answer") else None
    if check.outcome == "error":
        return
    check.reason = row.get("reason") or None
    if answer == "reject":
        check.action = "reject"
        if row.get("carrier") or row.get("tracking_number"):
            check.error("tracking_number", "a rejected order has no tracking number")
        elif not check.reason:
            check.error("reason", "a rejection needs a reason")
        elif f.status == "rejected":
            check.outcome = "unchanged"
        elif f.status not in ("requested", "accepted"):
            check.error("answer", f"fulfilment {f.id} is {f.status}: it can no longer be "
                        "rejected")
        return
    parcel = _parcel(session, check, f, row)
    if check.outcome == "error":
        return
    if answer == "correct":
        check.action = "correct"
        if parcel is None or not check.reason:
            check.error("reason" if parcel else "tracking_number",
                        "a correction needs the right tracking number and a reason")
        elif parcel[2] is not None:
            check.outcome = "unchanged"
        return
    if parcel is None:
        if answer is None:
            check.error("answer", "answer accept or reject, or give the tracking number")
            return
        check.action = "accept"
        if f.status in ("accepted", "shipped"):
            check.outcome = "unchanged"
        elif f.status != "requested":
            check.error("answer", f"fulfilment {f.id} is {f.status}: it can no longer be "
                        "accepted (export a fresh sheet)")
        return
    check.action = "ship"
    if parcel[2] is not None and f.status in ("shipped", "cancel_rejected", "cancelled"):
        check.outcome = "unchanged"
    elif f.status not in ("requested", "accepted", "cancel_requested"):
        check.error("tracking_number", f"fulfilment {f.id} is {f.status}: it takes no "
                    "tracking number now")


def _check_stop(session, check, f: Fulfilment, row: dict) -> None:

    answer = _word(check, row.get("answer", ""), STOP_WORDS, "answer", "answer")
    if answer is None:
        return
    check.reason = row.get("reason") or None
    if answer == "accepted":
        check.action = "stop_accepted"
        if row.get("carrier") or row.get("tracking_number"):
            check.error("tracking_number", "a stop-ship accepted has no tracking number: "
                        "answer rejected if the parcel already left")
        elif f.status == "cancelled":
            check.outcome = "unchanged"
        elif f.status != "cancel_requested":
            check.error("answer", f"fulfilment {f.id} is {f.status}: the stop-ship was "
                        "answered already or never asked")
        return
    check.action = "stop_rejected"
    parcel = _parcel(session, check, f, row)
    if check.outcome == "error":
        return
    if parcel is None and fulfilment.outbound_shipment(session, f) is None:
        check.error("tracking_number", "already shipped: give the carrier and tracking number "
                    "so the parcel can be intercepted")
    elif f.status == "cancel_rejected":
        check.outcome = "unchanged"
    elif f.status != "cancel_requested":
        check.error("answer", f"fulfilment {f.id} is {f.status}: the stop-ship was answered "
                    "already or never asked")


def _check_return(session, check, supplier: Supplier, row: dict) -> None:

    case = session.scalar(select(ReturnCase).where(
        ReturnCase.id == check.return_case_id, ReturnCase.merchant_id == supplier.merchant_id,
        ReturnCase.id.in_(ownership.return_cases(supplier.id)))) \
        if check.return_case_id else None
    if case is None:
        check.error("return_case_id", f"return {check.return_case_id or '(none)'} is not "
                    f"coming back to supplier {supplier.code}")
        return
    if ownership.foreign_lines(session, case, supplier.id):
        check.error("answer", f"return {case.id} also holds goods of another supplier: the "
                    "merchant confirms its receipt")
        return
    if _word(check, row.get("answer", ""), RETURN_WORDS, "answer", "answer") is None:
        return
    check.action = "receive"
    raw = row.get("condition", "").strip()
    check.condition = CONDITION_WORDS.get(raw, raw.lower())
    check.notes = row.get("notes") or None
    if check.condition not in CONDITIONS:
        check.error("condition", f"condition {raw[:30]!r} is not one of {', '.join(CONDITIONS)}")
    elif check.notes and len(check.notes) > 2000:
        check.error("notes", "notes are at most 2000 characters")
    else:
        _check_inspection(session, check, case, row)
    if check.outcome == "error" or case.status in BEFORE_RECEIPT:
        return
    if any(_answered(x, check) for x in session.scalars(select(Inspection).where(
            Inspection.return_case_id == case.id, Inspection.condition == check.condition))):
        check.outcome = "unchanged"
    elif case.status not in inspections.RECEIVABLE:
        check.error("answer", f"return {case.id} is {case.status}: no goods are expected")
    # else received by the courier's scan, or received and now graded: recorded


def _check_claim(session, check: RowCheck, supplier: Supplier, row: dict) -> None:
    claim = claim_sheet.claim_of(session, check, supplier)
    if claim is None:
        return
    answer = _word(check, row.get("answer", ""), CLAIM_WORDS, "answer", "answer")
    if answer is not None:
        claim_sheet.check_answer(check, claim, answer, row)


def _check_statement(session, check: RowCheck, supplier: Supplier, row: dict) -> None:
    line = statement_sheet.line_of(session, check, supplier)
    if line is None:
        return
    answer = _word(check, row.get("answer", ""), STATEMENT_WORDS, "answer", "answer")
    if answer is not None:
        statement_sheet.check_answer(session, check, line, answer, row)


def _check_inspection(session, check: RowCheck, case: ReturnCase, row: dict) -> None:
    """The grade, the scores (four numbers in ``grading.DIMENSIONS`` order), the barcode."""
    grade, scores = row.get("grade", "").strip().upper() or None, row.get("scores", "").strip()
    barcode = row.get("barcode", "").strip() or None
    if grade is not None and grade not in GRADES:
        check.error("grade", f"grade {grade[:30]!r} is not one of {', '.join(GRADES)}")
        return
    if scores:
        try:
            values = [float(x) for x in SCORE_SEPARATORS.split(scores) if x]
        except ValueError:
            values = []
        if len(values) != len(grading.DIMENSIONS) or inspections.score_errors(
                dict(zip(grading.DIMENSIONS, values))):
            check.error("scores", f"scores {scores[:30]!r}: four numbers 0-5 (halves allowed) "
                        f"for {', '.join(grading.DIMENSIONS)}, e.g. 5,4.5,5,5")
            return
        check.scores = dict(zip(grading.DIMENSIONS, values))
    if barcode is not None and len(barcode) > 128:
        check.error("barcode", "a barcode is at most 128 characters")
        return
    try:
        check.grade = grading.grade_of(grading.grading_of(session, case.merchant_id),
                                           check.condition, grade, check.scores)
    except ApiError as refused:
        check.error("grade", refused.details["grade"][0])
    check.barcode = barcode


def _answered(earlier: Inspection, check: RowCheck) -> bool:
    """``earlier`` (of the same condition) recorded the row's answer: the same sheet
    imported again, or a receipt sent through the API, graded alike if the row grades."""
    return check.grade is None or earlier.grade == check.grade


def check_rows(session: Session, supplier: Supplier, rows: list[dict]) -> list[RowCheck]:
    checks = []
    for row in rows:
        check = RowCheck(row=row["_row"])
        checks.append(check)
        if row.get("_extra"):
            check.error("-", "values outside the sheet's columns: keep to the exported columns")
        check.section = SECTION_WORDS.get(row.get("section", "").strip().lower())
        check.fulfilment_id = _int(check, row, "fulfilment_id")
        check.return_case_id = _int(check, row, "return_case_id")
        check.claim_id = _int(check, row, "claim_id")
        check.statement_id = _int(check, row, "statement_id")
        check.line_id = _int(check, row, "line_id")
        if not any(row.get(k) for k in ANSWER_KEYS):
            if check.outcome != "error":
                check.outcome = "skipped"
            continue
        if check.section is None:
            check.error("section", f"section {row.get('section', '')[:30]!r} is not dispatch, "
                        "stop_ship, return, claim or statement")
            continue
        if check.outcome == "error":
            continue
        if check.section in ("return", "claim", "statement"):
            {"return": _check_return, "claim": _check_claim,
             "statement": _check_statement}[check.section](session, check, supplier, row)
            continue
        f = _fulfilment(session, check, supplier)
        if f is not None:
            (_check_dispatch if check.section == "dispatch" else _check_stop)(
                session, check, f, row)
    _cross_check(checks)
    statement_sheet.check_statements(session, checks, supplier)
    return checks


def _cross_check(checks: list[RowCheck]) -> None:
    by_number: dict[str, list[RowCheck]] = {}
    by_target: dict[str, list[RowCheck]] = {}
    for c in checks:
        if c.tracking_number:
            by_number.setdefault(c.tracking_number, []).append(c)
        if c.action:
            target = {"return": f"return {c.return_case_id}", "claim": f"claim {c.claim_id}",
                      "statement": f"line {c.line_id} of statement {c.statement_id}"}.get(
                c.section, f"fulfilment {c.fulfilment_id}")
            by_target.setdefault(target, []).append(c)
    for number, same in by_number.items():
        if len(same) > 1:
            rows = ", ".join(str(c.row) for c in same)
            for c in same:
                c.error("tracking_number", f"tracking number {number} appears on rows {rows}; "
                        "a waybill belongs to one parcel")
    for target, same in by_target.items():
        if len(same) > 1:
            rows = ", ".join(str(c.row) for c in same)
            for c in same:
                c.error("answer", f"{target} is answered on rows {rows}; answer it once")


# -- applying ------------------------------------------------------------------------------------
