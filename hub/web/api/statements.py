"""Supplier statements and their reconciliation, for finance (``hub.domain.finance``).

* ``GET /statements`` — newest first; filters ``supplier_id``, ``period``, ``status``.
  ``POST /statements`` — ``{supplier_id, period}``: build (or rebuild a draft of) the
  supplier's statement of that period from the ledger, one per currency.
* ``GET /statements/<id>``, ``GET /statements/<id>/lines``.
* ``POST /statements/<id>/send?early=`` — once the period has ended (``early=true``: an
  interim statement before), on the supplier's channel.
* ``POST /statements/<id>/import?apply_valid=&columns=`` — the supplier's own statement
  file (multipart field ``file``, or a raw XLSX/CSV body): every row checked; a file with
  bad rows is refused (422, each row's errors) unless ``apply_valid=true``.
* ``POST /statements/<id>/match`` — matched against the file imported: counts by outcome,
  totals, open disputes; idempotent. ``GET /statements/<id>/items?outcome=&dispute=``
  — the match result and the dispute queue, each item saying why.
* ``POST /reconciliation-items/<id>/decide`` — ``{decision: keep | adjust, note}``;
  ``GET /reconciliation-items/<id>/evidence`` — a ZIP of the claims' evidence packs behind
  the item's lines, with the item as ``item.json``.
* ``POST /statements/<id>/confirm``, ``/close``, ``/reopen`` (``{reason}``, finance only).
* ``GET /statements/<id>/export?what=statement|match|disputes&format=csv|xlsx&lang=zh|en``;
  ``GET /journal?period=YYYY-MM&format=&lang=`` — the month's ledger as journal lines.
* ``GET|PUT /suppliers/<id>/statement-profile`` — cycle, file columns, matching rules.

For ``merchant_admin`` and ``finance`` tokens; reopening a closed period is ``finance``'s.
Steps out of order are a 409 naming the statement's status.
"""
from __future__ import annotations

import io
import json
import zipfile

from flask import Response
from marshmallow import Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hub.core.errors import ApiError, Conflict
from hub.domain.finance import (
    disputes, exports, files, imports, profiles, reconcile, statements,
)
from hub.domain.finance.periods import CYCLES
from hub.domain.finance.rules import Rules
from hub.domain.liability import evidence
from hub.models import ReconciliationItem, Statement, StatementLine, Supplier
from hub.models.finance import OUTCOMES
from hub.web.api.spreadsheets import attachment, read_upload
from hub.web.context import hub, request_session
from hub.web.kit import api_blueprint as bp
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.fields import Id, Money, RefId, Time
from hub.web.kit.pagination import Page, PageArgs, paginate
from hub.web.kit.schemas import Out
from hub.web.kit.scope import get_visible, visible
from hub.web.kit.statements import (
    EXPORTS, MIMETYPES, ExportArgs, StatementLineOut, StatementListArgs, StatementOut,
)

FINANCE = {"merchant_admin", "finance"}
TAGS = ["finance"]
ORDER_REFUSED = ((409, "not a step the statement's status allows"),)
UPLOAD = {"multipart/form-data": {"type": "object", "required": ["file"],
                                  "properties": {"file": {"type": "string",
                                                          "format": "binary"}}}}


class BuildIn(Schema):
    supplier_id = RefId(required=True)
    period = fields.String(required=True, validate=validate.Length(1, 16))


class SendArgs(Schema):
    early = fields.Boolean(load_default=False, metadata={
        "description": "send before the period has ended (an interim statement)"})


class CloseArgs(Schema):
    early = fields.Boolean(load_default=False, metadata={
        "description": "close before the period has ended (later entries go on the next)"})


class MerchantStatementListArgs(StatementListArgs):
    supplier_id = RefId()


class ImportArgs(Schema):
    apply_valid = fields.Boolean(load_default=False)
    columns = fields.String(validate=validate.Length(1, 4000), metadata={
        "description": 'JSON: field → header, e.g. {"amount": "结算金额"}; kept for the '
                       'supplier'})
    amount_unit = fields.String(validate=validate.OneOf(profiles.UNITS))


