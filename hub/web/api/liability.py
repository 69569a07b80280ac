"""Who pays: liability decisions and the merchant's overrides (``hub.domain.liability``).

* ``GET /liability/decisions`` — newest first; filters ``event``, ``status``, ``subject``
  (``return_case:12``, ``fulfilment:7``, ``shipment:3``), ``supplier_id``.
* ``GET /liability/decisions/<id>`` — one, with its facts and evidence.
* ``POST /liability/decisions`` — ``{event, subject_id, insured_value_minor?,
  platform_penalty_minor?}``: decide an event the hub does not decide by itself (a lost
  or damaged parcel the courier confirmed: ``subject_id`` the shipment; a fake shipment,
  a late shipment, a stop-ship, an interception fee: the fulfilment; a return: the case).
  An event already decided answers the decision in force (409 when the request adds a
  penalty or a declared value: override it; 409 too when another decision prices the same
  loss, e.g. the return of a lost parcel).
* ``POST /liability/decisions/<id>/override`` — ``{liable: [{party, share}], reason,
  amounts?, platform_penalty_minor?, insured_value_minor?}``: a new decision; the original
  is kept, ``overridden``, its ledger entries reversed and its open claims withdrawn. 409
  once a claim of it was accepted, settled or written off.

Staff decide; ``merchant_admin`` overrides; finance reads. Bad input is a 422 naming each
field, with nothing written.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from hub.domain.liability import decisions
from hub.models import LiabilityDecision
from hub.models.liability import COSTS, EVENTS, PARTIES
from hub.web.context import request_session
from hub.web.kit import api_blueprint as bp
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.fields import Id, Integer, Money, RefId, Time
from hub.web.kit.pagination import PageArgs, paginate
from hub.web.kit.schemas import Out
from hub.web.kit.scope import get_visible, visible

READERS = {"merchant_admin", "operator", "finance"}
DECIDERS = {"merchant_admin", "operator"}
TAGS = ["liability"]
_fen = dict(validate=validate.Range(1, 2 ** 53))


class DecisionListArgs(PageArgs):
    event = fields.String(validate=validate.OneOf(EVENTS))
    status = fields.String(validate=validate.OneOf(("in_force", "overridden")))
    subject = fields.String(validate=validate.Regexp(
        r"^(return_case|fulfilment|shipment):[0-9]{1,18}$"))
    supplier_id = RefId()


class ShareOut(Out):
    party = fields.String(metadata={"enum": list(PARTIES)})
    share = fields.Float()
    amount_minor = Money()
    supplier_id = Id(allow_none=True)
    carrier = fields.String(allow_none=True)
    cap_minor = Money(allow_none=True)  # the courier's cap
    note = fields.String(allow_none=True)


class EvidenceOut(Out):
    at = fields.String(metadata={"format": "date-time"})
    source = fields.String()
    zh = fields.String()
    en = fields.String()
    sha256 = fields.String(allow_none=True, metadata={"description": "a photo's hash"})


class DecisionOut(Out):
    id = Id()
    event = fields.String(metadata={"enum": list(EVENTS)})
    subject = fields.String()
    return_case_id = Id(allow_none=True)
    fulfilment_id = Id(allow_none=True)
    shipment_id = Id(allow_none=True)
    order_id = Id(allow_none=True)
    supplier_id = Id(allow_none=True)
    carrier = fields.String(allow_none=True)
    policy_version = Integer()
    rule = fields.String()
    rule_source = fields.String(metadata={"enum": ["contract", "policy", "default",
                                                   "merchant"]})
    why_zh = fields.String()
    why_en = fields.String()
    amounts = fields.Dict(keys=fields.String(), values=Money())
    shares = fields.List(fields.Nested(ShareOut))
    total_minor = Money()
    currency = fields.String()
    facts = fields.Dict()
    evidence = fields.List(fields.Nested(EvidenceOut))
    status = fields.String(metadata={"enum": ["in_force", "overridden"]})
    overrides_id = Id(allow_none=True)
    override_reason = fields.String(allow_none=True)
    decided_by = fields.String()
    decided_at = Time()


class DecideIn(Schema):
    event = fields.String(required=True, validate=validate.OneOf(EVENTS))
    subject_id = RefId(required=True, metadata={
        "description": "the return case (return), the shipment (lost_parcel, "
                       "damaged_parcel) or the fulfilment (the other events)"})
    insured_value_minor = Integer(**_fen, metadata={"description": "a declared value"})
    platform_penalty_minor = Integer(**_fen, metadata={
        "description": "the penalty the platform levied (booked as payable to it)"})


class ShareIn(Schema):
    party = fields.String(required=True, validate=validate.OneOf(PARTIES))
    share = fields.Float(required=True, validate=validate.Range(0, 1, min_inclusive=False))


class OverrideIn(Schema):
    liable = fields.List(fields.Nested(ShareIn), required=True,
                         validate=validate.Length(1, len(PARTIES)))
    reason = fields.String(required=True, validate=validate.Length(1, 500))
    amounts = fields.Dict(keys=fields.String(validate=validate.OneOf(COSTS)),
                          values=Integer(validate=validate.Range(0, 2 ** 53)))
    insured_value_minor = Integer(**_fen, metadata={"description": "a declared value"})
    platform_penalty_minor = Integer(**_fen, metadata={
        "description": "the penalty the platform levied since (booked as payable to it)"})


def _given(body: dict) -> dict:
    return {k: body[k] for k in decisions.GIVEN if k in body}


@bp.get("/liability/decisions")
@endpoint(roles=READERS, query=DecisionListArgs, response=DecisionOut, many=True,
          summary="Liability decisions, newest first", tags=TAGS)
def list_decisions(args):
    stmt = visible(LiabilityDecision, principal())
    for name in ("event", "status", "subject", "supplier_id"):
        if name in args:
            stmt = stmt.where(getattr(LiabilityDecision, name) == args[name])
    return paginate(request_session(), stmt, LiabilityDecision.id, args)


@bp.get("/liability/decisions/<int:decision_id>")
@endpoint(roles=READERS, response=DecisionOut, summary="One liability decision", tags=TAGS)
def get_decision(decision_id):
    return get_visible(request_session(), LiabilityDecision, decision_id, principal())


@bp.post("/liability/decisions")
@endpoint(roles=DECIDERS, body=DecideIn, response=DecisionOut, status=201,
          refusals=((404, "no such subject"),
                    (409, "no order; decided already with other figures; a related "
                          "decision prices this loss")),
          summary="Decide who pays for an event", tags=TAGS)
def decide(body):
    session, who = request_session(), principal()
    decision = decisions.decide(session, who.merchant_id, body["event"], body["subject_id"],
                                who.actor, _given(body))
    session.commit()
    return decision


@bp.post("/liability/decisions/<int:decision_id>/override")
@endpoint(roles={"merchant_admin"}, body=OverrideIn, response=DecisionOut, status=201,
          refusals=((409, "overridden already, or a claim of it was accepted"),),
          summary="Override a decision, with a reason (the original is kept)", tags=TAGS)
def override_decision(decision_id, body):
    session, who = request_session(), principal()
    decision = get_visible(session, LiabilityDecision, decision_id, who)
    new = decisions.override(session, decision, body["liable"], body["reason"], who.actor,
                             body.get("amounts"), _given(body))
    session.commit()
    return new
