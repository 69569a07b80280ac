"""The simulated platform's answer bodies: success, API errors and OAuth errors.

Every API answer is HTTP 200 with ``result`` (1 = success), ``error_msg`` and a
``requestId``; ``data`` on success. Handlers raise ``ApiError`` and the gateway turns it
into the body. Where the reference shows a body verbatim the same shape is used:

* ``{"result":21,"error_msg":"order operation reject","requestId":...}`` (K1006);
* ``{"result":24,"error_msg":"AUTHORIZATION_REVOKED"}``, ``{"result":26,...主账号不存在}``;
* a parameter error: ``result`` 2001 with ``code "807000"``, ``msg "业务处理失败"``,
  ``sub_code "2001"``, ``sub_msg "<field>无效"`` (the S9 printout, e.g. ``endTime无效``);
* the return-code table (300002..300019) with its Chinese description as ``error_msg``;
* OAuth errors: ``{"result":1002001xx,"error":"<name>","error_msg":...}``.

Codes the reference does not pin down are simulator choices, collected here so they can
be changed in one place (see sandbox/README.md, "Simulator choices").
"""
from __future__ import annotations

import secrets

OK = 1
ORDER_REJECT = 21            # K1006, verbatim
NO_SCOPE = 22                # [sim] message "token中无scope权限" is K0003's
AUTH_REVOKED = 24            # K0006, verbatim
TOKEN_INVALID = 25           # [sim] messages "鉴权失败" / "TOKEN过期" are K0004's
NO_MAIN_ACCOUNT = 26         # K0005, verbatim
SIGN_PARAM_INVALID = 27      # [sim] bad signMethod / timestamp
SIGN_INVALID = 28            # [sim] message "签名校验失败" is K1004's
PARAM_INVALID = 2001         # S9 printout
QPS_EXCEEDED = 1016          # [sim] message format is K1008's
SHIPMENT_BLOCKED = 11        # K1009

RETURN_CODES = {             # 返回码说明 (doc 400074): code -> description
    300002: "退款单状态错误",
    300003: "结束时间要晚于开始时间",
    300004: "查询范围不能大于7天",
    300005: "只能查询最近90天内的订单",
    300006: "退款单id为空",
    300008: "退款方式错误",
    300009: "退款金额为0",
    300010: "退款单当前状态不能退款",
    300011: "退款单不存在",
    300012: "不能操作他人退款单",
    300013: "买家取消退款",
    300014: "退款单状态已更新，请刷新重试",
    300016: "协商状态不对",
    300017: "协商状态已改变",
    300018: "当前退款状态不可操作",
    300019: "时间范围超限",
}

OAUTH_ERRORS = {             # APP授权说明 §4
    100200100: "invalid_request",
    100200101: "unauthorized_client",
    100200102: "access_denied",
    100200103: "unsupported_response_type",
    100200104: "unsupported_grant_type",
    100200105: "invalid_grant",
    100200106: "invalid_scope",
    100200107: "invalid_openid",
    100200500: "server_error",
}


def request_id() -> str:
    return str(secrets.randbelow(9 * 10 ** 17) + 10 ** 17)


class ApiError(Exception):
    """One failed API call; ``body()`` is what the gateway answers."""

    def __init__(self, result: int, error_msg: str, *, http_status: int = 200, **extra):
        super().__init__(f"{result} {error_msg}")
        self.result = result
        self.error_msg = error_msg
        self.http_status = http_status
        self.extra = extra

    def body(self) -> dict:
        out = {"result": self.result, "error_msg": self.error_msg}
        out.update(self.extra)
        out["requestId"] = request_id()
        return out


def invalid(field: str, text: str | None = None) -> ApiError:
    """A business-parameter error in the S9 shape (``result`` 2001, code 807000)."""
    message = text or f"{field}无效"
    return ApiError(PARAM_INVALID, message, code="807000", msg="业务处理失败",
                    sub_code=str(PARAM_INVALID), sub_msg=message)


def coded(code: int) -> ApiError:
    """An error from the return-code table, e.g. ``coded(300014)``."""
    return ApiError(code, RETURN_CODES[code])


def oauth_error(result: int, error_msg: str, http_status: int = 200) -> ApiError:
    err = ApiError(result, error_msg, http_status=http_status, error=OAUTH_ERRORS[result])
    return err


def oauth_body(err: ApiError) -> dict:
    """OAuth endpoints answer ``result``/``error``/``error_msg`` only (no requestId)."""
    return {"result": err.result, "error": err.extra.get("error", ""), "error_msg": err.error_msg}


def ok(data=None, *, with_data: bool = True) -> dict:
    out = {"result": OK, "error_msg": ""}
    if with_data:
        out["data"] = data
    out["requestId"] = request_id()
    return out
