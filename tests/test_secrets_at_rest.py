"""Secrets at rest: connector credentials are stored only as ciphertext, API tokens only
as hashes, the API never hands config back, and the encryption key can be rotated."""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import secrets

import pytest
from sqlalchemy import Text, inspect, select, text, type_coerce

from hub.core import crypto
from hub.core.crypto import SecretsUnavailable
from hub.models import Account, ApiToken
from tests import factories as f
from tests.conftest import TEST_SECRET

NEW_KEY = "the-next-secret-key-0123456789abcdefghij"


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def dump_database(database) -> str:
    """Every value of every row of every table (migration bookkeeping included), as text."""
    values = []
    with database.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, (bytes, memoryview)):
                        value = bytes(value).decode("utf-8", "replace")
                    values.append(json.dumps(value, default=str, ensure_ascii=False)
                                  if isinstance(value, (dict, list)) else str(value))
    return "\n".join(values)


def raw_config(database, account_id) -> str:
    """The stored ciphertext, as text (not decrypted)."""
    with database.engine.connect() as conn:
        return conn.execute(select(type_coerce(Account.config, Text))
                            .where(Account.id == account_id)).scalar_one()


def read_config(database, account_id) -> dict:
    """Through the model, in a fresh session, with whatever keyring is installed now."""
    with database.session(readonly=True) as s:
        return s.get(Account, account_id).config


@pytest.fixture
def admin(database):
    with database.session() as s:
        m = f.merchant(s)
        return {"merchant_id": m.id, "token": f.token(s, m.id)}


@pytest.fixture
def keyring():
    """Tests here swap the module-level keyring; put the suite's back afterwards."""
    yield crypto
    crypto.configure(TEST_SECRET)


def _assert_no_plaintext(database, *needles):
    dump = dump_database(database)
    assert dump  # the dump really read the rows
    for needle in needles:
        assert needle not in dump


def test_config_posted_to_the_api_is_stored_encrypted(app, client, database, admin):
    secret = new_webhook_secret()
    resp = client.post("/api/v1/accounts", headers=f.bearer(admin["token"]),
                       json={"connector": "generic_shop", "name": "Shop",
                             "config": {"webhook_secret": secret}})
    assert resp.status_code == 201, resp.get_json()
    account_id = resp.get_json()["id"]
    assert "config" not in resp.get_json() and secret not in resp.get_data(as_text=True)

    _assert_no_plaintext(database, secret, secret.removeprefix("whsec_"))
    assert raw_config(database, account_id).startswith("gAAAAA")  # a Fernet token
    assert read_config(database, account_id)["webhook_secret"] == secret


def test_config_given_to_the_cli_is_stored_encrypted(app, database, admin):
    secret = new_webhook_secret()
    result = app.test_cli_runner().invoke(args=[
        "accounts", "add", "generic_shop", "--merchant", str(admin["merchant_id"]),
        "--name", "CLI shop", "--config", json.dumps({"webhook_secret": secret}), "--json"])
    assert result.exit_code == 0, result.output
    account_id = json.loads(result.output)["id"]
    assert secret not in result.output

    _assert_no_plaintext(database, secret, secret.removeprefix("whsec_"))
    assert read_config(database, account_id)["webhook_secret"] == secret


def test_api_tokens_are_stored_only_hashed(app, client, database, admin):
    made_by_api = client.post("/api/v1/tokens", headers=f.bearer(admin["token"]),
                              json={"role": "finance", "name": "books"}).get_json()["token"]
    result = app.test_cli_runner().invoke(args=[
        "tokens", "create", "--merchant", str(admin["merchant_id"]), "--role", "operator",
        "--json"])
    made_by_cli = json.loads(result.output)["token"]
    tokens = [admin["token"], made_by_api, made_by_cli]

    secret_parts = [t.split("_", 2)[2] for t in tokens]  # hub_<prefix>_<secret>
    _assert_no_plaintext(database, *tokens, *secret_parts)
    with database.session(readonly=True) as s:
        hashes = set(s.scalars(select(ApiToken.token_hash)))
    assert hashes == {hashlib.sha256(t.encode()).hexdigest() for t in tokens}
    for tok in tokens:  # and each still authenticates
        assert client.get("/api/v1/me", headers=f.bearer(tok)).status_code == 200


