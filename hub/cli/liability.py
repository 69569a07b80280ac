"""``hub liability`` and ``hub claims``: who pays, from a shell, as the API has it
(``hub.domain.liability``).

    hub liability list --merchant ID [--event E]        hub liability show ID --merchant ID
    hub liability decide --merchant ID EVENT SUBJECT_ID [--penalty FEN] [--insured FEN]
    hub liability override ID --merchant ID --liable supplier=0.5 --liable merchant=0.5
                           --reason TEXT
    hub claims list --merchant ID [--status S]          hub claims send ID --merchant ID
    hub claims answer ID --merchant ID accept|dispute [--amount FEN] [--reason TEXT]
    hub claims settle ID --merchant ID [--note TEXT]    hub claims write-off ID --merchant
                                                        ID --note TEXT
    hub claims courier-file --merchant ID CARRIER --out FILE
    hub claims evidence ID --merchant ID --out FILE     the evidence pack (ZIP)

Amounts are integer minor units (fen). Every change is audited with the actor ``cli``.
"""
from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from hub.cli.common import db, emit, fail, json_option, settings
from hub.core.errors import ApiError

ACTOR = "cli"
merchant_option = click.option("--merchant", "merchant_id", type=int, required=True)


def _row(s, model, row_id: int, merchant_id: int, as_json: bool):
    row = s.get(model, row_id)
    if row is None or row.merchant_id != merchant_id:
        fail(f"no {model.__tablename__[:-1].replace('_', ' ')} {row_id}", as_json)
    return row


def _decision(d) -> dict:
    return {"id": d.id, "event": d.event, "subject": d.subject, "rule": d.rule,
            "rule_source": d.rule_source, "status": d.status, "total_minor": d.total_minor,
            "currency": d.currency, "amounts": d.amounts, "shares": d.shares,
            "why_zh": d.why_zh, "why_en": d.why_en, "overrides_id": d.overrides_id}


def _claim(c) -> dict:
    return {"id": c.id, "decision_id": c.decision_id, "counterparty": c.counterparty_kind,
            "supplier_id": c.supplier_id, "carrier": c.carrier, "status": c.status,
            "amount_minor": c.amount_minor, "accepted_minor": c.accepted_minor,
            "currency": c.currency, "answer_due_at": c.answer_due_at}


def _line(d: dict) -> str:
    if "rule" in d:
        return f"#{d['id']:<5} {d['event']:<15} {d['subject']:<18} {d['rule']:<30} " \
               f"{d['total_minor']:>10} {d['currency']}  {d['status']}"
    who = f"supplier {d['supplier_id']}" if d["supplier_id"] else f"courier {d['carrier']}"
    return f"#{d['id']:<5} {who:<16} {d['status']:<16} {d['amount_minor']:>10} {d['currency']}"


def _list(as_json: bool, model, merchant_id: int, shown, empty: str, **where) -> None:
    """The merchant's newest 200 rows of ``model``, ``where`` the filters given."""
    from sqlalchemy import select

    stmt = select(model).where(model.merchant_id == merchant_id, *(
        getattr(model, k) == v for k, v in where.items() if v is not None))
    with db().session(readonly=True) as s:
        rows = [shown(x) for x in s.scalars(stmt.order_by(model.id.desc()).limit(200))]
    emit(as_json, rows, "\n".join(_line(r) for r in rows) or empty)


def _change(as_json: bool, fn):
    """Run ``fn(session)`` in a transaction; an ApiError is the command's error."""
    with db().session() as s:
        try:
            result = fn(s)
        except ApiError as e:
            fail(e.message, as_json, details=e.details)
        data = _decision(result) if hasattr(result, "rule") else _claim(result)
        s.commit()
    emit(as_json, data, _line(data))


@click.group("liability", cls=AppGroup, help="Liability decisions: who pays, and why.")
def liability_group():
    pass


@liability_group.command("list", help="Decisions, newest first.")
@merchant_option
@click.option("--event")
@json_option
def list_decisions(merchant_id, event, as_json):
    from hub.models import LiabilityDecision

    _list(as_json, LiabilityDecision, merchant_id, _decision, "no decisions", event=event)


@liability_group.command("show", help="One decision, with why in Chinese and English.")
@click.argument("decision_id", type=int)
@merchant_option
@json_option
def show(decision_id, merchant_id, as_json):
    from hub.models import LiabilityDecision

    with db().session(readonly=True) as s:
        d = _row(s, LiabilityDecision, decision_id, merchant_id, as_json)
        data = {**_decision(d), "facts": d.facts, "evidence": d.evidence}
    emit(as_json, data, f"{_line(data)}\n{d.why_zh}\n{d.why_en}")


