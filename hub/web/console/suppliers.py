"""Suppliers and which one ships each SKU (staff read; the merchant admin edits), the same
writes as the admin API (``hub.parties.suppliers``), each audited.

| page | what |
|---|---|
| ``GET /console/suppliers`` | every supplier (code, name, answer time, channel, contact, active) and every SKU mapping |
| ``POST /console/suppliers`` | add one: code, name, hours to answer, contact, channel |
| ``POST /console/suppliers/<id>`` | change its name, hours, contact, channel, active |
| ``POST /console/sku-mappings`` | map a SKU: supplier, its SKU, unit cost (yuan), priority |
| ``POST /console/sku-mappings/<id>/delete`` | remove a mapping |
"""
from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy import select

from hub.core.errors import ApiError
from hub.domain.sheets.statements import parse_amount
from hub.models import Account, SkuMapping, Supplier
from hub.parties import suppliers
from hub.web.console.kit import STAFF, page
from hub.web.console.kit import console_blueprint as bp
from hub.web.context import request_session
from hub.web.kit import schemas
from hub.web.kit.scope import get_visible, owned

ADMIN = frozenset({"merchant_admin"})


def _page(who, status=200, errors=None, values=None):
    session = request_session()
    rows = session.scalars(select(Supplier).where(Supplier.merchant_id == who.merchant_id)
                           .order_by(Supplier.code)).all()
    mappings = session.scalars(select(SkuMapping).where(
        SkuMapping.merchant_id == who.merchant_id).order_by(SkuMapping.sku,
                                                            SkuMapping.priority)).all()
    channels = session.execute(select(Account.id, Account.name).where(
        Account.merchant_id == who.merchant_id, Account.kind == "supplier")
        .order_by(Account.name)).all()
    return render_template(
        "console/suppliers.html", who=who, suppliers=rows, mappings=mappings,
        channels=channels, codes={s.id: s.code for s in rows}, errors=errors or {},
        values=values or {}, done=request.args.get("done"),
        can_edit=who.role in ADMIN), status


@bp.get("/console/suppliers")
@page(STAFF)
def suppliers_page(who):
    return _page(who)


def _form(*names) -> dict:
    """The form's fields, empty ones left out (the schema's defaults apply)."""
    found = {k: request.form.get(k, "").strip() for k in names}
    return {k: v for k, v in found.items() if v != ""}


def _write(who, where: str, schema, data: dict, act):
    """Validate ``data``, run ``act(session, valid)``, commit; else the page with the
    errors under ``where`` (nothing written)."""
    session = request_session()
    try:
        act(session, schema.load(data))
    except ValidationError as e:
        session.rollback()
        messages = "; ".join(f"{k}: {' '.join(map(str, v))}"
                             for k, v in e.normalized_messages().items())
        return _page(who, 422, {where: messages}, {where: request.form})
    except ApiError as e:
        session.rollback()
        return _page(who, e.status, {where: e.message}, {where: request.form})
    session.commit()
    return redirect(url_for("console.suppliers_page", done=where) + f"#{where}", 303)


@bp.post("/console/suppliers")
@page(ADMIN)
def add_supplier(who):
    data = _form("code", "name", "sla_hours", "contact_email", "channel_account_id")

    def act(session, valid):
        owned(session, Account, valid["channel_account_id"], who, "channel_account_id")
        suppliers.add(session, who.merchant_id, who.actor, valid)
    return _write(who, "new-supplier", schemas.SupplierIn(), data, act)


@bp.post("/console/suppliers/<int:supplier_id>")
@page(ADMIN)
def change_supplier(who, supplier_id):
    supplier = get_visible(request_session(), Supplier, supplier_id, who)
    data = _form("name", "sla_hours", "contact_email", "channel_account_id")
    data.setdefault("contact_email", None)
    data.setdefault("channel_account_id", None)
    data["active"] = request.form.get("active") == "yes"

    def act(session, valid):
        owned(session, Account, valid.get("channel_account_id"), who, "channel_account_id")
        suppliers.change(session, supplier, who.actor, valid)
    return _write(who, f"supplier-{supplier_id}", schemas.SupplierPatch(), data, act)


@bp.post("/console/sku-mappings")
@page(ADMIN)
def map_sku(who):
    data = _form("sku", "supplier_id", "supplier_sku", "priority")
    cost = request.form.get("unit_cost", "").strip()
    try:
        data["unit_cost_minor"] = parse_amount(cost) if cost else 0
    except ValueError:
        return _page(who, 422, {"new-mapping": _("%(text)s is not an amount in yuan (12.50).",
                                                 text=cost[:32])}, {"new-mapping": request.form})

    def act(session, valid):
        owned(session, Supplier, valid["supplier_id"], who, "supplier_id")
        suppliers.map_sku(session, who.merchant_id, who.actor, valid)
    return _write(who, "new-mapping", schemas.SkuMappingIn(), data, act)


@bp.post("/console/sku-mappings/<int:mapping_id>/delete")
@page(ADMIN)
def unmap_sku(who, mapping_id):
    session = request_session()
    suppliers.unmap(session, get_visible(session, SkuMapping, mapping_id, who), who.actor)
    session.commit()
    return redirect(url_for("console.suppliers_page", done="removed") + "#mappings", 303)
