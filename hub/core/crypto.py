"""Encryption of secrets at rest.

Credential fields (connector account config, OAuth tokens, webhook secrets) are stored as
Fernet tokens (AES-128-CBC + HMAC-SHA256) under a key derived with HKDF from
``HUB_SECRET_KEY``. Old keys listed in ``HUB_OLD_SECRET_KEYS`` still decrypt, so the secret
can be rotated: set the new key, list the old one, run ``hub db rotate-secrets``.
"""
from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.core import logs

_keyring: MultiFernet | None = None


class SecretsUnavailable(RuntimeError):
    """Stored secrets cannot be read: no key configured, or the key does not match."""


def derive_key(secret: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"dropship-hub", info=b"credentials-v1")
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode()))


def configure(secret: str, old_secrets: tuple[str, ...] = ()) -> None:
    """Install the keyring; the first key encrypts, all of them decrypt."""
    global _keyring
    _keyring = MultiFernet([Fernet(derive_key(s)) for s in (secret, *old_secrets)])
    logs.remember_secrets({"secret_key": [secret, *old_secrets]})  # never in a log line


def _ring() -> MultiFernet:
    if _keyring is None:
        raise SecretsUnavailable("secret key not configured")
    return _keyring


def encrypt_json(value: Any) -> str:
    logs.remember_secrets(value)
    return _ring().encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()


def decrypt_json(token: str) -> Any:
    try:
        value = json.loads(_ring().decrypt(token.encode()))
    except InvalidToken:
        raise SecretsUnavailable(
            "stored secret does not decrypt with HUB_SECRET_KEY (was the key changed without "
            "listing the old one in HUB_OLD_SECRET_KEYS?)"
        ) from None
    logs.remember_secrets(value)
    return value


def rotate(token: str) -> str:
    """Re-encrypt a stored token under the current key."""
    try:
        return _ring().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretsUnavailable(
            "a stored secret does not decrypt with HUB_SECRET_KEY or any of "
            "HUB_OLD_SECRET_KEYS; list the key it was written with in HUB_OLD_SECRET_KEYS"
        ) from None
