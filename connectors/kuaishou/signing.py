"""The Kuaishou request envelope and its signature (reference §1.3-1.4).

Every API call carries the common fields ``appkey, method, version, param,
access_token, timestamp, signMethod, sign``. The signature covers exactly the seven
signed fields, sorted by key (ASCII), joined as raw ``k=v`` pairs with ``&``, followed by
``&signSecret=<signSecret>``:

* ``MD5``: lowercase hex MD5 of that string;
* ``HMAC_SHA256``: standard Base64 (with padding) of HMAC-SHA256 keyed by the
  signSecret bytes over the same string (the ``&signSecret=`` suffix included).

``param`` is the business JSON **as one string**; the bytes signed must be the bytes
sent, so it is serialised once (``dump_param``: compact separators, non-ASCII kept as
UTF-8 like the official Java SDK) and that string is both signed and sent.

    param = dump_param({"oid": 123})
    fields = envelope(method="open.order.detail", appkey="ks6...", access_token=tok,
                      param=param, sign_secret=secret, timestamp_ms=now_ms)
    # fields is the complete form to send (sign included), values as strings
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any, Mapping

MD5 = "MD5"
HMAC_SHA256 = "HMAC_SHA256"
SIGN_METHODS = (MD5, HMAC_SHA256)
VERSION = "1"
REQUIRED = ("method", "appkey", "access_token")
OPTIONAL = ("signMethod", "version", "timestamp", "param")
SIGNED = REQUIRED + OPTIONAL


def dump_param(params: Mapping[str, Any] | None) -> str:
    """The one serialisation of the business params: compact, key order kept, UTF-8."""
    return json.dumps(dict(params or {}), separators=(",", ":"), ensure_ascii=False)


def string_to_sign(fields: Mapping[str, Any], sign_secret: str) -> str:
    """``k=v&...&signSecret=<secret>`` over the signed fields present (raw, not encoded)."""
    for key in REQUIRED:
        value = fields.get(key)
        if value is None or not str(value).strip():
            raise ValueError(f"{key} not exist")
    pairs = sorted((k, str(fields[k])) for k in SIGNED if fields.get(k) is not None)
    return "&".join(f"{k}={v}" for k, v in pairs) + f"&signSecret={sign_secret}"


def compute_sign(fields: Mapping[str, Any], sign_secret: str, sign_method: str = HMAC_SHA256) -> str:
    message = string_to_sign(fields, sign_secret).encode("utf-8")
    if sign_method == MD5:
        return hashlib.md5(message).hexdigest()
    if sign_method == HMAC_SHA256:
        digest = hmac.new(sign_secret.encode("utf-8"), message, hashlib.sha256).digest()
        return base64.b64encode(digest).decode("ascii")
    raise ValueError(f"unsupported signMethod {sign_method!r}; use one of {SIGN_METHODS}")


def envelope(*, method: str, appkey: str, access_token: str, param: str, sign_secret: str,
             timestamp_ms: int, sign_method: str = HMAC_SHA256,
             version: str = VERSION) -> dict[str, str]:
    """The complete form of one call: the signed fields plus ``sign``, all strings."""
    if not isinstance(param, str):
        raise TypeError("param must be the JSON string that is sent (use dump_param)")
    fields = {"method": method, "appkey": appkey, "access_token": access_token,
              "version": str(version), "param": param, "timestamp": str(int(timestamp_ms)),
              "signMethod": sign_method}
    fields["sign"] = compute_sign(fields, sign_secret, sign_method)
    return fields
