"""After-sale cases: the buyer side the control API drives and the merchant APIs.

Buyer side (control API): ``create_refund`` (handlingWay 10 refund-only / 4 reship ->
status 10; 1 return / 3 exchange / 5 repair -> 11; ``kwaishop_aftersales_addRefund``),
``ship_return`` (30 -> 40 with the return waybill), ``buyer_cancel`` (-> 70),
``escalate`` (platform intervention 20/21/22) and ``patch_refund``. Every change pushes
``kwaishop_aftersales_updateRefund`` and moves ``updateTime`` strictly forward.

Merchant APIs (reference §3): ``open.seller.order.refund.pcursor.list`` (<= 1 day window,
300019), ``open.seller.order.refund.detail``, ``open.seller.order.refund.approve``
(refundAmount in fen must equal refundFee; -> 60), ``...refund.returngoods.approve``
(-> 30), ``...refund.confirm.receipt`` (only 22/30/40; refunds at once -> 60),
``open.refund.reject`` (``refundVersion`` must equal ``updateTime``, else 300014; reason
from ``open.refund.reject.reason``). A full refund of an unfinished order closes it (80).
"""
from __future__ import annotations

import math

from .errors import coded, invalid
from .model import (EXCHANGE, ORDER_PAID, ORDER_RECEIVED, ORDER_SHIPPED, ORDER_SUCCESS,
                    REFUND_DONE, REFUND_ONLY, REFUND_WAITING, RESHIP, RETURN_REFUND, REPAIR, Refund)
from .orders import LifecycleError, check_window, fail, get_int, page_by_cursor
from .push import REFUND_SCOPE
from .state import HOUR_MS

HANDLING_WAYS = (REFUND_ONLY, RETURN_REFUND, EXCHANGE, RESHIP, REPAIR)
DEFAULT_REASON = {REFUND_ONLY: (1, "不想要了"), RETURN_REFUND: (3, "商品质量问题"),
                  EXCHANGE: (5, "尺码不合适"), RESHIP: (7, "少件/漏发"), REPAIR: (8, "商品故障")}

_REASON = ("code", "desc", "tip", "requiredRejectDesc", "requiredRejectImage")
APPLY_REASONS = [dict(zip(_REASON, r)) for r in (
    (1, "已与买家协商一致不退款", "请上传与买家的沟通记录", False, True),
    (2, "商品已发出，请买家拒收或收货后申请退货退款", "", False, False),
    (3, "退款金额与协商金额不一致", "请说明协商的金额", True, False),
    (9, "其他", "请详细描述拒绝原因", True, True))]
RECEIPT_REASONS = [dict(zip(_REASON, r)) for r in (
    (11, "未收到退货", "请确认物流状态后再拒绝", False, False),
    (12, "退回商品影响二次销售", "请上传退回商品的照片", True, True),
    (13, "退回商品与原商品不符", "请上传退回商品的照片", False, True),
    (9, "其他", "请详细描述拒绝原因", True, True))]


def reasons_for(refund: Refund) -> list[dict]:
    return RECEIPT_REASONS if refund.status in (22, 30, 40) else APPLY_REASONS


def refund_info(refund: Refund, update: bool) -> dict:
    info = {"orderId": refund.order.oid, "refundId": refund.refund_id,
            "handlingWay": refund.handling_way, "specialRefundType": refund.special_refund_type,
            "status": refund.status, "createTime": refund.create_time}
    if update:
        info["updateTime"] = refund.update_time
    return info


def changed(state, refund: Refund, now: int | None = None) -> None:
    """Record a change: updateTime forward (order too: its refund list changed), push."""
    now = now or state.now_ms()
    refund.touch(now)
    refund.order.touch(now)
    if state.push is not None:
        state.push.publish(refund.order.seller_id, "kwaishop_aftersales_updateRefund",
                           refund.refund_id, refund_info(refund, True), REFUND_SCOPE)


def complete(state, refund: Refund, now: int) -> None:
    """The money went back: 60, and a full refund of an open order closes the order."""
    refund.status, refund.negotiate_status = 60, 2
    refund.end_time = refund.negotiate_update_time = now
    order = refund.order
    order.refund_time = now
    changed(state, refund, now)
    if refund.refund_fee >= order.total_fee and order.status in (ORDER_PAID, ORDER_SHIPPED, ORDER_RECEIVED):
        fail(state, order)


