"""Operator endpoints for the outbox: see what the hub is sending, why a push failed, and
replay or cancel it.

* ``GET  /ops/outbox`` — filter ``status``, ``topic``, ``account_id``; cursor paginated;
* ``GET  /ops/outbox/<id>`` — one message with its delivery attempts, oldest first;
* ``POST /ops/outbox/<id>/replay`` — ``dead`` → ``pending``, due now, same idempotency key
  (409 for any other state);
* ``POST /ops/outbox/<id>/cancel`` — ``pending`` or ``dead`` → ``cancelled`` (409 otherwise,
  and while a worker is sending it).

For ``merchant_admin`` and ``operator`` tokens, scoped to the token's merchant. Payloads
and excerpts are shown scrubbed (``hub.core.logs.scrub``). The state rules are in
``hub.pipeline.outbox_admin``.
"""
from __future__ import annotations

from marshmallow import fields, validate
from sqlalchemy import select

from hub.core.logs import scrub
from hub.models import DeliveryAttempt, OutboxMessage
from hub.models.pipeline import ERROR_CLASSES, OUTBOX_STATUSES
from hub.pipeline import outbox_admin
from hub.web.context import hub, request_session
from hub.web.kit import api_blueprint as bp
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.fields import RefId, Time
from hub.web.kit.pagination import PageArgs, paginate
from hub.web.kit.schemas import Out
from hub.web.kit.scope import get_visible, visible

STAFF = {"merchant_admin", "operator"}
TAGS = ["operations"]


class OutboxListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(OUTBOX_STATUSES))
    topic = fields.String(validate=validate.Length(min=1, max=64))
    account_id = RefId()


class DeliveryAttemptOut(Out):
    id = fields.Integer()
    attempt_no = fields.Integer()
    started_at = Time()
    duration_ms = fields.Integer()
    status_code = fields.Integer(allow_none=True)
    outcome = fields.String(metadata={"enum": ["success", *ERROR_CLASSES]})
    error = fields.Function(lambda a: scrub(a.error))
    response_excerpt = fields.Function(lambda a: scrub(a.response_excerpt))


class OutboxMessageOut(Out):
    id = fields.Integer()
    account_id = fields.Integer()
    connector = fields.String()
    topic = fields.String()
    entity = fields.String()
    entity_id = fields.Integer()
    status = fields.String(metadata={"enum": list(OUTBOX_STATUSES)})
    idempotency_key = fields.String(
        metadata={"description": "sent as Idempotency-Key, the same on every try and replay"})
    attempts = fields.Integer(metadata={"description": "tries since it was queued or replayed"})
    next_attempt_at = Time()
    created_at = Time()
    sent_at = Time(allow_none=True)
    last_error_class = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
    payload = fields.Function(lambda m: scrub(m.payload))
    result = fields.Function(lambda m: scrub(m.result) if m.result is not None else None)


class OutboxMessageDetailOut(OutboxMessageOut):
    delivery_attempts = fields.List(fields.Nested(DeliveryAttemptOut))


class _WithAttempts:
    """A message plus its attempts, for ``OutboxMessageDetailOut``."""

    def __init__(self, message: OutboxMessage, attempts: list[DeliveryAttempt]):
        self._message, self.delivery_attempts = message, attempts

    def __getattr__(self, name):
        return getattr(self._message, name)


def _detail(message: OutboxMessage) -> _WithAttempts:
    attempts = list(request_session().scalars(
        select(DeliveryAttempt).where(DeliveryAttempt.outbox_message_id == message.id,
                                      DeliveryAttempt.merchant_id == message.merchant_id)
        .order_by(DeliveryAttempt.id)))
    return _WithAttempts(message, attempts)


def _locked(session, message_id: int) -> OutboxMessage:
    """The caller's message, row-locked (PostgreSQL) against a worker claiming it."""
    message = get_visible(session, OutboxMessage, message_id, principal())
    session.refresh(message, with_for_update=True)
    return message


@bp.get("/ops/outbox")
@endpoint(roles=STAFF, query=OutboxListArgs, response=OutboxMessageOut, many=True,
          summary="List outbox messages (pushes to outside parties)", tags=TAGS)
def list_outbox(args):
    stmt = visible(OutboxMessage, principal())
    for name in ("status", "topic", "account_id"):
        if name in args:
            stmt = stmt.where(getattr(OutboxMessage, name) == args[name])
    return paginate(request_session(), stmt, OutboxMessage.id, args)


@bp.get("/ops/outbox/<int:outbox_message_id>")
@endpoint(roles=STAFF, response=OutboxMessageDetailOut,
          summary="Get an outbox message with its delivery attempts", tags=TAGS)
def get_outbox_message(outbox_message_id):
    message = get_visible(request_session(), OutboxMessage, outbox_message_id, principal())
    return _detail(message)


@bp.post("/ops/outbox/<int:outbox_message_id>/replay")
@endpoint(roles=STAFF, response=OutboxMessageDetailOut,
          summary="Send a dead message again, with the same idempotency key", tags=TAGS)
def replay_outbox_message(outbox_message_id):
    who, session = principal(), request_session()
    message = _locked(session, outbox_message_id)
    outbox_admin.replay(session, message, who.actor, hub().settings.var_dir)
    session.commit()
    return _detail(message)


@bp.post("/ops/outbox/<int:outbox_message_id>/cancel")
@endpoint(roles=STAFF, response=OutboxMessageDetailOut,
          summary="Cancel a pending or dead message", tags=TAGS)
def cancel_outbox_message(outbox_message_id):
    who, session = principal(), request_session()
    message = _locked(session, outbox_message_id)
    outbox_admin.cancel(session, message, who.actor)
    session.commit()
    return _detail(message)
