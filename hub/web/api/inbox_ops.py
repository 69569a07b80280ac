"""Operator endpoints for the inbox: what came in, why an event failed, replay it; and the
quarantine of deliveries that were rejected.

* ``GET  /ops/inbox`` — filter ``status``, ``connector``, ``account_id``; cursor paginated;
  never includes bodies;
* ``GET  /ops/inbox/<id>`` — one event with its error details and stored (scrubbed)
  headers; the body only as its size and SHA-256, never its content (it holds buyer data);
* ``POST /ops/inbox/<id>/replay`` — ``failed`` or ``ignored`` → ``received``, due now,
  attempts reset (409 for any other state);
* ``GET  /ops/quarantine`` — rejected deliveries (bad signature, unparseable), newest first.

For ``merchant_admin`` and ``operator`` tokens, scoped to the token's merchant; a
quarantined request whose merchant is unknown is visible to nobody here. The state rules
are in ``hub.pipeline.inbox``.
"""
from __future__ import annotations

import hashlib

from marshmallow import fields, validate
from sqlalchemy.orm import defer

from hub.models import InboxEvent, QuarantinedRequest
from hub.models.pipeline import ERROR_CLASSES, INBOX_STATUSES
from hub.pipeline import inbox
from hub.web.context import hub, request_session
from hub.web.kit import api_blueprint as bp
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.fields import RefId, Time
from hub.web.kit.pagination import PageArgs, paginate
from hub.web.kit.schemas import Out
from hub.web.kit.scope import get_visible, visible

STAFF = {"merchant_admin", "operator"}
TAGS = ["operations"]


class InboxListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(INBOX_STATUSES))
    connector = fields.String(validate=validate.Length(min=1, max=64))
    account_id = RefId()


class QuarantineListArgs(PageArgs):
    connector = fields.String(validate=validate.Length(min=1, max=64))
    account_id = RefId()
    reason = fields.String(validate=validate.Length(min=1, max=64))


class InboxEventOut(Out):
    id = fields.Integer()
    connector = fields.String()
    account_id = fields.Integer()
    external_event_id = fields.String()
    event_type = fields.String()
    source = fields.String(metadata={"enum": ["webhook", "poll"]})
    status = fields.String(metadata={"enum": list(INBOX_STATUSES)})
    attempts = fields.Integer(metadata={"description": "tries since received or replayed"})
    received_at = Time()
    next_attempt_at = Time()
    processed_at = Time(allow_none=True)
    error_class = fields.String(allow_none=True, metadata={"enum": list(ERROR_CLASSES)})
    error_message = fields.String(allow_none=True)


class InboxEventDetailOut(InboxEventOut):
    headers = fields.Dict(metadata={"description": "as received, credentials removed"})
    lease_owner = fields.String(allow_none=True)
    lease_expires_at = Time(allow_none=True)
    body_size = fields.Function(lambda e: len(e.body))
    body_sha256 = fields.Function(lambda e: hashlib.sha256(e.body).hexdigest())


class QuarantinedRequestOut(Out):
    id = fields.Integer()
    connector = fields.String()
    account_id = fields.Integer(allow_none=True)
    reason = fields.String(metadata={"description": "bad_signature, unparseable, ..."})
    detail = fields.String()
    headers = fields.Dict(metadata={"description": "credentials removed, secrets masked"})
    body_excerpt = fields.Function(
        lambda q: bytes(q.body_excerpt).decode("utf-8", errors="replace"),
        metadata={"description": "the start of the body, secret values masked"})
    remote_addr = fields.String(allow_none=True)
    received_at = Time()


def _where(stmt, model, args, *names):
    for name in names:
        if name in args:
            stmt = stmt.where(getattr(model, name) == args[name])
    return stmt


@bp.get("/ops/inbox")
@endpoint(roles=STAFF, query=InboxListArgs, response=InboxEventOut, many=True,
          summary="List inbox events (webhook deliveries and polled records)", tags=TAGS)
def list_inbox(args):
    stmt = visible(InboxEvent, principal()).options(defer(InboxEvent.body),
                                                    defer(InboxEvent.headers))
    stmt = _where(stmt, InboxEvent, args, "status", "connector", "account_id")
    return paginate(request_session(), stmt, InboxEvent.id, args)


@bp.get("/ops/inbox/<int:inbox_event_id>")
@endpoint(roles=STAFF, response=InboxEventDetailOut,
          summary="Get an inbox event with its error details (body as size and SHA-256)",
          tags=TAGS)
def get_inbox_event(inbox_event_id):
    return get_visible(request_session(), InboxEvent, inbox_event_id, principal())


@bp.post("/ops/inbox/<int:inbox_event_id>/replay")
@endpoint(roles=STAFF, response=InboxEventDetailOut,
          summary="Process a failed or ignored event again (due now, attempts reset)",
          tags=TAGS)
def replay_inbox_event(inbox_event_id):
    who, session = principal(), request_session()
    event = get_visible(session, InboxEvent, inbox_event_id, who)
    session.refresh(event, with_for_update=True)  # row-locked against a worker (PostgreSQL)
    inbox.replay(session, event, who.actor, var_dir=hub().settings.var_dir)
    session.commit()
    return event


@bp.get("/ops/quarantine")
@endpoint(roles=STAFF, query=QuarantineListArgs, response=QuarantinedRequestOut, many=True,
          summary="List quarantined webhook deliveries (rejected, never processed)",
          tags=TAGS)
def list_quarantine(args):
    stmt = _where(visible(QuarantinedRequest, principal()), QuarantinedRequest, args,
                  "connector", "account_id", "reason")
    return paginate(request_session(), stmt, QuarantinedRequest.id, args)
