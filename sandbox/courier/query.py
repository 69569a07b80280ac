"""The courier sandbox's Kuaidi100 real-time query, ``POST /poll/query.do``: signed with
UPPER(MD5(param + key + customer)), at most 1 request per second per customer (HTTP 429
with ``Retry-After: 1`` beyond that, 100 ms tolerance for network jitter)."""
from __future__ import annotations

import json
import time

from sandbox.courier import scenarios
from sandbox.courier.core import PHONE_CARRIERS, QUERY_JITTER_S, md5_upper


def query(sandbox, form: dict) -> tuple[int, dict]:
    """``POST /poll/query.do``: (HTTP status, body). 1 request/s per customer."""
    customer = form.get("customer") or ""
    with sandbox.lock:
        account = next((a for a in sandbox.accounts.values() if a["customer"] == customer), None)
        if account is None:
            return 200, {"result": False, "returnCode": "600", "message": "customer 不存在"}
        if md5_upper((form.get("param") or "") + account["key"] + customer) != \
                (form.get("sign") or ""):
            return 200, {"result": False, "returnCode": "503", "message": "验证签名失败"}
        last = sandbox.queries.get(customer)
        clock = time.monotonic()
        if last is not None and clock - last < 1.0 - QUERY_JITTER_S:
            return 429, {"result": False, "returnCode": "429",
                         "message": "查询过于频繁，每秒最多 1 次"}
        sandbox.queries[customer] = clock
        if account.get("expired"):
            return 200, {"result": False, "returnCode": "601", "message": "POLL:KEY已过期"}
        try:
            param = json.loads(form.get("param") or "")
            com, number = str(param["com"]).lower(), str(param["num"])
        except (ValueError, KeyError, TypeError):
            return 200, {"result": False, "returnCode": "400", "message": "参数不完整"}
        parcel = sandbox.parcels.get(number)
        if parcel is None or parcel["com"] != com or not sandbox.latest_code(parcel):
            return 200, {"result": False, "returnCode": "500",
                         "message": "查询无结果，请隔段时间再查"}
        if com in PHONE_CARRIERS and parcel["phone"] and \
                str(param.get("phone") or "")[-4:] != parcel["phone"][-4:]:
            return 200, {"result": False, "returnCode": "408", "message": "手机号验证失败"}
        sub = {"com": com, "resultv2": str(param.get("resultv2") or "0")}
        snapshot = [s for s in sandbox.visible(parcel) if "code" in s]
        status = "shutdown" if scenarios.finished(snapshot[-1]["code"]) else "polling"
        return 200, sandbox.tracking_param(sub, parcel, snapshot, status)["lastResult"]
