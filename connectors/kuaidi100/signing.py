"""Kuaidi100 signatures: every one is upper-case hex MD5 of a plain concatenation.

* real-time query: ``MD5(param + key + customer)``;
* push / callback (tracking and interception): ``MD5(param + salt)`` over the ``param``
  form value exactly as received (URL-decoded, never re-serialised);
* label API (interception ``interceptOrder``): ``MD5(param + t + key + secret)``.

``param`` is the exact JSON string sent or received; ``dumps`` makes the one the hub
sends (compact, UTF-8 kept).
"""
from __future__ import annotations

import hashlib
import hmac
import json


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def md5_upper(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def query_sign(param: str, key: str, customer: str) -> str:
    return md5_upper(param + key + customer)


def push_sign(param: str, salt: str) -> str:
    return md5_upper(param + salt)


def label_sign(param: str, t: str, key: str, secret: str) -> str:
    return md5_upper(param + t + key + secret)


def verify_push(param: str, sign: str | None, salt: str) -> bool:
    """Constant-time check of a push's ``sign``; a missing sign never verifies."""
    if not sign:
        return False
    expected = push_sign(param, salt).encode("ascii")
    return hmac.compare_digest(expected, sign.upper().encode("utf-8", "replace"))
