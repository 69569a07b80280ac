"""Console users (issue 15): accounts, invitations, Argon2id passwords, lock-out, TOTP and
sessions that end (``hub.parties.users``)."""
from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from hub.core.db import utcnow
from hub.core.errors import ApiError, Conflict
from hub.models import AuditEntry, Supplier, User, UserSession
from hub.parties import users
from tests import factories as f

PASSWORD = "correct horse battery"


@pytest.fixture
def world(app, database):  # app: the secret key (a TOTP secret is encrypted at rest)
    with database.session() as s:
        m = f.merchant(s)
        sup = f.supplier(s, m.id)
        admin, _ = users.create(s, m.id, "Admin@Shop", "merchant_admin", "cli",
                                password=PASSWORD)
        return {"merchant": m.id, "supplier": sup.id, "admin": admin.id}


def signed_in(database, login="admin@shop", password=PASSWORD) -> str:
    with database.session() as s:
        return users.start_session(s, users.sign_in(s, login, password))


def test_a_password_is_stored_as_argon2id_and_the_login_in_lower_case(database, world):
    with database.session(readonly=True) as s:
        user = s.get(User, world["admin"])
        assert user.login == "admin@shop" and user.status == "active"
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
        assert s.scalar(select(AuditEntry.action).where(AuditEntry.entity_id == user.id)) \
            == "user.created"


def test_a_user_is_checked_before_it_is_created(database, world):
    with database.session() as s:
        m = world["merchant"]
        with pytest.raises(ApiError) as bad:
            users.create(s, m, "x", "boss", "cli", password="short")
        assert set(bad.value.details) == {"login", "role", "password"}
        with pytest.raises(ApiError, match="invalid") as bad:
            users.create(s, m, "factory", "supplier", "cli")  # no supplier named
        assert "supplier_id" in bad.value.details
        with pytest.raises(ApiError):
            users.create(s, m, "ops", "operator", "cli", supplier_id=world["supplier"])
        with pytest.raises(ApiError) as bad:
            users.create(s, m, "ops", "operator", "cli", password="aaaaaaaaaaaa")
        assert bad.value.details["password"][0].startswith("too easy")
        with pytest.raises(Conflict, match="taken"):
            users.create(s, m, "ADMIN@shop", "operator", "cli", password=PASSWORD)
        other = f.merchant(s)
        with pytest.raises(ApiError):  # another merchant's supplier
            users.create(s, other.id, "factory", "supplier", "cli",
                         supplier_id=world["supplier"])


def test_an_invitation_is_accepted_once_and_expires(database, world):
    with database.session() as s:
        user, link = users.create(s, world["merchant"], "factory", "supplier", "admin",
                                  supplier_id=world["supplier"])
        assert user.status == "invited" and user.password_hash is None
        assert user.invite_hash == users.digest(link) and link not in user.invite_hash
        with pytest.raises(users.SignInRefused):
            users.sign_in(s, "factory", "")
        with pytest.raises(ApiError, match="another password"):
            users.accept_invite(s, link, "factory")
        users.accept_invite(s, link, "a good long password")
        assert user.status == "active"
        with pytest.raises(Conflict, match="not valid"):
            users.accept_invite(s, link, "a good long password")
        late, old = users.create(s, world["merchant"], "late", "operator", "admin")
        late.invite_expires_at = utcnow() - timedelta(seconds=1)
        assert users.invited(s, old) is None
        fresh = users.reinvite(s, late, "admin")
        assert users.invited(s, fresh) is late and users.invited(s, old) is None
    assert signed_in(database, "factory", "a good long password")


def wrong_sign_in(database, login="admin@shop", password="wrong password!"
                  ) -> users.SignInRefused:
    """A refused sign-in, committed as the console commits it (the count of failures)."""
    with database.session() as s:
        try:
            users.sign_in(s, login, password)
        except users.SignInRefused as refused:
            return refused
    raise AssertionError("signed in")


def test_wrong_passwords_lock_the_login_and_an_unknown_login_reads_the_same(database, world):
    unknown = wrong_sign_in(database, "nobody", PASSWORD)
    for _ in range(users.MAX_FAILURES - 1):
        refused = wrong_sign_in(database)
    assert unknown.message == refused.message and refused.status == 401
    assert signed_in(database)  # the count starts again after a success
    for _ in range(users.MAX_FAILURES):
        wrong_sign_in(database)
    locked = wrong_sign_in(database, password=PASSWORD)  # right, but locked
    assert locked.status == 429 and "try again" in locked.message
    with database.session() as s:
        s.get(User, world["admin"]).locked_until = utcnow() - timedelta(seconds=1)
    assert signed_in(database)


