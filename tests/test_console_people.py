"""People in the console (issue 15): an administrator invites users, the invitation sets a
password, everyone keeps their own account (password, language, TOTP), and ``hub users``
does the same from a shell."""
from __future__ import annotations

import json
import re

import pyotp
import pytest
from sqlalchemy import func, select

from hub.models import AuditEntry, User
from hub.parties import users
from tests import factories as f
from tests.console_helpers import CSRF, csrf, html, sign_in

INVITE = re.compile(r'id="invite-link">https?://[^<]*(/console/invite/[^<]+)<')


@pytest.fixture
def shop(session):
    m = f.merchant(session, "Tea House")
    sup = f.supplier(session, m.id, "FACTORY-1")
    admin = f.user(session, m.id)
    session.commit()
    return {"merchant": m.id, "supplier": sup.id, "admin": admin}


@pytest.fixture
def admin(app, shop):
    client = app.test_client()
    assert sign_in(client, shop["admin"]).status_code == 303
    return client


def post(client, path, page, **data):
    return client.post(path, data={**data, "csrf_token": csrf(client, page)})


def invite(admin, shop, login="factory.li", role="supplier", **extra) -> str:
    resp = post(admin, "/console/users", "/console/users", login=login, name="Li Wei",
                role=role, supplier_id=str(shop["supplier"]) if role == "supplier" else "",
                **extra)
    assert resp.status_code == 200, html(resp)
    return INVITE.search(html(resp)).group(1)


def test_an_invited_supplier_sets_its_password_and_lands_signed_in(app, admin, shop,
                                                                   database):
    path = invite(admin, shop)
    page = html(admin.get("/console/users"))
    assert 'data-login="factory.li"' in page and "FACTORY-1" in page and "invited" in page
    assert "/console/invite/" not in page  # the link is shown once
    person = app.test_client()
    person.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    welcome = html(person.get(path))
    assert "Welcome, Li Wei" in welcome and "factory.li" in welcome
    token = CSRF.search(welcome).group(1)
    differ = person.post(path, data={"csrf_token": token, "password": "a long password 1",
                                     "password_again": "a long password 2"})
    assert differ.status_code == 422 and "differ" in html(differ)
    short = person.post(path, data={"csrf_token": token, "password": "short",
                                    "password_again": "short"})
    assert short.status_code == 422 and "At least 10 characters" in html(short)
    done = person.post(path, data={"csrf_token": token, "password": "a long password 1",
                                   "password_again": "a long password 1"})
    assert done.status_code == 303 and done.headers["Location"] == "/console/supplier"
    me = html(person.get("/console/account"))
    assert 'id="my-login">factory.li<' in me and "FACTORY-1" in me
    assert person.get(path).status_code == 404  # used
    with database.session(readonly=True) as s:
        user = s.scalar(select(User).where(User.login == "factory.li"))
        assert (user.status, user.role, user.supplier_id) == ("active", "supplier",
                                                              shop["supplier"])


def test_an_invitation_is_checked_and_only_for_the_admin(app, admin, shop):
    bad = post(admin, "/console/users", "/console/users", login="X", role="boss",
               name="", supplier_id="")
    page = html(bad)
    assert bad.status_code == 422 and 'id="e-login"' in page and 'id="e-role"' in page
    invite(admin, shop, "ops.wang", role="operator")
    taken = post(admin, "/console/users", "/console/users", login="ops.wang",
                 role="operator", name="", supplier_id="")
    assert taken.status_code == 409 and "This login is taken." in html(taken)
    operator = app.test_client()
    with app.extensions["hub"].db.session() as s:
        login = f.user(s, shop["merchant"], "operator")
    sign_in(operator, login)
    assert operator.get("/console/users").status_code == 403


def test_disabling_a_user_ends_its_sessions_and_another_merchant_cannot(app, admin, shop,
                                                                       database, session):
    with database.session() as s:
        login = f.user(s, shop["merchant"], "finance")
        user_id = s.scalar(select(User.id).where(User.login == login))
    clerk = app.test_client()
    sign_in(clerk, login)
    assert clerk.get("/console/account").status_code == 200
    resp = post(admin, f"/console/users/{user_id}/disable", "/console/users")
    assert resp.status_code == 200 and "disabled" in html(resp)
    assert clerk.get("/console/account").status_code == 302
    assert sign_in(clerk, login).status_code == 403
    post(admin, f"/console/users/{user_id}/enable", "/console/users")
    assert sign_in(clerk, login).status_code == 303
    other = f.merchant(session, "Other")
    other_admin = f.user(session, other.id)
    session.commit()
    stranger = app.test_client()
    sign_in(stranger, other_admin)
    assert post(stranger, f"/console/users/{user_id}/disable",
                "/console/users").status_code == 404
    with database.session(readonly=True) as s:
        assert s.get(User, user_id).status == "active"


