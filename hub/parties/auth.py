"""API tokens and the principal a request acts as.

A token is ``hub_<prefix>_<secret>``; only its SHA-256 is stored (tokens are 256-bit
random, so a plain hash is enough and keeps lookup O(1)). Roles: ``merchant_admin``,
``supplier`` (bound to one supplier), ``finance``, ``operator``. Every token belongs to one
merchant, and everything a request touches is scoped to ``Principal.merchant_id`` (and,
for supplier tokens, to ``Principal.supplier_id``).
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.db import utcnow
from hub.models import ApiToken, Merchant, Supplier
from hub.models.tenancy import ROLES

ALL_ROLES = frozenset(ROLES)


class TokenError(ValueError):
    pass


@dataclass(frozen=True)
class Principal:
    merchant_id: int
    role: str
    token_id: int
    supplier_id: int | None = None

    @property
    def actor(self) -> str:
        return f"token:{self.token_id}:{self.role}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, merchant_id: int, role: str, supplier_id: int | None = None,
                name: str = "") -> tuple[ApiToken, str]:
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
                   prefix=prefix, token_hash=hash_token(token))
    session.add(row)
    session.flush()
    return row, token


def authenticate(session: Session, token: str) -> Principal | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    return Principal(merchant_id=row.merchant_id, role=row.role, token_id=row.id,
                     supplier_id=row.supplier_id)


def revoke(session: Session, token_row: ApiToken) -> None:
    token_row.revoked_at = utcnow()
