"""The webhook receiver: ``POST /webhooks/<connector>/<account_id>``.

Verify on the raw bytes, store, acknowledge — and nothing else. Processing happens later
in ``jobs.process_inbox``, so a sender is answered in one short transaction:

1. the body is read raw, within ``HUB_MAX_BODY_BYTES`` (else 413, nothing stored; a
   chunked body too, ``hub.web.app``);
2. the account must exist and run the connector named in the URL; else the request is
   quarantined and answered exactly as a bad signature is, so nobody can tell which
   account ids exist. Accounts come from the app's ``AccountCache``
   (``hub.parties.accounts``): a cached account costs no database read; the trade-off is
   that a change committed by another process is seen within ``ACCOUNT_CACHE_TTL_S``
   (2 s), one committed by this process at once;
3. the account's connector verifies and splits the delivery into events, parsing within
   bounds (``connectors.bounded_json``). A rejected delivery (``WebhookRejected``: bad
   signature 401, unparseable 400) is written to ``quarantined_requests`` in its own
   transaction — headers without credentials and with secret-looking values scrubbed, a
   scrubbed body excerpt, the remote address — unless its source or account is over the
   ``inbox.QuarantineLimiter`` limits, and answered the same either way: with the
   connector's error body if it has one, else the hub's error JSON (a bad signature's
   detail stays in the quarantine, the answer is always the same);
4. the events are inserted with ``ON CONFLICT DO NOTHING`` (a redelivery is acknowledged
   the same way and changes nothing) by ``hub.pipeline.inbox_writer``: driver SQL in one short
   transaction (on SQLite shared with the deliveries other threads of the process are
   storing at that moment: a group commit), the worker is woken, and only once the
   rows are committed is the connector's acknowledgement returned.

Any other failure is a 500 with the hub's error JSON and no trace; an unfinished
transaction rolls back, so nothing is half-written and the sender retries.
"""
from __future__ import annotations

import functools
import json
import logging

from flask import Blueprint, Response, current_app, request

from connectors import bounded_json, registry
from connectors.base import AckResponse, WebhookRejected, bad_signature, unparseable
from hub.pipeline import inbox, inbox_writer
from hub.core import logs
from hub.parties.accounts import connector_for
from hub.core.errors import error_response
from hub.models import Account, QuarantinedRequest
from hub.web.context import hub

webhooks_blueprint = Blueprint("webhooks", __name__)
log = logging.getLogger(__name__)

EXCERPT_BYTES = 2048
MAX_EVENT_ID, MAX_EVENT_TYPE = 191, 128  # the inbox columns
BAD_SIGNATURE = bad_signature()  # what every bad signature and unknown account is answered


@webhooks_blueprint.record_once
def _setup(state) -> None:
    state.app.extensions["hub_quarantine_limiter"] = inbox.QuarantineLimiter()


def scrub_excerpt(body: bytes, limit: int = EXCERPT_BYTES) -> bytes:
    """The start of a body with secret-looking values, tokens and phone numbers masked."""
    try:
        parsed = bounded_json.loads(body) if len(body) <= limit else None
    except ValueError:  # not JSON, not text, or nested too deep
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


def _quarantine(merchant_id: int | None, account_id: int | None, connector: str,
                rejected: WebhookRejected, body: bytes) -> bool:
    """Write the rejected request to the quarantine, unless its source or URL is over the
    limits; whether it was written."""
    limiter = current_app.extensions["hub_quarantine_limiter"]
    if not limiter.allow(request.remote_addr, f"{connector[:64]}:{account_id}"):
        return False
    with hub().db.session() as s:
        s.add(QuarantinedRequest(
            merchant_id=merchant_id, account_id=account_id, connector=connector[:64],
            reason=rejected.reason[:64], detail=logs.scrub_text(rejected.detail)[:1000],
            headers=inbox.safe_headers(request.headers), body_excerpt=scrub_excerpt(body),
            remote_addr=(request.remote_addr or "")[:64] or None))
    log.info("webhook quarantined", extra={"connector": connector[:64],
                                           "account_id": account_id, "reason": rejected.reason})
    return True


def _answer(ack: AckResponse) -> Response:
    return Response(ack.body, status=ack.status, content_type=ack.content_type)


def _refuse(error_ack, rejected: WebhookRejected) -> Response:
    """The answer to a rejected delivery (``error_ack``: the connector's
    ``webhook_error_ack``, or None): a bad signature's is always the same."""
    public = BAD_SIGNATURE if rejected.reason == BAD_SIGNATURE.reason else rejected
    ack = error_ack(public) if error_ack is not None else None
    if ack is not None:
        return _answer(ack)
    return error_response(public.status, public.reason, public.detail)


def _reject(bound, account: Account, rejected: WebhookRejected, body: bytes) -> Response:
    _quarantine(account.merchant_id, account.id, account.connector, rejected, body)
    return _refuse(bound.webhook_error_ack, rejected)


def _unknown(connector: str, account_id: int, body: bytes) -> Response:
    """No such account, or not one of ``connector``: quarantined and answered as a bad
    signature, so that probing tells nobody which account ids exist."""
    rejected = bad_signature(f"no {connector} account {account_id}")
    _quarantine(None, None, connector, rejected, body)
    try:  # error bodies depend on the connector, not on an account
        cls = registry.get(connector)
        error_ack = functools.partial(cls.webhook_error_ack, None)
    except registry.UnknownConnector:
        error_ack = None
    return _refuse(error_ack, rejected)


def _check_sizes(events) -> None:
    for ev in events:
        if not ev.external_event_id or len(ev.external_event_id) > MAX_EVENT_ID:
            raise unparseable(f"event id must be 1 to {MAX_EVENT_ID} characters")
        if len(ev.event_type) > MAX_EVENT_TYPE:
            raise unparseable(f"event type must be at most {MAX_EVENT_TYPE} characters")
        if "\x00" in ev.external_event_id + ev.event_type:
            raise unparseable("event id and type must not contain NUL characters")


@webhooks_blueprint.post("/webhooks/<connector>/<int:account_id>")
def receive(connector: str, account_id: int):
    ctx = hub()
    body = request.get_data(cache=False)  # raw bytes; over the limit raises 413 first
    account = ctx.accounts.get(ctx.db, account_id)  # no database read while cached
    if account is None or account.connector != connector:
        return _unknown(connector, account_id, body)
    bound = connector_for(ctx.db, account, ctx.settings.public_url)
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        events = bound.verify_webhook(headers, body)
        _check_sizes(events)
    except WebhookRejected as rejected:
        return _reject(bound, account, rejected, body)
    except RecursionError:  # a plug-in connector parsing without bounds
        return _reject(bound, account, unparseable("the body is nested too deeply"), body)
    dialect = "postgresql" if ctx.db.is_postgres else "sqlite"
    rows = inbox.raw_rows(dialect, account, events, headers=inbox.safe_headers(headers))
    inbox_writer.write(ctx.db, rows, ctx.settings.var_dir)  # returns once committed
    return _answer(bound.webhook_ack(events))
