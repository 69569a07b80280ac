"""A supplier's statements from the merchant (``hub.domain.finance.statements``).

* ``GET /supplier/statements?status=&period=`` — the statements sent to it, newest first;
  ``GET /supplier/statements/<id>`` — one, with its totals; ``.../lines`` — its lines.
* ``POST /supplier/statements/<id>/confirm`` — every line agreed.
* ``POST /supplier/statements/<id>/dispute`` — ``{reason?, lines: [{line_id, reason,
  amount_minor?}]}``: the lines it does not agree with, each with why and the amount it
  says is right (none: the line should not be there); the rest are agreed. Finance decides
  each one; an answer out of order (a closed statement) is a 409.
* ``GET /supplier/statements/<id>/export?format=csv|xlsx&lang=zh|en`` — the statement as a
  file.
"""
from __future__ import annotations

from flask import Response
from sqlalchemy import select

from hub.domain.finance import exports, statements
from hub.models import Statement, StatementLine
from hub.web.api.spreadsheets import attachment
from hub.web.context import request_session
from hub.web.kit import api_blueprint as bp
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.pagination import PageArgs, paginate
from hub.web.kit.scope import get_visible, visible
from hub.web.kit.statements import (
    EXPORTS, MIMETYPES, ExportArgs, StatementAnswerIn, StatementLineOut, StatementListArgs,
    SupplierStatementOut,
)
from hub.web.supplier_api.common import SUPPLIER, TAGS, commit, locked

REFUSED = ((409, "not a step the statement's status allows"),)


@bp.get("/supplier/statements")
@endpoint(roles=SUPPLIER, query=StatementListArgs, response=SupplierStatementOut, many=True,
          summary="Statements sent to you, newest first", tags=TAGS)
def supplier_statements(args):
    stmt = visible(Statement, principal())
    for name in ("status", "period"):
        if name in args:
            stmt = stmt.where(getattr(Statement, name) == args[name])
    return paginate(request_session(), stmt, Statement.id, args)


@bp.get("/supplier/statements/<int:statement_id>")
@endpoint(roles=SUPPLIER, response=SupplierStatementOut, summary="One statement sent to you",
          tags=TAGS)
def supplier_statement(statement_id):
    return get_visible(request_session(), Statement, statement_id, principal())


@bp.get("/supplier/statements/<int:statement_id>/lines")
@endpoint(roles=SUPPLIER, query=PageArgs, response=StatementLineOut, many=True,
          summary="A statement's lines", tags=TAGS)
def supplier_statement_lines(statement_id, args):
    st = get_visible(request_session(), Statement, statement_id, principal())
    stmt = select(StatementLine).where(StatementLine.statement_id == st.id)
    return paginate(request_session(), stmt, StatementLine.id, args)


@bp.post("/supplier/statements/<int:statement_id>/confirm")
@endpoint(roles=SUPPLIER, response=SupplierStatementOut, refusals=REFUSED,
          summary="Confirm a statement: every line agreed", tags=TAGS)
def supplier_confirm_statement(statement_id):
    st = statements.answer(request_session(), locked(Statement, statement_id),
                           principal().actor)
    commit()
    return st


@bp.post("/supplier/statements/<int:statement_id>/dispute")
@endpoint(roles=SUPPLIER, body=StatementAnswerIn, response=SupplierStatementOut, refusals=REFUSED,
          summary="Dispute lines of a statement, each with why and the right amount",
          tags=TAGS)
def supplier_dispute_statement(statement_id, body):
    st = statements.answer(request_session(), locked(Statement, statement_id),
                           principal().actor, body["lines"], body.get("reason"))
    commit()
    return st


@bp.get("/supplier/statements/<int:statement_id>/export")
@endpoint(roles=SUPPLIER, query=ExportArgs, produces=EXPORTS,
          summary="A statement as CSV or XLSX", tags=TAGS)
def supplier_statement_export(statement_id, args):
    st = get_visible(request_session(), Statement, statement_id, principal())
    data = exports.export(request_session(), st, "statement", args["format"], args["lang"])
    response = Response(data, mimetype=MIMETYPES[args["format"]])
    response.headers["Content-Disposition"] = attachment(
        f"statement-{st.period}.{args['format']}")
    return response
