"""The return policy: read, edit (a new version), preview, publish; the product catalogue
its categories come from; what the policy decided on a case.

* ``GET /return-policy`` — the version in force (``version`` 0: the default) and every
  version, newest first. ``GET /return-policy/versions/<n>`` — one, with its document.
* ``POST /return-policy/versions`` — ``{document, note?}``: a new draft (422 naming every
  bad field of the document; nothing written).
* ``POST /return-policy/preview`` — ``{document | version, days?}``: what it would have
  decided on the cases requested in the last ``days`` (30), beside the version in force.
* ``POST /return-policy/versions/<n>/publish`` — the draft becomes the one in force.
* ``GET /products``, ``PUT /products/<sku>`` — the catalogue: category, value, serialised.
* ``GET /returns/<id>/policy-decisions`` — every verdict on the case, newest first.

Reading is for staff and finance; editing and publishing for ``merchant_admin``.
"""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from hub.domain.policy import review, versions
from hub.models import PolicyDecision, Product, ReturnCase
from hub.models.tenancy import lock_merchant
from hub.web.context import request_session
from hub.web.kit import api_blueprint as bp
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.fields import Id, Integer, Money, Time
from hub.web.kit.schemas import Out
from hub.web.kit.pagination import PageArgs, paginate
from hub.web.kit.scope import get_visible, visible

READERS = {"merchant_admin", "operator", "finance"}
ADMIN = {"merchant_admin"}
TAGS = ["return policy"]


class PolicyVersionOut(Out):
    version = Integer()
    status = fields.String(metadata={"enum": ["draft", "published", "retired"]})
    note = fields.String(allow_none=True)
    created_by = fields.String()
    created_at = Time()
    published_by = fields.String(allow_none=True)
    published_at = Time(allow_none=True)


class PolicyVersionFullOut(PolicyVersionOut):
    document = fields.Dict()


class PolicyOut(Out):
    in_force_version = Integer(metadata={"description": "0: the default policy"})
    document = fields.Dict(metadata={"description": "the document in force"})
    versions = fields.List(fields.Nested(PolicyVersionOut))


class PolicyEditIn(Schema):
    document = fields.Dict(required=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class PreviewIn(Schema):
    document = fields.Dict(load_default=None)
    version = Integer(load_default=None, validate=validate.Range(1, 1_000_000))
    days = Integer(load_default=30, validate=validate.Range(1, 90))

    @validates_schema
    def one_source(self, data, **kwargs):
        if (data["document"] is None) == (data["version"] is None):
            raise ValidationError("give either document or version", "document")


class PreviewOut(Out):
    days = Integer()
    cases = Integer()
    current_version = Integer()
    counts = fields.Dict()
    changed = fields.List(fields.Dict())


class ProductIn(Schema):
    category = fields.String(required=True, validate=validate.Length(1, 64))
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=255))
    value_minor = Money(load_default=0, validate=validate.Range(0, 2**53))
    currency = fields.String(load_default="CNY", validate=validate.Regexp(r"^[A-Z]{3}$"))
    serialised = fields.Boolean(load_default=False)
    barcode = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(1, 64), metadata={
                                "description": "the EAN/UPC on the goods, what inspectors scan"})


class ProductOut(Out):
    id = Id()
    sku = fields.String()
    category = fields.String()
    name = fields.String(allow_none=True)
    value_minor = Money()
    currency = fields.String()
    serialised = fields.Boolean()
    barcode = fields.String(allow_none=True)


class PolicyDecisionOut(Out):
    id = Id()
    return_case_id = Id()
    policy_version = Integer()
    rule = fields.String()
    outcome = fields.String(metadata={"enum": ["approve", "manual", "fast_refund"]})
    why_zh = fields.String()
    why_en = fields.String()
    freight_payer = fields.String(allow_none=True)
    acted = fields.Boolean(metadata={"description": "the hub pushed the decision"})
    at = Time()


@bp.get("/return-policy")
@endpoint(roles=READERS, response=PolicyOut, summary="The return policy in force and its "
          "versions", tags=TAGS)
def get_policy():
    who, session = principal(), request_session()
    current = versions.in_force(session, who.merchant_id)
    return {"in_force_version": current.version, "document": current.document,
            "versions": versions.history(session, who.merchant_id)}


@bp.get("/return-policy/versions/<int:version>")
@endpoint(roles=READERS, response=PolicyVersionFullOut, summary="One policy version",
          tags=TAGS)
def get_policy_version(version):
    return versions.get(request_session(), principal().merchant_id, version)


@bp.post("/return-policy/versions")
@endpoint(roles=ADMIN, body=PolicyEditIn, response=PolicyVersionFullOut, status=201,
          summary="Write a new draft version of the policy", tags=TAGS)
def edit_policy(body):
    who, session = principal(), request_session()
    try:
        row = versions.edit(session, who.merchant_id, body["document"], who.actor,
                            body["note"])
    except ValidationError as bad:
        raise ValidationError({"document": bad.messages}) from None
    session.commit()
    return row


@bp.post("/return-policy/preview")
@endpoint(roles=READERS, body=PreviewIn, response=PreviewOut,
          summary="What a policy would have decided on the last days' cases", tags=TAGS)
def preview_policy(body):
    who, session = principal(), request_session()
    document = body["document"] if body["document"] is not None else versions.get(
        session, who.merchant_id, body["version"]).document
    try:
        return review.preview(session, who.merchant_id, document, body["days"])
    except ValidationError as bad:
        raise ValidationError({"document": bad.messages}) from None


@bp.post("/return-policy/versions/<int:version>/publish")
@endpoint(roles=ADMIN, response=PolicyVersionFullOut, summary="Put a policy version in force",
          tags=TAGS)
def publish_policy(version):
    who, session = principal(), request_session()
    row = versions.publish(session, who.merchant_id, version, who.actor)
    session.commit()
    return row


@bp.get("/products")
@endpoint(roles=READERS, query=PageArgs, response=ProductOut, many=True,
          summary="The product catalogue", tags=TAGS)
def list_products(args):
    return paginate(request_session(), visible(Product, principal()), Product.id, args)


@bp.put("/products/<path:sku>")
@endpoint(roles=ADMIN, body=ProductIn, response=ProductOut,
          summary="Catalogue a SKU: its category and value", tags=TAGS)
def put_product(sku, body):
    who, session = principal(), request_session()
    if not 0 < len(sku) <= 128:
        raise ValidationError("a SKU is 1 to 128 characters", "sku")
    lock_merchant(session, who.merchant_id)  # two first PUTs of a SKU: one row
    row = session.scalar(visible(Product, who).where(Product.sku == sku))
    if row is None:
        row = Product(merchant_id=who.merchant_id, sku=sku)
        session.add(row)
    for key, value in body.items():
        setattr(row, key, value)
    session.commit()
    return row


@bp.get("/returns/<int:return_id>/policy-decisions")
@endpoint(roles=READERS, query=PageArgs, response=PolicyDecisionOut, many=True,
          summary="What the policy decided on a case, and why", tags=TAGS)
def case_policy_decisions(return_id, args):
    who, session = principal(), request_session()
    case = get_visible(session, ReturnCase, return_id, who)
    return paginate(session, visible(PolicyDecision, who).where(
        PolicyDecision.return_case_id == case.id), PolicyDecision.id, args)
