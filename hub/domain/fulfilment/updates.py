"""Applying what a supplier channel says about a fulfilment (``FulfilmentUpdateValues``).

``apply_update(session, account, values)`` is the ``hub.pipeline.sync.apply`` handler for the
values the supplier connectors map (Kuaishou dropship polls, CJ webhooks) and the one the
spreadsheet import and the push-answer hooks below use. It finds the fulfilment —
by ``fulfilment_id`` or by ``supplier_reference``, always among the fulfilments of the
suppliers this channel account serves, in the account's merchant — and calls the domain
services, which own the state machine and every timestamp:

| update            | fulfilment status            | domain call                                       |
|-------------------|------------------------------|---------------------------------------------------|
| ``accepted``      | ``requested``                | ``answers.accept`` (stores the reference)         |
| ``rejected``      | any but ``rejected``         | ``answers.reject``                                |
| ``shipped``       | ``cancel_requested``         | ``stopship.answer_stop_ship`` rejected, with the tracking (already shipped) |
| ``shipped``       | otherwise                    | ``accept`` first when ``requested``, then ``submit_tracking`` |
| ``cancelled``     | ``cancel_requested``         | ``answer_stop_ship`` accepted                     |
| ``cancelled``     | ``requested`` / ``accepted`` | ``reject`` (cancelled on the channel, unasked)    |
| ``cancel_rejected`` | ``cancel_requested``       | ``answer_stop_ship`` rejected (reason, tracking)  |

Idempotent: an update the fulfilment already reflects (the same status; ``accepted`` once
it moved on; ``shipped`` with a tracking number it already has; a second answer to a
stop-ship — the first answer wins) is ``ignored`` and changes nothing. An unknown
fulfilment, a contradiction (``cancel_rejected`` with no stop-ship asked) or a refusal by
the domain (an invalid or reused tracking number: ``ApiError``) is a ``fail_data``
``ConnectorError`` with a clear message; ``hub.pipeline.sync.apply`` runs the handler in a
savepoint, so nothing of a refused update stays.

Push answers: a connector whose push learns the answer at once (a Kuaishou allocation, a
cancelled allocation, a CJ order deleted before payment) returns it in ``PushResult.data``
as ``supplier_reference`` and/or ``fulfilment_update`` (``{"status", "reason",
"carrier", "tracking_number", "occurred_at"}``). The ``MessageSettled`` subscribers
registered here apply it when the ``order_dispatch`` / ``stop_ship`` message is ``sent``;
an answer that cannot be applied raises the merchant alert ``supplier_answer_not_applied``.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import ConnectorError, ErrorClass
from hub.core.db import utcnow
from hub.core.errors import ApiError
from hub.core.wakeup import current_var_dir
from hub.domain.fulfilment import answers, stopship
from hub.models import Account, Fulfilment, OutboxMessage, Shipment, Supplier, alerts
from hub.pipeline import sync
from hub.pipeline.events import MessageSettled
from hub.values import FULFILMENT_UPDATE_STATUSES, FulfilmentUpdateValues

log = logging.getLogger(__name__)

ALREADY_SHIPPED = "already shipped"
ALERT_KIND = "supplier_answer_not_applied"
ANSWER_TOPICS = ("order_dispatch", "stop_ship")


def actor_for(account: Account) -> str:
    return f"connector:{account.connector}:{account.id}"


def normalise_tracking(number: str | None) -> str:
    return re.sub(r"[\s\-]", "", number or "").upper()


def _refused(message: str) -> ConnectorError:
    return ConnectorError(ErrorClass.FAIL_DATA, message)


def find_fulfilment(session: Session, account: Account, v: FulfilmentUpdateValues) -> Fulfilment:
    """The fulfilment ``v`` names among those of the suppliers ``account`` reaches."""
    stmt = (select(Fulfilment).join(Supplier, Supplier.id == Fulfilment.supplier_id)
            .where(Fulfilment.merchant_id == account.merchant_id,
                   Supplier.merchant_id == account.merchant_id,
                   Supplier.channel_account_id == account.id))
    if v.fulfilment_id is not None:
        stmt = stmt.where(Fulfilment.id == v.fulfilment_id)
        named = f"fulfilment {v.fulfilment_id}"
    elif v.supplier_reference:
        stmt = stmt.where(Fulfilment.supplier_reference == v.supplier_reference)
        named = f"supplier reference {v.supplier_reference!r}"
    else:
        raise _refused("the update names no fulfilment (neither fulfilment_id nor "
                       "supplier_reference)")
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=Fulfilment)
    found = list(session.scalars(stmt.order_by(Fulfilment.id).limit(2)))
    if not found:
        raise _refused(f"unknown order: no fulfilment with {named} for a supplier of "
                       f"{account.connector} account {account.id}; nothing was changed")
    if len(found) > 1:
        raise _refused(f"{named} matches several fulfilments of account {account.id}")
    f = found[0]
    if (v.fulfilment_id is not None and v.supplier_reference and f.supplier_reference
            and f.supplier_reference != v.supplier_reference):
        raise _refused(f"fulfilment {f.id} has supplier reference {f.supplier_reference!r}, "
                       f"not {v.supplier_reference!r}")
    return f


def _has_parcel(session: Session, f: Fulfilment, v: FulfilmentUpdateValues) -> bool:
    wanted = normalise_tracking(v.tracking_number)
    numbers = session.scalars(select(Shipment.tracking_number).where(
        Shipment.merchant_id == f.merchant_id, Shipment.fulfilment_id == f.id))
    return any(normalise_tracking(n) == wanted for n in numbers)


def _need_parcel(f: Fulfilment, v: FulfilmentUpdateValues) -> None:
    if not (v.carrier and v.tracking_number):
        raise _refused(f"fulfilment {f.id}: a 'shipped' update needs a carrier and a "
                       "tracking number")


def _route(session, f: Fulfilment, v: FulfilmentUpdateValues, actor: str, var_dir) -> bool:
    """Call the domain for ``v``; True when something changed."""

    status, st = f.status, v.status
    if st == "accepted":
        if status == "requested":
            answers.accept(session, f, actor, supplier_reference=v.supplier_reference)
            return True
        if status == "rejected":
            raise _refused(f"fulfilment {f.id} was rejected; it cannot be accepted now")
        if v.supplier_reference and not f.supplier_reference:
            f.supplier_reference = v.supplier_reference[:128]
            return True
        return False
    if st == "rejected":
        if status == "rejected":
            return False
        answers.reject(session, f, actor, v.reason or "rejected by the supplier")
        return True
    if st == "shipped":
        _need_parcel(f, v)
        if _has_parcel(session, f, v):
            return False
        if status == "cancel_requested":
            stopship.answer_stop_ship(session, f, False, actor, reason=v.reason or ALREADY_SHIPPED,
                                      carrier=v.carrier, tracking_number=v.tracking_number,
                                      var_dir=var_dir)
            return True
        if status == "requested":
            answers.accept(session, f, actor, supplier_reference=v.supplier_reference)
        answers.submit_tracking(session, f, v.carrier, v.tracking_number, actor, var_dir)
        return True
    if st == "cancelled":
        if status == "cancelled":
            return False
        if status == "cancel_requested":
            stopship.answer_stop_ship(session, f, True, actor, reason=v.reason, var_dir=var_dir)
            return True
        if status in ("requested", "accepted"):
            answers.reject(session, f, actor, "cancelled on the supplier channel"
                          + (f": {v.reason}" if v.reason else ""))
            return True
        if status == "cancel_rejected":
            return False  # the stop-ship was answered already: the first answer wins
        raise _refused(f"fulfilment {f.id} is {status}; the supplier's cancellation cannot "
                       "apply")
    # cancel_rejected
    if status == "cancel_requested":
        if v.tracking_number and not v.carrier:
            raise _refused(f"fulfilment {f.id}: a tracking number needs its carrier")
        stopship.answer_stop_ship(session, f, False, actor, reason=v.reason or ALREADY_SHIPPED,
                                  carrier=v.carrier, tracking_number=v.tracking_number,
                                  var_dir=var_dir)
        return True
    if status in ("cancelled", "cancel_rejected"):
        return False
    raise _refused(f"fulfilment {f.id} is {status}: no stop-ship was requested, so there is "
                   "nothing to reject")


def apply_update(session: Session, account: Account, v: FulfilmentUpdateValues, *,
                 actor: str | None = None, var_dir: Path | None = None):
    """``(outcome, None)``: ``updated`` or ``ignored`` (the answers publish their own
    events); raises a ``fail_data`` ``ConnectorError`` when the update cannot apply."""
    if v.status not in FULFILMENT_UPDATE_STATUSES:
        raise _refused(f"unknown fulfilment update status {v.status!r}; expected one of "
                       f"{', '.join(FULFILMENT_UPDATE_STATUSES)}")
    f = find_fulfilment(session, account, v)
    try:
        changed = _route(session, f, v, actor or actor_for(account), current_var_dir(var_dir))
    except ApiError as e:
        raise _refused(f"fulfilment {f.id}: {e.message}") from None
    session.flush()
    return ("updated" if changed else "ignored"), None


# -- answers that came back with a push -----------------------------------------------------

def _time(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(timezone.utc) if moment.tzinfo else None


def answer_from_push(message: OutboxMessage) -> FulfilmentUpdateValues | None:
    """The values a sent message's ``result`` carries, or None when it carries none. A
    ``supplier_reference`` alone comes back as ``accepted`` with ``reference_only`` in its
    flags: the reference is stored, the status is left as it is."""
    if message.status != "sent" or message.topic not in ANSWER_TOPICS:
        return None
    data = (message.result or {}).get("data") or {}
    if not isinstance(data, dict):
        return None
    fulfilment_id = (message.payload or {}).get("fulfilment_id")
    if fulfilment_id is None and message.entity == "fulfilment":
        fulfilment_id = message.entity_id
    if fulfilment_id is None:
        return None
    reference = data.get("supplier_reference")
    reference = str(reference)[:128] if reference not in (None, "") else None
    update = data.get("fulfilment_update")
    flags: tuple[str, ...] = ()
    if not isinstance(update, dict):
        if reference is None:
            return None
        update, flags = {"status": "accepted"}, ("reference_only",)
    return FulfilmentUpdateValues(
        status=str(update.get("status")), fulfilment_id=int(fulfilment_id),
        occurred_at=_time(update.get("occurred_at")) or message.sent_at or utcnow(),
        supplier_reference=reference, carrier=update.get("carrier"),
        tracking_number=update.get("tracking_number"), reason=update.get("reason"),
        raw_status=update.get("raw_status"), flags=flags)


def on_answer_settled(session: Session, event: MessageSettled) -> None:
    message = event.message
    problem = None
    try:
        values = answer_from_push(message)
    except (TypeError, ValueError) as e:
        values, problem = None, f"unreadable answer: {e}"
    if values is None and problem is None:
        return
    account = session.get(Account, message.account_id)
    if values is not None:
        try:
            with session.begin_nested():
                if "reference_only" in values.flags:
                    f = find_fulfilment(session, account, values)
                    if not f.supplier_reference:
                        f.supplier_reference = values.supplier_reference
                else:
                    sync.apply(session, account, values)
            return
        except ConnectorError as e:
            problem = e.message
    entity_id = (message.payload or {}).get("fulfilment_id") or message.entity_id
    log.warning("supplier answer not applied", extra={"outbox_message_id": message.id,
                                                      "topic": message.topic})
    alerts.raise_alert(
        session, message.merchant_id, ALERT_KIND, "fulfilment", entity_id,
        f"The {account.connector} channel answered the {message.topic} for fulfilment "
        f"{entity_id}, but the answer could not be recorded: {problem}",
        severity="critical" if message.topic == "stop_ship" else "warning",
        details={"outbox_message_id": message.id, "result": message.result})

