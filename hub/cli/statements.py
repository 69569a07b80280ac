"""``hub statements``: a supplier's statements and their reconciliation from a shell, as the
finance API has them (``hub.domain.finance``).

    hub statements build SUPPLIER_ID PERIOD          hub statements list [--supplier ID]
    hub statements show ID                           hub statements send ID [--early]
    hub statements import SUPPLIER_ID FILE [--columns JSON] [--apply-valid] [--period P]
    hub statements match ID [--all]                  counts, totals, and why (idempotent)
    hub statements disputes ID                       hub statements decide ITEM keep|adjust
                                                                             --note TEXT
    hub statements confirm ID | close ID [--early] | reopen ID --reason TEXT
    hub statements export ID [--what statement|match|disputes] [--format csv|xlsx]
                          [--lang zh|en] --out FILE
    hub statements journal --merchant ID PERIOD [--format] [--lang] --out FILE
    hub statements profile SUPPLIER_ID [--cycle C] [--columns JSON] [--rules JSON]
                                       [--amount-unit yuan|fen]

Every command takes ``--json``. Amounts are fen (yuan beside them in text); a file with
bad rows is refused, each row's errors listed, unless ``--apply-valid``. Every change is
audited with the actor ``cli``.
"""
from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import AppGroup

from hub.cli.common import db, emit, fail, json_option
from hub.core.china import yuan
from hub.core.errors import ApiError

ACTOR = "cli"


@click.group("statements", cls=AppGroup,
             help="Supplier statements: build, send, import, match, dispute, close, export.")
def statements_group():
    pass


def _get(s, model, row_id: int, as_json: bool):
    row = s.get(model, row_id)
    if row is None:
        fail(f"no {model.__tablename__[:-1].replace('_', ' ')} {row_id}", as_json)
    return row


def _json_arg(text: str | None, name: str, as_json: bool):
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        fail(f"--{name} is not JSON", as_json)


def _statement(st) -> dict:
    return {"id": st.id, "supplier_id": st.supplier_id, "period": st.period,
            "currency": st.currency, "status": st.status, "opening_minor": st.opening_minor,
            "payables_minor": st.payables_minor, "deductions_minor": st.deductions_minor,
            "adjustments_minor": st.adjustments_minor, "closing_minor": st.closing_minor}


def _said(st: dict) -> str:
    c = st["currency"]
    return (f"#{st['id']:<5} supplier {st['supplier_id']:<5} {st['period']:<11} "
            f"{st['status']:<19} opening {yuan(st['opening_minor'], c)}, payables "
            f"{yuan(st['payables_minor'], c)}, deductions {yuan(st['deductions_minor'], c)}, "
            f"adjustments {yuan(st['adjustments_minor'], c)}, closing "
            f"{yuan(st['closing_minor'], c)}")


def _item(i) -> dict:
    return {"id": i.id, "outcome": i.outcome, "key": i.key, "key_value": i.key_value,
            "hub_line_ids": i.hub_line_ids, "supplier_line_ids": i.supplier_line_ids,
            "hub_minor": i.hub_minor, "supplier_minor": i.supplier_minor,
            "difference_minor": i.difference_minor, "dispute": i.dispute,
            "decision": i.decision, "why_en": i.why_en, "why_zh": i.why_zh}


def _run(as_json: bool, fn, shown, text):
    """Run ``fn(session)`` in a transaction; an ``ApiError`` fails with its details."""
    try:
        with db().session() as s:
            result = fn(s)
            data = shown(result)
    except ApiError as e:
        rows = "" if as_json else "".join(f"\n  {r}" for r in e.details.get("rows", []))
        fail(e.message + rows, as_json, details=e.details)
    emit(as_json, data, text(data))


def _lifecycle(name: str, help_text: str, timed: bool = False):
    """``hub statements confirm|send|close ID``: the step of the same name; send and close
    wait for the period's end unless ``--early``."""
    def command(statement_id, as_json, early=False):
        from hub.domain.finance import statements
        from hub.models import Statement

        step = getattr(statements, name)
        timing = {"early": early} if timed else {}
        _run(as_json, lambda s: step(s, _get(s, Statement, statement_id, as_json), ACTOR,
                                     **timing), _statement, _said)
    if timed:
        command = click.option("--early", is_flag=True, help="before the period has ended")(
            command)
    return statements_group.command(name, help=help_text)(
        click.argument("statement_id", type=int)(json_option(command)))


_lifecycle("confirm", "Finance confirms a statement (no dispute open).")
_lifecycle("send", "Send a statement to its supplier (its period has ended, or --early: an "
                   "interim statement).", timed=True)
_lifecycle("close", "Close the period (every line matched, written off, confirmed or "
                    "decided; its period has ended, or --early).", timed=True)


