"""What the hub hands a connector's optional capabilities, and what they answer.

The capabilities themselves are declared on the connector class (``capabilities``) and
listed in ``connectors.base``; this module holds their value types and the *standard*
message shapes a connector gets unless it overrides them:

* ``Parcel`` — a parcel as the hub describes it to a courier; ``standard_subscription`` /
  ``standard_interception`` are the default ``subscribe`` / ``intercept`` payloads;
* ``ReturnDecision`` — a merchant's decision on a platform return;
  ``standard_return_message`` shapes it into one of the standard platform topics
  (``refund_approve``, ``return_approve``, ``return_receipt``, ``refund_reject``) when the
  connector's ``push_topics`` has it;
* ``Outgoing`` — an outbox message a connector shaped: topic, payload and version;
* ``SecretChange`` / ``RotationError`` — the result (or refusal) of a secret rotation;
* ``PlatformAddress`` / ``RejectReason`` — a shop's return address and a platform's
  rejection reason, as ``after_sale_lists`` answers them;
* ``ReturnLabelRequest`` (``LabelReceiver``, ``LabelSender``) — a prepaid return waybill
  or courier pickup the hub asks for (``return_label``); ``standard_return_label`` is the
  default ``return_label`` payload; ``ReturnLabel`` is what the courier issued, carried
  back in the push answer (``PushResult.data["return_label"]``).

Pure: no hub import, no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import ClassVar

from marshmallow import ValidationError

DECISIONS = ("approve_refund", "approve_return", "confirm_receipt", "reject")
INTERCEPT_KINDS = ("return_to_sender", "modify_address")
AUTHORIZATION_STATUSES = ("ok", "expiring", "expired", "revoked")


@dataclass(frozen=True)
class PlatformAddress:
    """A return address the shop keeps on the platform; approvals name its id."""

    platform_address_id: str
    name: str
    address: str
    contact: str | None = None
    phone: str | None = None
    is_default: bool = False


@dataclass(frozen=True)
class RejectReason:
    """A reason the platform accepts for rejecting a request (or a return's receipt)."""

    code: str
    description: str
    tip: str | None = None
    needs_description: bool = False
    needs_image: bool = False


@dataclass(frozen=True)
class Parcel:
    """A parcel as the hub knows it."""

    carrier: str                 # the hub's carrier code (mappings/tracking/carriers.json)
    tracking_number: str
    ref: str | None = None       # the hub's shipment reference, echoed back on pushes
    phone: str | None = None     # the recipient's phone as the hub has it (often masked)


@dataclass(frozen=True)
class ReturnDecision:
    """A merchant's decision on a return (after-sale request) of a platform.

    ``action`` is one of ``DECISIONS``. ``return_id`` is the platform's id of the return;
    ``amount_minor`` the refund the merchant approved; ``address_id`` (approve_return) the
    platform's id of the address the goods go back to, and ``instructions`` what the buyer
    is told (how to pack, where to send it: for a platform that carries a message);
    ``reason_code`` and ``desc`` (reject) the platform's reason code and a free text. The
    hub makes each decision its own message (it adds the platform state it decided on to
    the version)."""

    action: str
    return_id: str
    amount_minor: int | None = None
    address_id: str | None = None
    reason_code: int | str | None = None
    desc: str | None = None
    instructions: str | None = None


@dataclass(frozen=True)
class Outgoing:
    """An outbox message shaped by a connector. ``version`` names what is pushed: the hub
    queues one message per (account, topic, entity, version), so the same decision asked
    twice is sent once and every retry carries the same idempotency key."""

    topic: str
    payload: dict
    version: str


@dataclass(frozen=True)
class SecretChange:
    """An account config after a secret rotation: ``config`` to store, ``active`` signing
    secrets after the change, ``secret`` the new one (shown once) or ``retired`` the
    number dropped."""

    config: dict
    active: int
    secret: str | None = None
    retired: int = 0


class RotationError(ValueError):
    """A rotation that cannot be done (too many active secrets, only one left...)."""


@dataclass(frozen=True)
class LabelReceiver:
    """Where returned goods go: the receiver's business address (a supplier's or the
    merchant's warehouse), never a buyer's."""

    name: str
    phone: str
    address: str


@dataclass(frozen=True)
class LabelSender:
    """The buyer a courier picks the goods up from, exactly as the shop platform gave them:
    the platform's ciphertext (only the platform, or a courier service it authorises,
    can decrypt it), masked text for people to read, and region codes. The hub never
    holds plaintext buyer data, so there is none here."""

    platform: str                # the shop's connector, whose ciphertext this is
    platform_order_id: str
    name_cipher: str
    phone_cipher: str
    address_cipher: str
    name_masked: str | None = None
    phone_masked: str | None = None
    address_masked: str | None = None
    province_code: str | None = None
    city_code: str | None = None
    district_code: str | None = None


@dataclass(frozen=True)
class ReturnLabelRequest:
    """A prepaid return waybill or courier pickup (上门取件) for a return's goods.
    ``reference`` is the hub's (echoed back); ``carrier`` the hub's carrier code wanted,
    or None for the courier account's own choice; ``goods`` says what is picked up and
    ``count`` how many pieces."""

    reference: str
    carrier: str | None
    receiver: LabelReceiver
    sender: LabelSender
    goods: str
    count: int = 1


@dataclass(frozen=True)
class ReturnLabel:
    """What a courier issued for a ``ReturnLabelRequest``: the waybill (``carrier``: the
    hub's code; ``tracking_number``), the courier's own booking id, a pickup code or a
    printable label's URL if any, and the pickup window or the label's expiry."""

    carrier: str
    tracking_number: str
    booking_id: str | None = None
    pickup_code: str | None = None
    label_url: str | None = None
    pickup_from: datetime | None = None
    pickup_until: datetime | None = None
    expires_at: datetime | None = None

    TIMES: ClassVar[tuple[str, ...]] = ("pickup_from", "pickup_until", "expires_at")

    def data(self) -> dict:
        """As JSON for ``PushResult.data["return_label"]`` (times ISO 8601)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for k in self.TIMES:
            out[k] = out[k].isoformat() if out[k] is not None else None
        return out

    @classmethod
    def from_data(cls, data) -> "ReturnLabel":
        """Read ``data()`` back; ``ValueError`` when there is no usable waybill."""
        if not isinstance(data, dict):
            raise ValueError("the answer carries no return_label object")
        carrier = str(data.get("carrier") or "").strip().lower()
        number = str(data.get("tracking_number") or "").strip()
        if not carrier or not number:
            raise ValueError("the return label has no carrier or no tracking number")
        times = {}
        for k in cls.TIMES:
            value = data.get(k)
            moment = datetime.fromisoformat(value) if isinstance(value, str) and value else None
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{k} has no time zone")
            times[k] = moment
        texts = {k: (str(data[k])[:500] if data.get(k) not in (None, "") else None)
                 for k in ("booking_id", "pickup_code", "label_url")}
        return cls(carrier, number, **texts, **times)


# -- standard shapes -----------------------------------------------------------------------
def standard_subscription(parcel: Parcel) -> dict:
    """``subscribe``: ``{carrier, tracking_number, shipment_ref}`` (no phone)."""
    _need_number(parcel)
    payload = {"carrier": parcel.carrier, "tracking_number": parcel.tracking_number,
               "shipment_ref": parcel.ref}
    return {k: v for k, v in payload.items() if v is not None}


def standard_interception(parcel: Parcel, kind: str, reason: str = "",
                          address: dict | None = None) -> dict:
    """``intercept``: ``{carrier, tracking_number, intercept_type, reason, address?}``;
    ``modify_address`` needs ``address {name, mobile, print_addr}``."""
    _need_number(parcel)
    if kind not in INTERCEPT_KINDS:
        raise ValidationError(f"must be one of {', '.join(INTERCEPT_KINDS)}", "intercept_type")
    if kind == "modify_address" and not address:
        raise ValidationError("modify_address needs address {name, mobile, print_addr}",
                              "address")
    payload = {"carrier": parcel.carrier, "tracking_number": parcel.tracking_number,
               "intercept_type": kind, "reason": reason or "", "address": address}
    return {k: v for k, v in payload.items() if v is not None}


def _need_number(parcel: Parcel) -> None:
    if not (parcel.carrier or "").strip():
        raise ValidationError("a carrier is required", "carrier")
    if not (parcel.tracking_number or "").strip():
        raise ValidationError("a tracking number is required", "tracking_number")


def standard_return_label(request: ReturnLabelRequest) -> dict:
    """``return_label``: ``{reference, carrier?, receiver {name, phone, address}, sender
    {platform, platform_order_id, name_cipher, phone_cipher, address_cipher, *_masked?,
    province_code?, city_code?, district_code?}, goods, count}``. A missing ciphertext
    (the platform says: do not ship then), receiver field, goods or a count below 1 is a
    ``ValidationError``."""
    errors: dict = {}
    if not (request.reference or "").strip():
        errors["reference"] = ["the hub's reference is required"]
    for name in ("name", "phone", "address"):
        if not (getattr(request.receiver, name) or "").strip():
            errors.setdefault("receiver", {})[name] = ["required: where the goods go"]
    for name in ("platform", "platform_order_id", "name_cipher", "phone_cipher",
                 "address_cipher"):
        if not (getattr(request.sender, name) or "").strip():
            errors.setdefault("sender", {})[name] = ["required: the platform's buyer data"]
    if not (request.goods or "").strip():
        errors["goods"] = ["say what is picked up"]
    if isinstance(request.count, bool) or not isinstance(request.count, int) \
            or request.count < 1:
        errors["count"] = ["at least 1 piece"]
    if errors:
        raise ValidationError(errors)
    sender = {k: v for k, v in vars(request.sender).items() if v not in (None, "")}
    payload = {"reference": request.reference.strip(), "carrier": request.carrier or None,
               "receiver": {k: v.strip() for k, v in vars(request.receiver).items()},
               "sender": sender, "goods": request.goods.strip(), "count": request.count}
    return {k: v for k, v in payload.items() if v is not None}


def standard_return_message(decision: ReturnDecision, topics) -> Outgoing | None:
    """The standard platform topic for ``decision``, or None when ``topics`` lacks it:

    | action | topic | payload | version |
    |---|---|---|---|
    | approve_refund | ``refund_approve`` | ``refund_id``, ``amount_minor`` | ``approve:<amount>`` |
    | approve_return | ``return_approve`` | ``refund_id``, ``address_id``, ``amount_minor`` | ``approve:<address>:<amount>`` |
    | confirm_receipt | ``return_receipt`` | ``refund_id`` | ``receipt`` |
    | reject | ``refund_reject`` | ``refund_id``, ``reason_code`` (an integer), ``desc`` | ``reject:<code>`` |
    """
    d, rid = decision, decision.return_id
    if d.action == "approve_refund" and "refund_approve" in topics:
        return Outgoing("refund_approve", {"refund_id": rid, "amount_minor": d.amount_minor},
                        f"approve:{d.amount_minor}")
    if d.action == "approve_return" and "return_approve" in topics:
        address = None if d.address_id in (None, "") else str(d.address_id)
        return Outgoing("return_approve", {"refund_id": rid, "address_id": address,
                                           "amount_minor": d.amount_minor},
                        f"approve:{d.address_id or ''}:{d.amount_minor}")
    if d.action == "confirm_receipt" and "return_receipt" in topics:
        return Outgoing("return_receipt", {"refund_id": rid}, "receipt")
    if d.action == "reject" and "refund_reject" in topics:
        return Outgoing("refund_reject", {"refund_id": rid, "reason_code": int(d.reason_code),
                                          "desc": d.desc},
                        f"reject:{d.reason_code}")
    return None