@liability_group.command("decide", help="Decide an event: EVENT and its subject's id.")
@merchant_option
@click.argument("event")
@click.argument("subject_id", type=int)
@click.option("--penalty", type=int, help="the platform's penalty, fen")
@click.option("--insured", type=int, help="the declared value, fen")
@json_option
def decide(merchant_id, event, subject_id, penalty, insured, as_json):
    from hub.domain.liability import decisions

    given = {"platform_penalty_minor": penalty, "insured_value_minor": insured}
    _change(as_json, lambda s: decisions.decide(s, merchant_id, event, subject_id, ACTOR,
                                                given))


@liability_group.command("override", help="Override a decision; the original is kept.")
@click.argument("decision_id", type=int)
@merchant_option
@click.option("--liable", multiple=True, required=True, help="party=share, e.g. merchant=1")
@click.option("--reason", required=True)
@json_option
def override(decision_id, merchant_id, liable, reason, as_json):
    from hub.domain.liability import decisions
    from hub.models import LiabilityDecision

    try:
        shares = [{"party": p, "share": float(v)} for p, v in
                  (x.split("=", 1) for x in liable)]
    except ValueError:
        fail("--liable is party=share, e.g. supplier=0.5", as_json)
    _change(as_json, lambda s: decisions.override(
        s, _row(s, LiabilityDecision, decision_id, merchant_id, as_json), shares, reason,
        ACTOR))


@click.group("claims", cls=AppGroup, help="Compensation claims to suppliers and couriers.")
def claims_group():
    pass


@claims_group.command("list", help="Claims, newest first.")
@merchant_option
@click.option("--status")
@json_option
def list_claims(merchant_id, status, as_json):
    from hub.models import Claim

    _list(as_json, Claim, merchant_id, _claim, "no claims", status=status)


def _claim_step(claim_id, merchant_id, as_json, step):
    from hub.models import Claim

    _change(as_json, lambda s: step(s, _row(s, Claim, claim_id, merchant_id, as_json)))


@claims_group.command("send", help="Send a draft claim to its supplier.")
@click.argument("claim_id", type=int)
@merchant_option
@json_option
def send(claim_id, merchant_id, as_json):
    from hub.domain.liability import claims

    _claim_step(claim_id, merchant_id, as_json, lambda s, c: claims.send(s, c, ACTOR))


@claims_group.command("answer", help="Record an answer: accept [--amount] or dispute.")
@click.argument("claim_id", type=int)
@merchant_option
@click.argument("outcome", type=click.Choice(["accept", "dispute"]))
@click.option("--amount", type=int, help="the part accepted, fen")
@click.option("--reason")
@json_option
def answer(claim_id, merchant_id, outcome, amount, reason, as_json):
    from hub.domain.liability import claims

    _claim_step(claim_id, merchant_id, as_json, lambda s, c: claims.answer(
        s, c, outcome, ACTOR, amount_minor=amount, reason=reason))


@claims_group.command("settle", help="Settle an accepted claim.")
@click.argument("claim_id", type=int)
@merchant_option
@click.option("--note")
@json_option
def settle(claim_id, merchant_id, note, as_json):
    from hub.domain.liability import claims

    _claim_step(claim_id, merchant_id, as_json, lambda s, c: claims.settle(s, c, ACTOR, note))


@claims_group.command("write-off", help="Write a claim off: the merchant bears it.")
@click.argument("claim_id", type=int)
@merchant_option
@click.option("--note", required=True)
@json_option
def write_off(claim_id, merchant_id, note, as_json):
    from hub.domain.liability import claims

    _claim_step(claim_id, merchant_id, as_json,
                lambda s, c: claims.write_off(s, c, ACTOR, note))


@claims_group.command("courier-file", help="A carrier's draft claims, sent, as CSV.")
@merchant_option
@click.argument("carrier")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True)
@json_option
def courier_file(merchant_id, carrier, out, as_json):
    from hub.domain.liability import couriers

    with db().session() as s:
        text, sent = couriers.claims_file(s, merchant_id, carrier, ACTOR)
        s.commit()
    Path(out).write_text(text, encoding="utf-8-sig")
    emit(as_json, {"carrier": carrier, "claims": [c.id for c in sent], "out": out},
         f"{len(sent)} claim(s) to {carrier} written to {out}")


@claims_group.command("evidence", help="A claim's evidence pack (ZIP) to --out FILE.")
@click.argument("claim_id", type=int)
@merchant_option
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True)
@json_option
def evidence_pack(claim_id, merchant_id, out, as_json):
    from hub.domain.liability import evidence
    from hub.models import Claim

    with db().session(readonly=True) as s:
        data = evidence.pack(s, _row(s, Claim, claim_id, merchant_id, as_json),
                             settings().var_dir)
    Path(out).write_bytes(data)
    emit(as_json, {"claim_id": claim_id, "out": out, "bytes": len(data)},
         f"claim {claim_id}'s evidence: {len(data)} bytes written to {out}")