# ---- buyer side (control API) -------------------------------------------------------------
def create_refund(state, order, opts: dict) -> Refund:
    way = int(opts.get("handlingWay", REFUND_ONLY))
    if way not in HANDLING_WAYS:
        raise LifecycleError(f"handlingWay must be one of {HANDLING_WAYS}")
    if order.status not in (ORDER_PAID, ORDER_SHIPPED, ORDER_RECEIVED, ORDER_SUCCESS):
        raise LifecycleError(f"order {order.oid} is in status {order.status}; it cannot have a refund")
    fee = int(opts.get("refundFee", 0 if way in (EXCHANGE, RESHIP, REPAIR) else order.total_fee))
    if not 0 <= fee <= order.total_fee:
        raise LifecycleError("refundFee must be between 0 and the order's totalFee")
    now = state.now_ms()
    created = int(opts.get("createTime") or now)
    reason, reason_desc = DEFAULT_REASON[way]
    refund = Refund(refund_id=state.next_id("refund"), order=order, handling_way=way,
                    status=10 if way in (REFUND_ONLY, RESHIP) else 11, refund_fee=fee,
                    create_time=created, update_time=created, negotiate_update_time=created,
                    expire_time=created + state.config.refund_expire_hours * HOUR_MS,
                    refund_reason=int(opts.get("refundReason", reason)),
                    refund_reason_desc=str(opts.get("refundReasonDesc", reason_desc)),
                    refund_desc=str(opts.get("refundDesc", "")),
                    receipt_status=int(opts.get("receiptStatus", 1 if order.status in (ORDER_PAID, ORDER_SHIPPED) else 2)),
                    pictures=list(opts.get("pictures") or []))
    if opts.get("returnFreightAmount") is not None:
        refund.return_freight = {"returnFreightAmount": int(opts["returnFreightAmount"]),
                                 "returnFreightStatus": 10}
    if way == EXCHANGE:
        refund.exchange_info = {"skuId": order.item.sku_id, "skuDesc": order.item.sku_desc,
                                "quantity": order.item.num}
    state.refunds[refund.refund_id] = refund
    order.refunds.insert(0, refund)
    order.touch(now)
    if state.push is not None and opts.get("push", True):
        state.push.publish(order.seller_id, "kwaishop_aftersales_addRefund", refund.refund_id,
                           refund_info(refund, False), REFUND_SCOPE)
    return refund


def ship_return(state, refund: Refund, express_no: str, express_code: int) -> None:
    if refund.status != 30:
        raise LifecycleError(f"refund {refund.refund_id} is in status {refund.status}, not 30")
    refund.logistics = {"expressNo": str(express_no), "expressCode": int(express_code)}
    refund.logistics_id = state.next_id("logistics")
    refund.status = 40
    changed(state, refund)


def buyer_cancel(state, refund: Refund) -> None:
    if refund.status in REFUND_DONE:
        raise LifecycleError(f"refund {refund.refund_id} is already finished ({refund.status})")
    refund.status, refund.buyer_cancelled = 70, True
    refund.end_time = state.now_ms()
    changed(state, refund)


def escalate(state, refund: Refund) -> None:
    target = {10: 20, 11: 21, 30: 22, 40: 22}.get(refund.status)
    if target is None:
        raise LifecycleError(f"refund {refund.refund_id} in status {refund.status} cannot be escalated")
    refund.status = target
    changed(state, refund)


def patch_refund(state, refund: Refund, changes: dict) -> None:
    for key, attr in (("status", "status"), ("negotiateStatus", "negotiate_status"),
                      ("refundFee", "refund_fee"), ("expireTime", "expire_time"),
                      ("handlingWay", "handling_way"), ("receiptStatus", "receipt_status")):
        if key in changes:
            setattr(refund, attr, int(changes[key]))
    if "negotiateStatus" in changes:
        refund.negotiate_update_time = state.now_ms()
    changed(state, refund)


