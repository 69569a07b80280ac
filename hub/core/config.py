"""Settings: everything the hub reads from ``HUB_*`` environment variables.

``Settings.from_env()`` is the only place the environment is read; the Flask app, the CLI,
the worker and the tests all build their settings through it (tests pass overrides).
The defaults run the embedded mode: SQLite under ``var/``, a development secret.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

DEV_SECRET = "dev-only-secret-change-me"
ENVIRONMENTS = ("development", "test", "production")
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(ValueError):
    """A setting is missing or unsafe; the message says which and why."""


HOST_NAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?$", re.I)
# (name, attribute, lowest, highest) of every numeric setting
RANGES = (
    ("HUB_PORT", "port", 1, 65535),
    ("HUB_WEB_WORKERS", "web_workers", 1, 64),
    ("HUB_MAX_BODY_BYTES", "max_body_bytes", 1, 1024 ** 3),
    ("HUB_SQLITE_BUSY_TIMEOUT_MS", "sqlite_busy_timeout_ms", 0, 3_600_000),
    ("HUB_LEASE_SECONDS", "lease_seconds", 1, 86_400),
    ("HUB_OUTBOX_MAX_ATTEMPTS", "outbox_max_attempts", 1, 1000),
    ("HUB_QUARANTINE_RETENTION_DAYS", "quarantine_retention_days", 1, 3650),
)
MIN_SECRET_LENGTH = 32


def _allow_entry_ok(entry: str) -> bool:
    """An outbound allow-list entry: an address, a network (CIDR) or a host name."""
    try:
        ipaddress.ip_network(entry.strip("[]"), strict=False)
        return True
    except ValueError:
        return bool(HOST_NAME.match(entry))


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = ""
    secret_key: str = field(default=DEV_SECRET, repr=False)
    old_secret_keys: tuple[str, ...] = field(default=(), repr=False)
    host: str = "127.0.0.1"
    port: int = 8080
    web_workers: int = 2
    log_level: str = "INFO"
    log_format: str = "text"
    max_body_bytes: int = 1024 * 1024
    public_url: str = ""
    var_dir: Path = field(default_factory=lambda: Path("var"))
    sqlite_busy_timeout_ms: int = 10000
    lease_seconds: int = 60
    outbox_max_attempts: int = 10
    quarantine_retention_days: int = 30  # rejected webhook requests are kept this long
    # hosts and networks the connectors may call although they are internal (loopback,
    # private...): the embedded mode's sandboxes (``connectors.outbound``)
    outbound_allow: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        var_dir = Path(os.environ.get("HUB_VAR_DIR", "var")).resolve()
        port = _int("HUB_PORT", 8080)
        settings = cls(
            env=os.environ.get("HUB_ENV", "development"),
            database_url=os.environ.get("HUB_DATABASE_URL", ""),
            secret_key=os.environ.get("HUB_SECRET_KEY", DEV_SECRET),
            old_secret_keys=tuple(
                k.strip() for k in os.environ.get("HUB_OLD_SECRET_KEYS", "").split(",")
                if k.strip()
            ),
            host=os.environ.get("HUB_HOST", "127.0.0.1"),
            port=port,
            web_workers=_int("HUB_WEB_WORKERS", 2),
            log_level=os.environ.get("HUB_LOG_LEVEL", "INFO").upper(),
            log_format=os.environ.get("HUB_LOG_FORMAT", "text").lower(),
            max_body_bytes=_int("HUB_MAX_BODY_BYTES", 1024 * 1024),
            public_url=os.environ.get("HUB_PUBLIC_URL", ""),
            var_dir=var_dir,
            sqlite_busy_timeout_ms=_int("HUB_SQLITE_BUSY_TIMEOUT_MS", 10000),
            lease_seconds=_int("HUB_LEASE_SECONDS", 60),
            outbox_max_attempts=_int("HUB_OUTBOX_MAX_ATTEMPTS", 10),
            quarantine_retention_days=_int("HUB_QUARANTINE_RETENTION_DAYS", 30),
            outbound_allow=tuple(e.strip() for e in os.environ.get(
                "HUB_OUTBOUND_ALLOW", "").split(",") if e.strip()),
        )
        settings = replace(settings, **overrides)
        if not settings.database_url:
            settings = replace(settings, database_url=f"sqlite:///{settings.var_dir / 'hub.db'}")
        if not settings.public_url:
            settings = replace(settings, public_url=f"http://{settings.host}:{settings.port}")
        settings = replace(settings, public_url=settings.public_url.rstrip("/"))
        settings.validate()
        return settings

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def validate(self) -> None:
        if self.env not in ENVIRONMENTS:
            raise ConfigError(f"HUB_ENV must be one of {', '.join(ENVIRONMENTS)}, got {self.env!r}")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(f"HUB_LOG_FORMAT must be text or json, got {self.log_format!r}")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"HUB_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, "
                              f"got {self.log_level!r}")
        if self.env == "production":
            self._check_production_secrets()
        for name, attribute, low, high in RANGES:
            value = getattr(self, attribute)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{name} must be a whole number between {low} and {high}, "
                                  f"got {value!r}")
        bad = [e for e in self.outbound_allow if not _allow_entry_ok(e)]
        if bad:
            raise ConfigError(f"HUB_OUTBOUND_ALLOW entries must be addresses, networks (CIDR) "
                              f"or host names, separated by commas; got {bad[0]!r}")

    def _check_production_secrets(self) -> None:
        key = self.secret_key
        if key.strip() == DEV_SECRET:
            raise ConfigError(
                "HUB_SECRET_KEY is the development default; production refuses to start "
                "with it. Set a long random HUB_SECRET_KEY."
            )
        if len("".join(key.split())) < MIN_SECRET_LENGTH:
            raise ConfigError(f"HUB_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters "
                              "in production, not counting spaces")
        if DEV_SECRET in self.old_secret_keys:
            raise ConfigError("HUB_OLD_SECRET_KEYS lists the development default; production "
                              "refuses it (anything encrypted with it was never secret)")