@statements_group.command("reopen", help="Reopen a closed period, with a reason (audited).")
@click.argument("statement_id", type=int)
@click.option("--reason", required=True)
@json_option
def reopen(statement_id, reason, as_json):
    from hub.domain.finance import statements
    from hub.models import Statement

    _run(as_json, lambda s: statements.reopen(s, _get(s, Statement, statement_id, as_json),
                                              ACTOR, reason), _statement, _said)


@statements_group.command("build", help="Build a supplier's statement of a period "
                                        "(2026-11, 2026-11-H2, 2026-W47) from the ledger.")
@click.argument("supplier_id", type=int)
@click.argument("period")
@json_option
def build(supplier_id, period, as_json):
    from hub.domain.finance import statements
    from hub.models import Supplier

    _run(as_json, lambda s: statements.build(s, _get(s, Supplier, supplier_id, as_json), period,
                                             ACTOR),
         lambda made: [_statement(st) for st in made],
         lambda rows: "\n".join(_said(r) for r in rows))


@statements_group.command("list", help="Statements, newest first (200 at most).")
@click.option("--supplier", "supplier_id", type=int)
@click.option("--status")
@json_option
def list_statements(supplier_id, status, as_json):
    from sqlalchemy import select

    from hub.models import Statement

    with db().session(readonly=True) as s:
        stmt = select(Statement).order_by(Statement.id.desc()).limit(200)
        if supplier_id is not None:
            stmt = stmt.where(Statement.supplier_id == supplier_id)
        if status:
            stmt = stmt.where(Statement.status == status)
        rows = [_statement(st) for st in s.scalars(stmt)]
    emit(as_json, rows, "\n".join(_said(r) for r in rows) or "no statements")


@statements_group.command("show", help="A statement with its lines.")
@click.argument("statement_id", type=int)
@json_option
def show(statement_id, as_json):
    from sqlalchemy import select

    from hub.models import Statement, StatementLine

    with db().session(readonly=True) as s:
        st = _get(s, Statement, statement_id, as_json)
        lines = [{"id": x.id, "entry_type": x.entry_type, "document_ref": x.document_ref,
                  "order_no": x.order_no, "waybill": x.waybill, "amount_minor": x.amount_minor,
                  "late": x.late, "answer": x.answer}
                 for x in s.scalars(select(StatementLine).where(
                     StatementLine.statement_id == st.id).order_by(StatementLine.id))]
        data = {**_statement(st), "lines": lines}
    text = "\n".join([_said(data)] + [
        f"  {x['id']:<6} {x['entry_type']:<16} {x['document_ref'] or '':<16} "
        f"{x['order_no'] or '':<20} {x['waybill'] or '':<16} "
        f"{yuan(x['amount_minor'], data['currency']):>12}{'  late' if x['late'] else ''}"
        for x in lines])
    emit(as_json, data, text)


@statements_group.command("import", help="Import a supplier's own statement file (CSV or "
                                         "XLSX) for its statement of the period.")
@click.argument("supplier_id", type=int)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--columns", help='JSON field → header, e.g. {"amount": "结算金额"} (kept)')
@click.option("--apply-valid", is_flag=True, help="apply the valid rows of a file with errors")
@click.option("--period", help="the statement's period (default: the rows' dates)")
@click.option("--amount-unit", type=click.Choice(("yuan", "fen")))
@json_option
def import_file(supplier_id, path, columns, apply_valid, period, amount_unit, as_json):
    from hub.domain.finance import imports
    from hub.models import Supplier

    columns = _json_arg(columns, "columns", as_json)

    def text(r) -> str:
        lines = [f"imported {path.name} for statement {r['statement_id']}"
                 f"{' (the same file as before)' if r['again'] else ''}: "
                 f"{len(r['rows'])} row(s), {r['skipped']} skipped, "
                 f"{len({e['row_no'] for e in r['errors']})} with errors"]
        return "\n".join(lines + [f"  row {e['row_no']} {e['column'] or ''}: {e['message']}"
                                  for e in r["errors"]])

    _run(as_json, lambda s: imports.import_file(
        s, _get(s, Supplier, supplier_id, as_json), path.read_bytes(), path.name, ACTOR,
        columns=columns, apply_valid=apply_valid, period=period, amount_unit=amount_unit),
        lambda r: r, text)


@statements_group.command("match", help="Match a statement against the supplier's file: "
                                        "counts by outcome, totals, and why (idempotent).")
@click.argument("statement_id", type=int)
@click.option("--all", "everything", is_flag=True, help="explain matched items too")
@json_option
def match(statement_id, everything, as_json):
    from sqlalchemy import select

    from hub.domain.finance import reconcile
    from hub.models import ReconciliationItem, Statement

    def run(s):
        summary = reconcile.run(s, _get(s, Statement, statement_id, as_json), ACTOR)
        items = s.scalars(select(ReconciliationItem).where(
            ReconciliationItem.statement_id == statement_id).order_by(ReconciliationItem.id))
        return {**summary.as_dict(), "text": reconcile.describe(summary),
                "items": [_item(i) for i in items]}

    def text(r) -> str:
        shown = [i for i in r["items"] if everything or i["outcome"] != "matched"]
        return "\n".join([r["text"]] + [f"  item {i['id']} {i['outcome']}: {i['why_en']}"
                                         for i in shown])

    _run(as_json, run, lambda r: r, text)


