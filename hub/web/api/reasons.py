"""Return reasons: the taxonomy, and a merchant's correction of a case's reason.

* ``GET /reasons`` — every reason code with its family and labels (Chinese, English).
* ``POST /returns/<id>/reason`` — ``{code}``: the case's reason corrected; the buyer's
  words are remembered, so the next case saying the same is classified so
  (``hub.domain.returns.corrections``).
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from hub.domain.reasons import taxonomy
from hub.domain.returns import corrections
from hub.models import ReturnCase
from hub.web.context import request_session
from hub.web.kit import api_blueprint as bp, schemas as s
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.scope import get_visible

TAGS = ["returns"]


class ReasonOut(s.Out):
    code = fields.String()
    family = fields.String(metadata={"enum": list(taxonomy.FAMILIES)})
    zh = fields.String()
    en = fields.String()


class ReasonListOut(s.Out):
    data = fields.List(fields.Nested(ReasonOut))


class ReasonIn(Schema):
    code = fields.String(required=True, validate=validate.Length(1, 128))


@bp.get("/reasons")
@endpoint(roles={"merchant_admin", "operator", "finance", "supplier"}, response=ReasonListOut,
          summary="The return reason codes", tags=TAGS)
def list_reasons():
    return {"data": [{"code": code, "family": taxonomy.family_of(code),
                      "zh": taxonomy.label(code, "zh"), "en": taxonomy.label(code, "en")}
                     for code in taxonomy.CODES]}


@bp.post("/returns/<int:return_id>/reason")
@endpoint(roles={"merchant_admin", "operator"}, body=ReasonIn, response=s.ReturnCaseOut,
          summary="Correct a case's reason (remembered for the same words)", tags=TAGS)
def correct_reason(return_id, body):
    who, session = principal(), request_session()
    case = get_visible(session, ReturnCase, return_id, who)
    session.refresh(case, with_for_update=True)
    corrections.correct_reason(session, case, body["code"], who.actor)
    session.commit()
    return case