class ImportOut(Out):
    file_id = Id()
    statement_id = Id()
    again = fields.Boolean(metadata={"description": "this very file was imported before"})
    format = fields.String()
    encoding = fields.String(allow_none=True)
    header_row = fields.Integer()
    columns = fields.Dict()
    amount_unit = fields.String()
    rows = fields.List(fields.Dict())
    errors = fields.List(fields.Dict())
    skipped = fields.Integer()


class MatchOut(Out):
    statement_id = Id()
    file_id = Id()
    lines = fields.Dict(metadata={"description": "outcome → lines, both sides"})
    items = fields.Dict(metadata={"description": "outcome → items"})
    hub_minor = Money()
    supplier_minor = Money()
    difference_minor = Money()
    written_off_minor = Money()
    open_disputes = fields.Integer()
    currency = fields.String()


class ItemOut(Out):
    id = Id()
    statement_id = Id()
    file_id = Id(allow_none=True)
    outcome = fields.String(metadata={"enum": list(OUTCOMES)})
    key = fields.String(allow_none=True)
    key_value = fields.String(allow_none=True)
    hub_line_ids = fields.List(Id())
    supplier_line_ids = fields.List(Id())
    hub_minor = Money()
    supplier_minor = Money()
    difference_minor = Money(metadata={"description": "fen: supplier − hub"})
    why_en = fields.String()
    why_zh = fields.String()
    dispute = fields.String(allow_none=True, metadata={"enum": ["open", "decided"]})
    decision = fields.String(allow_none=True, metadata={"enum": list(disputes.DECISIONS)})
    decision_note = fields.String(allow_none=True)
    decided_by = fields.String(allow_none=True)
    decided_at = Time(allow_none=True)
    ledger_entry_id = Id(allow_none=True)


class ItemListArgs(PageArgs):
    outcome = fields.String(validate=validate.OneOf(list(OUTCOMES)))
    dispute = fields.String(validate=validate.OneOf(("open", "decided")))


class DisputeDecisionIn(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(disputes.DECISIONS))
    note = fields.String(required=True, validate=validate.Length(1, 500))


class ReopenIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(1, 500))


class StatementExportArgs(ExportArgs):
    what = fields.String(load_default="statement", validate=validate.OneOf(exports.WHATS))


class JournalArgs(ExportArgs):
    period = fields.String(required=True, validate=validate.Regexp(r"^\d{4}-\d{2}$"))


class ProfileIO(Schema):
    supplier_id = Id(dump_only=True)
    cycle = fields.String(validate=validate.OneOf(CYCLES))
    columns = fields.Dict(keys=fields.String(validate=validate.OneOf(files.FIELDS)),
                          values=fields.String(validate=validate.Length(1, 128)))
    amount_unit = fields.String(allow_none=True, validate=validate.OneOf(profiles.UNITS))
    rules = fields.Dict(metadata={"description": "hub.domain.finance.rules: keys, tolerance, "
                                                 "write_off_limit_minor, date_window_days"})
    updated_by = fields.String(dump_only=True)


def _statement(statement_id: int) -> Statement:
    return get_visible(request_session(), Statement, statement_id, principal())


def _done(row):
    session = request_session()
    try:
        session.commit()
    except IntegrityError:  # a race on a unique row (the first profile, say): try again
        session.rollback()
        raise Conflict("the record changed at the same time; read it again and retry") \
            from None
    return row


@bp.get("/statements")
@endpoint(roles=FINANCE, query=MerchantStatementListArgs, response=StatementOut, many=True,
          summary="Supplier statements, newest first", tags=TAGS)
def list_statements(args):
    stmt = visible(Statement, principal())
    for name in ("supplier_id", "period", "status"):
        if name in args:
            stmt = stmt.where(getattr(Statement, name) == args[name])
    return paginate(request_session(), stmt, Statement.id, args)


@bp.post("/statements")
@endpoint(roles=FINANCE, body=BuildIn, response=StatementOut, many=True, status=201,
          summary="Build a supplier's statement of a period from the ledger", tags=TAGS)
