"""Structured logging with secrets and buyer contact scrubbed from every line.

``configure(level, fmt)`` installs one handler on the root logger: JSON lines when
``HUB_LOG_FORMAT=json``, readable text otherwise. Pass context as ``extra={...}``.
Whatever the format, ``Redactor`` scrubs before anything is written:
  * values under secret-looking keys (``secret``, ``token``, ``password``, ``key``...);
  * every secret value the hub has decrypted this process (``remember_secrets``);
  * API tokens, and mainland-China mobile numbers (kept as ``138****5678``).
"""
from __future__ import annotations

import json
import logging
import re
import sys
import threading
from datetime import datetime, timezone

SECRET_KEYS = re.compile(r"(secret|token|password|passwd|api_?key|message_?key|salt|"
                         r"authorization|cookie|signature|cipher)", re.I)
PATTERNS = [
    (re.compile(r"hub_[0-9a-f]{8}_[A-Za-z0-9_\-]+"), "hub_********"),
    (re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)"), r"\1****\2"),
    (re.compile(r"(?i)\b(bearer)\s+\S+"), r"\1 ***"),
]
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_known: set[str] = set()
_known_lock = threading.Lock()


def remember_secrets(value, key: str = "") -> None:
    """Note secret values (by key name) found in decrypted config so logs never show them."""
    if isinstance(value, dict):
        for k, v in value.items():
            remember_secrets(v, str(k))
    elif isinstance(value, list):
        for v in value:
            remember_secrets(v, key)
    elif isinstance(value, str) and len(value) >= 6 and SECRET_KEYS.search(key):
        with _known_lock:
            _known.add(value)


def scrub_text(text: str) -> str:
    for secret in _known:
        if secret in text:
            text = text.replace(secret, "***")
    for pattern, repl in PATTERNS:
        text = pattern.sub(repl, text)
    return text


def scrub(value, key: str = ""):
    if key and SECRET_KEYS.search(key) and value not in (None, ""):
        return "***"
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, key) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def _extras(record: logging.LogRecord) -> dict:
    return {k: scrub(v, k) for k, v in vars(record).items() if k not in _RESERVED}


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub_text(record.getMessage()),
            **_extras(record),
        }
        if record.exc_info:
            entry["exc"] = scrub_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record):
        ts = datetime.fromtimestamp(record.created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{ts} {record.levelname:<7} {record.name}: {scrub_text(record.getMessage())}"
        if extras:
            line += f" {extras}"
        if record.exc_info:
            line += "\n" + scrub_text(self.formatException(record.exc_info))
        return line


def configure(level: str = "INFO", fmt: str = "text", stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler._hub = True  # noqa: SLF001 (marks our handler so reconfiguring replaces it)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_hub", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
