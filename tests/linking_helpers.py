"""Helpers for the shop-linking tests: a running sandbox platform with one app and shop,
and the OAuth round trip (start a link through the API, let the sandbox approve it, hand
its redirect to the hub's callback)."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from hub.parties import linking
from sandbox.kuaishou import serve
from tests import factories as f
from tests.factories import bearer

MESSAGE_KEY = "AAECAwQFBgcICQoLDA0ODw=="
KS = "kuaishou"


class Sandbox:
    def __init__(self, server, base_url: str):
        self.server, self.base = server, base_url
        self.http = requests.Session()

    def ctl(self, verb: str, path: str, expect: int = 200, **body) -> dict:
        resp = self.http.request(verb, f"{self.base}/_sandbox{path}", json=body or None,
                                 timeout=10)
        assert resp.status_code == expect, resp.text
        return resp.json()

    def app(self, redirect_uri: str) -> dict:
        return self.ctl("POST", "/apps", 201, messageKey=MESSAGE_KEY, redirectUri=redirect_uri)

    def shop(self) -> dict:
        return self.ctl("POST", "/shops", 201)

    def credentials(self, app: dict, **override) -> dict:
        return {"app_key": app["appKey"], "app_secret": app["appSecret"],
                "sign_secret": app["signSecret"], "message_key": app["messageKey"],
                "sign_method": "HMAC_SHA256", "api_base_url": self.base,
                "oauth_base_url": self.base, **override}

    def approve(self, authorize_url: str, **extra) -> dict:
        """The merchant approves on the platform: answers the callback's query (code, state)."""
        resp = self.http.get(authorize_url, params=extra or None, allow_redirects=False,
                             timeout=10)
        assert resp.status_code == 302, resp.text
        query = parse_qs(urlsplit(resp.headers["Location"]).query)
        return {k: v[0] for k, v in query.items()}


@pytest.fixture
def sandbox():
    server, base = serve(port=0)
    box = Sandbox(server, base)
    yield box
    box.http.close()
    server.stop()


@pytest.fixture
def world(session, sandbox, settings):
    """A merchant with an admin token, a sandbox app whose callback is the hub's, a shop."""
    m = f.merchant(session)
    admin = f.token(session, m.id)
    operator = f.token(session, m.id, "operator")
    session.commit()
    app = sandbox.app(linking.redirect_uri(settings, KS))
    shop = sandbox.shop()
    return {"merchant_id": m.id, "admin": admin, "operator": operator, "app": app,
            "shop": shop, "credentials": sandbox.credentials(app)}


def start(client, world, name="Tea shop", token=None, **override) -> dict:
    body = {"name": name, **world["credentials"], **override}
    resp = client.post(f"/api/v1/shops/{KS}/link", json=body,
                       headers=bearer(token or world["admin"]))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def callback(client, query: dict):
    return client.get(linking.callback_path(KS), query_string=query,
                      headers={"Accept-Language": "en"})


def link(client, sandbox, world, name="Tea shop") -> int:
    """A complete link through the API; answers the account id."""
    started = start(client, world, name)
    page = callback(client, sandbox.approve(started["authorize_url"]))
    assert page.status_code == 200, page.get_data(as_text=True)
    return started["account_id"]
