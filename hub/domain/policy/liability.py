"""The liability table: who pays when something costs money, a section of the policy.

The policy document's ``liability`` (versioned with the rest of it) and a supplier's
``contract_terms.liability`` (what that supplier agreed) have the same shape::

    rules          [rule]  tried in order: the contract's, the policy's, then ``DEFAULT``'s
    goods_value    cost | price   goods at the supplier's contract cost or the sale price
    freight_minor  what one parcel's freight costs the merchant, each way (fen)
    penalties      {late_shipment, fake_shipment}  the platform's penalty when none is given
    couriers       {carrier | default: {uninsured_multiple, interception_fee_minor}}
    claims         {auto_send, answer_days}  send a decision's claims at once; days to answer
    fake_after_hours  a reported waybill with no courier scan this long is a fake shipment

A rule: ``{name, events, families?, codes?, conditions?, grades?, packaging_ok?, insured?,
in_time?, stop?, liable: [{party, share}], costs: [cost], zh, en}``. Every optional key is
a condition on the decision's facts (``hub.domain.liability.facts``); the first rule whose
conditions all hold decides. ``liable``'s shares add up to 1; a courier's share is capped
(insured: the declared value; uninsured: ``uninsured_multiple`` × the freight) and what
the cap leaves falls to the merchant. The default table follows the practice in
``suppliers-finance.md`` §3.4 (an inference to confirm against each supplier contract).
"""
from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from hub.core.db import MAX_INT
from hub.models.liability import COSTS, EVENTS, PARTIES

MIN_FAKE_AFTER_HOURS, MAX_FAKE_AFTER_HOURS = 24, 720
CONDITIONS = ("intact", "damaged", "missing_parts", "wrong_item", "empty", "used")
STOPS = ("accepted", "shipped_after_accept", "refused", "late")
_list = dict(validate=validate.Length(max=50))
_money = dict(validate=validate.Range(0, MAX_INT), strict=True)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class Share(_Strict):
    party = fields.String(required=True, validate=validate.OneOf(PARTIES))
    share = fields.Float(required=True, validate=validate.Range(0, 1, min_inclusive=False))


class Rule(_Strict):
    name = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,63}$"))
    events = fields.List(fields.String(validate=validate.OneOf(EVENTS)), required=True,
                         validate=validate.Length(1, len(EVENTS)))
    families = fields.List(fields.String(validate=validate.Length(1, 32)), **_list)
    codes = fields.List(fields.String(validate=validate.Length(1, 128)), **_list)
    conditions = fields.List(fields.String(validate=validate.OneOf(CONDITIONS)), **_list)
    grades = fields.List(fields.String(validate=validate.OneOf("ABCD")), **_list)
    packaging_ok = fields.Boolean()
    insured = fields.Boolean()
    in_time = fields.Boolean()
    stop = fields.List(fields.String(validate=validate.OneOf(STOPS)), **_list)
    liable = fields.List(fields.Nested(Share), required=True, validate=validate.Length(1, 5))
    costs = fields.List(fields.String(validate=validate.OneOf(COSTS)), required=True)
    zh = fields.String(required=True, validate=validate.Length(1, 500))
    en = fields.String(required=True, validate=validate.Length(1, 500))

    @validates_schema
    def whole(self, data, **kwargs):
        parties = [x["party"] for x in data["liable"]]
        if len(set(parties)) != len(parties):
            raise ValidationError("name each party once", "liable")
        if abs(sum(x["share"] for x in data["liable"]) - 1) > 1e-9:
            raise ValidationError("the shares add up to 1", "liable")


class CourierTerms(_Strict):
    uninsured_multiple = fields.Float(validate=validate.Range(0, 100))
    interception_fee_minor = fields.Integer(**_money)


class ClaimTerms(_Strict):
    auto_send = fields.Boolean()
    answer_days = fields.Integer(validate=validate.Range(1, 90), strict=True)


class Penalties(_Strict):
    late_shipment = fields.Integer(**_money)
    fake_shipment = fields.Integer(**_money)


class Section(_Strict):
    """The policy's section, or a contract's (every key optional in both)."""

    rules = fields.List(fields.Nested(Rule), validate=validate.Length(max=100))
    goods_value = fields.String(validate=validate.OneOf(("cost", "price")))
    freight_minor = fields.Integer(**_money)
    fake_after_hours = fields.Integer(validate=validate.Range(MIN_FAKE_AFTER_HOURS,
                                                              MAX_FAKE_AFTER_HOURS),
                                      strict=True)
    penalties = fields.Nested(Penalties)
    couriers = fields.Dict(keys=fields.String(validate=validate.Length(1, 64)),
                           values=fields.Nested(CourierTerms), validate=validate.Length(max=100))
    claims = fields.Nested(ClaimTerms)


