"""Encryption of secrets at rest.

Credential fields (connector account config, OAuth tokens, webhook secrets) are stored as
Fernet tokens (AES-128-CBC + HMAC-SHA256) under a key derived with HKDF from
``HUB_SECRET_KEY``. Old keys listed in ``HUB_OLD_SECRET_KEYS`` still decrypt, so the secret
can be rotated: set the new key, list the old one, run ``hub db rotate-secrets``.

``fingerprint(value)`` is a keyed hash (HMAC-SHA256 under another key derived from
``HUB_SECRET_KEY``): rows can be matched on a value the hub must not keep readable, such
as a platform's buyer id, and without the key it cannot be reversed by trying every id.
A new secret key gives new fingerprints (matches made before it are not found again).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.core import logs

_keyring: MultiFernet | None = None
_fingerprint_key: bytes | None = None


class SecretsUnavailable(RuntimeError):
    """Stored secrets cannot be read: no key configured, or the key does not match."""


def derive_key(secret: str, purpose: bytes = b"credentials-v1") -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"dropship-hub", info=purpose)
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode()))


def configure(secret: str, old_secrets: tuple[str, ...] = ()) -> None:
    """Install the keyring; the first key encrypts, all of them decrypt."""
    global _keyring, _fingerprint_key
    _keyring = MultiFernet([Fernet(derive_key(s)) for s in (secret, *old_secrets)])
    _fingerprint_key = derive_key(secret, b"fingerprints-v1")
    logs.remember_secrets({"secret_key": [secret, *old_secrets]})  # never in a log line


def fingerprint(value: str) -> str:
    if _fingerprint_key is None:
        raise SecretsUnavailable("secret key not configured")
    return hmac.new(_fingerprint_key, value.encode(), hashlib.sha256).hexdigest()


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
