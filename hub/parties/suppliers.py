"""A merchant's suppliers and which supplier ships each SKU: the writes the admin API and
the console share (validated before: ``hub.web.kit.schemas.SupplierIn``, ``SupplierPatch``,
``SkuMappingIn``), each audited. A second supplier with the same code, or a second mapping
of a SKU to the same supplier, is a 409."""
from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.core.errors import Conflict
from hub.models import SkuMapping, Supplier, audit


def _flushed(session: Session) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict("a record with the same unique fields already exists") from None


def add(session: Session, merchant_id: int, actor: str, data: dict) -> Supplier:
    supplier = Supplier(merchant_id=merchant_id, **data)
    session.add(supplier)
    _flushed(session)
    audit.record(session, merchant_id, actor, "supplier.created", "supplier", supplier.id,
                 {"code": supplier.code})
    return supplier


def change(session: Session, supplier: Supplier, actor: str, data: dict) -> Supplier:
    changes = {k: v for k, v in data.items() if getattr(supplier, k) != v}
    for key, value in changes.items():
        setattr(supplier, key, value)
    audit.record(session, supplier.merchant_id, actor, "supplier.updated", "supplier",
                 supplier.id, {"fields": sorted(changes)})
    return supplier


def map_sku(session: Session, merchant_id: int, actor: str, data: dict) -> SkuMapping:
    mapping = SkuMapping(merchant_id=merchant_id, **data)
    session.add(mapping)
    _flushed(session)
    audit.record(session, merchant_id, actor, "sku_mapping.created", "sku_mapping",
                 mapping.id, {"sku": mapping.sku, "supplier_id": mapping.supplier_id})
    return mapping


def unmap(session: Session, mapping: SkuMapping, actor: str) -> None:
    audit.record(session, mapping.merchant_id, actor, "sku_mapping.deleted", "sku_mapping",
                 mapping.id, {"sku": mapping.sku, "supplier_id": mapping.supplier_id})
    session.delete(mapping)