# ---- merchant APIs ------------------------------------------------------------------------
def load(call, p: dict) -> Refund:
    refund_id = p.get("refundId")
    if refund_id in (None, "", 0):
        raise coded(300006)
    if isinstance(refund_id, bool) or not isinstance(refund_id, int):
        raise invalid("refundId")
    call.details["refundId"] = refund_id
    refund = call.state.refunds.get(refund_id)
    if refund is None:
        raise coded(300011)
    if refund.order.seller_id != call.seller_id:
        raise coded(300012)
    call.details["oid"] = refund.order.oid
    return refund


def pcursor_list(call, p: dict) -> dict:
    state = call.state
    begin, end = get_int(p, "beginTime"), get_int(p, "endTime")
    kind = get_int(p, "type", required=False, default=9, allowed=(8, 9))
    page_size = get_int(p, "pageSize")
    if not 1 <= page_size <= 100:
        raise invalid("pageSize")
    current_page = get_int(p, "currentPage")
    if current_page < 1:
        raise invalid("currentPage")
    sort = get_int(p, "sort", required=False, default=1, allowed=(1, 2))
    query_type = get_int(p, "queryType", required=False, default=1, allowed=(1, 2))
    negotiate = get_int(p, "negotiateStatus", required=False)
    status = get_int(p, "status", required=False)
    order_id = get_int(p, "orderId", required=False)
    cursor = p.get("pcursor", "")
    option = p.get("option") or {}
    if not isinstance(cursor, str):
        raise invalid("pcursor")
    if not isinstance(option, dict):
        raise invalid("option")
    check_window(state, begin, end, state.config.refund_window_ms, 300019)

    def when(r):
        return r.create_time if query_type == 1 else r.update_time

    rows = [r for r in state.refunds.values()
            if r.order.seller_id == call.seller_id and begin <= when(r) <= end
            and (kind == 9 or r.status in REFUND_WAITING)
            and (negotiate is None or r.negotiate_status == negotiate)
            and (status is None or r.status == status)
            and (order_id is None or r.order.oid == order_id)
            and (r.handling_way != EXCHANGE or option.get("needExchange"))]
    data = {"currentPage": current_page, "pageSize": page_size, "totalSize": len(rows),
            "beginTime": begin, "endTime": end, "pcursor": "nomore", "refundOrderInfoList": []}
    if cursor == "":
        data["totalPage"] = math.ceil(len(rows) / page_size)
    if cursor != "nomore":
        page, data["pcursor"] = page_by_cursor(rows, lambda r: (when(r), r.refund_id), sort,
                                               cursor, page_size)
        data["refundOrderInfoList"] = [r.to_list_item() for r in page]
    return data


def detail(call, p: dict) -> dict:
    return load(call, p).to_detail()


def _amount(call, p: dict, refund: Refund, exchange_zero: bool = False) -> int:
    amount = p.get("refundAmount")
    if isinstance(amount, float) and amount.is_integer():
        amount = int(amount)
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise invalid("refundAmount")
    call.details["refundAmount"] = amount
    expected = 0 if (exchange_zero and refund.handling_way == EXCHANGE) else refund.refund_fee
    if amount == 0 and expected != 0:
        raise coded(300009)
    if amount != expected:
        raise invalid("refundAmount", f"refundAmount({amount})与退款单金额({expected})不一致")
    return amount


def _expect(refund: Refund, p: dict) -> None:
    """The optional optimistic-lock params of approve/confirm: status, negotiateStatus."""
    if refund.buyer_cancelled:
        raise coded(300013)
    status = p.get("status")
    if status is not None and status != refund.status:
        raise coded(300014)
    negotiate = p.get("negotiateStatus")
    if negotiate is not None and negotiate != refund.negotiate_status:
        raise coded(300017)


def approve(call, p: dict):
    refund = load(call, p)
    call.details["decision"] = "approve"
    _expect(refund, p)
    way = p.get("refundHandingWay")
    if way is not None and (way not in (REFUND_ONLY, RETURN_REFUND)
                            or (way == RETURN_REFUND and refund.handling_way == REFUND_ONLY)):
        raise coded(300008)
    if refund.handling_way not in (REFUND_ONLY, RETURN_REFUND):
        raise coded(300008)
    if refund.status not in (10, 11, 20, 21):
        raise coded(300010)
    _amount(call, p, refund)
    complete(call.state, refund, call.now_ms)