def _rule(name, events, liable, costs, zh, en, **when) -> dict:
    shares = [{"party": p, "share": s} for p, s in liable]
    return {"name": name, "events": events, **when, "liable": shares, "costs": costs,
            "zh": zh, "en": en}


_GOODS_BOTH = ["goods", "outbound_freight", "return_freight"]
_STOP = ["stop_ship", "interception_fee"]
_STOP_COSTS = ["interception_fee", "outbound_freight", "return_freight"]
DEFAULT = {
    "goods_value": "cost", "freight_minor": 800, "fake_after_hours": 48,
    "penalties": {"late_shipment": 500, "fake_shipment": 2000},
    "couriers": {"default": {"uninsured_multiple": 3, "interception_fee_minor": 500}},
    "claims": {"auto_send": False, "answer_days": 7},
    "rules": [
        _rule("stop_ship_accepted", _STOP, [("nobody", 1)], [],
              "供应商已同意截单，无人承担费用", "the supplier accepted the stop-ship: nobody pays",
              stop=["accepted"]),
        _rule("stop_ship_shipped_after_accept", _STOP, [("supplier", 1)], _STOP_COSTS,
              "供应商同意截单后仍发货，拦截费和往返运费由供应商承担",
              "the supplier shipped after accepting the stop-ship: it pays the interception "
              "and both freights", stop=["shipped_after_accept"]),
        _rule("stop_ship_refused_or_late", _STOP, [("merchant", 1)], _STOP_COSTS,
              "截单被拒或为时已晚，费用由商家承担",
              "the stop-ship was refused or came too late: the merchant pays"),
        _rule("lost_parcel", ["lost_parcel", "return"], [("courier", 1)],
              ["goods", "outbound_freight"], "包裹丢失，由快递按赔付上限赔偿，超出部分商家承担",
              "the parcel was lost: the courier pays up to its cap, the merchant the rest",
              codes=["shipping.lost"]),
        _rule("lost_parcel_reported", ["lost_parcel"], [("courier", 1)],
              ["goods", "outbound_freight"], "包裹丢失，由快递按赔付上限赔偿，超出部分商家承担",
              "the parcel was lost: the courier pays up to its cap, the merchant the rest"),
        _rule("damaged_poor_packaging", ["damaged_parcel", "return"], [("supplier", 1)],
              _GOODS_BOTH, "运输破损且包装不合格，由供应商承担",
              "damaged in transit in inadequate packaging: the supplier pays",
              codes=["shipping.damaged_in_transit"], packaging_ok=False),
        _rule("damaged_in_transit", ["damaged_parcel", "return"], [("courier", 1)],
              ["goods", "outbound_freight"], "运输途中破损，由快递按赔付上限赔偿，超出部分商家承担",
              "damaged in transit: the courier pays up to its cap, the merchant the rest",
              codes=["shipping.damaged_in_transit"]),
        _rule("damaged_parcel_reported", ["damaged_parcel"], [("courier", 1)],
              ["goods", "outbound_freight"], "运输途中破损，由快递按赔付上限赔偿，超出部分商家承担",
              "damaged in transit: the courier pays up to its cap, the merchant the rest"),
        _rule("late_shipment_supplier", ["late_shipment"], [("supplier", 1)],
              ["platform_penalty"], "订单按时送达供应商但发货超时，平台罚款由供应商承担",
              "the order reached the supplier in time and it shipped late: it pays the "
              "platform's penalty", in_time=True),
        _rule("late_shipment_merchant", ["late_shipment"], [("merchant", 1)],
              ["platform_penalty"], "订单送达供应商时已来不及按时发货，罚款由商家承担",
              "the order reached the supplier too late to ship on time: the merchant pays"),
        _rule("fake_shipment", ["fake_shipment", "return"], [("supplier", 1)],
              ["platform_penalty", "goods"], "虚假发货（有单号无揽收），由供应商承担罚款和货款",
              "a fake shipment (a waybill with no pickup): the supplier pays the penalty and "
              "the goods", codes=["fulfilment.fake_shipment"]),
        _rule("fake_shipment_reported", ["fake_shipment"], [("supplier", 1)],
              ["platform_penalty", "goods"], "虚假发货（有单号无揽收），由供应商承担罚款和货款",
              "a fake shipment (a waybill with no pickup): the supplier pays the penalty and "
              "the goods"),
        _rule("buyer_damaged", ["return"], [("buyer", 1)], ["return_freight"],
              "买家无理由退货，但退回商品已使用、损坏或缺件，由买家承担",
              "a changed-mind return came back used, damaged or incomplete: the buyer pays",
              families=["buyer"], conditions=["used", "damaged", "missing_parts", "empty"]),
        _rule("wrong_item", ["return"], [("supplier", 1)], ["outbound_freight",
              "return_freight"], "供应商发错货，往返运费由供应商承担",
              "the supplier sent the wrong item: it pays both freights",
              codes=["fulfilment.wrong_item"]),
        _rule("missing_item", ["return"], [("supplier", 1)], _GOODS_BOTH,
              "供应商漏发，货款和运费由供应商承担",
              "the supplier left an item out: it pays the goods and the freights",
              codes=["fulfilment.missing_item"]),
        _rule("quality_not_confirmed", ["return"], [("merchant", 1)], ["return_freight"],
              "买家反映质量问题，但验货完好（A级），退货运费由商家承担，不向供应商索赔",
              "a quality complaint whose goods came back intact (grade A): the merchant "
              "bears the return freight; nothing is claimed from the supplier",
              families=["quality"], conditions=["intact"], grades=["A"]),
        _rule("quality_defect", ["return"], [("supplier", 1)], ["goods", "return_freight"],
              "商品质量问题，货款和退货运费由供应商承担",
              "a quality defect: the supplier pays the goods and the return freight",
              families=["quality"]),
        _rule("supplier_fault", ["return"], [("supplier", 1)], ["return_freight"],
              "供应商履约问题，退货运费由供应商承担",
              "the supplier's fulfilment failed: it pays the return freight",
              families=["fulfilment"]),
        _rule("changed_mind_insured", ["return"], [("platform", 1)], ["return_freight"],
              "七天无理由退货，退货运费由运费险承担",
              "a changed-mind return with freight insurance: the insurance pays the freight",
              families=["buyer"], insured=True),
        _rule("changed_mind", ["return"], [("buyer", 1)], ["return_freight"],
              "七天无理由退货，退货运费由买家承担",
              "a changed-mind return: the buyer pays the return freight", families=["buyer"]),
        _rule("merchant_default", list(EVENTS), [("merchant", 1)], [],
              "没有其他规则适用，由商家承担", "no other rule applies: the merchant bears it"),
    ],
}


