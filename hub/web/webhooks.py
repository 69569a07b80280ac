"""The webhook receiver: ``POST /webhooks/<connector>/<account_id>``.

Verify on the raw bytes, store, acknowledge — and nothing else. Processing happens later
in ``jobs.process_inbox``, so a sender is answered in one short transaction:

1. the account must exist and run the connector named in the URL (else 404). Accounts
   come from the app's ``AccountCache`` (``hub.parties.accounts``): a cached account costs no
   database read; the trade-off is that a change committed by another process is seen
   within ``ACCOUNT_CACHE_TTL_S`` (2 s), one committed by this process at once;
2. the body is read raw, within ``HUB_MAX_BODY_BYTES`` (else 413, nothing stored);
3. the account's connector verifies and splits the delivery into events. A rejected
   delivery (``WebhookRejected``: bad signature 401, unparseable 400) is written to
   ``quarantined_requests`` in its own transaction — headers without credentials and
   with secret-looking values scrubbed, a scrubbed body excerpt, the remote address —
   and answered with the connector's error body if it has one, else the hub's error JSON;
4. the events are inserted with ``ON CONFLICT DO NOTHING`` (a redelivery is acknowledged
   the same way and changes nothing) by ``hub.pipeline.inbox_writer``: driver SQL in one short
   transaction (on SQLite shared with the deliveries other threads of the process are
   storing at that moment: a group commit), the worker is woken, and only once the
   rows are committed is the connector's acknowledgement returned.

Any other failure is a 500 with the hub's error JSON and no trace; an unfinished
transaction rolls back, so nothing is half-written and the sender retries.
"""
from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, request

from connectors.base import AckResponse, WebhookRejected, unparseable
from hub.pipeline import inbox, inbox_writer
from hub.core import logs
from hub.parties.accounts import connector_for
from hub.core.errors import NotFound, error_response
from hub.models import Account, QuarantinedRequest
from hub.web.context import hub

webhooks_blueprint = Blueprint("webhooks", __name__)
log = logging.getLogger(__name__)

EXCERPT_BYTES = 2048
MAX_EVENT_ID, MAX_EVENT_TYPE = 191, 128  # the inbox columns


def scrub_excerpt(body: bytes, limit: int = EXCERPT_BYTES) -> bytes:
    """The start of a body with secret-looking values, tokens and phone numbers masked."""
    try:
        parsed = json.loads(body) if len(body) <= limit else None
    except (ValueError, UnicodeDecodeError):
        parsed = None
    if isinstance(parsed, (dict, list)):
        text = json.dumps(logs.scrub(parsed), ensure_ascii=False)
    else:
        try:
            text = body[:limit].decode("utf-8")
        except UnicodeDecodeError:
            return body[:limit]  # binary: nothing readable to scrub
        text = logs.scrub_text(text)  # known secrets, tokens, phones, secret=value pairs
    return text.encode("utf-8")[:limit]


def _quarantine(account: Account, rejected: WebhookRejected, body: bytes) -> None:
    db = hub().db
    with db.session() as s:
        s.add(QuarantinedRequest(
            merchant_id=account.merchant_id, account_id=account.id,
            connector=account.connector, reason=rejected.reason[:64],
            detail=logs.scrub_text(rejected.detail)[:1000],
            headers=inbox.safe_headers(request.headers), body_excerpt=scrub_excerpt(body),
            remote_addr=(request.remote_addr or "")[:64] or None))


def _answer(ack: AckResponse) -> Response:
    return Response(ack.body, status=ack.status, content_type=ack.content_type)


def _reject(connector, account: Account, rejected: WebhookRejected, body: bytes) -> Response:
    _quarantine(account, rejected, body)
    log.info("webhook quarantined", extra={"connector": account.connector,
                                           "account_id": account.id, "reason": rejected.reason})
    ack = connector.webhook_error_ack(rejected)
    if ack is not None:
        return _answer(ack)
    return error_response(rejected.status, rejected.reason, rejected.detail)


def _check_sizes(events) -> None:
    for ev in events:
        if not ev.external_event_id or len(ev.external_event_id) > MAX_EVENT_ID:
            raise unparseable(f"event id must be 1 to {MAX_EVENT_ID} characters")
        if len(ev.event_type) > MAX_EVENT_TYPE:
            raise unparseable(f"event type must be at most {MAX_EVENT_TYPE} characters")


@webhooks_blueprint.post("/webhooks/<connector>/<int:account_id>")
def receive(connector: str, account_id: int):
    ctx = hub()
    body = request.get_data(cache=False)  # raw bytes; over the limit raises 413 first
    account = ctx.accounts.get(ctx.db, account_id)  # no database read while cached
    if account is None or account.connector != connector:
        raise NotFound(f"no {connector} account {account_id}")
    bound = connector_for(ctx.db, account, ctx.settings.public_url)
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        events = bound.verify_webhook(headers, body)
        _check_sizes(events)
    except WebhookRejected as rejected:
        return _reject(bound, account, rejected, body)
    dialect = "postgresql" if ctx.db.is_postgres else "sqlite"
    rows = inbox.raw_rows(dialect, account, events, headers=inbox.safe_headers(headers))
    inbox_writer.write(ctx.db, rows, ctx.settings.var_dir)  # returns once committed
    return _answer(bound.webhook_ack(events))
