"""A merchant's correction of a case's reason, kept and used.

``correct_reason(session, case, code, actor)``: ``code`` must be a leaf of the taxonomy
(``hub.domain.reasons.taxonomy``; 422 otherwise). The case takes it (``reason_source``
``merchant``, kept against later platform records), and the buyer's words are stored
with it as a ``ReasonCorrection``: the next case of this merchant whose words normalise
the same is classified so at once (``returns.records``). Audited
``return_case.reason_corrected``; the same code again changes nothing.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from hub.core.errors import ApiError
from hub.domain.reasons import classifier, taxonomy
from hub.models import ReasonCorrection, ReturnCase, audit


def correct_reason(session: Session, case: ReturnCase, code, actor: str) -> ReturnCase:
    if not taxonomy.is_code(code):
        raise ApiError(f"{code!r} is not a reason code: GET /api/v1/reasons lists them",
                       code="validation_error", status=422,
                       details={"code": ["not a leaf of the reason taxonomy"]})
    if case.reason_code == code and case.reason_source == "merchant":
        return case
    key = classifier.normalise(case.reason_text or "")[:1000]
    if key:
        session.add(ReasonCorrection(merchant_id=case.merchant_id, return_case_id=case.id,
                                     text_key=key, from_code=case.reason_code, to_code=code,
                                     actor=actor[:128]))
    audit.record(session, case.merchant_id, actor, "return_case.reason_corrected",
                 "return_case", case.id, {"reason_code": [case.reason_code, code],
                                          "reason_source": case.reason_source})
    case.reason_code, case.reason_source, case.reason_confidence = code, "merchant", 100
    return case
