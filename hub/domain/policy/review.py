"""What a policy version decides on a return case, and why, in words a merchant reads.

``evaluate(policy, facts)`` is pure: the checks run in this order and the first that
speaks decides.

1. **Window** — a return of goods that were delivered is allowed ``no_reason_days`` after
   delivery for a buyer's reason and ``quality_days`` for a fault; later → ``manual``.
2. **Non-returnable** — a category excluded for this reason family → ``manual`` (the
   merchant may reject it; the hub never rejects on its own: platform rules protect the
   buyer's 七天无理由 right, and a wrong automatic rejection costs the shop's rating).
3. **Automatic review** — the merchant's rules in order; the first whose conditions all
   hold decides (``approve`` or ``manual``).
4. Otherwise ``manual`` (rule ``no_rule``).

``facts_of(session, case)`` reads what the checks need; ``preview`` runs a document over
the merchant's cases of the last 30 days beside the version in force.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.core.db import utcnow
from hub.domain.policy.document import Policy, validated
from hub.domain.policy.versions import categories_of, in_force
from hub.domain.reasons import taxonomy
from hub.models import Order, ReturnCase, Shipment

BUYER_FAMILIES = ("buyer", "pricing", "other")
SHIPPED = ("shipped", "delivered", "completed")
REPEAT_DAYS = 90


@dataclass(frozen=True)
class Facts:
    kind: str
    code: str
    refund_minor: int
    shop_id: int
    categories: tuple[str, ...]
    shipped: bool
    days_after_delivery: int | None  # None: not delivered (or not known to be)
    photos: int = 0
    returns_90d: int = 0  # the buyer's other return requests in the 90 days before

    @property
    def family(self) -> str:
        return taxonomy.family_of(self.code)


@dataclass(frozen=True)
class Verdict:
    outcome: str  # approve | manual
    rule: str
    why_zh: str
    why_en: str
    freight_payer: str
    version: int


def evaluate(policy: Policy, facts: Facts) -> Verdict:
    def verdict(outcome, rule, zh, en):
        return Verdict(outcome, rule, zh, en, payer, policy.version)

    payer = policy.freight_payer(facts.family)
    fault = facts.family not in BUYER_FAMILIES
    if facts.days_after_delivery is not None:
        window = policy.window(facts.shop_id, facts.categories)
        days = window["quality_days" if fault else "no_reason_days"]
        if facts.days_after_delivery > days:
            kind_zh, kind_en = ("质量问题", "a fault") if fault else ("无理由", "no reason")
            return verdict(
                "manual", "window",
                f"签收后第{facts.days_after_delivery}天申请，超出{kind_zh}退货期（{days}天）",
                f"requested {facts.days_after_delivery} days after delivery, past the "
                f"{days}-day window for {kind_en}")
    excluded = policy.exclusion(facts.shop_id, facts.categories, facts.family)
    if excluded is not None and (facts.kind != "refund_only" or facts.shipped):
        return verdict("manual", "non_returnable",
                       excluded.get("zh") or "该类目商品不支持此原因退货",
                       excluded.get("en") or "this category is not returnable for this reason")
    for rule in policy.rules:
        if _holds(rule, facts):
            zh, en = _words(rule)
            return verdict(rule["outcome"], rule["name"], rule.get("zh") or zh,
                           rule.get("en") or en)
    return verdict("manual", "no_rule", "没有自动审核规则适用，请人工处理",
                   "no automatic review rule applies: decide by hand")


def _holds(rule: dict, f: Facts) -> bool:
    checks = {
        "kinds": lambda v: f.kind in v,
        "families": lambda v: f.family in v,
        "codes": lambda v: f.code in v,
        "shops": lambda v: f.shop_id in v,
        "categories": lambda v: any(c in v for c in f.categories),
        "max_refund_minor": lambda v: f.refund_minor <= v,
        "shipped": lambda v: f.shipped is v,
        "min_photos": lambda v: f.photos >= v,
        "min_returns_90d": lambda v: f.returns_90d >= v,
    }
    return all(check(rule[key]) for key, check in checks.items() if key in rule)


def _words(rule: dict) -> tuple[str, str]:
    """The rule's conditions, worded."""
    zh, en = [], []
    if "kinds" in rule:
        zh.append("类型为" + "/".join(rule["kinds"]))
        en.append("kind is " + " or ".join(rule["kinds"]))
    if "families" in rule or "codes" in rule:
        names = rule.get("codes") or rule["families"]
        zh.append("原因属于" + "/".join(names))
        en.append("the reason is " + " or ".join(names))
    if "categories" in rule:
        zh.append("类目为" + "/".join(rule["categories"]))
        en.append("the category is " + " or ".join(rule["categories"]))
    if "max_refund_minor" in rule:
        yuan = f"{rule['max_refund_minor'] / 100:.2f}"
        zh.append(f"退款不超过{yuan}元")
        en.append(f"the refund is at most ¥{yuan}")
    if "shipped" in rule:
        zh.append("已发货" if rule["shipped"] else "尚未发货")
        en.append("the order has shipped" if rule["shipped"] else "the order has not shipped")
    if rule.get("min_photos"):
        zh.append(f"买家提供至少{rule['min_photos']}张照片")
        en.append(f"the buyer sent at least {rule['min_photos']} photo(s)")
    if "min_returns_90d" in rule:
        zh.append(f"买家90天内已申请{rule['min_returns_90d']}次以上售后")
        en.append(f"the buyer asked for {rule['min_returns_90d']} or more after-sales in 90 days")
    act_zh = "自动同意" if rule["outcome"] == "approve" else "转人工审核"
    act_en = "approved automatically" if rule["outcome"] == "approve" else "sent to manual review"
    return (f"规则 {rule['name']}：{'，'.join(zh) or '所有申请'}，{act_zh}",
            f"rule {rule['name']}: {', '.join(en) or 'every request'}; {act_en}")


