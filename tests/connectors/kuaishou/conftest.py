"""Shared helpers for the Kuaishou transport tests: a config, the sent form, no real sleeps."""
from __future__ import annotations

import itertools
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors.http import HttpAdapter, TokenBucket
from connectors.kuaishou import oauth

BASE = "https://ks.test"
CONFIG = {"app_key": "ks123", "app_secret": "app-secret", "sign_secret": "sign-secret",
          "api_base_url": BASE, "oauth_base_url": "https://open.ks.test"}
_ids = itertools.count(7_000_000)


def next_account_id() -> int:
    return next(_ids)


def sent_form(request) -> dict[str, str]:
    """The fields of a form-encoded request: the query for GET, the body for POST."""
    if request.method == "GET":
        raw = urlsplit(request.url).query
    else:
        raw = request.body or ""
        raw = raw.decode() if isinstance(raw, bytes) else raw
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


@pytest.fixture
def slept(monkeypatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(HttpAdapter, "sleep", staticmethod(slept.append))
    monkeypatch.setattr(TokenBucket, "sleep", staticmethod(lambda s: None))
    return slept


@pytest.fixture(autouse=True)
def _fresh_token_state():
    oauth.reset_process_state()
    yield
    oauth.reset_process_state()
