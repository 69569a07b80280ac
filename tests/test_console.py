"""The web console through Flask's test client: sign-in as a user (its session on the
server, its secret encrypted in an HttpOnly, SameSite=Strict cookie), CSRF on every POST
form, the shops list and a shop's page (status, authorization, alerts, progress), the
"Link a Kuaishou shop" form, and friendly error pages without traces."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from hub.models import Account, PollState, User
from hub.models.alerts import raise_alert
from hub.parties import users
from tests import factories as f
from tests.console_helpers import CSRF, csrf, html, sign_in
from tests.linking_helpers import callback, sandbox, world  # noqa: F401


@pytest.fixture
def merchant(session):
    m = f.merchant(session, "Tea House")
    logins = {role: f.user(session, m.id, role) for role in
              ("merchant_admin", "operator", "finance")}
    session.commit()
    return {"id": m.id, "logins": logins}


@pytest.fixture
def admin(client, merchant):
    assert sign_in(client, merchant["logins"]["merchant_admin"]).status_code == 303
    return client


def kuaishou_shop(s, merchant_id, name="KS shop", **config):
    shop = Account(merchant_id=merchant_id, connector="kuaishou", kind="platform", name=name,
                   external_id="open-1",
                   config={"app_key": "ks1", "app_secret": "app-secret-1",
                           "sign_secret": "sign-secret-1", "access_token": "tok-1",
                           "refresh_token": "ref-1",
                           "access_token_expires_at": "2099-01-01T00:00:00+00:00",
                           "refresh_token_expires_at": "2099-06-01T00:00:00+00:00",
                           "scopes": ["merchant_order"], "open_id": "open-1", **config})
    s.add(shop)
    s.flush()
    return shop


# -- signing in ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/console/shops", "/console/shops/1", "/console/shops/link"])
def test_pages_send_strangers_to_sign_in(client, merchant, path):
    resp = client.get(path)
    assert resp.status_code == 302
    target = urlsplit(resp.headers["Location"])
    assert target.path == "/console/sign-in" and parse_qs(target.query)["next"] == [path]


def test_the_root_leads_to_the_console_and_each_role_home(client, merchant):
    assert client.get("/").headers["Location"] == "/console/"
    assert client.get("/console/").headers["Location"] == "/console/sign-in"
    sign_in(client, merchant["logins"]["finance"])
    assert client.get("/console/").headers["Location"] == "/console/finance"


def test_a_wrong_password_and_an_unknown_login_are_refused_alike(client, merchant):
    wrong = sign_in(client, merchant["logins"]["operator"], "not the password")
    unknown = sign_in(client, "nobody-at-all", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "The login or the password is wrong." in html(wrong)
    assert html(wrong).count("wrong") == html(unknown).count("wrong")
    assert client.get("/console/shops").status_code == 302


def test_five_wrong_passwords_lock_the_login_for_a_while(client, merchant):
    login = merchant["logins"]["operator"]
    for _ in range(users.MAX_FAILURES):
        assert sign_in(client, login, "not the password").status_code == 401
    locked = sign_in(client, login)  # the right password, too late
    assert locked.status_code == 429 and "try again in 15 minute(s)" in html(locked)


def test_a_role_is_told_which_pages_are_not_its(client, merchant):
    sign_in(client, merchant["logins"]["finance"])
    resp = client.get("/console/shops")
    assert resp.status_code == 403 and "not for your role (finance)" in html(resp)
    assert client.get("/console/account").status_code == 200


@pytest.mark.parametrize("token", [None, "", "wrong"])
def test_a_post_without_the_csrf_token_is_400(client, merchant, token):
    csrf(client)  # the session exists and has a token; the form does not send it
    data = {"login": merchant["logins"]["merchant_admin"], "password": f.PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    resp = client.post("/console/sign-in", data=data)  # no Accept-Language: in Chinese
    assert resp.status_code == 400 and "请刷新页面后重试" in html(resp)
    assert client.get("/console/shops").status_code == 302


def test_the_session_cookie_is_httponly_strict_and_holds_no_readable_secret(client, merchant,
                                                                            database):
    resp = sign_in(client, merchant["logins"]["merchant_admin"])
    assert resp.status_code == 303 and resp.headers["Location"] == "/console/dashboard"
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("hub_console=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert f.PASSWORD not in cookie and "sid" not in cookie  # the payload is compressed,
    with database.session(readonly=True) as s:                # the secret encrypted in it
        assert s.scalar(select(User.last_sign_in_at).where(
            User.login == merchant["logins"]["merchant_admin"])) is not None
    assert client.get("/console/shops").status_code == 200


def test_disabling_a_user_ends_its_session(admin, database, merchant):
    assert admin.get("/console/shops").status_code == 200
    with database.session() as s:
        user = s.scalar(select(User).where(User.login == merchant["logins"]["merchant_admin"]))
        users.disable(s, user, "test")
    assert admin.get("/console/shops").status_code == 302


def test_signing_in_again_ends_the_session_before(client, merchant, app):
    sign_in(client, merchant["logins"]["operator"])
    before = client.get_cookie("hub_console", path="/console").value
    again = client.post("/console/sign-in", data={
        "login": merchant["logins"]["operator"], "password": f.PASSWORD,
        "csrf_token": csrf(client, "/console/account")})
    assert again.status_code == 303
    copy = app.test_client()
    copy.set_cookie("hub_console", before, path="/console")
    assert copy.get("/console/dashboard").status_code == 302
    assert client.get("/console/dashboard").status_code == 200


def test_a_csrf_token_of_any_characters_is_a_400_not_a_500(client, merchant):
    csrf(client)
    resp = client.post("/console/sign-in", data={"login": "x", "csrf_token": "令牌"})
    assert resp.status_code == 400


def test_sign_out(admin):
    resp = admin.post("/console/sign-out", data={"csrf_token": csrf(admin, "/console/shops")})
    assert resp.status_code == 303
    assert admin.get("/console/shops").status_code == 302


# -- pages -----------------------------------------------------------------------------------
def test_shops_list_shows_status_authorization_alerts_and_progress(admin, merchant, session):
    ks = kuaishou_shop(session, merchant["id"])
    generic = f.shop(session, merchant["id"], name="Web shop")
    generic.status, generic.status_reason = "needs_attention", "poll orders: 401"
    session.add_all([
        PollState(merchant_id=merchant["id"], account_id=ks.id, stream="orders",
                  progress={"percent": 42.5, "position": "2026-09-01T00:00:00+00:00",
                            "done": False}),
        PollState(merchant_id=merchant["id"], account_id=ks.id, stream="returns",
                  progress={"percent": 100, "done": True})])
    raise_alert(session, merchant["id"], "shop_reauthorize", "account", ks.id,
                "Kuaishou authorization expires in 5 days: re-authorize the shop")
    session.commit()
    page = html(admin.get("/console/shops"))
    assert "KS shop" in page and "Web shop" in page
    assert 'class="badge auth-ok"' in page and "needs attention" in page
    assert "expires in 5 days" in page
    assert 'value="42.5"' in page and 'aria-label="orders progress"' in page
    assert 'value="100.0"' in page
    assert "app-secret-1" not in page and "tok-1" not in page


def test_shop_page_shows_streams_and_a_reauthorize_button(admin, merchant, session):
    ks = kuaishou_shop(session, merchant["id"], reauthorize_reason="AUTHORIZATION_REVOKED")
    session.add(PollState(merchant_id=merchant["id"], account_id=ks.id, stream="orders",
                          progress={"percent": 10, "position": "2026-08-05T00:00:00+00:00",
                                    "records": 120, "new_events": 100},
                          last_error_class="rate_limited", last_error="Exceed qps limit"))
    session.commit()
    page = html(admin.get(f"/console/shops/{ks.id}"))
    assert 'id="auth-status">revoked<' in page and "AUTHORIZATION_REVOKED" in page
    assert 'data-stream="orders"' in page and 'value="10.0"' in page and "120" in page
    assert "rate_limited: Exceed qps limit" in page
    token = CSRF.search(page).group(1)
    resp = admin.post(f"/console/shops/{ks.id}/reauthorize", data={"csrf_token": token})
    assert resp.status_code == 303
    assert resp.headers["Location"].startswith("https://open.kwaixiaodian.com/oauth/authorize?")
    assert "app_id=ks1" in resp.headers["Location"]


def test_other_merchants_shops_and_unknown_pages_are_friendly_404s(admin, session):
    other = f.merchant(session, "Other")
    shop = kuaishou_shop(session, other.id)
    session.commit()
    for path in (f"/console/shops/{shop.id}", "/console/nope", "/console/shops/abc"):
        resp = admin.get(path)
        assert resp.status_code == 404 and "no such page" in html(resp)


def test_an_unexpected_error_is_a_500_page_with_a_reference(admin, merchant, session,
                                                            monkeypatch):
    from hub.web.console import shops

    kuaishou_shop(session, merchant["id"])
    session.commit()

    def boom(*a, **k):
        raise RuntimeError("secret internals")
    monkeypatch.setattr(shops, "account_report", boom)
    resp = admin.get("/console/shops")
    body = html(resp)
    assert resp.status_code == 500 and re.search(r"Reference [0-9a-f]{12}", body)
    assert "secret internals" not in body


def test_security_headers(admin):
    resp = admin.get("/console/shops")
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Cache-Control"] == "no-store"
    with admin.get("/console/static/console.css") as css:  # a streamed file: close it
        assert css.status_code == 200 and "text/css" in css.mimetype


# -- linking from the console ----------------------------------------------------------------
LINK = "/console/shops/link/kuaishou"
FORM = {"name": "Tea shop", "app_key": "ks123", "app_secret": "the-app-secret",
        "sign_secret": "the-sign-secret", "sign_method": "HMAC_SHA256",
        "scopes": ["merchant_order", "merchant_refund"]}


def test_link_form_redirects_to_the_platform(admin, database):
    token = csrf(admin, LINK)
    resp = admin.post(LINK, data={**FORM, "csrf_token": token})
    assert resp.status_code == 303
    target = urlsplit(resp.headers["Location"])
    query = parse_qs(target.query)
    assert target.netloc == "open.kwaixiaodian.com" and target.path == "/oauth/authorize"
    assert query["scope"] == ["merchant_order,merchant_refund"] and query["app_id"] == ["ks123"]
    with database.session(readonly=True) as s:
        pending = s.scalar(select(Account))
    assert pending.status == "linking" and pending.config["app_secret"] == "the-app-secret"


def test_link_form_errors_are_shown_and_secrets_not_echoed(admin, database):
    token = csrf(admin, LINK)
    data = {**FORM, "app_secret": "", "message_key": "not-base64!", "csrf_token": token}
    resp = admin.post(LINK, data=data)
    page = html(resp)
    assert resp.status_code == 422
    assert 'id="e-app_secret"' in page and 'id="e-message_key"' in page
    assert "the-sign-secret" not in page and "not-base64!" not in page
    assert 'value="ks123"' in page  # what is not secret is kept
    with database.session(readonly=True) as s:
        assert s.scalar(select(Account)) is None


def test_link_form_without_csrf_changes_nothing(admin, database):
    resp = admin.post(LINK, data=FORM)
    assert resp.status_code == 400
    with database.session(readonly=True) as s:
        assert s.scalar(select(Account)) is None


def test_operators_see_shops_but_cannot_link(client, merchant):
    sign_in(client, merchant["logins"]["operator"])
    assert client.get("/console/shops").status_code == 200
    assert "Link a Kuaishou shop" not in html(client.get("/console/shops"))
    resp = client.get("/console/shops/link")
    assert resp.status_code == 403 and "not for your role (operator)" in html(resp)


def test_link_through_the_console_against_the_sandbox(client, sandbox, world, database):
    with database.session() as s:
        login = f.user(s, world["merchant_id"])
    assert sign_in(client, login).status_code == 303
    token = csrf(client, LINK)
    creds = world["credentials"]
    data = {"name": "Sandbox shop", "csrf_token": token,
            "scopes": ["merchant_order", "merchant_refund", "merchant_logistics"], **creds}
    resp = client.post(LINK, data=data)
    assert resp.status_code == 303
    landing = callback(client, sandbox.approve(resp.headers["Location"]))
    target = re.search(r'url=(/console/shops/\d+\?linked=new)"', html(landing)).group(1)
    page = html(client.get(target))
    assert "Sandbox shop" in page and 'id="shop-status">active<' in page
    assert 'id="auth-status">ok<' in page and "The shop is linked" in page
    assert world["shop"]["openId"] in page
