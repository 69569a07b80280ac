"""The signing secrets of a hub_webhook account, and their rotation.

A secret is ``whsec_`` + Base64 of 24 to 64 random bytes (Standard Webhooks). The account
config holds a list: every secret in it is *active* and signs every delivery, so a
rotation has an overlap during which the supplier may verify with the old or the new one:

    config = rotated(config)   # appends a fresh secret (the old one keeps signing)
    config = retired(config)   # drops the oldest, once the supplier uses the new one

Pure functions on the config dict; ``HubWebhook.rotate_secret`` / ``retire_secret`` (the
``secret_rotation`` capability) use them and ``hub suppliers rotate-secret`` stores the
result.
"""
from __future__ import annotations

import base64
import binascii
import secrets as _random

from connectors.capabilities import RotationError

PREFIX = "whsec_"
MIN_BYTES, MAX_BYTES = 24, 64
MAX_ACTIVE = 5
NEW_SECRET_BYTES = 32




def generate_secret() -> str:
    return PREFIX + base64.b64encode(_random.token_bytes(NEW_SECRET_BYTES)).decode()


def secret_problem(value) -> str | None:
    """Why ``value`` is not a usable secret, or None."""
    if not isinstance(value, str) or not value.startswith(PREFIX):
        return f"a secret starts with {PREFIX}"
    try:
        raw = base64.b64decode(value[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        return f"a secret is {PREFIX} + Base64"
    if not MIN_BYTES <= len(raw) <= MAX_BYTES:
        return f"a secret holds {MIN_BYTES} to {MAX_BYTES} bytes, this one {len(raw)}"
    return None


def rotated(config: dict) -> dict:
    """The config with a new secret appended; the current ones stay active."""
    current = list(config.get("secrets") or [])
    if len(current) >= MAX_ACTIVE:
        raise RotationError(f"{len(current)} secrets are already active (at most {MAX_ACTIVE}); "
                            "retire the oldest first (--retire)")
    return {**config, "secrets": current + [generate_secret()]}


def retired(config: dict) -> dict:
    """The config without its oldest secret; the last one is never removed."""
    current = list(config.get("secrets") or [])
    if len(current) < 2:
        raise RotationError("only one secret is active; rotate first, then retire the old one")
    return {**config, "secrets": current[1:]}
