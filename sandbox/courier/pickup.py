"""The courier sandbox's Kuaidi100 商家寄件 (a return pickup), ``POST /order/borderapi.do``
with ``method=bOrder`` (sign UPPER(MD5(param + t + key + secret))).

A valid booking is answered at once with a fresh waybill number that fits the carrier's
pattern (``SHAPES``); the parcel joins the sandbox on the ``normal`` timeline from the
booking on, so it can be subscribed, pushed and intercepted like any other. The same
``thirdOrderId`` again answers the first booking (Kuaidi100: within 48 h). The sender may
be a shop platform's ciphertext — the hub never sends plaintext buyer data — so it is
kept as given and never read. Refusals have Kuaidi100's shape: ``{"result": false,
"returnCode", "message", "data": null}``.
"""
from __future__ import annotations

import json

from sandbox.courier.core import fmt, md5_upper

# Kuaidi100 company code: (waybill prefix, digits after it)
SHAPES = {"shunfeng": ("SF", 13), "yuantong": ("YT", 13), "jtexpress": ("JT", 13),
          "jd": ("JD", 13), "zhongtong": ("73", 12), "shentong": ("77", 12),
          "yunda": ("43", 11), "ems": ("1", 12)}
REQUIRED = ("recManName", "recManMobile", "recManPrintAddr", "sendManName", "sendManMobile",
            "sendManPrintAddr", "cargo")
TIMED = {"shunfeng"}            # 顺丰 needs the pickup window (pickupStartTime/EndTime)


def waybill(com: str, serial: int) -> str:
    prefix, digits = SHAPES[com]
    return prefix + f"8{serial:0{digits - 1}d}"


def _answer(record: dict) -> dict:
    return {"result": True, "returnCode": "200", "message": "提交成功",
            "data": {"taskId": record["task_id"], "orderId": record["order_id"],
                     "kuaidinum": record["number"]}}


def book(sandbox, form: dict) -> dict:
    """``POST /order/borderapi.do`` with ``method=bOrder``."""
    def fail(code: str, message: str) -> dict:
        return {"result": False, "returnCode": code, "message": message, "data": None}

    with sandbox.lock:
        account = sandbox.accounts.get(form.get("key") or "")
        if account is None:
            return fail("600", "key 不存在")
        if account.get("expired"):
            return fail("601", "key 已过期或余额不足")
        text, t = form.get("param") or "", form.get("t") or ""
        if md5_upper(text + t + account["key"] + account["secret"]) != (form.get("sign") or ""):
            return fail("503", "验证签名失败")
        if form.get("method") != "bOrder":
            return fail("400", f"不支持的 method {form.get('method')!r}")
        try:
            param = json.loads(text)
        except ValueError:
            param = None
        if not isinstance(param, dict):
            return fail("400", "param 不是合法的 JSON 对象")
        com = str(param.get("kuaidicom") or "").strip().lower()
        if com not in SHAPES:
            return fail("400", f"不支持的快递公司 {com or '(空)'}")
        missing = [k for k in REQUIRED if not str(param.get(k) or "").strip()]
        if missing:
            return fail("400", f"参数不完整：{', '.join(missing)} 必填")
        if com in TIMED and not (param.get("pickupStartTime") and param.get("pickupEndTime")):
            return fail("400", "顺丰必须填写预约取件时间 pickupStartTime、pickupEndTime")
        if str(param.get("payment") or "SHIPPER") != "SHIPPER":
            return fail("400", "商家寄件只支持寄付（SHIPPER），不支持到付")
        third = str(param.get("thirdOrderId") or "")
        if third and third in sandbox.bookings:            # the same booking again
            return _answer(sandbox.bookings[third])
        serial = next(sandbox._task_ids)
        record = {"task_id": f"B{serial:06d}", "order_id": str(900000 + serial),
                  "number": waybill(com, serial), "com": com, "third_order_id": third or None,
                  "booked_at": fmt(sandbox.now), "param": param}
        sandbox.add_parcel(record["number"], com, "normal")
        sandbox.bookings[third or record["task_id"]] = record
        return _answer(record)
