"""Structured logging with secrets and buyer contact scrubbed from every line.

``configure(level, fmt)`` installs one handler on the root logger: JSON lines when
``HUB_LOG_FORMAT=json``, readable text otherwise. Pass context as ``extra={...}``.
Whatever the format, ``Redactor`` scrubs before anything is written:
  * values under secret-looking keys (``secret``, ``token``, ``password``, ``key``...),
    in ``extra`` and as ``key: value`` / ``key=value`` pairs in any text;
  * every secret value the hub has encrypted or decrypted this process, and the
    ``HUB_SECRET_KEY`` itself (``remember_secrets``);
  * API tokens, and mainland-China mobile numbers (kept as ``138****5678``).

``scrub_header(name, value)`` is ``scrub`` for one stored header, memoised for the
webhook receiver's hot path (see its docstring).
"""
from __future__ import annotations

import functools
import json
import logging
import re
import sys
import threading
from datetime import datetime, timezone

SECRET_KEYS = re.compile(r"(secret|token|password|passwd|api[_-]?key|message[_-]?key|salt|"
                         r"authorization|cookie|signature|cipher|private[_-]?key|"
                         r"access[_-]?key|credential|passphrase)", re.I)
PATTERNS = [
    (re.compile(r"hub_[0-9a-f]{8}_[A-Za-z0-9_\-]+"), "hub_********"),
    # mobile numbers, also as +86 138 1234 5678 or 138-1234-5678
    (re.compile(r"(?<!\d)(?:\+?86[ -]?)?(1[3-9]\d)[ -]?\d{4}[ -]?(\d{4})(?!\d)"),
     r"\1****\2"),
    (re.compile(r"(?i)\b(bearer)\s+\S+"), r"\1 ***"),
]
# ``key: value`` / ``key=value`` pairs in free text (dict reprs, JSON, query strings,
# exception messages) whose key looks secret: the value is masked. The key is one word
# (found from its start, the keyword checked by a bounded lookahead) so the scan stays
# linear: an unanchored ``[\w-]*keyword[\w-]*`` takes seconds on 2 KB of "token_token_..."
SECRET_PAIR = re.compile(
    r"""(?<![\w-])(?=[\w-]{0,128}?""" + SECRET_KEYS.pattern + r""")"""
    r"""(?P<key>[\w-]{1,128}["']?\s*[:=]\s*)"""
    r"""(?P<value>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[^\s,;&"'}\])]+)""", re.I)
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_known: set[str] = set()
_known_longest_first: tuple[str, ...] = ()  # what scrub_text replaces, rebuilt on each add
_known_generation = 0  # bumped on each add: memoised results of older generations go unused
_known_lock = threading.Lock()
HEADER_MEMO_MAX_CHARS = 256  # longer header values are scrubbed every time, not memoised


# Shorter values are left to key-name masking: remembering a word such as "secret" would
# blank it out of every later log line of the process.
MIN_SECRET_LEN = 8


def remember_secrets(value, key: str = "") -> None:
    """Note secret values (by key name) found in decrypted config so logs never show them."""
    if isinstance(value, dict):
        for k, v in value.items():
            remember_secrets(v, str(k))
    elif isinstance(value, list):
        for v in value:
            remember_secrets(v, key)
    elif isinstance(value, str) and len(value) >= MIN_SECRET_LEN and SECRET_KEYS.search(key):
        global _known_longest_first, _known_generation
        with _known_lock:
            if value not in _known:
                _known.add(value)
                _known_longest_first = tuple(sorted(_known, key=len, reverse=True))
                _known_generation += 1


def _mask_pair(match: re.Match) -> str:
    value = match.group("value")
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match.group('key')}{quote}***{quote}"


def scrub_text(text: str) -> str:
    for secret in _known_longest_first:  # an immutable snapshot: no lock needed
        if secret in text:
            text = text.replace(secret, "***")
    for pattern, repl in PATTERNS:
        text = pattern.sub(repl, text)
    return SECRET_PAIR.sub(_mask_pair, text)


@functools.lru_cache(maxsize=1024)
def _secret_key(key: str) -> bool:
    return SECRET_KEYS.search(key) is not None


@functools.lru_cache(maxsize=4096)
def _scrub_text_memo(text: str, generation: int) -> str:
    # ``generation`` only keys the memo: it is read before scrubbing, so a result is never
    # used for a later generation (a secret remembered since), only for its own.
    return scrub_text(text)


def scrub_header(name: str, value: str) -> str:
    """``scrub(value, name)`` for one header value: ``***`` under a secret-looking name,
    else ``scrub_text``, memoised per value for values up to ``HEADER_MEMO_MAX_CHARS``
    (hosts, content types, lengths and timestamps repeat from request to request)."""
    if _secret_key(name):
        return "***" if value else value
    if len(value) > HEADER_MEMO_MAX_CHARS:
        return scrub_text(value)
    return _scrub_text_memo(value, _known_generation)


def scrub(value, key: str = ""):
    if key and _secret_key(key) and value not in (None, ""):
        return "***"
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, key) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, (bytes, bytearray)):
        return scrub_text(bytes(value).decode("utf-8", "replace"))
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return scrub_text(str(value))  # exceptions, objects: what str() would have shown


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