@statements_group.command("disputes", help="A statement's dispute queue, open first.")
@click.argument("statement_id", type=int)
@json_option
def list_disputes(statement_id, as_json):
    from sqlalchemy import select

    from hub.models import ReconciliationItem

    with db().session(readonly=True) as s:
        items = [_item(i) for i in s.scalars(select(ReconciliationItem).where(
            ReconciliationItem.statement_id == statement_id,
            ReconciliationItem.dispute.is_not(None)).order_by(ReconciliationItem.id))]
    items.sort(key=lambda i: i["dispute"] != "open")
    emit(as_json, items, "\n".join(
        f"item {i['id']:<6} {i['dispute']:<8} {i['outcome']:<24} {i['why_en']}"
        for i in items) or "no disputes")


@statements_group.command("decide", help="Decide a dispute: keep the hub's figure, or adjust "
                                         "to the supplier's (a write-off is posted).")
@click.argument("item_id", type=int)
@click.argument("decision", type=click.Choice(("keep", "adjust")))
@click.option("--note", required=True)
@json_option
def decide(item_id, decision, note, as_json):
    from hub.domain.finance import disputes
    from hub.models import ReconciliationItem

    _run(as_json, lambda s: disputes.decide(s, _get(s, ReconciliationItem, item_id, as_json),
                                            decision, ACTOR, note),
         _item, lambda i: f"item {i['id']}: {i['decision']} ({i['outcome']})")


format_option = click.option("--format", "fmt", type=click.Choice(("csv", "xlsx")),
                             default="csv")
lang_option = click.option("--lang", type=click.Choice(("zh", "en")), default="zh")
out_option = click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
                          required=True)


def _write(as_json: bool, out: Path, make) -> None:
    """Write the file ``make(session)`` gives to ``out``."""
    def write(s):
        data = make(s)
        out.write_bytes(data)
        return {"path": str(out), "bytes": len(data)}

    _run(as_json, write, lambda r: r, lambda r: f"wrote {r['path']} ({r['bytes']} bytes)")


@statements_group.command("export", help="The statement, the match result or the disputes "
                                         "as CSV or XLSX.")
@click.argument("statement_id", type=int)
@click.option("--what", type=click.Choice(("statement", "match", "disputes")),
              default="statement")
@format_option
@lang_option
@out_option
@json_option
def export(statement_id, what, fmt, lang, out, as_json):
    from hub.domain.finance import exports
    from hub.models import Statement

    _write(as_json, out, lambda s: exports.export(
        s, _get(s, Statement, statement_id, as_json), what, fmt, lang))


@statements_group.command("journal", help="A month's ledger entries as journal lines for the "
                                          "merchant's accounting system.")
@click.option("--merchant", "merchant_id", type=int, required=True)
@click.argument("period")
@format_option
@lang_option
@out_option
@json_option
def journal(merchant_id, period, fmt, lang, out, as_json):
    from hub.domain.finance import exports

    _write(as_json, out, lambda s: exports.journal(s, merchant_id, period, fmt, lang))


@statements_group.command("profile", help="Show or edit a supplier's statement cycle, file "
                                          "columns and matching rules.")
@click.argument("supplier_id", type=int)
@click.option("--cycle", type=click.Choice(("monthly", "semimonthly", "weekly")))
@click.option("--columns", help="JSON field → header")
@click.option("--rules", help="JSON matching rules (see hub.domain.finance.rules)")
@click.option("--amount-unit", type=click.Choice(("yuan", "fen")))
@json_option
def profile(supplier_id, cycle, columns, rules, amount_unit, as_json):
    from hub.domain.finance import profiles
    from hub.domain.finance.rules import Rules
    from hub.models import Supplier

    changes = {k: v for k, v in (("cycle", cycle), ("amount_unit", amount_unit),
                                 ("columns", _json_arg(columns, "columns", as_json)),
                                 ("rules", _json_arg(rules, "rules", as_json)))
               if v is not None}

    def run(s):
        supplier = _get(s, Supplier, supplier_id, as_json)
        kept = profiles.update(s, supplier, ACTOR, **changes) if changes \
            else profiles.profile_of(s, supplier)
        return {"supplier_id": supplier_id, "cycle": kept.cycle, "columns": kept.columns,
                "amount_unit": kept.amount_unit, "rules": Rules.of(kept.rules).as_dict()}

    _run(as_json, run, lambda r: r, lambda r: json.dumps(r, ensure_ascii=False, indent=2))
