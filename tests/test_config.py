"""Settings: how ``HUB_*`` variables are read, and which values are refused with a clear
``ConfigError`` before anything starts."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.core.config import DEV_SECRET, ConfigError, Settings

LONG_SECRET = "x" * 40


@pytest.fixture
def env(monkeypatch):
    """A clean environment: no HUB_* variable leaks in from the caller's shell."""
    for name in list(os.environ):
        if name.startswith("HUB_"):
            monkeypatch.delenv(name)

    def set_env(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


def test_defaults_run_the_embedded_mode(env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env()
    assert (s.env, s.host, s.port, s.web_workers) == ("development", "127.0.0.1", 8080, 2)
    assert (s.log_level, s.log_format) == ("INFO", "text")
    assert s.max_body_bytes == 1024 * 1024
    assert s.sqlite_busy_timeout_ms == 10000
    assert s.secret_key == DEV_SECRET and s.old_secret_keys == ()
    assert s.var_dir == tmp_path / "var"
    assert s.database_url == f"sqlite:///{tmp_path / 'var' / 'hub.db'}"
    assert s.is_sqlite
    assert s.public_url == "http://127.0.0.1:8080"


def test_every_variable_is_read(env):
    env(HUB_ENV="production", HUB_DATABASE_URL="postgresql+psycopg://hub@db/hub",
        HUB_SECRET_KEY=LONG_SECRET, HUB_OLD_SECRET_KEYS="old-key-one, old-key-two,",
        HUB_HOST="0.0.0.0", HUB_PORT="9000", HUB_WEB_WORKERS="5", HUB_LOG_LEVEL="debug",
        HUB_LOG_FORMAT="JSON", HUB_MAX_BODY_BYTES="2048",
        HUB_PUBLIC_URL="https://hub.example.com/", HUB_SQLITE_BUSY_TIMEOUT_MS="2500")
    s = Settings.from_env()
    assert s.env == "production"
    assert s.database_url == "postgresql+psycopg://hub@db/hub" and not s.is_sqlite
    assert s.secret_key == LONG_SECRET
    assert s.old_secret_keys == ("old-key-one", "old-key-two")
    assert (s.host, s.port, s.web_workers) == ("0.0.0.0", 9000, 5)
    assert (s.log_level, s.log_format) == ("DEBUG", "json")
    assert s.max_body_bytes == 2048
    assert s.public_url == "https://hub.example.com"  # no trailing slash to double up
    assert s.sqlite_busy_timeout_ms == 2500


def test_public_url_defaults_to_host_and_port(env):
    env(HUB_HOST="10.0.0.5", HUB_PORT="9100")
    assert Settings.from_env().public_url == "http://10.0.0.5:9100"


def test_overrides_win_over_the_environment(env, tmp_path):
    env(HUB_PORT="9000", HUB_LOG_LEVEL="ERROR")
    s = Settings.from_env(port=9500, var_dir=tmp_path)
    assert s.port == 9500 and s.log_level == "ERROR"
    assert s.database_url == f"sqlite:///{tmp_path / 'hub.db'}"


def test_sqlite_default_lives_under_var_dir(env, tmp_path, monkeypatch):
    env(HUB_VAR_DIR=str(tmp_path / "data"))
    s = Settings.from_env()
    assert s.var_dir == tmp_path / "data"
    assert s.database_url == f"sqlite:///{tmp_path / 'data' / 'hub.db'}"
    # a relative HUB_VAR_DIR is taken from the working directory, as an absolute path
    monkeypatch.chdir(tmp_path)
    env(HUB_VAR_DIR="rel/var")
    s = Settings.from_env()
    assert s.database_url == f"sqlite:///{tmp_path / 'rel' / 'var' / 'hub.db'}"
    assert Path(s.database_url.removeprefix("sqlite:///")).is_absolute()


def test_explicit_database_url_is_kept(env, tmp_path):
    env(HUB_VAR_DIR=str(tmp_path), HUB_DATABASE_URL="sqlite:////elsewhere/x.db")
    assert Settings.from_env().database_url == "sqlite:////elsewhere/x.db"


def test_production_refuses_the_default_secret(env):
    env(HUB_ENV="production")
    with pytest.raises(ConfigError, match="HUB_SECRET_KEY.*development default"):
        Settings.from_env()
    env(HUB_SECRET_KEY=DEV_SECRET)
    with pytest.raises(ConfigError, match="HUB_SECRET_KEY"):
        Settings.from_env()


def test_production_refuses_a_short_secret(env):
    env(HUB_ENV="production", HUB_SECRET_KEY="s" * 31)
    with pytest.raises(ConfigError, match="at least 32 characters"):
        Settings.from_env()
    env(HUB_SECRET_KEY="s" * 32)
    assert Settings.from_env().secret_key == "s" * 32


def test_development_accepts_the_default_secret(env):
    env(HUB_ENV="development")
    assert Settings.from_env().secret_key == DEV_SECRET


@pytest.mark.parametrize("value", ["abc", "80.5", "0", "-1", "65536", "99999"])
def test_bad_port_is_a_config_error(env, value):
    env(HUB_PORT=value)
    with pytest.raises(ConfigError, match="HUB_PORT") as exc:
        Settings.from_env()
    assert value in str(exc.value)


@pytest.mark.parametrize("value", ["xml", "yaml", "jsonl"])
def test_bad_log_format_is_a_config_error(env, value):
    env(HUB_LOG_FORMAT=value)
    with pytest.raises(ConfigError, match="HUB_LOG_FORMAT.*text or json"):
        Settings.from_env()


@pytest.mark.parametrize("name,value", [
    ("HUB_ENV", "staging"), ("HUB_LOG_LEVEL", "LOUD"), ("HUB_WEB_WORKERS", "0"),
    ("HUB_WEB_WORKERS", "many"), ("HUB_MAX_BODY_BYTES", "0"),
    ("HUB_SQLITE_BUSY_TIMEOUT_MS", "-5"), ("HUB_SQLITE_BUSY_TIMEOUT_MS", "1s"),
])
def test_other_bad_values_are_config_errors(env, name, value):
    env(**{name: value})
    with pytest.raises(ConfigError, match=name):
        Settings.from_env()


def test_settings_repr_hides_secrets(env):
    env(HUB_SECRET_KEY=LONG_SECRET, HUB_OLD_SECRET_KEYS="an-old-secret-value")
    text = repr(Settings.from_env())
    assert LONG_SECRET not in text and "an-old-secret-value" not in text


def test_cli_reports_a_config_error_without_a_traceback(env, tmp_path):
    env(HUB_PORT="eighty", HUB_VAR_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "hub.cli", "merchants", "list"],
                          capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert proc.returncode != 0
    assert "HUB_PORT must be a whole number" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
