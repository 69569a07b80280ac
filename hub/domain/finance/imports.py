"""Importing a supplier's own statement file for one of its statements.

    report = import_file(session, supplier, data, filename, actor, columns=None,
                         apply_valid=False, period=None, amount_unit=None)

The file is read by ``files.read`` with the supplier's kept column mapping (or the one
given, which is then kept; the headers it does not name are recognised), every row
checked. A file with any bad row is refused as a
whole — a 422 listing each row's errors, nothing written — unless ``apply_valid``: then
its valid rows are the supplier's lines and the bad ones are kept with the file as its
errors. The statement it is for: the one given, else the supplier's statement of the
``period`` given (in yuan first), else of the period most of its rows' dates fall in,
else its latest statement not closed. The same file imported
again for the same statement is the first import, returned as it was. Once a statement
has decisions or write-offs from one file, another file is refused (they would count
twice): decide on the one matched.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, time

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub.core.china import CHINA
from hub.core.errors import ApiError, Conflict
from hub.domain.finance import files, profiles
from hub.domain.finance.periods import Period
from hub.models import ReconciliationItem, Statement, Supplier, SupplierFile, SupplierLine, audit


def import_file(session: Session, supplier: Supplier, data: bytes, filename: str, actor: str,
                columns: dict | None = None, apply_valid: bool = False,
                period: str | None = None, amount_unit: str | None = None,
                statement: Statement | None = None) -> dict:
    profile = profiles.profile_of(session, supplier)
    parsed = files.read(data, filename, columns=columns or profile.columns or None,
                        amount_unit=amount_unit or profile.amount_unit)
    report = {"filename": filename, **parsed.as_dict()}
    if parsed.errors and not apply_valid:
        raise ApiError(f"{len({e.row_no for e in parsed.errors})} row(s) of the file are "
                       "invalid: nothing was imported (fix them, or apply the valid rows)",
                       code="validation_error", status=422,
                       details={"rows": [f"row {e.row_no}" + (f", {e.column}" if e.column
                                                             else "") + f": {e.message}"
                                         for e in parsed.errors][:500]})
    if not parsed.rows:
        raise ApiError("the file has no valid row", code="validation_error", status=422,
                       details={"rows": ["no valid row"]})
    statement = _statement_for(session, supplier, period, parsed.rows, statement)
    session.refresh(statement, with_for_update=True)  # one import or match at a time
    digest = hashlib.sha256(data).hexdigest()
    again = session.scalar(select(SupplierFile).where(
        SupplierFile.statement_id == statement.id, SupplierFile.sha256 == digest))
    if again is not None:
        return {**report, "file_id": again.id, "statement_id": statement.id, "again": True}
    _refuse_second_file(session, statement)
    record = SupplierFile(
        merchant_id=supplier.merchant_id, supplier_id=supplier.id, statement_id=statement.id,
        filename=filename[:255], sha256=digest, format=parsed.format,
        encoding=parsed.encoding, columns=parsed.columns, amount_unit=parsed.amount_unit,
        rows_valid=len(parsed.rows), rows_invalid=len({e.row_no for e in parsed.errors}),
        errors=[{"row_no": e.row_no, "column": e.column, "message": e.message}
                for e in parsed.errors], imported_by=actor)
    session.add(record)
    session.add_all(SupplierLine(
        merchant_id=supplier.merchant_id, file_id=record.id, row_no=row.row_no,
        document_ref=row.document_ref, order_no=row.order_no, line_ref=row.line_ref,
        waybill=row.waybill, kind=row.kind, amount_minor=row.amount_minor,
        occurred_on=row.occurred_on, memo=row.memo) for row in parsed.rows)
    if columns and columns != profile.columns:
        profiles.update(session, supplier, actor, columns=columns)
    audit.record(session, supplier.merchant_id, actor, "supplier_file.imported",
                 "statement", statement.id,
                 {"file_id": record.id, "filename": record.filename, "sha256": digest,
                  "rows_valid": record.rows_valid, "rows_invalid": record.rows_invalid})
    return {**report, "file_id": record.id, "statement_id": statement.id, "again": False}


def _statement_for(session: Session, supplier: Supplier, period: str | None,
                   rows: list, given: Statement | None) -> Statement:
    s = Statement
    if given is not None:
        if given.supplier_id != supplier.id:
            raise Conflict(f"statement {given.id} is not supplier {supplier.code}'s",
                           details={"statement_id": given.id})
        period, rows = given.period, []
    mine = select(s).where(s.merchant_id == supplier.merchant_id, s.supplier_id == supplier.id)
    if period is None:
        cycle = profiles.profile_of(session, supplier).cycle
        days = Counter(Period.containing(datetime.combine(r.occurred_on, time(12), CHINA),
                                         cycle).key for r in rows if r.occurred_on)
        period = days.most_common(1)[0][0] if days else None
    if period is not None:
        found = given or session.scalar(mine.where(s.period == Period.of(period).key)
                                        .order_by(s.currency != "CNY", s.id))
    else:
        found = session.scalar(mine.where(s.status != "closed").order_by(s.ends_at.desc()))
    if found is None:
        raise Conflict(f"supplier {supplier.code} has no statement for "
                       f"{period or 'an open period'}: build it first",
                       details={"period": period})
    if found.status == "closed":
        raise Conflict(f"statement {found.id} ({found.period}) is closed: its period is settled; "
                       "what is new goes on the next statement",
                       details={"statement_id": found.id, "status": found.status})
    return found


def _refuse_second_file(session: Session, statement: Statement) -> None:
    settled = session.scalar(select(ReconciliationItem.file_id).where(
        ReconciliationItem.statement_id == statement.id,
        ReconciliationItem.file_id.is_not(None),
        or_(ReconciliationItem.dispute == "decided",
            ReconciliationItem.ledger_entry_id.is_not(None))).limit(1))
    if settled is not None:
        raise Conflict(f"statement {statement.id} has decisions and write-offs from file "
                       f"{settled}: another file would count them twice",
                       details={"file_id": settled})