def build_statements(body):
    session, who = request_session(), principal()
    supplier = get_visible(session, Supplier, body["supplier_id"], who)
    return Page(_done(statements.build(session, supplier, body["period"], who.actor)), None)


@bp.get("/statements/<int:statement_id>")
@endpoint(roles=FINANCE, response=StatementOut, summary="One statement", tags=TAGS)
def get_statement(statement_id):
    return _statement(statement_id)


@bp.get("/statements/<int:statement_id>/lines")
@endpoint(roles=FINANCE, query=PageArgs, response=StatementLineOut, many=True,
          summary="A statement's lines", tags=TAGS)
def statement_lines(statement_id, args):
    st = _statement(statement_id)
    stmt = select(StatementLine).where(StatementLine.statement_id == st.id)
    return paginate(request_session(), stmt, StatementLine.id, args)


@bp.post("/statements/<int:statement_id>/send")
@endpoint(roles=FINANCE, query=SendArgs, response=StatementOut, refusals=ORDER_REFUSED,
          summary="Send a statement to its supplier", tags=TAGS)
def send_statement(statement_id, args):
    return _done(statements.send(request_session(), _statement(statement_id),
                                 principal().actor, early=args["early"]))


@bp.post("/statements/<int:statement_id>/import")
@endpoint(roles=FINANCE, query=ImportArgs, response=ImportOut, upload=UPLOAD,
          refusals=ORDER_REFUSED, summary="Import the supplier's own statement file "
                                         "(CSV or XLSX)", tags=TAGS)
def import_statement(statement_id, args):
    st, session = _statement(statement_id), request_session()
    try:
        columns = json.loads(args["columns"]) if "columns" in args else None
    except ValueError:
        raise ApiError("columns is not JSON", code="validation_error", status=422,
                       details={"columns": ['JSON, e.g. {"amount": "结算金额"}']}) from None
    data, filename = read_upload(files.MAX_BYTES, "the statement file")
    report = imports.import_file(
        session, session.get(Supplier, st.supplier_id), data, filename or "statement",
        principal().actor, columns=columns, apply_valid=args["apply_valid"],
        amount_unit=args.get("amount_unit"), statement=st)
    return _done(report)


@bp.post("/statements/<int:statement_id>/match")
@endpoint(roles=FINANCE, response=MatchOut, refusals=ORDER_REFUSED,
          summary="Match the statement against the supplier's file", tags=TAGS)
def match_statement(statement_id):
    return _done(reconcile.run(request_session(), _statement(statement_id),
                               principal().actor).as_dict())


@bp.get("/statements/<int:statement_id>/items")
@endpoint(roles=FINANCE, query=ItemListArgs, response=ItemOut, many=True,
          summary="The match result and its disputes", tags=TAGS)
def statement_items(statement_id, args):
    st = _statement(statement_id)
    stmt = select(ReconciliationItem).where(ReconciliationItem.statement_id == st.id)
    for name in ("outcome", "dispute"):
        if name in args:
            stmt = stmt.where(getattr(ReconciliationItem, name) == args[name])
    return paginate(request_session(), stmt, ReconciliationItem.id, args)


def _item(item_id: int) -> ReconciliationItem:
    return get_visible(request_session(), ReconciliationItem, item_id, principal())


@bp.post("/reconciliation-items/<int:item_id>/decide")
@endpoint(roles=FINANCE, body=DisputeDecisionIn, response=ItemOut, refusals=ORDER_REFUSED,
          summary="Decide a dispute: keep the hub's figure or adjust to the supplier's",
          tags=TAGS)
def decide_item(item_id, body):
    return _done(disputes.decide(request_session(), _item(item_id), body["decision"],
                                 principal().actor, body["note"]))


@bp.get("/reconciliation-items/<int:item_id>/evidence")
@endpoint(roles=FINANCE, produces="application/zip",
          summary="The evidence behind a disputed item (its claims' evidence packs)",
          tags=TAGS)
