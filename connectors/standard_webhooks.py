"""Standard Webhooks signatures (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``), for the hub's own inbound and outbound webhooks.

Signed content is ``"{id}.{timestamp}.{raw body}"``, HMAC-SHA256 keyed by the secret's
Base64 bytes after the ``whsec_`` prefix; the header is a space-separated list of
``v1,<base64>`` so a secret can be rotated with both signatures live. Timestamps outside
``tolerance_s`` (default 5 minutes) are rejected to stop replays.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

PREFIX = "whsec_"


class SignatureError(ValueError):
    pass


def _key(secret: str) -> bytes:
    raw = secret[len(PREFIX):] if secret.startswith(PREFIX) else secret
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        raise SignatureError("webhook secret is not whsec_ + Base64") from None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), content, hashlib.sha256).digest()).decode()


def headers(secrets: list[str], msg_id: str, body: bytes, timestamp: int | None = None) -> dict:
    ts = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts),
            "webhook-signature": " ".join(sign(s, msg_id, ts, body) for s in secrets)}


def verify(secrets: list[str], hdrs: dict[str, str], body: bytes, tolerance_s: int = 300,
           now: float | None = None) -> str:
    """Return the verified ``webhook-id`` or raise ``SignatureError``."""
    lower = {k.lower(): v for k, v in hdrs.items()}
    msg_id, ts, sigs = (lower.get("webhook-id"), lower.get("webhook-timestamp"),
                        lower.get("webhook-signature"))
    if not (msg_id and ts and sigs):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        ts_int = int(ts)
    except ValueError:
        raise SignatureError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    # compared, not subtracted: a float minus an int past 1e308 overflows
    if not current - tolerance_s <= ts_int <= current + tolerance_s:
        raise SignatureError("webhook-timestamp outside the tolerance window")
    given = [s.partition(",")[2] for s in sigs.split() if s.startswith("v1,")]
    for secret in secrets:
        expected = sign(secret, msg_id, ts_int, body).partition(",")[2]
        if any(hmac.compare_digest(expected, g) for g in given):
            return msg_id
    raise SignatureError("no valid v1 signature")
