"""Signing in to the console through Flask's test client (``hub.web.console``)."""
from __future__ import annotations

import re

from tests.factories import PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def html(resp) -> str:
    body = resp.get_data(as_text=True)
    assert resp.mimetype == "text/html" and "Traceback" not in body
    return body


def csrf(client, path="/console/sign-in") -> str:
    return CSRF.search(html(client.get(path))).group(1)


def sign_in(client, login, password=PASSWORD, lang="en"):
    """POST the sign-in form; ``lang`` is the browser's language (None: none given)."""
    if lang:
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    return client.post("/console/sign-in", data={"login": login, "password": password,
                                                 "csrf_token": csrf(client)})
