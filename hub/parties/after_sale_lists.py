"""What a shop platform lists for after-sales: its return addresses and its rejection
reasons (connector capability ``after_sale_lists``).

``sync_return_addresses(db, account, actor)`` asks the platform (outside any
transaction), then keeps its list as ``ReturnAddress`` rows of the shop (``source``
``platform``), matched by the platform's id: new ones are added, changed ones updated,
ones no longer listed deactivated; who each belongs to (a supplier, a warehouse) is the
merchant's to set and is kept. ``reject_reasons(db, account, platform_return_id)`` passes
the platform's list through (it depends on the refund's status, so it is not stored).

A connector that cannot list is a 409; a platform that fails is a 502 with its words
(scrubbed), never a 500.
"""
from __future__ import annotations

from sqlalchemy import select

from connectors import registry
from connectors.base import ConnectorError
from hub.core import logs
from hub.core.errors import ApiError, Conflict
from hub.models import Account, ReturnAddress, audit
from hub.parties.accounts import connector_for

CAPABILITY = "after_sale_lists"


def _bound(db, account: Account):
    cls = registry.get(account.connector)
    if cls.kind != "platform" or CAPABILITY not in cls.capabilities:
        raise Conflict(f"shop {account.id} ({account.connector}) has no after-sale lists on "
                       "its platform: add return addresses by hand (POST /return-addresses)")
    return connector_for(db, account)


def _ask(call):
    try:
        return call()
    except ConnectorError as e:
        raise ApiError(f"the platform did not answer: {logs.scrub_text(e.message)[:300]}",
                       code="platform_error", status=502,
                       details={"error_class": e.error_class.value}) from None


def sync_return_addresses(db, account: Account, actor: str) -> list[ReturnAddress]:
    listed = _ask(_bound(db, account).return_addresses)
    with db.session() as s:
        rows = {r.platform_address_id: r for r in s.scalars(select(ReturnAddress).where(
            ReturnAddress.merchant_id == account.merchant_id,
            ReturnAddress.shop_account_id == account.id, ReturnAddress.source == "platform"))}
        for item in listed:
            row = rows.pop(item.platform_address_id, None)
            if row is None:
                row = ReturnAddress(merchant_id=account.merchant_id, shop_account_id=account.id,
                                    platform_address_id=item.platform_address_id,
                                    source="platform")
                s.add(row)
            row.name, row.address, row.contact, row.phone = (
                item.name, item.address, item.contact, item.phone)
            row.is_default, row.active = item.is_default, True
        for gone in rows.values():
            gone.active = False
        audit.record(s, account.merchant_id, actor, "return_addresses.synced", "account",
                     account.id, {"listed": len(listed), "deactivated": len(rows)})
        s.flush()
        found = list(s.scalars(select(ReturnAddress).where(
            ReturnAddress.merchant_id == account.merchant_id,
            ReturnAddress.shop_account_id == account.id).order_by(ReturnAddress.id)))
        for row in found:
            s.expunge(row)
    return found


def reject_reasons(db, account: Account, platform_return_id: str) -> list:
    return _ask(lambda: _bound(db, account).reject_reasons(platform_return_id))
