"""Why a reconciliation item is what it is, in English and Chinese, for the person who
reads the match result or decides its dispute.

    en, zh = why(group, hub_lines, supplier_lines, rules, currency)
"""
from __future__ import annotations

from hub.core.china import yuan
from hub.domain.finance.rules import Rules

KEY_WORDS = {"document": ("document ref", "单据号"), "order": ("order", "订单号"),
             "waybill": ("waybill", "快递单号")}
OTHER_KEYS = (("document_ref", "document ref", "单据号"), ("order_no", "order", "订单号"),
              ("waybill", "waybill", "快递单号"))


def why(group: dict, hub_lines: list, supplier_lines: list, rules: Rules,
        currency: str) -> tuple[str, str]:
    outcome, money = group["outcome"], (lambda minor: yuan(minor, currency))
    if outcome == "only_in_hub":
        line = hub_lines[0]
        return (f"only in the hub: {_named(line)} {money(line.amount_minor)}; the supplier's "
                "statement does not list it",
                f"仅系统有：{_named(line, zh=True)} {money(line.amount_minor)}，供应商对账单未列出")
    if outcome in ("only_in_supplier", "duplicate"):
        line = supplier_lines[0]
        if outcome == "duplicate":
            return (f"row {line.row_no} repeats an earlier row (same keys, amount and date) "
                    "beyond what the hub has", f"第 {line.row_no} 行与前面某行重复"
                    "（单号、金额、日期相同），超出系统记录的笔数")
        return (f"only in the supplier's statement: row {line.row_no}, {_named(line)} "
                f"{money(line.amount_minor)}; the hub has no such line",
                f"仅供应商有：第 {line.row_no} 行，{_named(line, zh=True)} "
                f"{money(line.amount_minor)}，系统没有对应明细")
    hub, sup = group["hub_minor"], group["supplier_minor"]
    if group["key"] == "amount_date":
        head_en = (f"paired by the same amount {money(hub)} within {rules.date_window_days} "
                   "day(s), no key contradicting")
        head_zh = f"金额 {money(hub)} 相同且日期相差不超过 {rules.date_window_days} 天，单号不矛盾，配对"
    else:
        en_key, zh_key = KEY_WORDS[group["key"]]
        head_en = (f"paired by {en_key} {group['key_value']}: hub {money(hub)} "
                   f"({len(hub_lines)} line(s)), supplier {money(sup)} "
                   f"({len(supplier_lines)} line(s))")
        head_zh = (f"按{zh_key} {group['key_value']} 配对：系统 {money(hub)}（{len(hub_lines)} 行），"
                   f"供应商 {money(sup)}（{len(supplier_lines)} 行）")
    if group["conflict"]:
        en, zh = _conflict(hub_lines, supplier_lines, group["key"])
        return f"{head_en}; but {en}", f"{head_zh}；但{zh}"
    difference = sup - hub
    if difference == 0:
        return f"{head_en}: equal", f"{head_zh}：一致"
    more_en = f"the supplier's is {money(abs(difference))} {'more' if difference > 0 else 'less'}"
    more_zh = f"供应商{'多' if difference > 0 else '少'} {money(abs(difference))}"
    tolerance = _tolerance(rules, hub, currency)
    limit = money(rules.write_off_limit_minor)
    if outcome == "written_off":
        return (f"{head_en}: {more_en}, within the tolerance {tolerance[0]} and the write-off "
                f"limit {limit}: written off", f"{head_zh}：{more_zh}，在容差 {tolerance[1]} 和"
                f"自动核销上限 {limit} 以内，已核销")
    if group["tolerated"]:
        return (f"{head_en}: {more_en}, within the tolerance {tolerance[0]} but over the "
                f"write-off limit {limit}: to decide", f"{head_zh}：{more_zh}，在容差 "
                f"{tolerance[1]} 以内但超过自动核销上限 {limit}，待处理")
    return (f"{head_en}: {more_en}, beyond the tolerance {tolerance[0]}: disputed",
            f"{head_zh}：{more_zh}，超出容差 {tolerance[1]}，有争议")


def _tolerance(rules: Rules, hub_minor: int, currency: str) -> tuple[str, str]:
    if rules.tolerance_kind == "fixed":
        text = yuan(rules.tolerance_minor, currency)
        return text, text
    percent = rules.as_dict()["tolerance"]["percent"]
    of_line = yuan(abs(hub_minor) * rules.tolerance_bp // 10_000, currency)
    return f"{percent} % ({of_line} here)", f"{percent}%（本笔 {of_line}）"


def _named(line, zh: bool = False) -> str:
    parts = [f"{zh_word if zh else en} {getattr(line, name)}"
             for name, en, zh_word in OTHER_KEYS if getattr(line, name, None)]
    return ", ".join(parts) or ("无单号" if zh else "no key")


def _conflict(hub_lines, supplier_lines, key: str) -> tuple[str, str]:
    for name, en, zh in OTHER_KEYS:
        if name.startswith(key):
            continue
        ours = sorted({getattr(x, name) for x in hub_lines if getattr(x, name)})
        theirs = sorted({getattr(x, name) for x in supplier_lines if getattr(x, name)})
        if ours and theirs and ours != theirs:
            return (f"the {en}s disagree: hub {', '.join(ours)}, supplier {', '.join(theirs)} "
                    "(swapped keys?)",
                    f"{zh}不一致：系统 {', '.join(ours)}，供应商 {', '.join(theirs)}（单号串了？）")
    return "their keys disagree", "单号不一致"
