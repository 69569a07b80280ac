"""People who sign in to the console: accounts, passwords, TOTP and sessions.

    user, link_token = create(session, merchant_id, login, role, actor, name=, supplier_id=,
                              password=None)       # no password: invited (link_token)
    link_token = reinvite(session, user, actor)
    user = accept_invite(session, link_token, password)
    user = sign_in(session, login, password)        # SignInRefused; TotpNeeded
    secret = start_session(session, user)           # the console cookie holds it
    principal = session_principal(session, secret)  # or None: ended, expired, disabled
    end_session(session, secret); set_password(...); disable(...); enable(...)
    secret, uri = totp_begin(session, user); totp_confirm(session, user, code)
    check_code(session, user, code)                 # after TotpNeeded

A user has one role (``ROLES``); a supplier user is bound to one of the merchant's
suppliers and signs in only while it is active. Passwords are hashed with Argon2id
(argon2-cffi's defaults, RFC 9106's second recommendation), rehashed on sign-in when the
parameters change; ``MIN_PASSWORD`` characters at least. After ``MAX_FAILURES`` wrong
passwords in a row the login is locked for ``LOCKED_FOR``; the refusal never tells an
unknown login from a wrong password. Invitations and sessions are 256-bit secrets of
which only the SHA-256 is stored. A session ends on sign-out, when its user is disabled or
changes its password, and after ``SESSION_HOURS``. TOTP (RFC 6238, pyotp) is optional per
user; a code is accepted once. Every change is audited.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.core.db import utcnow
from hub.core.errors import ApiError, Conflict
from hub.models import Supplier, User, UserSession, audit
from hub.models.tenancy import ROLES
from hub.parties.auth import Principal

LOGIN = re.compile(r"^[a-z0-9][a-z0-9._@-]{2,63}$")
MIN_PASSWORD, MAX_PASSWORD = 10, 128
MAX_FAILURES, LOCKED_FOR = 5, timedelta(minutes=15)
INVITE_VALID = timedelta(days=3)
SESSION_HOURS = 12
ISSUER = "Dropship Hub"
_hasher = PasswordHasher()
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))  # verified for an unknown login: same time


class SignInRefused(ApiError):
    status, code = 401, "sign_in_refused"


class TotpNeeded(Exception):
    """The password was right; the user's authenticator code is asked for next."""

    def __init__(self, user: User):
        super().__init__("a verification code is needed")
        self.user = user


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# -- accounts ------------------------------------------------------------------------------
def create(session: Session, merchant_id: int, login: str, role: str, actor: str,
           name: str = "", supplier_id: int | None = None, password: str | None = None
           ) -> tuple[User, str | None]:
    """A new user: active with ``password``, else invited (returns the invitation)."""
    login = (login or "").strip().lower()
    errors = {}
    if not LOGIN.match(login):
        errors["login"] = ["3 to 64 characters: lower-case letters, digits, . _ @ -"]
    if role not in ROLES:
        errors["role"] = [f"one of {', '.join(ROLES)}"]
    elif role == "supplier":
        supplier = session.get(Supplier, supplier_id) if supplier_id else None
        if supplier is None or supplier.merchant_id != merchant_id:
            errors["supplier_id"] = ["a supplier user names one of the merchant's suppliers"]
    elif supplier_id is not None:
        errors["supplier_id"] = ["only a supplier user is bound to a supplier"]
    if not isinstance(name, str) or len(name) > 128:
        errors["name"] = ["at most 128 characters"]
    if password is not None:
        errors.update(password_errors(password, login))
    if errors:
        raise ApiError("the user is invalid", code="validation_error", status=422,
                       details=errors)
    if session.scalar(select(User.id).where(User.login == login)) is not None:
        raise Conflict(f"the login {login} is taken", details={"login": login})
    user = User(merchant_id=merchant_id, login=login, name=name.strip(), role=role,
                supplier_id=supplier_id, status="invited", created_by=actor[:128])
    session.add(user)
    link = None
    if password is None:
        link = _invite(user)
    else:
        user.status, user.password_hash = "active", _hasher.hash(password)
    audit.record(session, merchant_id, actor, "user.created", "user", user.id,
                 {"login": login, "role": role, "supplier_id": supplier_id,
                  "status": user.status})
    return user, link


def password_errors(password, login: str = "") -> dict:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        return {"password": [f"{MIN_PASSWORD} to {MAX_PASSWORD} characters"]}
    if password.strip().lower() == login or len(set(password)) < 4:
        return {"password": ["too easy to guess: not the login, not one character repeated"]}
    return {}


