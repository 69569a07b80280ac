"""Property-based fuzzing of every connector's webhook receiver (hypothesis, item 26).

For each installed connector that declares ``webhook`` (``connectors.registry``), with a
real account of it, ``POST /webhooks/<connector>/<account_id>`` gets random bytes,
random JSON, connector-shaped envelopes, deeply nested and unbalanced JSON, huge
strings and numbers, form bodies, and random headers among which the signature headers
the connectors read, with random values. Then a few bodies per connector are *signed*
(or encrypted) with the account's secret, so they get past verification into parsing.
And deliveries to accounts that do not exist, under connector names real or not.

What must hold (``hub/web/webhooks.py``'s documented behaviour):

* never a 5xx;
* every refusal (4xx other than 413, a body over ``HUB_MAX_BODY_BYTES``, which stores
  nothing) leaves exactly one quarantine row (``QuarantinedRequest``) for that URL, with
  the reason it was refused; an acknowledgement (2xx) leaves none;
* a correctly signed delivery is never refused as a bad signature.

The quarantine's rate limiter (``inbox.QuarantineLimiter``, in ``app.extensions``) is
replaced by a fresh one before each delivery, so the bounded runs here never reach its
limits. Bounded and reproducible: ``derandomize=True``, no example database.
"""
from __future__ import annotations

import base64
import json
import string
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from connectors import standard_webhooks
from connectors.aftership.connector import signature as aftership_signature
from connectors.cj.webhooks import signature as cj_signature
from connectors.kuaidi100.signing import push_sign
from connectors.kuaishou.crypto import encrypt_message
from connectors.track17.connector import signature as track17_signature
from hub.models import InboxEvent, QuarantinedRequest
from hub.pipeline import inbox
from tests import factories as f
from tests.fuzz.bounds import bounded
from tests.fuzz.worlds import WEBHOOK_CONFIGS, webhook_account, webhook_connectors

pytestmark = pytest.mark.fuzz

RANDOM, SIGNED, UNKNOWN = 40, 15, 15  # examples per connector (UNKNOWN: in all)
CONNECTORS = webhook_connectors()
REFUSALS = {"bad_signature", "unparseable"}
MAX_BODY = 1024 * 1024  # the default HUB_MAX_BODY_BYTES; the fuzz stays under it


# -- what is sent ------------------------------------------------------------------------
SIGNATURE_HEADERS = ["webhook-id", "webhook-timestamp", "webhook-signature", "sign",
                     "aftership-hmac-sha256", "as-signature-hmac-sha256", "x-signature",
                     "authorization", "content-type", "content-encoding", "user-agent"]
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8",
                 "application/x-www-form-urlencoded", "text/plain;charset=utf-8",
                 "multipart/form-data; boundary=xyz", "application/octet-stream", ""]
ENVELOPE_KEYS = ["type", "data", "event", "event_id", "msg", "messageId", "messageType",
                 "openId", "params", "eventId", "bizId", "info", "test", "param", "sign",
                 "lastResult", "kuaidinum", "id", "status", "updated_at", "lines", "number"]

scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
           | st.text(max_size=40))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=5),
                           max_leaves=25)
envelopes = st.dictionaries(st.sampled_from(ENVELOPE_KEYS) | st.text(max_size=12), json_values,
                            max_size=6)


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _nested(depth: int, kind: str) -> bytes:
    opener, closer = {"list": (b"[", b"]"), "dict": (b'{"a":', b"}"),
                      "open": (b"[", b"")}[kind]
    return opener * depth + b"1" + closer * depth