def item_evidence(item_id):
    session, item = request_session(), _item(item_id)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("item.json", evidence.DATE), json.dumps(
            ItemOut().dump(item), ensure_ascii=False, indent=2, sort_keys=True))
        for claim in disputes.claims_of(session, item):
            pack = evidence.pack(session, claim, hub().settings.var_dir)
            archive.writestr(zipfile.ZipInfo(f"claim-{claim.id}-evidence.zip", evidence.DATE),
                             pack)
    response = Response(out.getvalue(), mimetype="application/zip")
    response.headers["Content-Disposition"] = attachment(f"item-{item.id}-evidence.zip")
    return response


@bp.post("/statements/<int:statement_id>/confirm")
@endpoint(roles=FINANCE, response=StatementOut, refusals=ORDER_REFUSED,
          summary="Finance confirms the statement (no dispute open)", tags=TAGS)
def confirm_statement(statement_id):
    return _done(statements.confirm(request_session(), _statement(statement_id),
                                    principal().actor))


@bp.post("/statements/<int:statement_id>/close")
@endpoint(roles=FINANCE, query=CloseArgs, response=StatementOut, refusals=ORDER_REFUSED,
          summary="Close the period: every line matched, written off, confirmed or decided",
          tags=TAGS)
def close_statement(statement_id, args):
    return _done(statements.close(request_session(), _statement(statement_id),
                                  principal().actor, early=args["early"]))


@bp.post("/statements/<int:statement_id>/reopen")
@endpoint(roles={"finance"}, body=ReopenIn, response=StatementOut, refusals=ORDER_REFUSED,
          summary="Reopen a closed period, with a reason (finance only; audited)", tags=TAGS)
def reopen_statement(statement_id, body):
    return _done(statements.reopen(request_session(), _statement(statement_id),
                                   principal().actor, body["reason"]))


def export_file(data: bytes, fmt: str, name: str) -> Response:
    response = Response(data, mimetype=MIMETYPES[fmt])
    response.headers["Content-Disposition"] = attachment(f"{name}.{fmt}")
    return response


@bp.get("/statements/<int:statement_id>/export")
@endpoint(roles=FINANCE, query=StatementExportArgs, produces=EXPORTS,
          summary="The statement, the match result or the disputes as CSV or XLSX",
          tags=TAGS)
def export_statement(statement_id, args):
    st = _statement(statement_id)
    data = exports.export(request_session(), st, args["what"], args["format"], args["lang"])
    return export_file(data, args["format"], f"statement-{st.id}-{st.period}-{args['what']}")


@bp.get("/journal")
@endpoint(roles=FINANCE, query=JournalArgs, produces=EXPORTS,
          summary="A month's ledger entries as journal lines for the accounting system",
          tags=TAGS)
def export_journal(args):
    data = exports.journal(request_session(), principal().merchant_id, args["period"],
                           args["format"], args["lang"])
    return export_file(data, args["format"], f"journal-{args['period']}")


def _profile_out(profile) -> dict:
    return {"supplier_id": profile.supplier_id, "cycle": profile.cycle,
            "columns": profile.columns, "amount_unit": profile.amount_unit,
            "rules": Rules.of(profile.rules).as_dict(),
            "updated_by": profile.updated_by}


@bp.get("/suppliers/<int:supplier_id>/statement-profile")
@endpoint(roles=FINANCE, response=ProfileIO, summary="A supplier's statement profile",
          tags=TAGS)
def get_profile(supplier_id):
    supplier = get_visible(request_session(), Supplier, supplier_id, principal())
    return _profile_out(profiles.profile_of(request_session(), supplier))


@bp.put("/suppliers/<int:supplier_id>/statement-profile")
@endpoint(roles=FINANCE, body=ProfileIO, response=ProfileIO,
          summary="Edit a supplier's statement cycle, file columns or matching rules",
          tags=TAGS)
def put_profile(supplier_id, body):
    session = request_session()
    supplier = get_visible(session, Supplier, supplier_id, principal())
    profile = profiles.update(session, supplier, principal().actor, **body)
    _done(profile)
    return _profile_out(profile)

