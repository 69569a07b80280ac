"""Where returns go and what the platform accepts: return addresses, the platform's lists,
and a case's instructions.

* ``GET /return-addresses`` — every address (``?supplier_id=`` filters).
* ``POST /return-addresses`` — add one by hand: ``{name, address, contact?, phone?,
  supplier_id? | warehouse?, shop_account_id?, platform_address_id?, is_default?}``.
* ``PATCH /return-addresses/<id>`` — assign it to a supplier or warehouse, make it the
  default, deactivate it, or give the platform's id.
* ``POST /shops/<id>/return-addresses/sync`` — the platform's list kept as the shop's
  addresses (Kuaishou ``open.address.seller.list``).
* ``GET /returns/<id>/reject-reasons`` — the platform's rejection reasons for the case now
  (Kuaishou ``open.refund.reject.reason``): the ``reason_code`` a rejection takes.
* ``GET /returns/<id>/instructions`` — what the buyer is told on approval: packing
  instructions (Chinese, English), the address, who pays the return freight.

An approval uses the receiving supplier's address (else the merchant's warehouse
address) for the case's shop (``hub.domain.returns.instructions.address_for``).
"""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from hub.domain.returns import instructions
from hub.models import Account, ReturnAddress, ReturnCase, Supplier
from hub.parties import after_sale_lists
from hub.web.context import hub, request_session
from hub.web.kit import api_blueprint as bp
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.fields import Id, RefId, Time
from hub.web.kit.pagination import PageArgs, paginate
from hub.web.kit.schemas import Out
from hub.web.kit.scope import get_visible, visible

STAFF = {"merchant_admin", "operator"}
TAGS = ["returns"]
ASKS_THE_PLATFORM = ((409, "the shop's platform keeps no such list"),
                     (502, "the platform did not answer"))


def _text(n: int, **kw):
    return fields.String(validate=validate.Length(1, n), **kw)


class ReturnAddressListArgs(PageArgs):
    supplier_id = RefId(load_default=None)


class ReturnAddressIn(Schema):
    name = _text(128, required=True)
    address = _text(500, required=True)
    contact = _text(128, load_default=None, allow_none=True)
    phone = _text(32, load_default=None, allow_none=True)
    supplier_id = RefId(load_default=None, allow_none=True)
    warehouse = _text(64, load_default=None, allow_none=True)
    shop_account_id = RefId(load_default=None, allow_none=True)
    platform_address_id = _text(64, load_default=None, allow_none=True)
    is_default = fields.Boolean(load_default=False)


class ReturnAddressPatch(Schema):
    supplier_id = RefId(allow_none=True)
    warehouse = _text(64, allow_none=True)
    platform_address_id = _text(64, allow_none=True)
    is_default = fields.Boolean()
    active = fields.Boolean()


class ReturnAddressOut(Out):
    id = Id()
    shop_account_id = Id(allow_none=True)
    supplier_id = Id(allow_none=True)
    warehouse = fields.String(allow_none=True)
    platform_address_id = fields.String(allow_none=True)
    name = fields.String()
    contact = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    address = fields.String()
    is_default = fields.Boolean()
    source = fields.String(metadata={"enum": ["manual", "platform"]})
    active = fields.Boolean()
    updated_at = Time()


class ReturnAddressListOut(Out):
    data = fields.List(fields.Nested(ReturnAddressOut))


class RejectReasonOut(Out):
    code = fields.String()
    description = fields.String()
    tip = fields.String(allow_none=True)
    needs_description = fields.Boolean()
    needs_image = fields.Boolean()


class RejectReasonsOut(Out):
    data = fields.List(fields.Nested(RejectReasonOut))


class InstructionsOut(Out):
    zh = fields.String()
    en = fields.String()
    address = fields.Dict(allow_none=True)
    freight_payer = fields.String(allow_none=True)


