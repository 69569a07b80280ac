"""The ``spreadsheet`` supplier channel: nothing travels over the network.

A supplier on this channel gets its order dispatches, stop-ship requests, return notices,
compensation claims and statements as a sheet (XLSX or CSV) that the merchant sends it or that it
downloads with its own token, and answers by filling the sheet in and importing it
(``hub.domain.sheets.files``, ``GET/POST /api/v1/suppliers/<id>/sheet...``,
``hub suppliers export|import``).

``push`` therefore only marks the notice as awaiting export: the outbox message becomes
``sent`` with ``result.data = {"awaiting_export": true, "topic": ...}``. The export itself
is built from the current state of the supplier's fulfilments, returns and open claims, so
a notice that no longer needs an answer (a stop-ship already answered, a claim accepted)
is not exported, and a lost file is simply exported again.
"""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from connectors.base import Connector, ConnectorError, ErrorClass, PushResult

TOPICS = ("order_dispatch", "stop_ship", "return_notice", "claim_notice", "statement_notice")


class SpreadsheetConfig(Schema):
    class Meta:
        unknown = RAISE

    contact_email = fields.Email(load_default=None, allow_none=True,
                                 metadata={"description": "where the merchant sends sheets"})
    note = fields.String(load_default=None, allow_none=True,
                         validate=validate.Length(max=500),
                         metadata={"description": "how this supplier receives its sheets"})


class Spreadsheet(Connector):
    name = "spreadsheet"
    kind = "supplier"
    title = "Spreadsheet (XLSX/CSV export and import)"
    capabilities = ("push",)
    config_schema = SpreadsheetConfig

    def push(self, topic, payload, idempotency_key):
        if topic not in TOPICS:
            raise ConnectorError(ErrorClass.FAIL_DATA, f"the spreadsheet channel carries "
                                 f"{', '.join(TOPICS)}, not {topic!r}")
        return PushResult(response_excerpt="awaiting export",
                          data={"awaiting_export": True, "topic": topic})
