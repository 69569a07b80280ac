"""Compensation claims, for the merchant and finance (``hub.domain.liability.claims``).

* ``GET /claims`` — newest first; filters ``status``, ``counterparty_kind``,
  ``supplier_id``, ``carrier``, ``decision_id``. ``GET /claims/<id>`` — one.
* ``POST /claims/<id>/send`` — a draft goes out: a supplier's as a ``claim_notice`` on its
  channel; its answer is due after the terms' ``answer_days``.
* ``POST /claims/courier-file`` — ``{carrier}``: that carrier's draft claims, sent, as
  the CSV to submit on its claims desk.
* ``POST /claims/<id>/answer`` — ``{outcome: accept | dispute, amount_minor?, reason?,
  evidence?}``: the answer the merchant received off the hub (a courier's, a CJ
  dispute's outcome); suppliers answer on the supplier API themselves.
* ``POST /claims/<id>/settle`` — ``{note?}``: an accepted claim is settled (the part not
  accepted is written off); ``POST /claims/<id>/write-off`` — ``{note}``: the merchant
  gives up a claim not yet accepted.
* ``GET /claims/<id>/evidence`` — the evidence pack: a ZIP with ``manifest.json`` (every
  timeline entry, the decision, its rule and amounts, each file's SHA-256), the photos
  and a printable ``summary.html``.

Steps out of order are a 409 naming the claim's status. Staff and finance act on
claims; settling and writing off are for ``merchant_admin`` and ``finance``.
"""
from __future__ import annotations

from flask import Response
from marshmallow import Schema, fields, validate

from hub.domain.liability import claims, couriers, evidence
from hub.models import Claim
from hub.web.api.spreadsheets import attachment
from hub.web.context import hub, request_session
from hub.web.kit import api_blueprint as bp
from hub.web.kit.claims import ClaimAnswerIn, ClaimListArgs, ClaimOut, answer_args
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.fields import RefId
from hub.web.kit.pagination import paginate
from hub.web.kit.scope import get_visible, visible

READERS = {"merchant_admin", "operator", "finance"}
BOOKERS = {"merchant_admin", "finance"}
TAGS = ["claims"]
ORDER_REFUSED = ((409, "not a step the claim's status allows"),)


class MerchantClaimListArgs(ClaimListArgs):
    counterparty_kind = fields.String(validate=validate.OneOf(("supplier", "courier")))
    supplier_id = RefId()
    carrier = fields.String(validate=validate.Length(1, 64))
    decision_id = RefId()


class CourierFileIn(Schema):
    carrier = fields.String(required=True, validate=validate.Length(1, 64))


class NoteIn(Schema):
    note = fields.String(validate=validate.Length(1, 500))


class WriteOffIn(Schema):
    note = fields.String(required=True, validate=validate.Length(1, 500))


def _claim(claim_id: int) -> Claim:
    return get_visible(request_session(), Claim, claim_id, principal())


def _done(claim: Claim) -> Claim:
    request_session().commit()
    return claim


@bp.get("/claims")
@endpoint(roles=READERS, query=MerchantClaimListArgs, response=ClaimOut, many=True,
          summary="Compensation claims, newest first", tags=TAGS)
def list_claims(args):
    stmt = visible(Claim, principal())
    for name in ("status", "counterparty_kind", "supplier_id", "carrier", "decision_id"):
        if name in args:
            stmt = stmt.where(getattr(Claim, name) == args[name])
    return paginate(request_session(), stmt, Claim.id, args)


@bp.get("/claims/<int:claim_id>")
@endpoint(roles=READERS, response=ClaimOut, summary="One claim", tags=TAGS)
def get_claim(claim_id):
    return _claim(claim_id)


@bp.post("/claims/<int:claim_id>/send")
@endpoint(roles=READERS, response=ClaimOut, refusals=ORDER_REFUSED,
          summary="Send a draft claim to its supplier", tags=TAGS)
def send_claim(claim_id):
    return _done(claims.send(request_session(), _claim(claim_id), principal().actor))


@bp.post("/claims/courier-file")
@endpoint(roles=READERS, body=CourierFileIn, produces="text/csv",
          summary="A carrier's draft claims, sent, as the CSV for its claims desk", tags=TAGS)
def courier_file(body):
    session, who = request_session(), principal()
    text, sent = couriers.claims_file(session, who.merchant_id, body["carrier"], who.actor)
    session.commit()
    response = Response(text.encode("utf-8-sig"), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = attachment(f"claims-{body['carrier']}.csv")
    response.headers["X-Claims"] = str(len(sent))
    return response


@bp.post("/claims/<int:claim_id>/answer")
@endpoint(roles=READERS, body=ClaimAnswerIn, response=ClaimOut, refusals=ORDER_REFUSED,
          summary="Record a courier's (or an off-hub) answer to a claim", tags=TAGS)
def answer_claim(claim_id, body):
    claim = _claim(claim_id)
    return _done(claims.answer(request_session(), claim, body["outcome"], principal().actor,
                               **answer_args(body)))


@bp.post("/claims/<int:claim_id>/settle")
@endpoint(roles=BOOKERS, body=NoteIn, response=ClaimOut, refusals=ORDER_REFUSED,
          summary="Settle an accepted claim", tags=TAGS)
def settle_claim(claim_id, body):
    return _done(claims.settle(request_session(), _claim(claim_id), principal().actor,
                               body.get("note")))


@bp.post("/claims/<int:claim_id>/write-off")
@endpoint(roles=BOOKERS, body=WriteOffIn, response=ClaimOut, refusals=ORDER_REFUSED,
          summary="Write a claim off: the merchant bears it", tags=TAGS)
def write_off_claim(claim_id, body):
    return _done(claims.write_off(request_session(), _claim(claim_id), principal().actor,
                                  body["note"]))


@bp.get("/claims/<int:claim_id>/evidence")
@endpoint(roles=READERS, produces="application/zip",
          summary="The claim's evidence pack (ZIP: manifest with SHA-256, photos, summary)",
          tags=TAGS)
def claim_evidence(claim_id):
    claim = _claim(claim_id)
    data = evidence.pack(request_session(), claim, hub().settings.var_dir)
    response = Response(data, mimetype="application/zip")
    response.headers["Content-Disposition"] = attachment(f"claim-{claim.id}-evidence.zip")
    return response
