"""A merchant's policy versions: the one in force, editing (a new draft), publishing.

Versions are numbered per merchant and never change once written: ``edit`` writes the
next number as a ``draft``; ``publish`` makes a draft the one in force and retires the
one before (one ``published`` at a time, under the merchant's lock). Without a
published version the merchant's cases are read with ``document.DEFAULT`` (version 0).
Each step is audited (``return_policy.drafted`` | ``published``).
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.core.db import memo, utcnow
from hub.core.errors import Conflict, NotFound
from hub.domain.policy.document import DEFAULT_POLICY, Policy, validated
from hub.models import Product, ReturnPolicy, audit
from hub.models.tenancy import lock_merchant


def in_force(session: Session, merchant_id: int) -> Policy:
    """The published version (read once per transaction), else the default."""
    cache = memo(session).setdefault("policy_in_force", {})
    if merchant_id not in cache:
        row = session.scalar(select(ReturnPolicy).where(
            ReturnPolicy.merchant_id == merchant_id, ReturnPolicy.status == "published"))
        cache[merchant_id] = Policy(row.document, row.version) if row else DEFAULT_POLICY
    return cache[merchant_id]


def history(session: Session, merchant_id: int) -> list[ReturnPolicy]:
    return list(session.scalars(select(ReturnPolicy).where(
        ReturnPolicy.merchant_id == merchant_id).order_by(ReturnPolicy.version.desc())))


def get(session: Session, merchant_id: int, version: int) -> ReturnPolicy:
    row = session.scalar(select(ReturnPolicy).where(
        ReturnPolicy.merchant_id == merchant_id, ReturnPolicy.version == version))
    if row is None:
        raise NotFound(f"no policy version {version}")
    return row


def edit(session: Session, merchant_id: int, document, actor: str,
         note: str | None = None) -> ReturnPolicy:
    """A new draft version of ``document`` (``ValidationError`` when it is not valid)."""
    clean = validated(document)
    lock_merchant(session, merchant_id)
    last = session.scalar(select(func.max(ReturnPolicy.version)).where(
        ReturnPolicy.merchant_id == merchant_id)) or 0
    row = ReturnPolicy(merchant_id=merchant_id, version=last + 1, status="draft",
                       document=clean, note=note, created_by=actor)
    session.add(row)
    audit.record(session, merchant_id, actor, "return_policy.drafted", "return_policy",
                 row.id, {"version": row.version, "note": note})
    return row


def publish(session: Session, merchant_id: int, version: int, actor: str) -> ReturnPolicy:
    lock_merchant(session, merchant_id)
    row = get(session, merchant_id, version)
    if row.status == "published":
        return row
    if row.status == "retired":
        raise Conflict(f"policy version {version} was retired: edit it into a new version",
                       details={"status": row.status})
    for current in session.scalars(select(ReturnPolicy).where(
            ReturnPolicy.merchant_id == merchant_id, ReturnPolicy.status == "published")):
        current.status = "retired"
    row.status, row.published_by, row.published_at = "published", actor, utcnow()
    memo(session).pop("policy_in_force", None)
    audit.record(session, merchant_id, actor, "return_policy.published", "return_policy",
                 row.id, {"version": version})
    return row


def categories_of(session: Session, merchant_id: int, skus) -> dict[str, str]:
    """SKU → the catalogue's category (``general`` when the SKU is not catalogued)."""
    skus = sorted(set(skus))
    found = dict(session.execute(select(Product.sku, Product.category).where(
        Product.merchant_id == merchant_id, Product.sku.in_(skus))).all()) if skus else {}
    return {sku: found.get(sku, "general") for sku in skus}
