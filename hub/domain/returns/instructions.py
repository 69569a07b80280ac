"""Where the goods of a return go, and how to pack them.

``address_for(session, case)`` — the return address of whoever receives the goods: the
supplier that shipped them (``flow.receiving_suppliers``; its active address for the
case's shop, else any of its, the default first; suppliers that shipped one case between
them must share it), else the merchant's own warehouse address for the shop (the default
first). None when nothing is on file: the platform's
default address is used (an approval names none).

``for_case(session, case)`` — what the buyer is told on approval: the packing
instructions of the case's categories (the policy in force: ``categories.<c>.instructions``,
the default's where a category has none), the address, and who pays the return freight;
``message`` words it as one text (an approval carries it where the platform takes a
message). Personal data never: the address is the receiver's business address.
"""
from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub.domain.policy import versions
from hub.domain.returns import flow
from hub.models import ReturnAddress, ReturnCase


def address_for(session: Session, case: ReturnCase) -> ReturnAddress | None:
    suppliers = flow.receiving_suppliers(session, case)
    if len(suppliers) > 1:  # one parcel, one address: a split case has none of its own
        found = {_best(session, case, ReturnAddress.supplier_id == x.id) for x in suppliers}
        return found.pop() if len(found) == 1 else None
    return _best(session, case, ReturnAddress.supplier_id == suppliers[0].id if suppliers
                 else ReturnAddress.supplier_id.is_(None))


def _best(session: Session, case: ReturnCase, owner) -> ReturnAddress | None:
    return session.scalar(select(ReturnAddress).where(
        ReturnAddress.merchant_id == case.merchant_id, ReturnAddress.active.is_(True), owner,
        or_(ReturnAddress.shop_account_id == case.shop_account_id,
            ReturnAddress.shop_account_id.is_(None)))
        .order_by((ReturnAddress.shop_account_id == case.shop_account_id).desc(),
                  ReturnAddress.is_default.desc(), ReturnAddress.id).limit(1))


def message(told: dict) -> str:
    """``for_case`` as one text for the buyer, Chinese then English."""
    where = told["address"]
    to = " ".join(x for x in (where["contact"], where["phone"], where["address"]) if x) \
        if where else None
    zh = told["zh"] + (f"\n寄回地址：{to}" if to else "")
    en = told["en"] + (f"\nSend it to: {to}" if to else "")
    return f"{zh}\n\n{en}"


def for_case(session: Session, case: ReturnCase) -> dict:
    policy = versions.in_force(session, case.merchant_id)
    skus = [line.sku for line in case.lines]
    categories = sorted(set(versions.categories_of(session, case.merchant_id, skus).values())) \
        or ["default"]
    texts = list(dict.fromkeys(
        (terms["instructions"]["zh"], terms["instructions"]["en"])
        for terms in (policy.category(c) for c in categories)))
    address = session.get(ReturnAddress, case.return_address_id) \
        if case.return_address_id else address_for(session, case)
    return {
        "zh": "\n".join(zh for zh, _ in texts), "en": "\n".join(en for _, en in texts),
        "address": None if address is None else {
            "name": address.name, "contact": address.contact, "phone": address.phone,
            "address": address.address},
        "freight_payer": case.freight_payer}
