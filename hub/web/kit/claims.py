"""What both APIs say about a compensation claim (``hub.domain.liability.claims``): the
claim as read, and a counterparty's answer."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from hub.domain.liability.claims import CLAIM, OUTCOMES
from hub.models.liability import COSTS
from hub.web.kit.fields import Id, Integer, Money, Time
from hub.web.kit.pagination import PageArgs
from hub.web.kit.schemas import Out


class ClaimLineOut(Out):
    cost = fields.String(metadata={"enum": [*COSTS, "courier_cap"]})
    amount_minor = Money()


class ClaimOut(Out):
    id = Id()
    decision_id = Id()
    counterparty_kind = fields.String(metadata={"enum": ["supplier", "courier"]})
    supplier_id = Id(allow_none=True)
    carrier = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": list(CLAIM.states)})
    amount_minor = Money()  # claimed
    accepted_minor = Money(allow_none=True)
    currency = fields.String()
    lines = fields.List(fields.Nested(ClaimLineOut))
    why_zh = fields.String()
    why_en = fields.String()
    reference = fields.String(allow_none=True,
                              metadata={"description": "the channel's id for it (CJ dispute)"})
    sent_at = Time(allow_none=True)
    answer_due_at = Time(allow_none=True)
    acknowledged_at = Time(allow_none=True)
    answered_at = Time(allow_none=True)
    answered_by = fields.String(allow_none=True)
    dispute_reason = fields.String(allow_none=True)
    dispute_evidence = fields.List(fields.String())
    closed_at = Time(allow_none=True)
    close_note = fields.String(allow_none=True)
    escalated_at = Time(allow_none=True)
    created_at = Time()


class ClaimAnswerIn(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    amount_minor = Integer(validate=validate.Range(1, 2 ** 53), metadata={
        "description": "accept: the part accepted, in fen (default: all of it)"})
    reason = fields.String(validate=validate.Length(1, 2000),
                           metadata={"description": "a dispute says why"})
    evidence = fields.List(fields.String(validate=validate.Length(1, 500)),
                           load_default=list, validate=validate.Length(max=20),
                           metadata={"description": "links or photo hashes"})


class ClaimListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(CLAIM.states))


def answer_args(body: dict) -> dict:
    return {"amount_minor": body.get("amount_minor"), "reason": body.get("reason"),
            "evidence": body["evidence"]}
