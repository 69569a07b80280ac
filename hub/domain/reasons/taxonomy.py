"""The return-reason tree every connector maps into: ``family.leaf`` codes, six families.

A platform's own reason codes and a buyer's free text both end on one of these leaves
(``mappings/<platform>/`` for codes, ``classifier`` for text), so reports compare
reasons across shops. Each leaf has a Chinese and an English label and a line saying
what belongs there: the training data and a merchant correcting a reason go by it.
Leaves are as fine as buyers' words can tell apart, no finer (a buyer who "no longer
needs it" has changed their mind).

``family_of`` never fails: a dotted code the tree does not know (a newer mapping, a
hand-typed correction) keeps its family when the family is known, else it is ``other``.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Leaf:
    code: str
    zh: str
    en: str
    means: str


FAMILY_LABELS: dict[str, tuple[str, str]] = {
    "quality": ("商品质量", "Product quality"),
    "fulfilment": ("商家发货", "Fulfilment"),
    "shipping": ("物流配送", "Shipping"),
    "buyer": ("买家原因", "Buyer's reasons"),
    "pricing": ("价格与费用", "Price and charges"),
    "other": ("其他", "Other"),
}
FAMILIES: tuple[str, ...] = tuple(FAMILY_LABELS)

_LEAVES = (
    Leaf("quality.defect", "质量问题/做工瑕疵", "Defect or poor workmanship",
         "does not work, stops working, loose seams, stains, smell: a fault of the goods"),
    Leaf("quality.damaged", "商品破损", "Arrived broken",
         "the goods themselves cracked, broken or scratched, the parcel not said to be hurt"),
    Leaf("quality.not_as_described", "与描述不符", "Not as described",
         "colour, material, look or function differs from the listing or the streamer"),
    Leaf("quality.counterfeit", "假冒品牌", "Counterfeit",
         "fake, not genuine, an imitation of the brand"),
    Leaf("quality.expired", "过期/临期", "Expired or near expiry",
         "past or close to its best-before date, production date too old"),
    Leaf("quality.allergy", "使用后过敏/不良反应", "Allergic or adverse reaction",
         "rash, redness, itching or another reaction after using it"),
    Leaf("fulfilment.wrong_item", "发错货", "Wrong item sent",
         "another product, colour, size or model than the one ordered was sent"),
    Leaf("fulfilment.missing_item", "少件/漏发", "Missing items",
         "fewer pieces, missing accessories or gifts, an empty parcel"),
    Leaf("fulfilment.fake_shipment", "虚假发货", "Fake shipment",
         "marked shipped but the tracking number has no movement or is not real"),
    Leaf("fulfilment.late_shipment", "未按约定时间发货", "Shipped late",
         "not shipped within the promised time"),
    Leaf("fulfilment.out_of_stock", "缺货", "Out of stock",
         "the seller has no stock and cannot ship"),
    Leaf("shipping.damaged_in_transit", "运输途中破损", "Damaged in transit",
         "the parcel arrived crushed, wet or torn and the goods were hurt on the way"),
    Leaf("shipping.lost", "快递丢件", "Lost in transit",
         "the courier lost the parcel"),
    Leaf("shipping.not_received", "未收到货", "Not received",
         "the parcel has not arrived, or shows delivered but the buyer does not have it"),
    Leaf("buyer.size_fit", "尺码不合适", "Size or fit",
         "too big, too small, does not fit"),
    Leaf("buyer.ordered_by_mistake", "拍错/多拍", "Ordered by mistake",
         "wrong option chosen, ordered twice, ordered more than wanted"),
    Leaf("buyer.changed_mind", "不想要了/七天无理由", "Changed mind",
         "no longer wanted or needed, does not like it, seven-day no-reason return"),
    Leaf("buyer.negotiated", "与商家协商一致", "Agreed with the seller",
         "the buyer and the seller agreed on the refund"),
    Leaf("buyer.address_change", "地址填错/需改地址", "Address change",
         "wrong or changed delivery address or phone number"),
    Leaf("pricing.price_protection", "价保", "Price protection",
         "a price-protection claim within the guarantee period"),
    Leaf("pricing.price_difference", "退差价", "Price difference",
         "the price dropped or is lower elsewhere in the shop: refund the difference"),
    Leaf("pricing.promotion_not_applied", "优惠未享受", "Promotion not applied",
         "coupon, discount or promised deal not applied"),
    Leaf("pricing.overcharged", "多扣款/重复扣款", "Overcharged",
         "charged twice or more than the order's amount"),
    Leaf("pricing.shipping_fee", "运费问题", "Shipping fee",
         "a freight charge disputed, the return freight to be paid back"),
    Leaf("other", "其他", "Other", "anything that says no reason"),
)
LEAVES: dict[str, Leaf] = {leaf.code: leaf for leaf in _LEAVES}
CODES: tuple[str, ...] = tuple(LEAVES)


def is_code(code: str | None) -> bool:
    """True for a leaf of the tree (``other`` included), not for a bare family."""
    return code in LEAVES


def family_of(code: str | None) -> str:
    """The family of a leaf; of an unknown code, its dotted prefix when that is a family."""
    if not code:
        return "other"
    family = code.split(".", 1)[0]
    return family if family in FAMILY_LABELS else "other"


def label(code: str | None, lang: str = "zh") -> str:
    """The leaf's label in ``lang`` (``zh…`` is Chinese, anything else English); an
    unknown code gets its family's label."""
    chinese = (lang or "").lower().startswith("zh")
    leaf = LEAVES.get(code or "")
    if leaf is not None:
        return leaf.zh if chinese else leaf.en
    zh, en = FAMILY_LABELS[family_of(code)]
    return zh if chinese else en
