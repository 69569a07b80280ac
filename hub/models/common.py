"""Column helpers shared by every model: ids, tenant key, timestamps, money."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.db import BigId, utcnow

Id = Annotated[int, mapped_column(BigId, primary_key=True)]
Currency = Annotated[str, mapped_column(String(3), default="CNY")]
Money = Annotated[int, mapped_column(BigInteger, default=0)]  # integer minor units (fen)
Code = Annotated[str, mapped_column(String(64))]


def fk(target: str, *, nullable: bool = False, index: bool = True, ondelete: str | None = None):
    return mapped_column(
        BigId, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=index
    )


class Tenant:
    """Every row belongs to one merchant; every query filters on ``merchant_id``."""

    merchant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("merchants.id"), index=True
    )


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
