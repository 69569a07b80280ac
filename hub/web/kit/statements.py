"""What both APIs say about a supplier statement (``hub.domain.finance``): the statement,
its lines, a supplier's answer, and the export options."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from hub.domain.finance.exports import FORMATS, LANGS
from hub.domain.finance.statements import STATEMENT
from hub.web.kit.fields import Id, Integer, Money, RefId, Time
from hub.web.kit.pagination import PageArgs
from hub.web.kit.schemas import Out


class StatementOut(Out):
    id = Id()
    supplier_id = Id()
    period = fields.String(metadata={"description": "2026-11, 2026-11-H2 or 2026-W47"})
    starts_at = Time()
    ends_at = Time()
    currency = fields.String()
    status = fields.String(metadata={"enum": list(STATEMENT.states)})
    opening_minor = Money()
    payables_minor = Money(metadata={"description": "fen: goods at contract cost"})
    deductions_minor = Money(metadata={"description": "fen: accepted claims, the "
                                                      "compensation the supplier owes"})
    adjustments_minor = Money(metadata={"description": "fen: write-offs and corrections"})
    closing_minor = Money(metadata={"description": "fen; > 0: the merchant owes the "
                                                   "supplier"})
    sent_at = Time(allow_none=True)
    answered_at = Time(allow_none=True)
    dispute_reason = fields.String(allow_none=True)
    confirmed_at = Time(allow_none=True)
    closed_at = Time(allow_none=True)
    reopen_reason = fields.String(allow_none=True)
    matched_at = Time(allow_none=True)


class SupplierStatementOut(StatementOut):
    """What the supplier reads of it: finance's reason to reopen a period stays with
    finance."""

    class Meta:
        exclude = ("reopen_reason",)


class StatementLineOut(Out):
    id = Id()
    entry_type = fields.String()
    document_kind = fields.String()
    document_id = Id()
    document_ref = fields.String(allow_none=True)
    order_no = fields.String(allow_none=True)
    waybill = fields.String(allow_none=True)
    amount_minor = Money()
    occurred_at = Time()
    late = fields.Boolean(metadata={"description": "occurred before the period: stated late"})
    memo = fields.String()
    answer = fields.String(allow_none=True, metadata={"enum": ["confirmed", "disputed"]})
    answer_reason = fields.String(allow_none=True)
    answer_amount_minor = Money(allow_none=True)


class StatementListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(STATEMENT.states))
    period = fields.String(validate=validate.Length(1, 16))


class DisputedLineIn(Schema):
    line_id = RefId(required=True)
    reason = fields.String(required=True, validate=validate.Length(1, 2000))
    amount_minor = Integer(validate=validate.Range(-2 ** 53, 2 ** 53), metadata={
        "description": "the amount the supplier says is right, in fen; none: the line "
                       "should not be there"})


class StatementAnswerIn(Schema):
    reason = fields.String(validate=validate.Length(1, 2000))
    lines = fields.List(fields.Nested(DisputedLineIn), required=True,
                        validate=validate.Length(1, 1000))


class ExportArgs(Schema):
    format = fields.String(load_default="csv", validate=validate.OneOf(FORMATS))
    lang = fields.String(load_default="zh", validate=validate.OneOf(LANGS))


MIMETYPES = {"csv": "text/csv; charset=utf-8",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
EXPORTS = ("text/csv", MIMETYPES["xlsx"])  # what an export answers, for /openapi.json
