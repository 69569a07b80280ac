"""What finance keeps per supplier: its statement cycle, the columns of its statement
files, and its matching rules.

    profile_of(session, supplier)                 the kept one, or the defaults
    update(session, supplier, actor, **changes)   cycle, columns, amount_unit, rules

Until finance keeps one, a supplier's statements are monthly, its files' headers are
recognised (``files.HEADERS``) and ``rules.DEFAULT`` applies. An import given a column
mapping keeps it, so the next file of the same layout reads the same way; ``update``
edits it. Every change is audited, and bad values are a 422 naming the field.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.errors import ApiError
from hub.domain.finance.files import FIELDS
from hub.domain.finance.periods import CYCLES
from hub.domain.finance.rules import Rules
from hub.models import StatementProfile, Supplier, audit

UNITS = ("yuan", "fen")


def profile_of(session: Session, supplier: Supplier) -> StatementProfile:
    found = session.scalar(select(StatementProfile).where(
        StatementProfile.supplier_id == supplier.id))
    return found or StatementProfile(merchant_id=supplier.merchant_id, supplier_id=supplier.id,
                                     cycle="monthly", columns={}, rules={}, amount_unit=None,
                                     updated_by="default")


def update(session: Session, supplier: Supplier, actor: str, **changes) -> StatementProfile:
    errors = _errors(changes)
    if errors:
        raise ApiError("the statement profile is invalid", code="validation_error",
                       status=422, details=errors)
    if "rules" in changes:
        changes["rules"] = Rules.of(changes["rules"]).as_dict()
    profile = profile_of(session, supplier)
    if profile.id is None:
        session.add(profile)
    for name, value in changes.items():
        setattr(profile, name, value)
    profile.updated_by = actor
    audit.record(session, supplier.merchant_id, actor, "statement_profile.updated",
                 "supplier", supplier.id, changes)
    return profile


def _errors(changes: dict) -> dict:
    errors = {}
    if "cycle" in changes and changes["cycle"] not in CYCLES:
        errors["cycle"] = [f"one of {', '.join(CYCLES)}"]
    if "amount_unit" in changes and changes["amount_unit"] not in (*UNITS, None):
        errors["amount_unit"] = ["yuan, fen, or null to read it from the header"]
    columns = changes.get("columns", {})
    if not (isinstance(columns, dict) and all(
            k in FIELDS and isinstance(v, str) and 0 < len(v.strip()) <= 128
            for k, v in columns.items())):
        errors["columns"] = [f"an object of field → header text; fields: {', '.join(FIELDS)}"]
    return errors
