"""A return policy's document: its schema, the default, and reading it.

The document is JSON a merchant edits (``DEFAULT`` is what a merchant without a
published version gets, the usual terms of a Chinese shop platform)::

    windows         [{shops?, categories?, no_reason_days, quality_days}]  first match wins
    non_returnable  [{categories, unless_families, zh, en}]  e.g. food unless it is faulty
    conditions      {category: [condition]}  what a changed-mind return must come back with
    freight         [{families, payer, insured_payer?}]  who pays the return freight
    auto_review     [rule]  in order; the first rule whose conditions all hold decides
    fast_refund     {enabled, max_refund_minor, max_returns_90d}  refund at pickup scan
    categories      {category: {instructions: {zh, en}, checklist: [item]}}  ``default`` too
    grading         {thresholds: {A, B, C}, discount: {A, B, C, D}, repair_share}
    exchange_dispatch  on_receipt | on_approval: when an exchange's replacement is sent
    liability       who pays when something costs money (``hub.domain.policy.liability``)

A rule: ``{name, outcome: approve | manual, kinds?, families?, codes?, shops?,
categories?, max_refund_minor?, shipped?, min_photos?, min_returns_90d?, zh?, en?}``.
Every key but ``name`` and ``outcome`` is a condition; ``zh``/``en`` say why in the
merchant's words (else the hub words the conditions). A payer is ``buyer``,
``merchant``, ``liable_party`` (the supplier or courier liability finds: next issue),
``courier`` or ``platform`` (freight insurance, 运费险).
"""
from __future__ import annotations

import copy

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from hub.core.db import MAX_INT
from hub.domain.policy.liability import Section

FAMILIES = ("quality", "fulfilment", "shipping", "buyer", "pricing", "other")
KINDS = ("refund_only", "return_refund", "exchange", "reship", "repair")
PAYERS = ("buyer", "merchant", "liable_party", "courier", "platform")
OUTCOMES = ("approve", "manual")
DISPOSITIONS = ("restock", "discount", "repair", "return_to_supplier", "scrap", "hold")
GRADES = ("A", "B", "C", "D")



def _days():
    return fields.Integer(validate=validate.Range(0, 365), required=True, strict=True)


_money = dict(validate=validate.Range(0, MAX_INT), strict=True)
_codes = dict(validate=validate.Length(max=50))


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class _Words(_Strict):
    zh = fields.String(required=True, validate=validate.Length(1, 500))
    en = fields.String(required=True, validate=validate.Length(1, 500))


class _Scoped(_Strict):
    shops = fields.List(fields.Integer(strict=True), **_codes)
    categories = fields.List(fields.String(validate=validate.Length(1, 64)), **_codes)


class Window(_Scoped):
    no_reason_days = _days()
    quality_days = _days()


class Exclusion(_Scoped):
    unless_families = fields.List(fields.String(validate=validate.OneOf(FAMILIES)),
                                  load_default=list)
    zh = fields.String(validate=validate.Length(max=500))
    en = fields.String(validate=validate.Length(max=500))


class Freight(_Strict):
    families = fields.List(fields.String(validate=validate.OneOf(FAMILIES)), required=True)
    payer = fields.String(required=True, validate=validate.OneOf(PAYERS))
    insured_payer = fields.String(validate=validate.OneOf(PAYERS))


class Rule(_Scoped):
    name = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,63}$"))
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    kinds = fields.List(fields.String(validate=validate.OneOf(KINDS)), **_codes)
    families = fields.List(fields.String(validate=validate.OneOf(FAMILIES)), **_codes)
    codes = fields.List(fields.String(validate=validate.Length(1, 128)), **_codes)
    max_refund_minor = fields.Integer(**_money)
    shipped = fields.Boolean()
    min_photos = fields.Integer(validate=validate.Range(0, 100), strict=True)
    min_returns_90d = fields.Integer(validate=validate.Range(1, 10_000), strict=True)
    zh = fields.String(validate=validate.Length(max=500))
    en = fields.String(validate=validate.Length(max=500))


class FastRefund(_Strict):
    enabled = fields.Boolean(required=True)
    max_refund_minor = fields.Integer(load_default=0, **_money)
    max_returns_90d = fields.Integer(load_default=0, validate=validate.Range(0, 10_000),
                                     strict=True)


class CategoryTerms(_Strict):
    instructions = fields.Nested(_Words)
    checklist = fields.List(fields.String(validate=validate.Length(1, 64)), **_codes)


class Grading(_Strict):
    thresholds = fields.Dict(keys=fields.String(validate=validate.OneOf(GRADES[:3])),
                             values=fields.Float(validate=validate.Range(0, 5)),
                             required=True)

    @validates_schema
    def ordered(self, data, **kwargs):
        found = [data["thresholds"].get(g) for g in GRADES[:3]]
        if None in found or found != sorted(found, reverse=True):
            raise ValidationError("give A, B and C, with A ≥ B ≥ C", "thresholds")
    discount = fields.Dict(keys=fields.String(validate=validate.OneOf(GRADES)),
                           values=fields.Float(validate=validate.Range(0, 1)), required=True)
    repair_share = fields.Float(required=True, validate=validate.Range(0, 1))


