"""The platform side of Kuaishou's two cryptographic rules (reference §1.4 and §4.2).

API signature: the seven signed fields (``access_token, appkey, method, param, signMethod,
timestamp, version`` -- whichever are present; ``sign`` itself never), sorted by key,
joined as raw ``k=v`` pairs with ``&``, then ``&signSecret=<signSecret>`` appended.
``MD5`` is the lowercase hex MD5 of that string; ``HMAC_SHA256`` is standard Base64 of
HMAC-SHA256 keyed by the signSecret over the same string (suffix included).

    verify_sign(form_fields, sign_secret)      # True / False, constant-time compare

Message push: the JSON envelope is encrypted with AES-128-CBC, a zero IV and PKCS5
padding under the Base64-decoded message key, and sent as standard Base64 text.

    body = encrypt_message(plaintext_json, message_key_b64)
    plaintext_json = decrypt_message(body, message_key_b64)
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Mapping

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MD5 = "MD5"
HMAC_SHA256 = "HMAC_SHA256"
SIGN_METHODS = (MD5, HMAC_SHA256)
REQUIRED = ("method", "appkey", "access_token")
SIGNED = ("access_token", "appkey", "method", "param", "signMethod", "timestamp", "version")
ZERO_IV = bytes(16)


def string_to_sign(fields: Mapping[str, str], sign_secret: str) -> str:
    """``k=v&...&signSecret=<secret>`` exactly as the official Java ``SignUtils`` builds it."""
    for key in REQUIRED:
        if not str(fields.get(key) or "").strip():
            raise ValueError(f"{key} not exist")
    pairs = sorted((k, str(fields[k])) for k in SIGNED if fields.get(k) is not None)
    return "&".join(f"{k}={v}" for k, v in pairs) + f"&signSecret={sign_secret}"


def compute_sign(fields: Mapping[str, str], sign_secret: str, sign_method: str) -> str:
    message = string_to_sign(fields, sign_secret).encode("utf-8")
    if sign_method == MD5:
        return hashlib.md5(message).hexdigest()
    if sign_method == HMAC_SHA256:
        digest = hmac.new(sign_secret.encode("utf-8"), message, hashlib.sha256).digest()
        return base64.b64encode(digest).decode("ascii")
    raise ValueError(f"unsupported signMethod {sign_method!r}")


def verify_sign(fields: Mapping[str, str], sign_secret: str) -> bool:
    """Whether ``fields['sign']`` is the signature of ``fields`` under ``sign_secret``.

    The method is ``fields['signMethod']``; MD5 is compared as lowercase hex exactly
    (commons-codec ``md5Hex``), HMAC as the exact Base64 text.
    """
    given = fields.get("sign")
    method = fields.get("signMethod")
    if not given or method not in SIGN_METHODS:
        return False
    try:
        expected = compute_sign(fields, sign_secret, method)
    except ValueError:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), str(given).encode("utf-8"))


def _key(message_key_b64: str) -> bytes:
    key = base64.b64decode(message_key_b64, validate=True)
    if len(key) not in (16, 24, 32):
        raise ValueError("the message key must decode to 16, 24 or 32 bytes")
    return key


def encrypt_message(plaintext: str, message_key_b64: str) -> str:
    """Base64(AES-CBC(zero IV, PKCS5) of the UTF-8 plaintext) -- the push body."""
    padder = padding.PKCS7(128).padder()
    data = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(_key(message_key_b64)), modes.CBC(ZERO_IV)).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode("ascii")


def decrypt_message(body: str, message_key_b64: str) -> str:
    """The inverse of ``encrypt_message``; raises ``ValueError`` on any malformed input."""
    try:
        raw = base64.b64decode("".join(body.split()), validate=True)
        decryptor = Cipher(algorithms.AES(_key(message_key_b64)), modes.CBC(ZERO_IV)).decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot decrypt the message: {exc}") from exc
