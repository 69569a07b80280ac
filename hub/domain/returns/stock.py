"""The returns stock: returned goods held per location, SKU, grade and disposition.

A location is ``supplier:<id>`` (the supplier received and inspected the goods) or
``warehouse:<code>`` (the merchant's own; ``DEFAULT_LOCATION`` unless told). The stock
is the sum of its ``StockMovement`` rows, which are never changed: a row moves
``quantity`` units of (location, SKU, grade) from ``from_state`` to ``to_state``, both
dispositions (``hub.domain.policy.document.DISPOSITIONS``); ``from_state`` None is a
receipt into the returns stock, ``to_state`` None units leaving it with a reason (to
sellable stock, sold at a discount, scrapped, handed back to the supplier).

    book(session, case, inspection, location, actor)    # an inspection's goods (below)
    shift(session, case, inspection, disposition, actor, reason)   # an override
    move(session, merchant_id, location, sku, grade, from_state, to_state, quantity,
         reason, actor)                                  # anything else; 409 past the balance
    balances(session, merchant_id, location=None, sku=None)
    reconcile(session, merchant_id)                      # [] when receipts and stock agree

**Booking an inspection.** A case's rows carry its id (and the inspection's). Its first
inspection receives what came back (``received``: per SKU, each return line's
``qty_received``, else its ``quantity``; nothing from an ``empty`` parcel) under the
inspection's grade and disposition. A later inspection of the same case (graded after the
receipt, or again) moves the units the case still holds to its grade and disposition
instead, so the same goods are never counted twice: units already gone from the returns
stock stay gone (stock is fungible, so "still holds" is capped by the balance). A repeated
identical receipt is the first inspection and books nothing.

**Reconciling.** For every inspected case, what its latest inspection received must equal
what its rows brought into the returns stock net of what its re-inspections moved out:
the units in stock plus the units that left. ``reconcile`` lists each (case, SKU) where it
does not, e.g. an inspection recorded before the returns stock existed.

Every write takes the merchant's row lock first (PostgreSQL; SQLite writers are serial),
so two moves never both spend the same balance.
"""
from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.core.db import MAX_INT
from hub.core.errors import ApiError, Conflict
from hub.domain.policy.document import DISPOSITIONS, GRADES
from hub.models import Inspection, ReturnCase, StockMovement
from hub.models.tenancy import lock_merchant

DEFAULT_LOCATION = "warehouse:main"
LOCATION = re.compile(r"^(supplier:[1-9][0-9]{0,18}|warehouse:[A-Za-z0-9_.-]{1,54})$")
REINSPECTED = "re-inspected"

Key = tuple[str, str, "str | None", str]  # location, sku, grade, state


def _invalid(errors: dict) -> ApiError:
    return ApiError("the stock movement is invalid", code="validation_error", status=422,
                    details=errors)


def location_errors(location) -> list[str]:
    if isinstance(location, str) and LOCATION.match(location):
        return []
    return ["must be supplier:<id> or warehouse:<code> (letters, digits, . _ -)"]


def warehouse(code: str) -> str:
    return f"warehouse:{code}"


def received(case: ReturnCase, condition: str) -> dict[str, int]:
    """SKU → the units that came back: each line's ``qty_received``, else its quantity."""
    units: dict[str, int] = {}
    if condition == "empty":
        return units
    for line in case.lines:
        qty = line.qty_received or line.quantity
        if qty > 0:
            units[line.sku] = units.get(line.sku, 0) + qty
    return units


# -- reading -----------------------------------------------------------------------------------

def _net(session: Session, merchant_id: int, *where) -> dict[Key, int]:
    """(location, sku, grade, state) → units, over the rows matching ``where``."""
    m = StockMovement
    totals: dict[Key, int] = {}
    for state, sign in ((m.to_state, 1), (m.from_state, -1)):
        rows = session.execute(
            select(m.location, m.sku, m.grade, state, func.sum(m.quantity))
            .where(m.merchant_id == merchant_id, state.is_not(None), *where)
            .group_by(m.location, m.sku, m.grade, state))
        for location, sku, grade, name, qty in rows:
            key = (location, sku, grade, name)
            totals[key] = totals.get(key, 0) + sign * int(qty)
    return totals


def balance(session: Session, merchant_id: int, location: str, sku: str, grade: str | None,
            state: str) -> int:
    m = StockMovement
    grade_is = m.grade.is_(None) if grade is None else m.grade == grade
    return _net(session, merchant_id, m.location == location, m.sku == sku, grade_is).get(
        (location, sku, grade, state), 0)


def balances(session: Session, merchant_id: int, location: str | None = None,
             sku: str | None = None) -> list[dict]:
    """The units held, by location, SKU, grade and state (none of the empty ones)."""
    m = StockMovement
    where = [m.location == location] if location else []
    where += [m.sku == sku] if sku else []
    held = _net(session, merchant_id, *where)
    return [{"location": k[0], "sku": k[1], "grade": k[2], "state": k[3], "quantity": q}
            for k, q in sorted(held.items(), key=lambda kv: (*kv[0][:2], kv[0][2] or "",
                                                            kv[0][3])) if q]


def _held(session: Session, case: ReturnCase) -> dict[Key, int]:
    """What the case's own rows put into the returns stock and where they left it."""
    found = _net(session, case.merchant_id, StockMovement.return_case_id == case.id)
    return {k: q for k, q in found.items() if q > 0}


# -- writing -----------------------------------------------------------------------------------

