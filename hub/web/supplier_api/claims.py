"""A supplier's claims and its account with the merchant.

* ``GET /supplier/claims?status=`` — the claims sent to it, newest first;
  ``GET /supplier/claims/<id>`` — one, with its lines, amounts and why.
* ``POST /supplier/claims/<id>/acknowledge`` — "we have it" (idempotent).
* ``POST /supplier/claims/<id>/answer`` — ``{outcome: accept | dispute, amount_minor?,
  reason?, evidence?}``: accept all of it, or ``amount_minor`` of it (partly accepted),
  or dispute it with the reason and evidence (links or photo hashes). A disputed claim
  may still be accepted later; an answer out of order is a 409.
* ``GET /supplier/claims/<id>/evidence`` — the evidence pack (ZIP): every file's SHA-256
  is in its ``manifest.json``, so nothing in it can change unnoticed.
* ``GET /supplier/balance?period=YYYY-MM`` — its account in the merchant's ledger: the
  goods payable to it less the claims it accepted, to date or at the end of a month
  (> 0: the merchant owes it).
"""
from __future__ import annotations

from flask import Response

from hub.domain import ledger
from hub.domain.liability import claims, evidence
from hub.models import Claim
from hub.web.api.ledger import BalanceArgs, LedgerBalancesOut
from hub.web.api.spreadsheets import attachment
from hub.web.context import request_session
from hub.web.kit import api_blueprint as bp
from hub.web.kit.claims import ClaimAnswerIn, ClaimListArgs, ClaimOut, answer_args
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.pagination import paginate
from hub.web.kit.scope import get_visible, visible
from hub.web.supplier_api.common import SUPPLIER, TAGS, commit, locked, var_dir

REFUSED = ((409, "not a step the claim's status allows"),)


@bp.get("/supplier/claims")
@endpoint(roles=SUPPLIER, query=ClaimListArgs, response=ClaimOut, many=True,
          summary="Claims sent to you, newest first", tags=TAGS)
def supplier_claims(args):
    stmt = visible(Claim, principal())
    if "status" in args:
        stmt = stmt.where(Claim.status == args["status"])
    return paginate(request_session(), stmt, Claim.id, args)


@bp.get("/supplier/claims/<int:claim_id>")
@endpoint(roles=SUPPLIER, response=ClaimOut, summary="One claim sent to you", tags=TAGS)
def supplier_claim(claim_id):
    return get_visible(request_session(), Claim, claim_id, principal())


@bp.post("/supplier/claims/<int:claim_id>/acknowledge")
@endpoint(roles=SUPPLIER, response=ClaimOut, refusals=REFUSED,
          summary="Acknowledge a claim (idempotent)", tags=TAGS)
def supplier_acknowledge_claim(claim_id):
    claim = claims.acknowledge(request_session(), locked(Claim, claim_id), principal().actor)
    commit()
    return claim


@bp.post("/supplier/claims/<int:claim_id>/answer")
@endpoint(roles=SUPPLIER, body=ClaimAnswerIn, response=ClaimOut, refusals=REFUSED,
          summary="Accept a claim (all or part of it) or dispute it", tags=TAGS)
def supplier_answer_claim(claim_id, body):
    claim = claims.answer(request_session(), locked(Claim, claim_id), body["outcome"],
                          principal().actor, **answer_args(body))
    commit()
    return claim


@bp.get("/supplier/claims/<int:claim_id>/evidence")
@endpoint(roles=SUPPLIER, produces="application/zip",
          summary="A claim's evidence pack (ZIP with a SHA-256 manifest)", tags=TAGS)
def supplier_claim_evidence(claim_id):
    claim = get_visible(request_session(), Claim, claim_id, principal())
    response = Response(evidence.pack(request_session(), claim, var_dir(), for_supplier=True),
                        mimetype="application/zip")
    response.headers["Content-Disposition"] = attachment(f"claim-{claim.id}-evidence.zip")
    return response


@bp.get("/supplier/balance")
@endpoint(roles=SUPPLIER, query=BalanceArgs, response=LedgerBalancesOut,
          summary="Your account with the merchant: payables less accepted claims", tags=TAGS)
def supplier_balance(args):
    who = principal()
    mine = ledger.Counterparty("supplier", id=who.supplier_id)
    return {"period": args["period"], "balances": ledger.balances(
        request_session(), who.merchant_id, args["period"], mine)}
