"""API tokens and the principal a request acts as.

A token is ``hub_<prefix>_<secret>``; only its SHA-256 is stored (tokens are 256-bit
random, so a plain hash is enough and keeps lookup O(1)). Roles: ``merchant_admin``,
``supplier`` (bound to one supplier), ``finance``, ``operator``. Every token belongs to one
merchant, and everything a request touches is scoped to ``Principal.merchant_id`` (and,
for supplier tokens, to ``Principal.supplier_id``).

A token works until it is revoked or its optional ``expires_at``; a supplier token only
while its supplier is active. ``authenticate`` records when a token was last used (at
most once per ``LAST_USED_EVERY``, in a short transaction of its own). Tokens are for
machines; people sign in to the console as users (``hub.parties.users``).
"""
from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hub.core.db import utcnow
from hub.models import ApiToken, Merchant, Supplier
from hub.models.tenancy import ROLES

ALL_ROLES = frozenset(ROLES)
LAST_USED_EVERY = timedelta(minutes=5)
log = logging.getLogger(__name__)


class TokenError(ValueError):
    pass


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: an API token's, or a console user's (``hub.parties.users``)."""
    merchant_id: int
    role: str
    token_id: int | None = None
    supplier_id: int | None = None
    user_id: int | None = None

    @property
    def actor(self) -> str:
        if self.user_id is not None:
            return f"user:{self.user_id}:{self.role}"
        return f"token:{self.token_id}:{self.role}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, merchant_id: int, role: str, supplier_id: int | None = None,
                name: str = "", expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the plaintext, which is shown once only."""
    if role not in ALL_ROLES:
        raise TokenError(f"role must be one of {', '.join(sorted(ALL_ROLES))}")
    if session.get(Merchant, merchant_id) is None:
        raise TokenError(f"merchant {merchant_id} does not exist")
    if role == "supplier":
        supplier = session.get(Supplier, supplier_id) if supplier_id else None
        if supplier is None or supplier.merchant_id != merchant_id:
            raise TokenError("a supplier token needs --supplier naming one of this merchant's "
                             "suppliers")
    elif supplier_id is not None:
        raise TokenError("only supplier tokens are bound to a supplier")
    prefix = secrets.token_hex(4)
    token = f"hub_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken(merchant_id=merchant_id, role=role, supplier_id=supplier_id, name=name,
                   prefix=prefix, token_hash=hash_token(token), expires_at=expires_at)
    session.add(row)
    session.flush()
    return row, token


def authenticate(session: Session, token: str) -> Principal | None:
    """The token's principal, or None: unknown, revoked, expired, of an inactive supplier."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None or \
            (row.expires_at is not None and row.expires_at <= now):
        return None
    if row.supplier_id is not None:
        supplier = session.get(Supplier, row.supplier_id)
        if supplier is None or not supplier.active:
            return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        _record_use(session, row.id, now)
    return Principal(merchant_id=row.merchant_id, role=row.role, token_id=row.id,
                     supplier_id=row.supplier_id)


def _record_use(session: Session, token_id: int, now: datetime) -> None:
    """``last_used_at``: in ``session`` when it may write (committed with its work, on
    SQLite it holds the write lock already), else in a short transaction of its own; best
    effort: a failure is logged, the request goes on."""
    bind = session.get_bind()
    if not bind.get_execution_options().get("hub_readonly", False):
        session.get(ApiToken, token_id).last_used_at = now
        return
    engine = bind.execution_options(hub_readonly=False)
    try:
        with Session(engine) as own, own.begin():
            own.execute(update(ApiToken).where(
                ApiToken.id == token_id, or_(ApiToken.last_used_at.is_(None),
                                             ApiToken.last_used_at < now - LAST_USED_EVERY))
                .values(last_used_at=now))
    except SQLAlchemyError as e:
        log.warning("recording a token's last use failed", extra={"error": type(e).__name__})


def revoke(session: Session, token_row: ApiToken) -> None:
    token_row.revoked_at = utcnow()
