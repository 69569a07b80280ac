"""Logging: one JSON object per line with ``HUB_LOG_FORMAT=json``, and no secret (account
credentials, API tokens, the hub's own key) and no buyer phone number in any line, in
either format, whether it comes in the message, in ``extra=`` or in an exception."""
from __future__ import annotations

import base64
import io
import json
import logging
import secrets

import pytest

from hub.core import logs
from hub.models import Account
from tests import factories as f
from tests.conftest import TEST_SECRET

log = logging.getLogger("hub.test_logging")
PHONE = "13912345678"
PHONE_FORMS = [PHONE, "+86 139 1234 5678", "+8613912345678", "139-1234-5678"]
MASKED = "139****5678"


@pytest.fixture
def capture(settings):
    """Install the hub's handler on a buffer (as ``create_app`` would on stderr)."""
    buffers = []

    def start(fmt="json", level="DEBUG"):
        buf = io.StringIO()
        logs.configure(level, fmt, stream=buf)
        buffers.append(buf)
        return buf

    yield start
    logs.configure(settings.log_level, settings.log_format)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(30)).decode()


@pytest.fixture
def merchant(database):
    with database.session() as s:
        m = f.merchant(s)
        return {"id": m.id, "token": f.token(s, m.id)}


def json_lines(buf) -> list[dict]:
    lines = buf.getvalue().splitlines()
    assert lines
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    for entry in entries:
        assert isinstance(entry, dict)
        assert {"ts", "level", "logger", "msg"} <= set(entry)
    return entries


def test_json_format_is_one_object_per_line(app, client, merchant, capture):
    buf = capture("json")
    client.post("/api/v1/accounts", headers=f.bearer(merchant["token"]), json={
        "connector": "generic_shop", "name": "Shop", "config": {"webhook_secret": new_secret()}})
    log.info("multi\nline message", extra={"account_id": 7, "tags": ["a", "b"]})
    try:
        raise ValueError("broken\nacross lines")
    except ValueError:
        log.exception("with a traceback")
    entries = json_lines(buf)
    mine = [e for e in entries if e["logger"] == log.name]
    assert mine[0]["msg"] == "multi\nline message" and mine[0]["account_id"] == 7
    assert mine[0]["tags"] == ["a", "b"] and mine[0]["level"] == "info"
    assert "ValueError: broken\nacross lines" in mine[1]["exc"]
    assert mine[1]["level"] == "error"


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_account_secrets_never_reach_the_log(app, client, database, merchant, capture, fmt):
    buf = capture(fmt)
    secret = new_secret()
    created = client.post("/api/v1/accounts", headers=f.bearer(merchant["token"]), json={
        "connector": "generic_shop", "name": "Shop", "config": {"webhook_secret": secret}})
    assert created.status_code == 201
    # encrypted but not yet read back: still known to the scrubber
    log.info("stored the secret %s", secret)
    with database.session(readonly=True) as s:
        config = s.get(Account, created.get_json()["id"]).config  # decrypted
    log.debug("loaded config %s", config)
    log.info("calling the shop", extra={"config": config, "secret": secret, "note": secret})
    log.warning("push failed", extra={"error": RuntimeError(f"rejected {secret}")})
    log.info("payload %s", json.dumps({"webhook_secret": secret, "other": "x"}))
    try:
        raise ConnectionError(f"handshake failed using {config}")
    except ConnectionError:
        log.exception("shop unreachable")
    out = buf.getvalue()
    assert "stored the secret" in out and "handshake failed" in out and "push failed" in out
    assert secret not in out and secret.removeprefix("whsec_") not in out


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_api_tokens_and_the_hub_key_never_reach_the_log(app, client, merchant, capture,
                                                        settings, fmt):
    buf = capture(fmt)
    token = client.post("/api/v1/tokens", headers=f.bearer(merchant["token"]),
                        json={"role": "finance"}).get_json()["token"]
    log.info("issued %s", token)
    log.info("request", extra={"headers": {"Authorization": f"Bearer {token}"},
                               "raw": f"Authorization: Bearer {token}", "who": token})
    log.info("settings %s and %r", settings, settings.secret_key)
    log.info("key", extra={"k": TEST_SECRET, "settings": settings})
    try:
        raise PermissionError(f"token {token} refused under key {TEST_SECRET}")
    except PermissionError:
        log.exception("auth failed")
    out = buf.getvalue()
    assert "issued" in out and "auth failed" in out
    secret_part = token.split("_", 2)[2]
    for needle in (token, secret_part, TEST_SECRET, merchant["token"]):
        assert needle not in out


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_buyer_phone_numbers_are_masked(capture, fmt):
    buf = capture(fmt)
    for form in PHONE_FORMS:
        log.info("buyer %s called", form, extra={"buyer": {"phone": form, "name": "王**"},
                                                 "contact": [form]})
        log.info("raw body", extra={"body": json.dumps({"tel": form}).encode()})
        try:
            raise ValueError(f"could not parse address for {form}")
        except ValueError:
            log.exception("mapping failed")
    out = buf.getvalue()
    assert MASKED in out and "王**" in out
    for form in PHONE_FORMS:
        assert form not in out
    assert "12345678" not in out.replace(" ", "").replace("-", "")