def returngoods_approve(call, p: dict):
    refund = load(call, p)
    call.details["decision"] = "returngoods.approve"
    _expect(refund, p)
    if refund.handling_way not in (RETURN_REFUND, EXCHANGE, REPAIR):
        raise coded(300008)
    if refund.status not in (11, 21):
        raise coded(300018)
    _amount(call, p, refund, exchange_zero=True)
    address_id = get_int(p, "addressId", required=False)
    shop = call.shop
    if address_id and address_id != shop.return_address_id:
        raise invalid("addressId")
    refund.return_address_id = address_id or shop.return_address_id
    refund.return_address = shop.return_address
    refund.status, refund.negotiate_status = 30, 2
    refund.negotiate_update_time = call.now_ms
    changed(call.state, refund, call.now_ms)


def confirm_receipt(call, p: dict):
    refund = load(call, p)
    call.details["decision"] = "confirm.receipt"
    status = p.get("status")
    if status is not None and status not in (22, 30, 40):
        raise invalid("status")
    _expect(refund, p)
    if refund.status not in (22, 30, 40):
        raise coded(300010)
    if refund.return_freight:
        advice = get_int(p, "returnFreightHandlingAdvice", allowed=(1, 2))
        if advice == 1 and p.get("returnFreightAmount") != refund.return_freight["returnFreightAmount"]:
            raise invalid("returnFreightAmount")
        if advice == 2 and (not p.get("returnFreightRejectDesc")
                            or not 1 <= len(p.get("returnFreightRejectImages") or []) <= 6):
            raise invalid("returnFreightRejectDesc")
        refund.return_freight["returnFreightStatus"] = 20 if advice == 1 else 50
    complete(call.state, refund, call.now_ms)


def reject(call, p: dict):
    refund = load(call, p)
    call.details["decision"] = "reject"
    reason_code = get_int(p, "reasonCode")
    version = get_int(p, "refundVersion")
    call.details["reasonCode"] = reason_code
    if refund.buyer_cancelled:
        raise coded(300013)
    if version != refund.update_time:
        raise coded(300014)
    if refund.status not in (10, 11, 40):
        raise coded(300018)
    if refund.negotiate_status == 3 and refund.status in (10, 11):
        raise coded(300016)
    reason = next((r for r in reasons_for(refund) if r["code"] == reason_code), None)
    if reason is None:
        raise invalid("reasonCode")
    desc, images = p.get("rejectDesc") or "", p.get("rejectImages") or []
    if not isinstance(images, list) or len(images) > 6:
        raise invalid("rejectImages")
    if reason["requiredRejectDesc"] and not str(desc).strip():
        raise invalid("rejectDesc")
    if reason["requiredRejectImage"] and not images:
        raise invalid("rejectImages")
    refund.seller_disagree_reason, refund.seller_disagree_desc = reason_code, str(desc)
    refund.seller_disagree_images = list(images)
    refund.negotiate_status, refund.negotiate_update_time = 3, call.now_ms
    changed(call.state, refund, call.now_ms)


def seller_addresses(call, p: dict) -> dict:
    """The shop's return address (``addressType`` 2), the one approvals default to. The
    response shape is the hub's reading of the docs [I]: the reference has no sample."""
    shop = call.shop
    return {"sellerAddressInfoList": [{
        "addressId": shop.return_address_id, "consignee": "退货仓", "mobile": "400-000-0000",
        "address": shop.return_address, "defaultAddress": True, "addressType": 2}]}


def reject_reason(call, p: dict) -> dict:
    return {"rejectReasonList": [dict(r) for r in reasons_for(load(call, p))]}


API = {
    "open.seller.order.refund.pcursor.list": ("GET", REFUND_SCOPE, pcursor_list),
    "open.seller.order.refund.detail": ("GET", REFUND_SCOPE, detail),
    "open.refund.reject.reason": ("GET", REFUND_SCOPE, reject_reason),
    "open.address.seller.list": ("GET", REFUND_SCOPE, seller_addresses),
    "open.seller.order.refund.approve": ("POST", REFUND_SCOPE, approve),
    "open.seller.order.refund.returngoods.approve": ("POST", REFUND_SCOPE, returngoods_approve),
    "open.seller.order.refund.confirm.receipt": ("POST", REFUND_SCOPE, confirm_receipt),
    "open.refund.reject": ("POST", REFUND_SCOPE, reject),
}
