"""Grading returned goods and what to do with them, by the policy in force.

**Grade** — ``scores`` on ``DIMENSIONS`` (0 to 5 in halves, all four) average against the
policy's ``grading.thresholds``: at least A's is A, B's B, C's C, else D. A ``wrong_item``
or ``empty`` parcel is D. A grade given without scores is taken as it is; one that
contradicts the scores or the condition is a 422.

**Disposition** (``suggest``), for the goods of the case together: A → ``restock``;
B → ``discount`` at the catalogue value (``Product.value_minor`` × quantity) ×
``discount.B``, rounded half up to the fen (``resale_price_minor``; None when a SKU is not
catalogued); C → ``repair`` when the inspector's ``repair_cost_minor`` is below
``repair_share`` × that value, else ``discount`` at ``discount.C``; D →
``return_to_supplier`` when a supplier shipped the goods and the reason's family is its
fault (``quality``, ``fulfilment``), else ``scrap``; no grade → ``hold``. It is kept as
``suggested_disposition`` and ``disposition`` starts equal to it.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.errors import ApiError
from hub.domain.fulfilment import fulfilments_for
from hub.domain.policy import versions
from hub.domain.policy.document import DEFAULT, GRADES
from hub.domain.reasons import taxonomy
from hub.models import Order, Product, ReturnCase

DIMENSIONS = ("packaging", "appearance", "function", "completeness")
UNSALVAGEABLE = ("wrong_item", "empty")  # graded D whatever the scores say
SUPPLIERS_FAULT = ("quality", "fulfilment")


def grading_of(session: Session, merchant_id: int) -> dict:
    """The policy in force's grading, the default's filling what a version leaves out."""
    grading, default = versions.in_force(session, merchant_id).grading, DEFAULT["grading"]
    return {"thresholds": {**default["thresholds"], **grading.get("thresholds", {})},
            "discount": {**default["discount"], **grading.get("discount", {})},
            "repair_share": grading.get("repair_share", default["repair_share"])}


def grade_of(grading: dict, condition: str, grade: str | None, scores: dict | None) -> str | None:
    """The grade the scores or the condition give (module doc); 422 on a contradiction."""
    found = None
    if scores:
        mean = sum(scores[d] for d in DIMENSIONS) / len(DIMENSIONS)
        found = next((g for g in GRADES[:3] if mean >= grading["thresholds"][g]), "D")
    if condition in UNSALVAGEABLE:
        found, why = "D", f"a {condition} return is graded D"
    else:
        why = f"the scores give {found}"
    if grade is not None and found is not None and grade != found:
        raise ApiError("the grade contradicts the inspection", code="validation_error",
                       status=422, details={"grade": [f"{why}: leave the grade out or give {found}"]})
    return grade or found


def value_of(session: Session, case: ReturnCase, units: dict[str, int]) -> int | None:
    """The catalogue value of ``units``; None when a SKU is not catalogued."""
    if not units:
        return None
    values = dict(session.execute(select(Product.sku, Product.value_minor).where(
        Product.merchant_id == case.merchant_id, Product.sku.in_(list(units)))).all())
    if set(units) - set(values):
        return None
    return sum(values[sku] * qty for sku, qty in units.items())


def _share(value: int, factor: float) -> Decimal:
    return Decimal(value) * Decimal(str(factor))


def price(value: int | None, factor: float) -> int | None:
    if value is None:
        return None
    return int(_share(value, factor).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _suppliers_fault(session: Session, case: ReturnCase) -> bool:
    if taxonomy.family_of(case.reason_code) not in SUPPLIERS_FAULT \
            or case.order_id is None:
        return False
    order = session.get(Order, case.order_id)
    return any(f.shipped_at is not None for f in fulfilments_for(order, case))


def suggest(session: Session, case: ReturnCase, grade: str | None,
            repair_cost_minor: int | None, grading: dict,
            units: dict[str, int]) -> tuple[str, int | None]:
    """``(disposition, resale_price_minor)`` for the goods ``units`` of ``case``."""
    if grade is None:
        return "hold", None
    if grade == "A":
        return "restock", None
    if grade == "D":
        return ("return_to_supplier" if _suppliers_fault(session, case) else "scrap"), None
    value = value_of(session, case, units)
    if grade == "C" and repair_cost_minor is not None and value is not None \
            and repair_cost_minor < _share(value, grading["repair_share"]):
        return "repair", None
    return "discount", price(value, grading["discount"][grade])