def test_an_unexpected_error_is_logged_with_its_reference_and_no_secret(
        app, client, database, merchant, capture):
    secret = new_secret()
    with database.session() as s:
        account_id = f.shop(s, merchant["id"], config={"webhook_secret": secret}).id

    @app.get("/explode")
    def explode():
        with database.session(readonly=True) as s:
            config = s.get(Account, account_id).config
        raise RuntimeError(f"shop said no to {config} for buyer {PHONE}")

    buf = capture("json")
    resp = client.get("/explode")
    assert resp.status_code == 500
    ref = resp.get_json()["error"]["message"].rsplit(" ", 1)[-1]
    entry = next(e for e in json_lines(buf) if e.get("error_ref") == ref)
    assert "RuntimeError: shop said no" in entry["exc"] and MASKED in entry["exc"]
    assert secret not in buf.getvalue() and PHONE not in buf.getvalue()
    assert secret not in resp.get_data(as_text=True)


def test_secret_looking_keys_are_masked_wherever_they_appear(capture):
    buf = capture("json")
    log.info("ctx", extra={"private_key": "-----BEGIN KEY-----abc", "password": "hunter2!",
                           "nested": {"refresh_token": "r-123456789", "plain": "visible"},
                           "pairs": "app_secret=s3cr3t-value&page=2"})
    entry = json_lines(buf)[0]
    assert entry["private_key"] == entry["password"] == "***"
    assert entry["nested"] == {"refresh_token": "***", "plain": "visible"}
    assert entry["pairs"] == "app_secret=***&page=2"
    for needle in ("BEGIN KEY", "hunter2", "r-123456789", "s3cr3t"):
        assert needle not in buf.getvalue()


def test_log_level_filters(capture):
    buf = capture("json", level="WARNING")
    log.info("quiet")
    log.warning("loud")
    assert [e["msg"] for e in json_lines(buf)] == ["loud"]


def test_stored_headers_are_scrubbed_like_scrub_even_when_memoised():
    """``scrub_header`` (the receiver's stored headers) memoises per value: a secret the
    hub learns after a value was memoised is still masked the next time."""
    secret = "hdr-" + secrets.token_hex(8)
    value = f"note {secret} {PHONE}"
    assert logs.scrub_header("x-note", value) == logs.scrub(value, "x-note")
    assert secret in logs.scrub_header("x-note", value)        # not known yet
    logs.remember_secrets({"api_key": secret})
    assert logs.scrub_header("x-note", value) == f"note *** {MASKED}"
    assert logs.scrub_header("webhook-signature", "v1,abc") == "***"
    assert logs.scrub_header("x-api-key", "") == "" == logs.scrub("", "x-api-key")
