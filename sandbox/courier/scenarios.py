"""Parcel timelines the courier sandbox plays, and the Kuaidi100 state names it shows.

A timeline is a list of steps ``{"at": minutes after the parcel was created, "code":
Kuaidi100 state code, "context": text}``; a step ``{"at": ..., "abort": message}`` ends
Kuaidi100's monitoring (``status=abort``). A parcel whose newest code is a signature
(3xx) or a return signed for (4) ends monitoring with ``status=shutdown``.

Scenarios: ``normal``, ``delivery_failed`` (two failed attempts, then signed),
``refused`` (拒签 → 退回 → 退签), ``return_to_sender`` (the sender recalls it in
transit), ``lost`` (stalls, 超时未更新, then abort "60天无变化"), ``no_records`` (never
scanned: abort "3天查询无记录" after 3 days) and ``customs`` (待清关 → 清关中 → 已清关).
"""
from __future__ import annotations

DAY = 24 * 60

# Kuaidi100 state code -> name (data[].status) and main code
NAMES = {
    "0": "在途", "1": "揽收", "2": "疑难", "3": "签收", "4": "退签", "5": "派件", "6": "退回",
    "7": "转投", "8": "清关", "10": "待清关", "11": "清关中", "12": "已清关", "13": "清关异常",
    "14": "拒签", "101": "已下单", "102": "待揽收", "103": "已揽收", "1001": "到达派件城市",
    "1002": "干线", "1003": "转递", "501": "投柜或驿站", "301": "本人签收",
    "302": "派件异常后签收", "303": "代签", "304": "投柜或站签收", "401": "已销单",
    "201": "超时未签收", "202": "超时未更新", "203": "拒收", "204": "派件异常",
    "205": "柜或驿站超时未取", "206": "无法联系", "207": "超区", "208": "滞留", "209": "破损",
    "210": "销单",
}
MAIN = {"10": "8", "11": "8", "12": "8", "13": "8", "14": "4"}


def main_code(code: str) -> str:
    if code in MAIN:
        return MAIN[code]
    if len(code) == 4:          # 1001-1003 are sub-codes of 0 (在途)
        return "0"
    if len(code) == 3:
        return code[0]
    return code


def _head(origin="杭州", dest="上海"):
    return [
        {"at": 0, "code": "101", "context": "商家已下单，等待快递员揽收"},
        {"at": 60, "code": "103", "context": f"【{origin}余杭营业部】快递员已揽收"},
        {"at": 240, "code": "1002", "context": f"快件已从【{origin}转运中心】发出，发往【{dest}转运中心】"},
        {"at": 900, "code": "0", "context": f"快件已到达【{dest}转运中心】"},
        {"at": 1200, "code": "1001", "context": f"快件已到达【{dest}浦东派件网点】"},
    ]


SCENARIOS: dict[str, list[dict]] = {
    "normal": _head() + [
        {"at": 1500, "code": "5", "context": "快件正在派送中，派送员：王师傅"},
        {"at": 1620, "code": "301", "context": "快件已签收，签收人：本人"},
    ],
    "delivery_failed": _head() + [
        {"at": 1500, "code": "5", "context": "快件正在派送中"},
        {"at": 1560, "code": "204", "context": "派件异常：收件人不在，快件将再次派送"},
        {"at": 1500 + DAY, "code": "5", "context": "快件再次派送中"},
        {"at": 1560 + DAY, "code": "206", "context": "无法联系收件人，快件将再次派送"},
        {"at": 1500 + 2 * DAY, "code": "5", "context": "快件第三次派送中"},
        {"at": 1580 + 2 * DAY, "code": "302", "context": "快件已签收（派件异常后签收）"},
    ],
    "refused": _head() + [
        {"at": 1500, "code": "5", "context": "快件正在派送中"},
        {"at": 1560, "code": "14", "context": "收件人拒签，快件将退回寄件人"},
        {"at": 1800, "code": "6", "context": "快件退回中，发往寄件人"},
        {"at": 1800 + DAY, "code": "6", "context": "退回件已到达【杭州转运中心】"},
        {"at": 1800 + 2 * DAY, "code": "4", "context": "退回件已由寄件人签收"},
    ],
    "return_to_sender": _head()[:3] + [
        {"at": 600, "code": "6", "context": "应寄件人要求，快件退回"},
        {"at": 600 + DAY, "code": "6", "context": "退回件运输中，发往【杭州转运中心】"},
        {"at": 600 + 2 * DAY, "code": "4", "context": "退回件已由寄件人签收"},
    ],
    "lost": _head()[:3] + [
        {"at": 240 + 3 * DAY, "code": "202", "context": "快件超时未更新，已联系网点核实"},
        {"at": 240 + 60 * DAY, "abort": "60天无变化"},
    ],
    "no_records": [
        {"at": 3 * DAY, "abort": "3天查询无记录"},
    ],
    "customs": _head()[:3] + [
        {"at": 600, "code": "10", "context": "快件已到达海关监管仓，等待清关"},
        {"at": 900, "code": "11", "context": "快件清关中"},
        {"at": 1800, "code": "12", "context": "快件已清关放行"},
        {"at": 2400, "code": "1001", "context": "快件已到达【上海浦东派件网点】"},
        {"at": 2700, "code": "5", "context": "快件正在派送中"},
        {"at": 2820, "code": "301", "context": "快件已签收，签收人：本人"},
    ],
}

# what an interception adds after it succeeds, relative to the moment it succeeded
AFTER_INTERCEPT = {
    "RETURN_SEND_ADDR": [
        {"at": 30, "code": "6", "context": "快件已拦截成功，退回寄件地址"},
        {"at": 30 + DAY, "code": "6", "context": "退回件运输中"},
        {"at": 30 + 2 * DAY, "code": "4", "context": "退回件已由寄件人签收"},
    ],
    "RETURN_SEND_STATION": [
        {"at": 30, "code": "6", "context": "快件已拦截成功，退回寄件网点"},
        {"at": 30 + DAY, "code": "4", "context": "退回件已由寄件网点签收"},
    ],
    "MODIFY_ADDR": [
        {"at": 30, "code": "1003", "context": "快件已改址，发往新地址"},
        {"at": 600, "code": "1001", "context": "快件已到达新地址派件网点"},
        {"at": 900, "code": "5", "context": "快件正在派送中"},
        {"at": 1020, "code": "301", "context": "快件已签收，签收人：本人"},
    ],
}

# an interception fails once the parcel is this far (main codes / exact codes)
TOO_LATE_MAIN = {"5", "3", "4", "6"}
TOO_LATE_CODES = {"501", "14", "203", "401", "210"}


def too_late(code: str | None) -> bool:
    return code is not None and (code in TOO_LATE_CODES or main_code(code) in TOO_LATE_MAIN)


def finished(code: str | None) -> bool:
    """Kuaidi100 stops monitoring (``shutdown``) once signed for, returned or cancelled
    (a refusal, 14 拒签, still has its return journey ahead)."""
    return code is not None and (main_code(code) == "3" or code in ("4", "401"))
