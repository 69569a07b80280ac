"""The courier sandbox's Kuaidi100 interception, ``POST /label/order`` with
``method=interceptOrder`` (sign UPPER(MD5(param + t + key + secret))). It answers at once;
the outcome — success unless the parcel is already out for delivery, delivered, refused,
returning or cancelled — is pushed to the request's ``callbackUrl``, signed with its
``salt``. On success the rest of the parcel's timeline is replaced (``AFTER_INTERCEPT``)."""
from __future__ import annotations

import json

from sandbox.courier import scenarios
from sandbox.courier.core import fmt, md5_upper


def intercept(sandbox, form: dict) -> dict:
    """``POST /label/order`` with ``method=interceptOrder``."""
    def fail(code: str, message: str) -> dict:
        return {"result": False, "returnCode": code, "message": message, "data": None}

    with sandbox.lock:
        account = sandbox.accounts.get(form.get("key") or "")
        if account is None:
            return fail("600", "key 不存在")
        text, t = form.get("param") or "", form.get("t") or ""
        if md5_upper(text + t + account["key"] + account["secret"]) != (form.get("sign") or ""):
            return fail("503", "验证签名失败")
        if form.get("method") != "interceptOrder":
            return fail("400", f"不支持的 method {form.get('method')!r}")
        try:
            param = json.loads(text)
        except ValueError:
            return fail("400", "param 不是合法的 JSON")
        kind = param.get("interceptType")
        if kind not in scenarios.AFTER_INTERCEPT:
            return fail("400", "interceptType 必须是 RETURN_SEND_STATION、RETURN_SEND_ADDR "
                               "或 MODIFY_ADDR")
        if kind == "MODIFY_ADDR" and not isinstance(param.get("recManInfo"), dict):
            return fail("400", "MODIFY_ADDR 需要 recManInfo")
        if not param.get("callbackUrl") or param.get("salt") is None:
            return fail("400", "拦截结果通过回调返回：callbackUrl 和 salt 必填")
        order_id = str(param.get("orderId") or "")
        if order_id and order_id in sandbox.interceptions:        # the same request again
            return {"result": True, "returnCode": "200", "message": "提交成功",
                    "data": {"taskId": sandbox.interceptions[order_id]["task_id"],
                             "orderId": order_id}}
        parcel = sandbox.parcels.get(str(param.get("kuaidinum") or ""))
        if parcel is None or parcel["com"] != str(param.get("kuaidicom") or "").lower():
            return fail("400", "运单不存在或快递公司不符")
        task_id = f"T{next(sandbox._task_ids):06d}"
        order_id = order_id or task_id
        code = sandbox.latest_code(parcel)
        success = not scenarios.too_late(code)
        record = {"order_id": order_id, "task_id": task_id, "number": parcel["number"],
                  "com": parcel["com"], "type": kind, "reason": param.get("reason"),
                  "state_at_request": code, "outcome": "SUCCESS" if success else "FAILED",
                  "requested_at": fmt(sandbox.now), "param": param}
        sandbox.interceptions[order_id] = record
        if success:
            elapsed = (sandbox.now - parcel["created_at"]).total_seconds() / 60 \
                * sandbox.time_scale  # in the timeline's minutes
            kept = sandbox.visible(parcel)
            parcel["steps"] = kept + [{**s, "at": elapsed + s["at"]}
                                      for s in scenarios.AFTER_INTERCEPT[kind]]
        message = "拦截成功" if success else \
            f"拦截失败：快件已{scenarios.NAMES.get(code, code)}，无法拦截"
        callback = {"orderId": order_id, "taskId": task_id, "kuaidicom": parcel["com"],
                    "kuaidinum": parcel["number"], "interceptType": kind,
                    "status": record["outcome"], "message": message,
                    "updateTime": fmt(sandbox.now)}
        sandbox._send("interception", param["callbackUrl"], callback, param.get("salt"),
                   {"number": parcel["number"], "order_id": order_id,
                    "outcome": record["outcome"]})
        return {"result": True, "returnCode": "200", "message": "提交成功",
                "data": {"taskId": task_id, "orderId": order_id}}
