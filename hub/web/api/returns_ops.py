"""The merchant's decisions on a return case, pushed to the shop platform.

* ``POST /returns/<id>/approve`` — body ``{"address_id"?}`` (``{}`` for none). A
  ``refund_only`` is approved (the platform refunds); a ``return_refund`` or ``exchange``
  is approved with the return address of whoever receives the goods: ``address_id`` as
  given, else the receiving supplier's ``contract_terms.return_address_id`` when the
  goods go back to the supplier (422 when it has none), else the platform's default.
* ``POST /returns/<id>/reject`` — body ``{"reason_code", "description"?}``: rejects the
  request, or a return's receipt once the goods are back (Kuaishou: the numeric reason
  of ``open.refund.reject.reason``).
* ``POST /returns/<id>/refund`` — after the goods were received (``received`` /
  ``inspected``): confirms the receipt on the platform, which refunds the buyer.
* ``POST /returns/<id>/dispatch`` — an exchange's replacement, a reship (补发) or a
  repaired item sent to the buyer now (``hub.domain.returns.resolutions``); the same
  call again answers the fulfilment made.

Each queues one push through ``hub.domain.pushes.platform_actions`` (outbox), records an audit entry and
answers 202 with the case, the decision and its outbox message; the case's status moves
when the platform's update comes back. 409 with the reason when the case's state does not
allow the decision; the same call again queues nothing new. For ``merchant_admin`` and
``operator`` tokens, scoped to the token's merchant. The rules are ``hub.domain.returns.decisions``.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from hub.domain.returns import decisions as return_decisions, resolutions
from hub.models import ReturnCase
from hub.models.pipeline import OUTBOX_STATUSES
from hub.web.context import hub, request_session
from hub.web.kit import api_blueprint as bp, schemas as s
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.fields import Id
from hub.web.kit.scope import get_visible

STAFF = {"merchant_admin", "operator"}
TAGS = ["returns"]


class PlatformId(fields.Field):
    """A platform's id: a non-empty string, or an integer taken as its decimal text."""

    default_error_messages = {"invalid": "Not a valid id (a non-empty string or an integer)."}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self.make_error("invalid")
        text = str(value).strip()
        if not text or len(text) > 64:
            raise self.make_error("invalid")
        return text


class ReturnApproveIn(Schema):
    address_id = PlatformId(load_default=None, allow_none=True, metadata={
        "description": "the platform's id of the return address (Kuaishou "
                       "open.address.seller.list); default: the receiving supplier's "
                       "contract_terms.return_address_id, else the platform's default"})


class ReturnRejectIn(Schema):
    reason_code = PlatformId(required=True, metadata={
        "description": "the platform's rejection reason (Kuaishou: open.refund.reject.reason)"})
    description = fields.String(load_default=None, allow_none=True,
                                validate=validate.Length(max=500))


class ReturnDecisionOut(s.ReturnCaseOut):
    decision = fields.String(metadata={"enum": ["approve", "reject", "refund"]})
    outbox_message_id = Id(allow_none=True, metadata={
        "description": "the queued push; null when the platform already showed the "
                       "decision and the hub never pushed it"})
    outbox_status = fields.String(allow_none=True, metadata={"enum": list(OUTBOX_STATUSES)})
    address_id = fields.String(allow_none=True)
    address_source = fields.String(allow_none=True, metadata={
        "enum": ["request", "return_address", "supplier_contract", "platform_default",
                 "not_used"]})


class _Answer:
    def __init__(self, result: return_decisions.Decision):
        self._case, self.decision = result.case, result.decision
        self.outbox_message_id = result.message.id if result.message else None
        self.outbox_status = result.message.status if result.message else None
        self.address_id, self.address_source = result.address_id, result.address_source

    def __getattr__(self, name):
        return getattr(self._case, name)


def _locked_case(session, return_id: int) -> ReturnCase:
    """The caller's case, row-locked (PostgreSQL) so two decisions are taken one by one."""
    case = get_visible(session, ReturnCase, return_id, principal())
    session.refresh(case, with_for_update=True)
    return case


@bp.post("/returns/<int:return_id>/approve")
@endpoint(roles=STAFF, body=ReturnApproveIn, response=ReturnDecisionOut, status=202,
          summary="Approve a refund, or a return with the address the goods go back to",
          tags=TAGS)
def approve_return(return_id, body):
    who, session = principal(), request_session()
    case = _locked_case(session, return_id)
    result = return_decisions.approve(session, case, who.actor, body.get("address_id"),
                                      var_dir=hub().settings.var_dir)
    session.commit()
    return _Answer(result)


@bp.post("/returns/<int:return_id>/reject")
@endpoint(roles=STAFF, body=ReturnRejectIn, response=ReturnDecisionOut, status=202,
          summary="Reject a refund or return request, or a return's receipt", tags=TAGS)
def reject_return(return_id, body):
    who, session = principal(), request_session()
    case = _locked_case(session, return_id)
    result = return_decisions.reject(session, case, who.actor, body["reason_code"],
                                     body.get("description"), var_dir=hub().settings.var_dir)
    session.commit()
    return _Answer(result)


@bp.post("/returns/<int:return_id>/refund")
@endpoint(roles=STAFF, response=ReturnDecisionOut, status=202,
          summary="Refund a returned case once its goods were received (confirm receipt)",
          tags=TAGS)
def refund_return(return_id):
    who, session = principal(), request_session()
    case = _locked_case(session, return_id)
    result = return_decisions.refund(session, case, who.actor, var_dir=hub().settings.var_dir)
    session.commit()
    return _Answer(result)


@bp.post("/returns/<int:return_id>/dispatch")
@endpoint(roles=STAFF, response=s.FulfilmentOut, status=202,
          summary="Send an exchange, reship or repaired item (the case's second dispatch)",
          tags=TAGS)
def dispatch_again(return_id):
    who, session = principal(), request_session()
    case = _locked_case(session, return_id)
    made = resolutions.dispatch_again(session, case, who.actor)
    session.commit()
    return made
