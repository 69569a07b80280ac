"""Kuaishou message-push decryption (reference §4.2).

The POST body is Base64 of ``AES/CBC/PKCS5Padding`` ciphertext; the key is the Base64-
decoded message key of the app (16 bytes: AES-128), the IV is 16 zero bytes, and the
plaintext is UTF-8 JSON — the envelope ``{eventId, bizId, event, info, createTime, ...}``
whose ``info`` is itself a JSON string.

    envelope = decode_push(request_body, config["message_key"])
    info = message_info(envelope)

No signature header exists: authenticity rests on decrypting, with the secret key, to
valid JSON. Whitespace anywhere in the body is ignored. A plaintext body is accepted only
when it is the heartbeat ``{"test": true}``; anything else raises ``MessageDecryptError``.
"""
from __future__ import annotations

import base64
import binascii
import json
import re

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from connectors import bounded_json

ZERO_IV = bytes(16)
_WHITESPACE = re.compile(rb"\s+")


class MessageDecryptError(ValueError):
    """The body is not a message encrypted with this key."""


def _key(message_key: str | bytes) -> bytes:
    try:
        raw = base64.b64decode(_WHITESPACE.sub(b"", message_key if isinstance(message_key, bytes)
                                               else message_key.encode()), validate=True)
    except (binascii.Error, ValueError):
        raise MessageDecryptError("the message key is not Base64") from None
    if len(raw) not in (16, 24, 32):
        raise MessageDecryptError(f"the message key decodes to {len(raw)} bytes, not an AES key")
    return raw


def decrypt_text(body: bytes | str, message_key: str | bytes) -> str:
    data = _WHITESPACE.sub(b"", body.encode() if isinstance(body, str) else bytes(body))
    try:
        ciphertext = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise MessageDecryptError("the body is not Base64") from None
    if not ciphertext or len(ciphertext) % 16:
        raise MessageDecryptError("the ciphertext is not a whole number of AES blocks")
    decryptor = Cipher(algorithms.AES(_key(message_key)), modes.CBC(ZERO_IV)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
        return plain.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise MessageDecryptError("decryption failed (wrong key or damaged body)") from None


def decrypt_message(body: bytes | str, message_key: str | bytes) -> dict:
    text = decrypt_text(body, message_key)
    try:
        message = bounded_json.loads(text)
    except ValueError:
        raise MessageDecryptError("the decrypted body is not JSON") from None
    if not isinstance(message, dict):
        raise MessageDecryptError("the decrypted body is not a JSON object")
    return message


def encrypt_message(message: dict | str, message_key: str | bytes) -> str:
    """The inverse (for tests and the sandbox): Base64 of AES-CBC, zero IV, PKCS5."""
    text = message if isinstance(message, str) else json.dumps(message, ensure_ascii=False,
                                                               separators=(",", ":"))
    padder = padding.PKCS7(128).padder()
    padded = padder.update(text.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(_key(message_key)), modes.CBC(ZERO_IV)).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")


def is_heartbeat(message: dict) -> bool:
    return message.get("test") is True and not message.get("event")


def decode_push(body: bytes | str, message_key: str | bytes) -> dict:
    """The message in a push body: decrypted, or the plaintext ``{"test": true}`` heartbeat."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    stripped = raw.strip()
    if stripped.startswith(b"{"):
        try:
            message = bounded_json.loads(stripped.decode("utf-8"))
        except ValueError:
            raise MessageDecryptError("the body is neither Base64 nor JSON") from None
        if isinstance(message, dict) and is_heartbeat(message):
            return message
        raise MessageDecryptError("plaintext pushes other than the heartbeat are refused")
    return decrypt_message(stripped, message_key)


def message_info(message: dict) -> dict:
    """The business payload: ``info`` is a JSON string inside the JSON envelope."""
    info = message.get("info")
    if isinstance(info, dict):
        return info
    if not info:
        return {}
    try:
        parsed = bounded_json.loads(info)
    except (TypeError, ValueError):
        raise MessageDecryptError("the message info is not JSON") from None
    if not isinstance(parsed, dict):
        raise MessageDecryptError("the message info is not a JSON object")
    return parsed