def test_a_session_ends_on_sign_out_disable_password_change_and_expiry(database, world):
    first, second = signed_in(database), signed_in(database)
    with database.session() as s:
        who = users.session_principal(s, first)
        assert (who.merchant_id, who.role, who.user_id) == (world["merchant"], "merchant_admin",
                                                            world["admin"])
        assert who.actor == f"user:{world['admin']}:merchant_admin"
        users.end_session(s, first)
    with database.session() as s:
        assert users.session_principal(s, first) is None
        assert users.session_principal(s, second) is not None  # the other one goes on
        users.set_password(s, s.get(User, world["admin"]), "another good one", "self")
    with database.session() as s:
        assert users.session_principal(s, second) is None
    third = signed_in(database, password="another good one")
    with database.session() as s:
        users.disable(s, s.get(User, world["admin"]), "admin")
    with database.session() as s:
        assert users.session_principal(s, third) is None
        with pytest.raises(users.SignInRefused, match="cannot sign in"):
            users.sign_in(s, "admin@shop", "another good one")
        users.enable(s, s.get(User, world["admin"]), "admin")
    fourth = signed_in(database, password="another good one")
    with database.session() as s:
        row = s.scalar(select(UserSession).where(UserSession.secret_hash == users.digest(fourth)))
        row.expires_at = utcnow() - timedelta(seconds=1)
    with database.session() as s:
        assert users.session_principal(s, fourth) is None
        assert users.session_principal(s, "not a session at all, but long enough") is None


def test_a_supplier_user_signs_in_only_while_its_supplier_is_active(database, world):
    with database.session() as s:
        users.create(s, world["merchant"], "factory", "supplier", "admin",
                     supplier_id=world["supplier"], password=PASSWORD)
    secret = signed_in(database, "factory")
    with database.session() as s:
        assert users.session_principal(s, secret).supplier_id == world["supplier"]
        s.get(Supplier, world["supplier"]).active = False
    with database.session() as s:
        assert users.session_principal(s, secret) is None


def test_totp_is_asked_for_once_confirmed_and_a_code_works_once(database, world):
    with database.session() as s:
        user = s.get(User, world["admin"])
        secret, uri = users.totp_begin(s, user)
        assert uri.startswith("otpauth://totp/") and "admin%40shop" in uri
        assert users.sign_in(s, "admin@shop", PASSWORD) is user  # not confirmed: not asked
        with pytest.raises(ApiError, match="does not match"):
            users.totp_confirm(s, user, "000000" if pyotp.TOTP(secret).now() != "000000"
                               else "111111")
        users.totp_confirm(s, user, pyotp.TOTP(secret).now())
    with database.session() as s:
        with pytest.raises(users.TotpNeeded) as asked:
            users.sign_in(s, "admin@shop", PASSWORD)
        user = asked.value.user
        assert user.totp["secret"] == secret  # stored encrypted (hub.core.db.EncryptedJSON)
        code = pyotp.TOTP(secret).now()
        assert not users.totp_ok(user, code)  # the code that confirmed it is spent
        following = pyotp.TOTP(secret).at(utcnow() + timedelta(seconds=30))
        assert users.totp_ok(user, following) and not users.totp_ok(user, following)
        with pytest.raises(Conflict, match="turn it off first"):  # not around the password
            users.totp_begin(s, user)


def test_wrong_codes_lock_the_login_though_the_password_is_given_again(database, world):
    with database.session() as s:
        user = s.get(User, world["admin"])
        secret, _ = users.totp_begin(s, user)
        users.totp_confirm(s, user, pyotp.TOTP(secret).now())
    wrong = "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    for _ in range(users.MAX_FAILURES):
        with database.session() as s:
            with pytest.raises(users.TotpNeeded) as asked:  # the password again, each time
                users.sign_in(s, "admin@shop", PASSWORD)
            assert not users.check_code(s, asked.value.user, wrong)
    refused = wrong_sign_in(database, password=PASSWORD)
    assert refused.status == 429