def _huge(size: int, kind: str) -> bytes:
    if kind == "string":
        return b'{"type": "order.updated", "data": {"note": "' + b"x" * size + b'"}}'
    if kind == "number":  # past Python's 4300-digit int conversion limit
        return b'{"type": "order.updated", "data": {"n": ' + b"9" * size + b"}}"
    if kind == "escapes":
        return b'{"type": "' + b"\\u00e9" * (size // 6) + b'", "data": {}}'
    return b"\xff\xfe" * (size // 2)  # binary


bodies = st.one_of(
    st.binary(max_size=2048),
    json_values.map(_json),
    envelopes.map(_json),
    st.builds(_nested, st.integers(1, 5000), st.sampled_from(["list", "dict", "open"])),
    st.builds(_huge, st.integers(1000, 300_000),
              st.sampled_from(["string", "number", "escapes", "binary"])),
    st.dictionaries(st.sampled_from(["param", "sign", "x"]), st.text(max_size=200),
                    max_size=3).map(lambda d: urlencode(d).encode()),
)
header_names = st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,30}\Z").filter(
    lambda n: n.lower() not in {"content-length", "transfer-encoding", "host", "connection"})
header_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                   exclude_characters="\x7f"), max_size=200),
    st.integers().map(str),                                  # timestamps, ids
    st.integers(1, 4000).map(lambda n: "9" * n),              # huge "timestamps"
    st.sampled_from(["v1,", "v1,AAAA", "v1a,xyz v1,", "sha256=", " "]),
    st.binary(min_size=1, max_size=64).map(lambda b: base64.b64encode(b).decode()),
)
headers = st.dictionaries(st.sampled_from(SIGNATURE_HEADERS) | header_names, header_values,
                          max_size=6).map(lambda h: {k: v[:4000] for k, v in h.items()})


def _signable_bodies(connector: str):
    """Bodies shaped like the connector's deliveries (and random ones), to be signed."""
    text = st.text(min_size=1, max_size=30)
    shaped = {
        "generic_shop": st.fixed_dictionaries({"type": text, "data": envelopes}),
        "aftership": st.fixed_dictionaries({"event": text, "msg": envelopes},
                                           optional={"event_id": text | json_values}),
        "track17": st.fixed_dictionaries({"event": text, "data": envelopes}),
        "cj": st.fixed_dictionaries(
            {"messageId": text | st.integers(), "type": text, "params": envelopes},
            optional={"messageType": text | json_values,
                      "openId": st.just(WEBHOOK_CONFIGS["cj"]["open_id"]) | text}),
        "kuaishou": st.fixed_dictionaries(
            {"event": text}, optional={"eventId": text | st.integers(), "bizId": json_values,
                                       "info": json_values, "test": st.booleans()}),
        "kuaidi100": st.fixed_dictionaries(
            {}, optional={"lastResult": envelopes, "kuaidinum": text, "orderId": text,
                          "interceptType": text, "status": text}),
    }.get(connector, envelopes)
    return st.one_of(shaped, envelopes, json_values)


def _sign(connector: str, message) -> tuple[bytes, dict]:
    """The delivery a real sender makes of ``message``, signed or encrypted as it must be."""
    config = WEBHOOK_CONFIGS[connector]
    if connector == "kuaishou":  # no signature: the body is the message, encrypted
        return encrypt_message(message if isinstance(message, dict) else json.dumps(message),
                               config["message_key"]).encode(), {}
    if connector == "kuaidi100":  # signed inside the form body
        param = json.dumps(message, ensure_ascii=False)
        return (urlencode({"param": param, "sign": push_sign(param, config["salt"])}).encode(),
                {"content-type": "application/x-www-form-urlencoded"})
    body = _json(message)
    if connector == "generic_shop":
        return body, standard_webhooks.headers([config["webhook_secret"]],
                                               f"msg_{abs(hash(body))}", body)
    sign = {"aftership": lambda: {"aftership-hmac-sha256":
                                  aftership_signature(config["webhook_secret"], body)},
            "track17": lambda: {"sign": track17_signature(config["security_key"], body)},
            "cj": lambda: {"sign": cj_signature(config["open_id"], body)}}[connector]
    return body, {"content-type": "application/json", **sign()}


# -- what must hold ------------------------------------------------------------------------
def _fresh_limiter(app) -> None:
    """Forget the quarantine writes counted so far (the limits are per minute)."""
    for key, value in list(app.extensions.items()):
        if isinstance(value, inbox.QuarantineLimiter):
            app.extensions[key] = type(value)()