def test_changing_the_password_keeps_this_session_and_ends_the_others(app, admin, shop):
    elsewhere = app.test_client()
    sign_in(elsewhere, shop["admin"])
    wrong = post(admin, "/console/account/password", "/console/account",
                 current_password="not it at all", password="a brand new one",
                 password_again="a brand new one")
    assert wrong.status_code == 422 and "current password is wrong" in html(wrong)
    done = post(admin, "/console/account/password", "/console/account",
                current_password=f.PASSWORD, password="a brand new one",
                password_again="a brand new one")
    assert done.status_code == 303
    assert admin.get("/console/account").status_code == 200
    assert elsewhere.get("/console/account").status_code == 302
    assert sign_in(elsewhere, shop["admin"], "a brand new one").status_code == 303


def test_totp_set_up_from_the_account_page_is_asked_for_at_sign_in(app, admin, shop,
                                                                   database):
    started = html(post(admin, "/console/account/totp", "/console/account"))
    assert "<svg" in started and "<title>" in started  # the QR code, inline
    secret = re.search(r"key\)?: ([A-Z2-7]{32})", started).group(1)
    wrong = post(admin, "/console/account/totp/confirm", "/console/account", code="12345")
    assert wrong.status_code == 422
    done = post(admin, "/console/account/totp/confirm", "/console/account",
                code=pyotp.TOTP(secret).now())
    assert done.status_code == 303 and "On:" in html(admin.get("/console/account"))
    person = app.test_client()
    asked = sign_in(person, shop["admin"])
    assert asked.status_code == 200 and 'id="code"' in html(asked)
    assert person.get("/console/account").status_code == 302  # half signed in is not in
    token = CSRF.search(html(asked)).group(1)
    refused = person.post("/console/sign-in/code", data={"csrf_token": token, "code": "000000"
                          if pyotp.TOTP(secret).now() != "000000" else "111111"})
    assert refused.status_code == 401
    with database.session() as s:  # the code of the next step: the current one is spent
        user = s.scalar(select(User).where(User.login == shop["admin"]))
        code = pyotp.TOTP(secret).at(users.utcnow().timestamp() + 30)
    ok = person.post("/console/sign-in/code", data={"csrf_token": token, "code": code})
    assert ok.status_code == 303 and person.get("/console/account").status_code == 200
    with database.session(readonly=True) as s:
        actions = set(s.scalars(select(AuditEntry.action).where(AuditEntry.entity == "user",
                                                                AuditEntry.entity_id == user.id)))
    assert {"user.totp_enabled", "user.signed_in"} <= actions


def test_the_language_is_the_browsers_the_users_choice_and_kept(app, shop, database):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-US,en;q=0.9"
    assert "Sign in to Dropship Hub" in html(client.get("/console/sign-in"))
    chinese = app.test_client()
    chinese.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN,zh;q=0.9"
    page = html(chinese.get("/console/sign-in"))
    assert '<html lang="zh-CN">' in page and "登录" in page
    nothing = app.test_client()
    assert '<html lang="zh-CN">' in html(nothing.get("/console/sign-in"))  # the default
    sign_in(client, shop["admin"])
    resp = client.post("/console/language", data={
        "lang": "zh", "next": "/console/account", "csrf_token": csrf(client, "/console/account")})
    assert resp.status_code == 303 and resp.headers["Location"] == "/console/account"
    assert '<html lang="zh-CN">' in html(client.get("/console/account"))  # over the browser
    with database.session(readonly=True) as s:
        assert s.scalar(select(User.locale).where(User.login == shop["admin"])) == "zh"
    away = client.post("/console/language", data={
        "lang": "en", "next": "https://evil.example/", "csrf_token": csrf(client,
                                                                          "/console/account")})
    assert away.headers["Location"] == "/console/"


def test_times_are_shown_in_the_merchants_zone(app, admin, shop, database):
    with database.session() as s:
        user = s.scalar(select(User).where(User.login == shop["admin"]))
        user.last_sign_in_at = users.utcnow().replace(year=2026, month=11, day=2, hour=9,
                                                      minute=30, second=0, microsecond=0)
    page = html(admin.get("/console/account"))
    assert "2026-11-02 17:30" in page and "Asia/Shanghai" in page  # UTC+8
    with database.session() as s:
        s.get(f.Merchant, shop["merchant"]).time_zone = "Europe/London"
    assert "2026-11-02 09:30" in html(admin.get("/console/account"))


