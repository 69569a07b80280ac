"""Everything addressed to a supplier: its notices, and acknowledging them.

* ``GET  /supplier/notices?topic=&acknowledged=&webhook_id=`` — the outbox messages on the
  supplier's channel account about its own rows, newest first, cursor paginated, each with
  its topic, payload (what the webhook carried), delivery status and times. A supplier
  that missed a webhook (it was down, the delivery died) finds it here.
* ``POST /supplier/notices/<id>/ack`` — "I have read it": sets ``acknowledged_at`` once;
  acknowledging again returns the notice unchanged.
"""
from __future__ import annotations

from hub.models import audit
from hub.web.kit import api_blueprint as bp
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.pagination import paginate
from hub.web.kit.scope import visible
from hub.core.db import utcnow
from hub.models import OutboxMessage
from hub.web.supplier_api import schemas as s
from hub.web.supplier_api.common import SUPPLIER, TAGS, commit, locked
from hub.web.context import request_session


@bp.get("/supplier/notices")
@endpoint(roles=SUPPLIER, query=s.NoticeListArgs, response=s.NoticeOut, many=True,
          summary="Everything sent to you (order dispatches, stop-ship requests, return and "
                  "tracking notices), newest first", tags=TAGS)
def supplier_notices(args):
    stmt = visible(OutboxMessage, principal())
    if "topic" in args:
        stmt = stmt.where(OutboxMessage.topic == args["topic"])
    if "webhook_id" in args:
        stmt = stmt.where(OutboxMessage.idempotency_key == args["webhook_id"])
    if "acknowledged" in args:
        column = OutboxMessage.acknowledged_at
        stmt = stmt.where(column.is_not(None) if args["acknowledged"] else column.is_(None))
    return paginate(request_session(), stmt, OutboxMessage.id, args)


@bp.post("/supplier/notices/<int:notice_id>/ack")
@endpoint(roles=SUPPLIER, response=s.NoticeOut,
          summary="Acknowledge a notice (idempotent)", tags=TAGS)
def supplier_ack_notice(notice_id):
    who = principal()
    notice = locked(OutboxMessage, notice_id)
    if notice.acknowledged_at is None:
        notice.acknowledged_at = utcnow()
        audit.record(request_session(), who.merchant_id, who.actor, "notice.acknowledged",
                     "outbox_message", notice.id,
                     {"topic": notice.topic, "acknowledged_at": notice.acknowledged_at.isoformat()})
        commit()
    return notice
