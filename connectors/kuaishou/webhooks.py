"""Inbound side of the Kuaishou connector: verifying a message push, and turning a stored
inbox body into full records.

**Verifying** (``verify``, on the receiver's hot path: local AES only, no API call, so the
``{"result":1}`` answer goes out well inside the platform's 3 s). The body is Base64 of
AES-128-CBC ciphertext (zero IV, PKCS5) under the app's ``message_key`` (reference §4.2);
there is no signature header, so authenticity *is* decrypting with the secret key to a
JSON object. A body that does not decrypt to one (not Base64, wrong key, damaged, not
JSON) is rejected as ``unparseable`` (400): the receiver quarantines it and never
processes it. The heartbeat ``{"test":true}`` — plaintext or encrypted — is accepted with
no event (the ack, nothing stored). Any other message must name its ``event``.

* The event id is ``eventId``; when a message has none it is ``ks:`` + a hash of
  (event, bizId, info), so a redelivery of the same content is still one inbox row.
* The event type is the ``event`` name (``kwaishop_order_paySuccess``...).
* What is stored is the *decrypted* envelope (canonical JSON): processing never needs
  the key again, and the envelope holds ids and statuses, no buyer contact.

**Processing** (``records_for_event``): each push is a thin trigger (the official demo's
pattern) and the full object is fetched through the client:

* ``kwaishop_order_*`` → ``open.order.detail`` for ``info.oid`` (else ``bizId``);
* ``kwaishop_aftersales_addRefund`` / ``updateRefund`` → ``open.seller.order.refund.detail``
  for ``info.refundId`` (these events carry ``orderId``, not ``oid``);
* any other event → no records (the inbox marks it ``ignored``).

Poll-sourced bodies (``{"type": "<entity>.updated", "data": record}``, as ``jobs.poll``
stores them) are completed the same way: an order element from ``open.order.cursor.list``
is used as is unless it lacks what the mapper needs (then ``open.order.detail``); a
refund list item is always replaced by ``open.seller.order.refund.detail`` (the list lacks
the return waybill, exchange and address blocks).
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime

from connectors import bounded_json
from connectors.base import ConnectorError, ErrorClass, Record, WebhookEvent, unparseable
from connectors.kuaishou.crypto import MessageDecryptError, decode_push, is_heartbeat, message_info
from mappings.kuaishou.common import ms_to_dt

ORDER_EVENT_PREFIX = "kwaishop_order_"
REFUND_EVENTS = frozenset({"kwaishop_aftersales_addRefund", "kwaishop_aftersales_updateRefund"})
POLL_TYPES = {"order.updated": "order", "return.updated": "return"}
MAX_ID_LEN = 191       # inbox_events.external_event_id
MAX_TYPE_LEN = 128     # inbox_events.event_type


# -- verifying ----------------------------------------------------------------------------
def event_id(message: dict) -> str:
    """``eventId``, else a stable hash of what the message says."""
    given = message.get("eventId")
    if given not in (None, "") and len(str(given)) <= MAX_ID_LEN:
        return str(given)
    basis = json.dumps([message.get("event"), message.get("bizId"), message.get("info")],
                       ensure_ascii=False, sort_keys=True, default=str)
    return "ks:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:40]


def verify(config: dict, headers: dict[str, str], body: bytes) -> list[WebhookEvent]:
    key = config.get("message_key")
    try:
        message = decode_push(body, key or "")
    except MessageDecryptError as e:
        detail = str(e) if key else f"{e}; the account has no message_key configured"
        raise unparseable(f"not a Kuaishou message for this app: {detail}") from None
    if is_heartbeat(message):
        return []
    event = message.get("event")
    if not isinstance(event, str) or not event.strip() or len(event) > MAX_TYPE_LEN:
        raise unparseable("the decrypted message names no event")
    stored = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return [WebhookEvent(external_event_id=event_id(message), event_type=event, body=stored)]


# -- processing ---------------------------------------------------------------------------
def _load(body: bytes, event_type: str) -> dict:
    try:
        doc = bounded_json.loads(body)
    except (ValueError, UnicodeDecodeError):
        doc = None
    if not isinstance(doc, dict):
        raise ConnectorError(ErrorClass.FAIL_DATA, f"stored {event_type} body is not a JSON object")
    return doc


def _updated(payload: dict) -> datetime | None:
    return ms_to_dt(payload.get("updateTime"))


def order_record(order: dict) -> Record:
    base = order.get("orderBaseInfo") if isinstance(order.get("orderBaseInfo"), dict) else {}
    oid = base.get("oid") or order.get("oid")
    if oid in (None, "", 0):
        raise ConnectorError(ErrorClass.FAIL_DATA, "Kuaishou order without orderBaseInfo.oid")
    return Record("order", str(oid), order, _updated(base))


def refund_record(refund: dict) -> Record:
    refund_id = refund.get("refundId")
    if refund_id in (None, "", 0):
        raise ConnectorError(ErrorClass.FAIL_DATA, "Kuaishou refund without refundId")
    return Record("return", str(refund_id), refund, _updated(refund))


def order_is_complete(order: dict) -> bool:
    """Whether a list element has every block the order mapper reads (else: the detail)."""
    base = order.get("orderBaseInfo")
    return (isinstance(base, dict) and base.get("oid") not in (None, "", 0)
            and base.get("status") is not None and base.get("updateTime") is not None
            and isinstance(order.get("orderItemInfo"), dict) and bool(order["orderItemInfo"])
            and isinstance(order.get("orderAddress"), dict))


def _fetch_order(client, oid) -> Record:
    detail = client.fetch_order(oid)
    if not isinstance(detail, dict) or not detail:
        raise ConnectorError(ErrorClass.FAIL_DATA, f"open.order.detail answered no order {oid}")
    return order_record(detail)


def _fetch_refund(client, refund_id) -> Record:
    detail = client.fetch_refund(refund_id)
    if not isinstance(detail, dict) or not detail:
        raise ConnectorError(ErrorClass.FAIL_DATA,
                             f"open.seller.order.refund.detail answered no refund {refund_id}")
    return refund_record(detail)


def _poll_records(client, event_type: str, doc: dict) -> list[Record]:
    data = doc.get("data")
    if not isinstance(data, dict):
        raise ConnectorError(ErrorClass.FAIL_DATA, f"stored {event_type} body has no record")
    if POLL_TYPES[event_type] == "order":
        if order_is_complete(data):
            return [order_record(data)]
        base = data.get("orderBaseInfo") if isinstance(data.get("orderBaseInfo"), dict) else {}
        oid = base.get("oid") or data.get("oid")
        if oid in (None, "", 0):
            raise ConnectorError(ErrorClass.FAIL_DATA, "polled Kuaishou order without oid")
        return [_fetch_order(client, oid)]
    refund_id = data.get("refundId")
    if refund_id in (None, "", 0):
        raise ConnectorError(ErrorClass.FAIL_DATA, "polled Kuaishou refund without refundId")
    return [_fetch_refund(client, refund_id)]


def records_for_event(client, event_type: str, body: bytes) -> list[Record]:
    """The full records a stored event stands for (fetched through ``client``)."""
    doc = _load(body, event_type)
    if event_type in POLL_TYPES and "data" in doc and "type" in doc:
        return _poll_records(client, event_type, doc)
    event = str(doc.get("event") or event_type)
    if not (event.startswith(ORDER_EVENT_PREFIX) or event in REFUND_EVENTS):
        return []
    try:
        info = message_info(doc)
    except MessageDecryptError as e:
        raise ConnectorError(ErrorClass.FAIL_DATA, f"{event}: {e}") from None
    if event in REFUND_EVENTS:
        refund_id = info.get("refundId") or doc.get("bizId")
        if refund_id in (None, "", 0):
            raise ConnectorError(ErrorClass.FAIL_DATA, f"{event} without refundId")
        return [_fetch_refund(client, refund_id)]
    oid = info.get("oid") or doc.get("bizId")
    if oid in (None, "", 0):
        raise ConnectorError(ErrorClass.FAIL_DATA, f"{event} without oid")
    return [_fetch_order(client, oid)]
