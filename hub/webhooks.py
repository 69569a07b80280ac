"""The webhook receiver: ``POST /webhooks/<connector>/<account_id>``.

Verify on the raw bytes, store, acknowledge — and nothing else. Processing happens later
in ``jobs.process_inbox``, so a sender is answered in one short transaction:

1. the account must exist and run the connector named in the URL (else 404);
2. the body is read raw, within ``HUB_MAX_BODY_BYTES`` (else 413, nothing stored);
3. the account's connector verifies and splits the delivery into events. A rejected
   delivery (``WebhookRejected``: bad signature 401, unparseable 400) is written to
   ``quarantined_requests`` in its own transaction — headers without credentials and
   with secret-looking values scrubbed, a scrubbed body excerpt, the remote address —
   and answered with the connector's error body if it has one, else the hub's error JSON;
4. the events are inserted with ``ON CONFLICT DO NOTHING`` (a redelivery is acknowledged
   the same way and changes nothing), the worker is woken in the same transaction, the
   transaction commits, and the connector's acknowledgement is returned.

Any other failure is a 500 with the hub's error JSON and no trace; the transaction rolls
back, so nothing is half-written and the sender retries.
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading

from flask import Blueprint, Response, request
from sqlalchemy import Text, bindparam, select, type_coerce

from connectors.base import AckResponse, WebhookRejected, unparseable
from hub import crypto, inbox, logs, wakeup
from hub.accounts import connector_for
from hub.db import MAX_ID
from hub.errors import NotFound, error_response
from hub.models import Account, QuarantinedRequest
from hub.web import hub

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


def _load_account(conn, account_id: int) -> Account | None:
    """The account as a detached ``Account``, from one cached Core query; its config is
    decrypted once per stored ciphertext (a changed config is a new ciphertext)."""
    row = conn.execute(_ACCOUNT_BY_ID, {"id": account_id}).first() \
        if 0 < account_id <= MAX_ID else None
    if row is None:
        return None
    return Account(id=row.id, merchant_id=row.merchant_id, connector=row.connector,
                   kind=row.kind, name=row.name, status=row.status,
                   config=dict(_decrypt(row.config)))


@functools.lru_cache(maxsize=1024)
def _decrypt(ciphertext: str) -> dict:
    return crypto.decrypt_json(ciphertext)


_accounts = Account.__table__
_ACCOUNT_BY_ID = select(
    _accounts.c.id, _accounts.c.merchant_id, _accounts.c.connector, _accounts.c.kind,
    _accounts.c.name, _accounts.c.status,
    type_coerce(_accounts.c.config, Text).label("config"),  # the ciphertext, undecrypted
).where(_accounts.c.id == bindparam("id"))


_sqlite_write = threading.Lock()


def _writer(db):
    """SQLite allows one writer at a time, and a writer that finds the lock taken sleeps
    in steps of 1, 2, 5, 10... ms. Threads of one process therefore queue on a lock of
    their own (handed over at once); only other processes meet SQLite's busy wait."""
    return contextlib.nullcontext() if db.is_postgres else _sqlite_write


@webhooks_blueprint.post("/webhooks/<connector>/<int:account_id>")
def receive(connector: str, account_id: int):
    ctx = hub()
    db = ctx.db
    body = request.get_data(cache=False)  # raw bytes; over the limit raises 413 first
    # Core, not the ORM: this is the hot path. PostgreSQL: one transaction reads the
    # account and inserts. SQLite: the account is read outside the write transaction, so
    # the write lock (BEGIN IMMEDIATE) is held for the insert only.
    with db.engine.connect() as conn:
        try:
            if db.is_postgres:
                conn.begin()
                account = _load_account(conn, account_id)
            else:
                with db.engine.execution_options(hub_readonly=True).connect() as reader:
                    account = _load_account(reader, account_id)
            if account is None or account.connector != connector:
                raise NotFound(f"no {connector} account {account_id}")
            bound = connector_for(db, account, ctx.settings.public_url)
            headers = {k.lower(): v for k, v in request.headers.items()}
            try:
                events = bound.verify_webhook(headers, body)
                _check_sizes(events)
            except WebhookRejected as rejected:
                conn.rollback()
                return _reject(bound, account, rejected, body)
            stored_headers = inbox.safe_headers(headers)
            with _writer(db):
                if not conn.in_transaction():
                    conn.begin()
                inserted = inbox.insert(conn, account, events, headers=stored_headers)
                if inserted and db.is_postgres:
                    wakeup.pg_notify(conn, "inbox")  # delivered on commit
                conn.commit()
        except BaseException:
            conn.rollback()
            raise
    if inserted and not db.is_postgres:
        wakeup.send_datagram("inbox", ctx.settings.var_dir)
    return _answer(bound.webhook_ack(events))