# -- hub users -------------------------------------------------------------------------------
@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def run(*args, stdin=None, ok=True):
        result = runner.invoke(args=["users", *map(str, args), "--json"], input=stdin)
        assert (result.exit_code == 0) is ok, result.output
        assert "Traceback" not in result.output
        return json.loads(result.stdout.strip().splitlines()[-1])
    return run


def test_hub_users_creates_invites_lists_and_disables(cli, shop, app):
    made = cli("create", "--merchant", shop["merchant"], "Boss.Zhang", "--role",
               "merchant_admin", "--name", "张总", "--password-stdin",
               stdin="a strong password\n")
    assert (made["login"], made["status"]) == ("boss.zhang", "active")
    sent = cli("invite", "--merchant", shop["merchant"], "clerk", "--role", "finance")
    assert sent["status"] == "invited" and "/console/invite/" in sent["invitation"]
    refused = cli("invite", "--merchant", shop["merchant"], "factory", "--role", "supplier",
                  ok=False)
    assert "supplier_id" in refused["details"]
    assert {r["login"] for r in cli("list", "--merchant", shop["merchant"])} == {
        shop["admin"], "boss.zhang", "clerk"}
    client = app.test_client()
    assert sign_in(client, "boss.zhang", "a strong password").status_code == 303
    assert cli("disable", "boss.zhang")["status"] == "disabled"
    assert client.get("/console/account").status_code == 302
    assert cli("disable", "nobody", ok=False)["error"] == "there is no user nobody"
    assert cli("enable", "boss.zhang")["status"] == "active"
    cli("password", "boss.zhang", "--password-stdin", stdin="another strong one\n")
    assert sign_in(client, "boss.zhang", "another strong one").status_code == 303


def with_authenticator(database, login) -> None:
    with database.session() as s:
        user = s.scalar(select(User).where(User.login == login))
        secret, _ = users.totp_begin(s, user)
        users.totp_confirm(s, user, pyotp.TOTP(secret).now())


def test_an_admin_turns_off_the_authenticator_of_a_user_who_lost_the_phone(
        app, admin, shop, database, cli):
    with database.session() as s:
        clerk, other = f.user(s, shop["merchant"], "finance"), f.user(s, shop["merchant"])
    for login in (clerk, other):
        with_authenticator(database, login)
    person = app.test_client()
    assert sign_in(person, clerk).status_code == 200  # the code is asked for
    page = html(admin.get("/console/users"))
    assert f'aria-label="Turn off its authenticator {clerk}"' in page
    with database.session(readonly=True) as s:
        clerk_id = s.scalar(select(User.id).where(User.login == clerk))
    assert post(admin, f"/console/users/{clerk_id}/totp_off", "/console/users").status_code \
        == 200
    assert sign_in(app.test_client(), clerk).status_code == 303  # the password alone now
    assert cli("totp-off", other)["totp"] is False
    with database.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "user.totp_disabled")) == 2


def test_wrong_current_passwords_on_the_account_page_lock_the_login(app, admin, shop):
    for n in range(users.MAX_FAILURES):
        wrong = post(admin, "/console/account/password", "/console/account",
                     current_password=f"guess {n}",
                     password="a brand new one", password_again="a brand new one")
        assert wrong.status_code == 422 and "current password is wrong" in html(wrong)
    # the right one is refused now, and so is signing in: the login is locked
    right = post(admin, "/console/account/password", "/console/account",
                 current_password=f.PASSWORD, password="a brand new one",
                 password_again="a brand new one")
    assert right.status_code == 422
    assert sign_in(app.test_client(), shop["admin"]).status_code == 429


def test_a_form_sent_after_the_session_ended_returns_to_its_page_once_signed_in(
        admin, shop, database):
    token = csrf(admin, "/console/users")
    with database.session() as s:
        users.end_all(s, s.scalar(select(User).where(User.login == shop["admin"])))
    sent = admin.post("/console/users", data={"csrf_token": token, "login": "x"},
                      headers={"Referer": "http://localhost/console/users"})
    assert sent.status_code == 302
    assert sent.headers["Location"].endswith("/console/sign-in?next=/console/users")
    away = admin.post("/console/users", data={"csrf_token": token},
                      headers={"Referer": "https://evil.example/console/users"})
    assert away.headers["Location"].endswith("/console/sign-in")  # not elsewhere
