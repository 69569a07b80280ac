"""Standard Webhooks verification, written here from the specification (the sandbox
imports nothing of the hub): ``"{webhook-id}.{webhook-timestamp}.{raw body}"`` signed with
HMAC-SHA256 keyed by the Base64-decoded part of a ``whsec_`` secret; the
``webhook-signature`` header is a space-separated list of ``v1,<Base64>`` entries (several
during a secret rotation; other versions are ignored)."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time


class BadSignature(ValueError):
    pass


def _key(secret: str) -> bytes:
    raw = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise BadSignature("a configured secret is not whsec_ + Base64") from None


def signature(secret: str, msg_id: str, timestamp: str | int, body: bytes) -> str:
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def verify(secrets: list[str], headers: dict, body: bytes, tolerance_s: float = 300,
           now: float | None = None) -> str:
    """The verified ``webhook-id``, or ``BadSignature`` saying why not."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id")
    stamp = lower.get("webhook-timestamp")
    header = lower.get("webhook-signature")
    if not (msg_id and stamp and header):
        raise BadSignature("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        ts = int(stamp)
    except ValueError:
        raise BadSignature("webhook-timestamp is not an integer") from None
    skew = (time.time() if now is None else now) - ts
    if skew > tolerance_s:
        raise BadSignature(f"webhook-timestamp is {skew:.0f}s old (tolerance {tolerance_s:.0f}s)")
    if -skew > tolerance_s:
        raise BadSignature(f"webhook-timestamp is {-skew:.0f}s in the future")
    given = [entry.split(",", 1)[1] for entry in header.split() if entry.startswith("v1,")]
    if not given:
        raise BadSignature("no v1 signature in webhook-signature")
    for secret in secrets:
        expected = signature(secret, msg_id, ts, body)
        if any(hmac.compare_digest(expected, g) for g in given):
            return msg_id
    raise BadSignature("no v1 signature matches a configured secret")