class DocumentSchema(_Strict):
    windows = fields.List(fields.Nested(Window), required=True,
                          validate=validate.Length(1, 50))
    non_returnable = fields.List(fields.Nested(Exclusion), load_default=list, **_codes)
    conditions = fields.Dict(keys=fields.String(validate=validate.Length(1, 64)),
                             values=fields.List(fields.String(validate=validate.Length(1, 64))),
                             load_default=dict)
    freight = fields.List(fields.Nested(Freight), required=True)
    auto_review = fields.List(fields.Nested(Rule), load_default=list,
                              validate=validate.Length(max=100))
    fast_refund = fields.Nested(FastRefund, load_default=lambda: {"enabled": False})
    categories = fields.Dict(keys=fields.String(validate=validate.Length(1, 64)),
                             values=fields.Nested(CategoryTerms), load_default=dict)
    grading = fields.Nested(Grading, load_default=lambda: copy.deepcopy(DEFAULT["grading"]))
    exchange_dispatch = fields.String(load_default="on_receipt",
                                      validate=validate.OneOf(("on_receipt", "on_approval")))
    liability = fields.Nested(Section, load_default=dict)


DEFAULT = {
    "windows": [{"no_reason_days": 7, "quality_days": 15}],
    "non_returnable": [
        {"categories": ["food", "fresh"], "unless_families": ["quality", "fulfilment", "shipping"],
         "zh": "食品生鲜不支持七天无理由退货", "en": "food is not returnable without a fault"},
        {"categories": ["custom"], "unless_families": ["quality", "fulfilment", "shipping"],
         "zh": "定制商品不支持无理由退货", "en": "custom goods are returnable only when faulty"},
    ],
    "conditions": {"cosmetics": ["unopened"], "apparel": ["tags_attached"],
                   "default": ["original_packaging"]},
    "freight": [
        {"families": ["buyer"], "payer": "buyer", "insured_payer": "platform"},
        {"families": ["quality", "fulfilment"], "payer": "liable_party"},
        {"families": ["shipping"], "payer": "courier"},
        {"families": ["pricing", "other"], "payer": "merchant"},
    ],
    "auto_review": [],
    "fast_refund": {"enabled": False, "max_refund_minor": 0, "max_returns_90d": 0},
    "categories": {
        "default": {"instructions": {
            "zh": "请用原包装或纸箱包好商品，附上配件、赠品和发票，箱内放一张写有订单号的纸条。",
            "en": "Pack the goods in their original box or a carton with every accessory, gift "
                  "and invoice, and a note with your order number."},
            "checklist": ["packaging", "accessories", "appearance", "function"]},
        "fragile": {"instructions": {
            "zh": "易碎品请用气泡膜逐件包裹，四周填充后装入硬纸箱，外箱注明“易碎”。",
            "en": "Wrap each fragile item in bubble wrap, fill the gaps, use a rigid carton "
                  "and mark it FRAGILE."},
            "checklist": ["packaging", "breakage", "accessories", "function"]},
        "large": {"instructions": {
            "zh": "大件商品请使用加固纸箱或原厂包装并用胶带十字封箱，可预约上门取件。",
            "en": "Ship large items in a reinforced carton or the maker's packaging, taped "
                  "crosswise; a courier pickup can be booked."},
            "checklist": ["packaging", "appearance", "completeness", "function"]},
    },
    "grading": {"thresholds": {"A": 4.5, "B": 3.5, "C": 2.0},
                "discount": {"A": 1.0, "B": 0.8, "C": 0.5, "D": 0.0},
                "repair_share": 0.3},
    "exchange_dispatch": "on_receipt",
}


def validated(document) -> dict:
    """The document as stored, or ``ValidationError`` naming each bad field."""
    if not isinstance(document, dict):
        raise ValidationError({"document": ["must be an object"]})
    return DocumentSchema().load(document)


class Policy:
    """A version of the policy, read (``version`` 0: the default)."""

    def __init__(self, document: dict, version: int = 0):
        self.document, self.version = document, version

    def window(self, shop_id: int, categories) -> dict:
        return next(w for w in self.document["windows"] + [DEFAULT["windows"][0]]
                    if _in_scope(w, shop_id, categories))

    def exclusion(self, shop_id: int, categories, family: str) -> dict | None:
        return next((x for x in self.document["non_returnable"]
                     if _in_scope(x, shop_id, categories, need_category=True)
                     and family not in x["unless_families"]), None)

    def freight_payer(self, family: str, insured: bool = False) -> str:
        for rule in self.document["freight"]:
            if family in rule["families"]:
                return rule.get("insured_payer", rule["payer"]) if insured else rule["payer"]
        return "merchant"

    def category(self, category: str) -> dict:
        """The terms of ``category`` (instructions, checklist): the document's, else the
        built-in ones for it, and the default category's (the document's, then the
        built-in) filling what is left out."""
        ours, built_in = self.document["categories"], DEFAULT["categories"]
        return {**built_in["default"], **ours.get("default", {}),
                **built_in.get(category, {}), **ours.get(category, {})}

    def conditions(self, category: str) -> list[str]:
        found = self.document["conditions"]
        return list(found.get(category, found.get("default", [])))

    @property
    def rules(self) -> list[dict]:
        return self.document["auto_review"]

    @property
    def fast_refund(self) -> dict:
        return self.document["fast_refund"]

    @property
    def grading(self) -> dict:
        return self.document["grading"]

    @property
    def liability(self) -> dict:
        return self.document.get("liability", {})  # versions written before it: none

    @property
    def exchange_dispatch(self) -> str:
        return self.document.get("exchange_dispatch", "on_receipt")


def _in_scope(item: dict, shop_id: int, categories, need_category: bool = False) -> bool:
    if item.get("shops") and shop_id not in item["shops"]:
        return False
    wanted = item.get("categories")
    if wanted:
        return any(c in wanted for c in categories)
    return not need_category


DEFAULT_POLICY = Policy(validated(copy.deepcopy(DEFAULT)))