def _row(session, merchant_id, location, sku, grade, from_state, to_state, quantity, actor,
         reason=None, case_id=None, inspection_id=None) -> StockMovement:
    row = StockMovement(merchant_id=merchant_id, location=location, sku=sku, grade=grade,
                        from_state=from_state, to_state=to_state, quantity=quantity,
                        return_case_id=case_id, inspection_id=inspection_id,
                        actor=actor[:128], reason=reason)
    session.add(row)
    return row


def book(session: Session, case: ReturnCase, inspection: Inspection, location: str,
         actor: str) -> list[StockMovement]:
    """The goods of ``inspection`` in the returns stock of ``location`` (module doc; the
    caller checked ``location_errors``)."""
    lock_merchant(session, case.merchant_id)
    held = _held(session, case)
    grade, state = inspection.grade, inspection.disposition
    rows = []

    def write(*args, **kwargs):
        rows.append(_row(session, case.merchant_id, *args, actor, case_id=case.id,
                         inspection_id=inspection.id, **kwargs))

    if not held:
        for sku, qty in received(case, inspection.condition).items():
            write(location, sku, grade, None, state, qty)
        return rows
    for (where, sku, was_grade, was), qty in held.items():
        qty = min(qty, balance(session, case.merchant_id, where, sku, was_grade, was))
        if qty <= 0 or (where, was_grade, was) == (location, grade, state):
            continue
        if (where, was_grade) == (location, grade):
            write(where, sku, grade, was, state, qty, reason=REINSPECTED)
        else:
            write(where, sku, was_grade, was, None, qty, reason=REINSPECTED)
            write(location, sku, grade, None, state, qty, reason=REINSPECTED)
    return rows


def shift(session: Session, case: ReturnCase, inspection: Inspection, to_state: str,
          actor: str, reason: str) -> int:
    """Move the units the case holds under the inspection's disposition to ``to_state``
    (an override); returns how many moved."""
    lock_merchant(session, case.merchant_id)
    moved = 0
    for (where, sku, grade, state), qty in _held(session, case).items():
        if (grade, state) != (inspection.grade, inspection.disposition):
            continue
        qty = min(qty, balance(session, case.merchant_id, where, sku, grade, state))
        if qty > 0:
            _row(session, case.merchant_id, where, sku, grade, state, to_state, qty, actor,
                 reason, case.id, inspection.id)
            moved += qty
    return moved


def move(session: Session, merchant_id: int, location: str, sku: str, grade: str | None,
         from_state: str, to_state: str | None, quantity: int, reason: str,
         actor: str) -> StockMovement:
    """Move units held at ``location`` to another state, or out of the returns stock
    (``to_state`` None). 422 for bad input, 409 for more than the balance; nothing
    written either way."""
    errors = {"location": location_errors(location)} if location_errors(location) else {}
    if not isinstance(sku, str) or not 0 < len(sku) <= 128:
        errors["sku"] = ["1 to 128 characters"]
    if grade is not None and grade not in GRADES:
        errors["grade"] = [f"must be one of {', '.join(GRADES)} or null"]
    if from_state not in DISPOSITIONS:
        errors["from_state"] = [f"must be one of {', '.join(DISPOSITIONS)}"]
    if to_state is not None and to_state not in DISPOSITIONS:
        errors["to_state"] = [f"must be one of {', '.join(DISPOSITIONS)} or null (leaving)"]
    elif to_state == from_state:
        errors["to_state"] = ["must differ from from_state"]
    if isinstance(quantity, bool) or not isinstance(quantity, int) \
            or not 0 < quantity <= MAX_INT:
        errors["quantity"] = ["a whole number of units, at least 1"]
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
        errors["reason"] = ["say why, in at most 500 characters"]
    if errors:
        raise _invalid(errors)
    lock_merchant(session, merchant_id)
    held = balance(session, merchant_id, location, sku, grade, from_state)
    if quantity > held:
        raise Conflict(f"{location} holds {held} of {sku} grade {grade or '-'} as "
                       f"{from_state}: cannot move {quantity}",
                       details={"available": held, "quantity": quantity})
    row = _row(session, merchant_id, location, sku, grade, from_state, to_state, quantity,
               actor, reason.strip())
    session.flush()
    return row


# -- reconciling -------------------------------------------------------------------------------

def reconcile(session: Session, merchant_id: int) -> list[dict]:
    """Each (case, SKU) whose received units differ from what its rows booked."""
    latest = select(func.max(Inspection.id)).where(
        Inspection.merchant_id == merchant_id).group_by(Inspection.return_case_id)
    inspections = session.scalars(select(Inspection).where(Inspection.id.in_(latest))
                                  .order_by(Inspection.return_case_id)).all()
    m = StockMovement
    booked: dict[tuple[int, str], int] = {}
    for case_id, sku, from_state, to_state, qty in session.execute(
            select(m.return_case_id, m.sku, m.from_state, m.to_state, func.sum(m.quantity))
            .where(m.merchant_id == merchant_id, m.return_case_id.is_not(None))
            .group_by(m.return_case_id, m.sku, m.from_state, m.to_state)):
        sign = (from_state is None) - (to_state is None)  # in, out, or a move within
        booked[(case_id, sku)] = booked.get((case_id, sku), 0) + sign * int(qty)
    expected: dict[tuple[int, str], int] = {}
    for inspection in inspections:
        case = session.get(ReturnCase, inspection.return_case_id)
        for sku, qty in received(case, inspection.condition).items():
            expected[(case.id, sku)] = qty
    differences = []
    for case_id, sku in sorted(set(expected) | set(booked)):
        got, put = expected.get((case_id, sku), 0), booked.get((case_id, sku), 0)
        if got != put:
            differences.append({"return_case_id": case_id, "sku": sku, "received": got,
                                "booked": put, "difference": got - put})
    return differences