def facts_of(session: Session, case: ReturnCase) -> Facts:
    order = session.get(Order, case.order_id) if case.order_id else None
    asked = case.requested_at or case.created_at or utcnow()
    delivered = None
    if order is not None:
        delivered = session.scalar(select(func.max(Shipment.delivered_at)).where(
            Shipment.merchant_id == case.merchant_id, Shipment.order_id == order.id,
            Shipment.direction == "outbound"))
    returns = 0
    if case.buyer_ref:
        returns = session.scalar(select(func.count(ReturnCase.id)).where(
            ReturnCase.merchant_id == case.merchant_id, ReturnCase.buyer_ref == case.buyer_ref,
            ReturnCase.id != case.id, ReturnCase.requested_at <= asked,
            ReturnCase.requested_at > asked - timedelta(days=REPEAT_DAYS))) or 0
    skus = [line.sku for line in case.lines] or [line.sku for line in (order.lines if order else [])]
    return Facts(
        kind=case.kind, code=case.reason_code or "other", refund_minor=case.refund_minor,
        shop_id=case.shop_account_id,
        categories=tuple(sorted(set(categories_of(session, case.merchant_id, skus).values()))),
        shipped=bool(order and (order.status in SHIPPED or delivered)),
        days_after_delivery=(asked - delivered).days if delivered and asked >= delivered else None,
        photos=case.buyer_photos or 0, returns_90d=returns)


def preview(session: Session, merchant_id: int, document, days: int = 30) -> dict:
    """What ``document`` would have decided on the cases requested in the last ``days``,
    beside the version in force: counts, and every case whose outcome differs."""
    candidate = Policy(validated(document), version=-1)
    current = in_force(session, merchant_id)
    cases = session.scalars(select(ReturnCase).where(
        ReturnCase.merchant_id == merchant_id,
        ReturnCase.requested_at >= utcnow() - timedelta(days=days))
        .order_by(ReturnCase.requested_at, ReturnCase.id))
    counts = {"current": {}, "candidate": {}}
    changed = []
    total = 0
    for case in cases:
        total += 1
        facts = facts_of(session, case)
        before, after = evaluate(current, facts), evaluate(candidate, facts)
        for side, v in (("current", before), ("candidate", after)):
            counts[side][v.outcome] = counts[side].get(v.outcome, 0) + 1
        if (before.outcome, before.rule) != (after.outcome, after.rule):
            changed.append({"return_case_id": case.id,
                            "platform_return_id": case.platform_return_id,
                            "current": _brief(before), "candidate": _brief(after)})
    return {"days": days, "cases": total, "current_version": current.version,
            "counts": counts, "changed": changed}


def _brief(v: Verdict) -> dict:
    return {"outcome": v.outcome, "rule": v.rule, "why_zh": v.why_zh, "why_en": v.why_en,
            "freight_payer": v.freight_payer}