def test_the_api_never_returns_config(client, database, admin):
    secret = new_webhook_secret()
    headers = f.bearer(admin["token"])
    created = client.post("/api/v1/accounts", headers=headers, json={
        "connector": "generic_shop", "name": "Shop", "config": {"webhook_secret": secret}})
    account_id = created.get_json()["id"]
    responses = [created,
                 client.get("/api/v1/accounts", headers=headers),
                 client.get(f"/api/v1/accounts/{account_id}", headers=headers),
                 client.get("/api/v1/audit", headers=headers)]
    for resp in responses:
        assert resp.status_code in (200, 201)
        assert secret not in resp.get_data(as_text=True)
    for account in [created.get_json(), responses[2].get_json(),
                    *responses[1].get_json()["data"]]:
        assert "config" not in account
    audit = responses[3].get_json()["data"]
    assert "webhook_secret" in audit[0]["changes"]["config_keys"]  # names, never values


def test_a_different_key_cannot_decrypt(database, admin, keyring):
    secret = new_webhook_secret()
    with database.session() as s:
        account_id = f.shop(s, admin["merchant_id"], config={"webhook_secret": secret}).id
    token = raw_config(database, account_id)

    keyring.configure(NEW_KEY)
    with pytest.raises(SecretsUnavailable, match="HUB_OLD_SECRET_KEYS"):
        read_config(database, account_id)
    with pytest.raises(SecretsUnavailable):
        crypto.decrypt_json(token)

    keyring.configure(NEW_KEY, (TEST_SECRET,))  # the old key listed: readable again
    assert read_config(database, account_id) == {"webhook_secret": secret}


def test_listing_accounts_does_not_need_the_key(client, database, admin, keyring):
    with database.session() as s:
        account_id = f.shop(s, admin["merchant_id"]).id
    keyring.configure(NEW_KEY)
    headers = f.bearer(admin["token"])
    listed = client.get("/api/v1/accounts", headers=headers)
    assert listed.status_code == 200
    assert [a["id"] for a in listed.get_json()["data"]] == [account_id]
    assert client.get(f"/api/v1/accounts/{account_id}", headers=headers).status_code == 200


def test_rotate_secrets_re_encrypts_under_the_new_key(app, settings, database, admin, keyring):
    from hub.web.app import create_app

    secret = new_webhook_secret()
    with database.session() as s:
        ids = [f.shop(s, admin["merchant_id"], config={"webhook_secret": secret}).id,
               f.shop(s, admin["merchant_id"]).id]
    before = [raw_config(database, i) for i in ids]

    rotated = create_app(dataclasses.replace(settings, secret_key=NEW_KEY,
                                             old_secret_keys=(TEST_SECRET,)), database)
    result = rotated.test_cli_runner().invoke(args=["db", "rotate-secrets", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"rotated": 2}

    after = [raw_config(database, i) for i in ids]
    assert all(a != b for a, b in zip(after, before))
    _assert_no_plaintext(database, secret)
    keyring.configure(NEW_KEY)  # the new key alone now reads everything
    assert read_config(database, ids[0]) == {"webhook_secret": secret}
    assert read_config(database, ids[1]) == {"webhook_secret": f.WHSEC}
    keyring.configure(TEST_SECRET)  # and the old key alone no longer does
    with pytest.raises(SecretsUnavailable):
        read_config(database, ids[0])


def test_rotate_secrets_with_the_wrong_key_fails_clearly_and_changes_nothing(
        settings, database, admin, keyring):
    from hub.web.app import create_app

    with database.session() as s:
        account_id = f.shop(s, admin["merchant_id"]).id
    before = raw_config(database, account_id)

    wrong = create_app(dataclasses.replace(settings, secret_key=NEW_KEY), database)
    result = wrong.test_cli_runner().invoke(args=["db", "rotate-secrets", "--json"])
    assert result.exit_code != 0
    assert "HUB_OLD_SECRET_KEYS" in json.loads(result.output)["error"]
    assert "Traceback" not in result.output
    assert raw_config(database, account_id) == before


def test_a_fingerprint_is_keyed_by_the_secret_key(keyring):
    keyring.configure("first-secret-key-for-the-fingerprint-test")
    one = keyring.fingerprint("kuaishou:buyer-1")
    again, other = keyring.fingerprint("kuaishou:buyer-1"), keyring.fingerprint("kuaishou:buyer-2")
    assert one == again != other
    keyring.configure("another-secret-key-for-the-fingerprint-test")
    assert keyring.fingerprint("kuaishou:buyer-1") != one