def _quarantined(database) -> list[QuarantinedRequest]:
    with database.session() as s:
        return list(s.scalars(select(QuarantinedRequest).order_by(QuarantinedRequest.id)))


def _count(database, model) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def _deliver(app, client, database, path: str, body: bytes, hdrs: dict):
    _fresh_limiter(app)
    before = len(_quarantined(database))
    resp = client.post(path, data=body, headers=hdrs)
    shown = f"POST {path} {hdrs!r} body[:200]={body[:200]!r} ({len(body)} bytes) -> " \
            f"{resp.status_code} {resp.get_data()[:300]!r}"
    assert resp.status_code < 500, shown
    new = _quarantined(database)[before:]
    if 400 <= resp.status_code < 500 and resp.status_code != 413:
        assert len(new) == 1, f"refused without a quarantine row: {shown}"
        assert new[0].reason in REFUSALS, shown
    else:
        assert new == [], f"answered {resp.status_code} yet quarantined: {shown}"
    return resp, new


@pytest.fixture
def webhook_account_of(database):
    def make(connector: str):
        with database.session() as s:
            account = webhook_account(s, f.merchant(s, f"Fuzz {connector}").id, connector)
            return account.id
    return make


@pytest.mark.parametrize("connector", CONNECTORS)
def test_random_deliveries_are_answered_below_500_and_refusals_quarantined(
        app, client, database, webhook_account_of, connector):
    account_id = webhook_account_of(connector)
    path = f"/webhooks/{connector}/{account_id}"

    @bounded(RANDOM)
    @given(body=bodies, hdrs=headers)
    def deliver(body, hdrs):
        resp, new = _deliver(app, client, database, path, body, hdrs)
        for q in new:
            assert (q.account_id, q.connector) == (account_id, connector)

    deliver()


@pytest.mark.parametrize("connector", [c for c in CONNECTORS if c in WEBHOOK_CONFIGS])
def test_signed_random_deliveries_are_stored_or_quarantined_as_unparseable(
        app, client, database, webhook_account_of, connector):
    account_id = webhook_account_of(connector)
    path = f"/webhooks/{connector}/{account_id}"

    @bounded(SIGNED)
    @given(message=_signable_bodies(connector))
    def deliver(message):
        body, hdrs = _sign(connector, message)
        stored = _count(database, InboxEvent)
        resp, new = _deliver(app, client, database, path, body, hdrs)
        assert resp.status_code in (200, 400), resp.get_data()[:300]
        if resp.status_code == 400:
            assert new[0].reason == "unparseable", new[0].detail
        assert _count(database, InboxEvent) >= stored

    deliver()


def test_deliveries_to_unknown_accounts_are_refused_and_quarantined(
        app, client, database, webhook_account_of):
    known = webhook_account_of("generic_shop")
    names = st.sampled_from(CONNECTORS + ["spreadsheet", "hub_webhook", "nope"]) | st.text(
        alphabet=string.ascii_letters + string.digits + "_.~-", min_size=1, max_size=100
    ).filter(lambda name: name not in (".", ".."))  # a dot segment is no route: a 404

    @bounded(UNKNOWN)
    @given(connector=names, account_id=st.integers(0, 2 ** 70), body=bodies, hdrs=headers)
    def deliver(connector, account_id, body, hdrs):
        if (connector, account_id) == ("generic_shop", known):
            account_id += 1
        resp, new = _deliver(app, client, database,
                             f"/webhooks/{quote(connector)}/{account_id}", body, hdrs)
        assert 400 <= resp.status_code < 500 and resp.status_code != 413
        assert (new[0].account_id, new[0].merchant_id) == (None, None)

    deliver()


def test_the_fuzz_covers_every_webhook_connector():
    """A new webhook connector needs a config here to be fuzzed signed (random deliveries
    reach it anyway, with whatever its config validates to)."""
    assert set(CONNECTORS) <= set(WEBHOOK_CONFIGS), set(CONNECTORS) - set(WEBHOOK_CONFIGS)