def validated(section) -> dict:
    """A section as stored, or ``ValidationError`` naming each bad field."""
    if not isinstance(section, dict):
        raise ValidationError({"liability": ["must be an object"]})
    return Section().load(section)


class Terms:
    """What decides a merchant's cases with one supplier: the contract's terms over the
    policy's over the defaults, and its rules before theirs (``source`` says whose)."""

    def __init__(self, policy: dict | None, contract: dict | None = None):
        policy, contract = policy or {}, contract or {}
        self.rules = ([(r, "contract") for r in contract.get("rules", [])]
                      + [(r, "policy") for r in policy.get("rules", [])]
                      + [(r, "default") for r in DEFAULT["rules"]])
        layers = (DEFAULT, policy, contract)
        pick = {k: next(x[k] for x in reversed(layers) if k in x)
                for k in ("goods_value", "freight_minor", "fake_after_hours")}
        self.goods_value, self.freight_minor = pick["goods_value"], pick["freight_minor"]
        self.fake_after_hours = pick["fake_after_hours"]
        self.penalties = {**DEFAULT["penalties"], **policy.get("penalties", {}),
                          **contract.get("penalties", {})}
        self.claims = {**DEFAULT["claims"], **policy.get("claims", {}),
                       **contract.get("claims", {})}
        self._couriers = [x.get("couriers", {}) for x in layers]

    def courier(self, carrier: str | None) -> dict:
        """A carrier's terms: each layer's ``default`` then its entry for the carrier, the
        contract's over the policy's over the defaults."""
        found: dict = {}
        for couriers in self._couriers:
            found.update(couriers.get("default", {}))
            found.update(couriers.get(carrier or "", {}))
        return found

    def rule_for(self, facts: dict) -> tuple[dict, str]:
        return next((rule, source) for rule, source in self.rules if matches(rule, facts))


def matches(rule: dict, facts: dict) -> bool:
    if facts["event"] not in rule["events"]:
        return False
    for key, fact in (("families", "family"), ("codes", "code"), ("conditions", "condition"),
                      ("grades", "grade"), ("stop", "stop")):
        if rule.get(key) and facts.get(fact) not in rule[key]:
            return False
    return all(facts.get(key) is rule[key] for key in ("packaging_ok", "insured", "in_time")
               if key in rule)