def _owners(session, who, body: dict) -> None:
    """The supplier and shop named are the caller's; a supplier and a warehouse are not
    both the owner."""
    if body.get("supplier_id") is not None:
        get_visible(session, Supplier, body["supplier_id"], who)
    if body.get("shop_account_id") is not None:
        shop = get_visible(session, Account, body["shop_account_id"], who)
        if shop.kind != "platform":
            raise ValidationError("not a shop account", "shop_account_id")
    if body.get("supplier_id") is not None and body.get("warehouse"):
        raise ValidationError("an address belongs to a supplier or a warehouse, not both",
                              "warehouse")


def _detached(session, account: Account) -> Account:
    """The account, loaded and let go with the request's transaction: the platform is
    asked outside any transaction (on SQLite the request would hold the write lock)."""
    _ = account.config
    session.expunge(account)
    session.rollback()
    return account


@bp.get("/return-addresses")
@endpoint(roles=STAFF | {"finance"}, query=ReturnAddressListArgs, response=ReturnAddressOut, many=True,
          summary="Return addresses of suppliers and warehouses", tags=TAGS)
def list_return_addresses(args):
    stmt = visible(ReturnAddress, principal())
    if args["supplier_id"] is not None:
        stmt = stmt.where(ReturnAddress.supplier_id == args["supplier_id"])
    return paginate(request_session(), stmt, ReturnAddress.id, args)


@bp.post("/return-addresses")
@endpoint(roles=STAFF, body=ReturnAddressIn, response=ReturnAddressOut, status=201,
          summary="Add a return address", tags=TAGS)
def add_return_address(body):
    who, session = principal(), request_session()
    _owners(session, who, body)
    row = ReturnAddress(merchant_id=who.merchant_id, source="manual", **body)
    session.add(row)
    session.commit()
    return row


@bp.patch("/return-addresses/<int:address_id>")
@endpoint(roles=STAFF, body=ReturnAddressPatch, response=ReturnAddressOut,
          summary="Assign, default or deactivate a return address", tags=TAGS)
def patch_return_address(address_id, body):
    who, session = principal(), request_session()
    row = get_visible(session, ReturnAddress, address_id, who)
    merged = {"supplier_id": row.supplier_id, "warehouse": row.warehouse, **body}
    if "supplier_id" in body and body["supplier_id"] is not None and "warehouse" not in body:
        merged["warehouse"] = None
    if "warehouse" in body and body["warehouse"] and "supplier_id" not in body:
        merged["supplier_id"] = None
    _owners(session, who, merged)
    for key in ("supplier_id", "warehouse"):
        setattr(row, key, merged[key])
    for key in ("platform_address_id", "is_default", "active"):
        if key in body:
            setattr(row, key, body[key])
    session.commit()
    return row


@bp.post("/shops/<int:shop_id>/return-addresses/sync")
@endpoint(roles=STAFF, response=ReturnAddressListOut, refusals=ASKS_THE_PLATFORM,
          summary="Keep the platform's return addresses as the shop's", tags=TAGS)
def sync_return_addresses(shop_id):
    who, session = principal(), request_session()
    shop = _detached(session, get_visible(session, Account, shop_id, who))
    return {"data": after_sale_lists.sync_return_addresses(hub().db, shop, who.actor)}


@bp.get("/returns/<int:return_id>/reject-reasons")
@endpoint(roles=STAFF, response=RejectReasonsOut, refusals=ASKS_THE_PLATFORM,
          summary="The platform's rejection reasons for a case", tags=TAGS)
def case_reject_reasons(return_id):
    who, session = principal(), request_session()
    case = get_visible(session, ReturnCase, return_id, who)
    refund_id = case.platform_return_id
    shop = _detached(session, session.get(Account, case.shop_account_id))
    return {"data": after_sale_lists.reject_reasons(hub().db, shop, refund_id)}


@bp.get("/returns/<int:return_id>/instructions")
@endpoint(roles=STAFF | {"finance"}, response=InstructionsOut,
          summary="What the buyer is told: packing, address, freight", tags=TAGS)
def case_instructions(return_id):
    session = request_session()
    return instructions.for_case(session, get_visible(session, ReturnCase, return_id,
                                                      principal()))