def _invite(user: User) -> str:
    token = secrets.token_urlsafe(32)
    user.invite_hash, user.invite_expires_at = digest(token), utcnow() + INVITE_VALID
    return token


def reinvite(session: Session, user: User, actor: str) -> str:
    if user.status != "invited":
        raise Conflict(f"{user.login} is {user.status}: only an invited user is invited again",
                       details={"status": user.status})
    audit.record(session, user.merchant_id, actor, "user.invited", "user", user.id, {})
    return _invite(user)


def invited(session: Session, token: str) -> User | None:
    """The invited user of a valid invitation, or None."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    user = session.scalar(select(User).where(User.invite_hash == digest(token)))
    if user is None or user.status != "invited" or user.invite_expires_at <= utcnow():
        return None
    return user


def accept_invite(session: Session, token: str, password: str) -> User:
    user = invited(session, token)
    if user is None:
        raise Conflict("this invitation is not valid (used, expired or withdrawn): ask your "
                       "administrator for a new one")
    errors = password_errors(password, user.login)
    if errors:
        raise ApiError("choose another password", code="validation_error", status=422,
                       details=errors)
    user.status, user.password_hash = "active", _hasher.hash(password)
    user.invite_hash = user.invite_expires_at = None
    audit.record(session, user.merchant_id, f"user:{user.id}:{user.role}", "user.activated",
                 "user", user.id, {})
    return user


def set_password(session: Session, user: User, password: str, actor: str) -> None:
    """A new password (a user changing its own gives the current one first:
    ``confirm_password``); every session of the user ends."""
    errors = password_errors(password, user.login)
    if errors:
        raise ApiError("choose another password", code="validation_error", status=422,
                       details=errors)
    user.password_hash = _hasher.hash(password)
    if user.status == "invited":
        user.status, user.invite_hash, user.invite_expires_at = "active", None, None
    user.failed_sign_ins, user.locked_until = 0, None
    end_all(session, user)
    audit.record(session, user.merchant_id, actor, "user.password_set", "user", user.id, {})


def disable(session: Session, user: User, actor: str) -> None:
    if user.status == "disabled":
        return
    before, user.status, user.invite_hash = user.status, "disabled", None
    end_all(session, user)
    audit.record(session, user.merchant_id, actor, "user.disabled", "user", user.id,
                 {"status": [before, "disabled"]})


def enable(session: Session, user: User, actor: str) -> None:
    if user.status != "disabled":
        return
    user.status = "active" if user.password_hash else "invited"
    user.failed_sign_ins, user.locked_until = 0, None
    audit.record(session, user.merchant_id, actor, "user.enabled", "user", user.id,
                 {"status": ["disabled", user.status]})


def set_locale(session: Session, user: User, locale: str | None) -> None:
    if locale not in (None, "zh", "en"):
        raise ApiError("a language is zh or en", code="validation_error", status=422,
                       details={"locale": ["zh", "en"]})
    user.locale = locale


# -- signing in ----------------------------------------------------------------------------
def sign_in(session: Session, login: str, password: str) -> User:
    """The user, or ``SignInRefused`` (the same words for an unknown login and a wrong
    password); ``TotpNeeded`` when the password was right and a code is asked for next."""
    login = (login or "").strip().lower()[:64]
    password = password if isinstance(password, str) else ""
    user = session.scalar(select(User).where(User.login == login)) if login else None
    now = utcnow()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        minutes = int((user.locked_until - now).total_seconds() // 60) + 1
        raise SignInRefused(f"too many wrong passwords: try again in {minutes} minute(s)",
                            status=429, details={"retry_after_s": minutes * 60})
    if user is None or len(password) > MAX_PASSWORD or not password_ok(user, password):
        if user is not None:
            _failed(session, user, now)
        raise SignInRefused("the login or the password is wrong")
    if not _may_sign_in(session, user):
        raise SignInRefused("this account cannot sign in: ask your administrator",
                            status=403)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    if (user.totp or {}).get("confirmed"):  # the failures count on until the code is right
        raise TotpNeeded(user)
    return user


def password_ok(user: User | None, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash if user and user.password_hash else _DUMMY,
                              password) and bool(user and user.password_hash)
    except (VerificationError, InvalidHashError):
        return False


def confirm_password(session: Session, user: User, password) -> bool:
    """The current password, asked again before a change to the account: a wrong one
    counts as at sign-in (five lock the login), and a locked login is refused; the caller
    commits the count even as it refuses."""
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        return False
    if isinstance(password, str) and len(password) <= MAX_PASSWORD \
            and password_ok(user, password):
        return True
    _failed(session, user, now)
    return False


def _failed(session: Session, user: User, now) -> None:
    """Counted; the caller commits it even as it refuses the sign-in."""
    user.failed_sign_ins += 1
    if user.failed_sign_ins >= MAX_FAILURES:
        user.locked_until, user.failed_sign_ins = now + LOCKED_FOR, 0
        audit.record(session, user.merchant_id, "hub", "user.locked", "user", user.id,
                     {"until": user.locked_until.isoformat()})


def _may_sign_in(session: Session, user: User) -> bool:
    if user.status != "active":
        return False
    if user.supplier_id is not None:
        supplier = session.get(Supplier, user.supplier_id)
        return supplier is not None and supplier.active
    return True


def start_session(session: Session, user: User) -> str:
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(UserSession(merchant_id=user.merchant_id, user_id=user.id,
                            secret_hash=digest(secret), created_at=now,
                            expires_at=now + timedelta(hours=SESSION_HOURS)))
    user.last_sign_in_at, user.failed_sign_ins, user.locked_until = now, 0, None
    audit.record(session, user.merchant_id, actor_of(user), "user.signed_in", "user",
                 user.id, {})
    return secret


def session_principal(session: Session, secret) -> Principal | None:
    """The principal of a live session, or None."""
    if not isinstance(secret, str) or not 20 <= len(secret) <= 100:
        return None
    row = session.scalar(select(UserSession).where(UserSession.secret_hash == digest(secret)))
    if row is None or row.ended_at is not None or row.expires_at <= utcnow():
        return None
    user = session.get(User, row.user_id)
    if user is None or not _may_sign_in(session, user):
        return None
    return Principal(merchant_id=user.merchant_id, role=user.role, user_id=user.id,
                     supplier_id=user.supplier_id)


def end_session(session: Session, secret) -> None:
    if isinstance(secret, str):
        session.execute(update(UserSession).where(
            UserSession.secret_hash == digest(secret), UserSession.ended_at.is_(None))
            .values(ended_at=utcnow()))


def end_all(session: Session, user: User) -> None:
    session.execute(update(UserSession).where(
        UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .values(ended_at=utcnow()))


def actor_of(user: User) -> str:
    return f"user:{user.id}:{user.role}"


# -- TOTP ----------------------------------------------------------------------------------
def totp_begin(session: Session, user: User) -> tuple[str, str]:
    """A new secret, not in force until a code from it is confirmed; the otpauth URI. Not
    while one is in force: turning it off takes the password (``totp_disable``)."""
    if (user.totp or {}).get("confirmed"):
        raise Conflict("the authenticator is on: turn it off first, with your password")
    secret = pyotp.random_base32()
    user.totp = {"secret": secret, "confirmed": False, "last": None}
    return secret, pyotp.TOTP(secret).provisioning_uri(name=user.login, issuer_name=ISSUER)


def totp_confirm(session: Session, user: User, code: str) -> None:
    if not (user.totp and totp_ok(user, code)):
        raise ApiError("the code does not match: enter the 6 digits your app shows now",
                       code="validation_error", status=422, details={"code": ["wrong"]})
    user.totp = {**user.totp, "confirmed": True}
    end_all(session, user)  # the other sessions signed in without it
    audit.record(session, user.merchant_id, actor_of(user), "user.totp_enabled", "user",
                 user.id, {})


def totp_disable(session: Session, user: User, actor: str) -> None:
    user.totp = None
    audit.record(session, user.merchant_id, actor, "user.totp_disabled", "user", user.id, {})


def check_code(session: Session, user: User, code) -> bool:
    """The second step of signing in: a wrong code counts as a wrong password."""
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        return False
    if totp_ok(user, code):
        return True
    _failed(session, user, now)
    return False


def totp_ok(user: User, code) -> bool:
    """The code of now (or the step before or after), each accepted once."""
    if not (user.totp and isinstance(code, str)):
        return False
    code = code.strip().replace(" ", "")
    totp, now = pyotp.TOTP(user.totp["secret"]), utcnow()
    for step in (0, -1, 1):
        at = now + timedelta(seconds=30 * step)
        counter = totp.timecode(at)
        if code.isdigit() and len(code) == 6 and totp.verify(code, for_time=at, valid_window=0) \
                and counter > (user.totp.get("last") or 0):
            user.totp = {**user.totp, "last": counter}
            return True
    return False
