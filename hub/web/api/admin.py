"""Endpoints a merchant uses to set up the hub: who am I, suppliers, SKU → supplier
mappings, connector accounts, API tokens, and the audit log."""
from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer

from hub.models import audit
from hub.parties import auth, suppliers
from hub.parties.accounts import add_account
from hub.web.kit import api_blueprint as bp
from hub.web.kit import schemas as s
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.pagination import paginate
from hub.web.kit.scope import get_visible, owned, visible
from hub.parties.auth import TokenError
from hub.core.errors import ApiError, Conflict
from hub.models import Account, ApiToken, AuditEntry, Merchant, SkuMapping, Supplier
from hub.web.context import request_session

ADMIN = {"merchant_admin"}
STAFF = {"merchant_admin", "operator"}
BOOKS = {"merchant_admin", "operator", "finance"}
# Views never read an account's config: it is not decrypted, and touching it would raise.
NO_CONFIG = defer(Account.config, raiseload=True)


def _filter(stmt, model, args, *names):
    for name in names:
        if name in args:
            stmt = stmt.where(getattr(model, name) == args[name])
    return stmt


def _commit():
    """A write that breaks a unique constraint is a 409, never a 500."""
    session = request_session()
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict("a record with the same unique fields already exists") from None


@bp.get("/me")
@endpoint(roles=auth.ALL_ROLES, response=s.MeOut, summary="Who this token acts as",
          tags=["account"])
def me():
    who = principal()
    merchant = request_session().get(Merchant, who.merchant_id)
    return {"merchant_id": who.merchant_id, "merchant_name": merchant.name, "role": who.role,
            "supplier_id": who.supplier_id}


@bp.get("/suppliers")
@endpoint(roles=BOOKS | {"supplier"}, query=s.SupplierListArgs, response=s.SupplierOut,
          many=True, summary="List suppliers", tags=["suppliers"])
def list_suppliers(args):
    stmt = _filter(visible(Supplier, principal()), Supplier, args, "active")
    return paginate(request_session(), stmt, Supplier.id, args)


@bp.get("/suppliers/<int:supplier_id>")
@endpoint(roles=BOOKS | {"supplier"}, response=s.SupplierOut, summary="Get a supplier",
          tags=["suppliers"])
def get_supplier(supplier_id):
    return get_visible(request_session(), Supplier, supplier_id, principal())


@bp.post("/suppliers")
@endpoint(roles=ADMIN, body=s.SupplierIn, response=s.SupplierOut, status=201,
          summary="Add a supplier", tags=["suppliers"])
def create_supplier(body):
    who, session = principal(), request_session()
    owned(session, Account, body["channel_account_id"], who, "channel_account_id")
    supplier = suppliers.add(session, who.merchant_id, who.actor, body)
    _commit()
    return supplier


@bp.patch("/suppliers/<int:supplier_id>")
@endpoint(roles=ADMIN, body=s.SupplierPatch, response=s.SupplierOut,
          summary="Change a supplier", tags=["suppliers"])
def update_supplier(supplier_id, body):
    who, session = principal(), request_session()
    supplier = get_visible(session, Supplier, supplier_id, who)
    owned(session, Account, body.get("channel_account_id"), who, "channel_account_id")
    suppliers.change(session, supplier, who.actor, body)
    _commit()
    return supplier


@bp.get("/sku-mappings")
@endpoint(roles=STAFF, query=s.SkuMappingListArgs, response=s.SkuMappingOut, many=True,
          summary="List SKU → supplier mappings", tags=["suppliers"])
def list_sku_mappings(args):
    stmt = _filter(visible(SkuMapping, principal()), SkuMapping, args, "sku", "supplier_id")
    return paginate(request_session(), stmt, SkuMapping.id, args)


@bp.post("/sku-mappings")
@endpoint(roles=ADMIN, body=s.SkuMappingIn, response=s.SkuMappingOut, status=201,
          summary="Map a SKU to a supplier", tags=["suppliers"])
def create_sku_mapping(body):
    who, session = principal(), request_session()
    owned(session, Supplier, body["supplier_id"], who, "supplier_id")
    mapping = suppliers.map_sku(session, who.merchant_id, who.actor, body)
    _commit()
    return mapping


@bp.delete("/sku-mappings/<int:mapping_id>")
@endpoint(roles=ADMIN, summary="Remove a SKU mapping", tags=["suppliers"])
def delete_sku_mapping(mapping_id):
    who, session = principal(), request_session()
    suppliers.unmap(session, get_visible(session, SkuMapping, mapping_id, who), who.actor)
    _commit()


@bp.get("/accounts")
@endpoint(roles=STAFF, query=s.AccountListArgs, response=s.AccountOut, many=True,
          summary="List connector accounts (shops, supplier channels, couriers)",
          tags=["accounts"])
def list_accounts(args):
    stmt = _filter(visible(Account, principal()).options(NO_CONFIG), Account, args, "kind",
                   "connector")
    return paginate(request_session(), stmt, Account.id, args)


@bp.get("/accounts/<int:account_id>")
@endpoint(roles=STAFF, response=s.AccountOut, summary="Get a connector account",
          tags=["accounts"])
def get_account(account_id):
    return get_visible(request_session(), Account, account_id, principal(), NO_CONFIG)


@bp.post("/accounts")
@endpoint(roles=ADMIN, body=s.AccountIn, response=s.AccountOut, status=201,
          summary="Register a connector account; its config is stored encrypted",
          tags=["accounts"])
def create_account(body):
    who = principal()
    account = add_account(request_session(), who.merchant_id, body["connector"], body["name"],
                          body["config"], who.actor)
    _commit()
    return account


@bp.get("/tokens")
@endpoint(roles=ADMIN, query=s.PageArgs, response=s.TokenOut, many=True,
          summary="List API tokens", tags=["account"])
def list_tokens(args):
    return paginate(request_session(), visible(ApiToken, principal()), ApiToken.id, args)


@bp.post("/tokens")
@endpoint(roles=ADMIN, body=s.TokenIn, response=s.TokenCreatedOut, status=201,
          summary="Create an API token (shown once)", tags=["account"])
def create_token(body):
    who, session = principal(), request_session()
    owned(session, Supplier, body["supplier_id"], who, "supplier_id")
    try:
        row, token = auth.issue_token(session, who.merchant_id, body["role"],
                                      body["supplier_id"], body["name"])
    except TokenError as e:
        raise ApiError(str(e), code="validation_error", status=422) from None
    audit.record(session, who.merchant_id, who.actor, "token.created", "api_token", row.id,
                 {"role": row.role})
    _commit()
    row.token = token  # not a column: shown in this response only
    return row


@bp.delete("/tokens/<int:token_id>")
@endpoint(roles=ADMIN, summary="Revoke an API token", tags=["account"])
def revoke_token(token_id):
    who, session = principal(), request_session()
    row = get_visible(session, ApiToken, token_id, who)
    auth.revoke(session, row)
    audit.record(session, who.merchant_id, who.actor, "token.revoked", "api_token", row.id)
    _commit()


@bp.get("/audit")
@endpoint(roles=STAFF, query=s.AuditListArgs, response=s.AuditOut, many=True,
          summary="The audit log: who changed what", tags=["account"])
def list_audit(args):
    stmt = _filter(visible(AuditEntry, principal()), AuditEntry, args, "entity", "entity_id")
    return paginate(request_session(), stmt, AuditEntry.id, args)
