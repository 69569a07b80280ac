"""Orders: the lifecycle the control API drives and the order APIs the hub calls.

Lifecycle (control API): ``create_order`` (status 10, ``kwaishop_order_addOrder``) ->
``pay`` (30, ``paySuccess``) -> the hub's ``open.seller.order.goods.deliver`` (40,
``delivering``) -> ``mark_received`` (50, ``deliverySuccess``) -> ``mark_succeeded``
(70, ``orderSuccess``); ``cancel`` or a full refund ends in 80 (``orderFail``).

APIs (``API``: method -> (verb, scope, handler(call, param))):
``open.order.cursor.list`` (window and cursor rules, reference §2.1), ``open.order.detail``,
``open.seller.order.goods.deliver`` and ``open.seller.order.logistics.update`` (the K1009
shipment checks answer result 11). Handlers run with the state lock held.
"""
from __future__ import annotations

import copy

from . import errors
from .carriers import check_waybill
from .errors import ApiError, coded, invalid
from .model import (DEFAULT_ADDRESS, ORDER_FAILED, ORDER_PAID, ORDER_RECEIVED, ORDER_SHIPPED,
                    ORDER_SUCCESS, ORDER_UNPAID, VIEW_STATUS, Item, Order, encrypt_pii)
from .push import ORDER_SCOPE
from .state import DAY_MS, HOUR_MS

PII_FIELDS = ("consignee", "mobile", "address")


class LifecycleError(ValueError):
    """A control-API request the order's current state does not allow."""


# ---- helpers --------------------------------------------------------------------------
def get_int(p: dict, name: str, required: bool = True, default=None, allowed=None):
    value = p.get(name)
    if value is None:
        if required:
            raise invalid(name)
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(name)
    if allowed is not None and value not in allowed:
        raise invalid(name)
    return value


def check_window(state, begin: int, end: int, max_range_ms: int, too_long_code: int) -> None:
    """The time-window rules shared by the order and refund lists."""
    if end < begin:
        raise coded(300003)
    if end == begin:
        raise invalid("endTime")
    if end - begin > max_range_ms:
        raise coded(too_long_code)
    if begin < state.now_ms() - state.config.history_limit_ms:
        raise coded(300005)


def page_by_cursor(rows: list, key, sort: int, cursor: str, page_size: int):
    """Keyset paging: rows after ``cursor`` ("<time>_<id>") in the sort order.

    Answers (page, next_cursor); next_cursor is "nomore" when nothing follows.
    """
    rows = sorted(rows, key=key, reverse=(sort == 1))
    if cursor:
        try:
            t, ident = (int(x) for x in cursor.split("_", 1))
        except ValueError:
            raise invalid("cursor") from None
        rows = [r for r in rows if (key(r) < (t, ident) if sort == 1 else key(r) > (t, ident))]
    page = rows[:page_size]
    if len(rows) > page_size:
        last = key(page[-1])
        return page, f"{last[0]}_{last[1]}"
    return page, "nomore"


def status_info(order: Order) -> dict:
    return {"oid": order.oid, "sellerId": order.seller_id, "status": order.status,
            "updateTime": order.update_time}


def emit(state, order: Order, event: str, info: dict | None = None) -> None:
    if state.push is not None:
        state.push.publish(order.seller_id, event, order.oid, info or status_info(order), ORDER_SCOPE)


def own_order(call, oid: int) -> Order:
    order = call.state.orders.get(oid)
    if order is None or order.seller_id != call.seller_id:
        raise ApiError(errors.ORDER_REJECT, "order operation reject")
    return order


def blocked(call, text: str) -> ApiError:
    call.details["blockedReason"] = text
    return ApiError(errors.SHIPMENT_BLOCKED, text)


# ---- lifecycle (control API) --------------------------------------------------------------
def create_order(state, shop, opts: dict) -> Order:
    now = state.now_ms()
    created = int(opts.get("createTime") or now)
    n = state.next_id("item")
    spec = {"skuId": 1_001_000 + n, "relSkuId": 0, "itemId": 2_001_000 + n, "relItemId": 0,
            "skuNick": "DEMO-SKU-1", "itemTitle": "沙盒测试商品", "num": 1, "price": 9900,
            **(opts.get("item") or {})}
    item = Item(sku_id=int(spec["skuId"]), rel_sku_id=int(spec["relSkuId"]),
                item_id=int(spec["itemId"]), rel_item_id=int(spec["relItemId"]),
                sku_nick=str(spec["skuNick"]), item_title=str(spec["itemTitle"]),
                num=int(spec["num"]), price=int(spec["price"]),
                original_price=int(spec.get("originalPrice", spec["price"])),
                discount_fee=int(spec.get("discountFee", 0)), sku_desc=str(spec.get("skuDesc", "")),
                goods_code=str(spec.get("goodsCode", "")), order_item_id=state.next_id("item"))
    if item.num < 1 or item.price < 0:
        raise LifecycleError("item num must be >= 1 and price >= 0")
    address = {**DEFAULT_ADDRESS, **(opts.get("address") or {})}
    empty = opts.get("emptyEncryptedField") or []
    empty = [empty] if isinstance(empty, str) else list(empty)
    order = Order(oid=state.next_id("oid"), seller_id=shop.seller_id, seller_open_id=shop.open_id,
                  seller_nick=shop.seller_nick,
                  buyer_open_id=opts.get("buyerOpenId") or f"buyer{state.next_id('item'):024x}",
                  buyer_nick=opts.get("buyerNick") or "沙盒买家", item=item, address=address,
                  create_time=created, update_time=int(opts.get("updateTime") or created),
                  express_fee=int(opts.get("expressFee", 0)), discount_fee=int(opts.get("discountFee", 0)),
                  remark=str(opts.get("remark", "")), risk_code=int(opts.get("riskCode", 0)),
                  disable_delivery_reason_codes=[int(c) for c in opts.get("disableDeliveryReasonCode") or []],
                  promise_time_zero=bool(opts.get("promiseTimeZero")),
                  cps_type=int(opts.get("cpsType", 1)), pay_type=int(opts.get("payType", 1)),
                  encrypted={f: ("" if f in empty else encrypt_pii(str(address[f]))) for f in PII_FIELDS})
    if opts.get("validPromiseShipmentTimeStamp") is not None:
        order.promise_ship_ms = int(opts["validPromiseShipmentTimeStamp"])
    gifts = opts.get("gift")
    if gifts:
        gifts = [{}] if gifts is True else list(gifts)
        for g in gifts:
            order.gifts.append(Item(sku_id=int(g.get("skuId", 3_001_000 + n)), rel_sku_id=int(g.get("relSkuId", 0)),
                                    item_id=int(g.get("itemId", 4_001_000 + n)), rel_item_id=0,
                                    sku_nick=str(g.get("skuNick", "GIFT-1")),
                                    item_title=str(g.get("itemTitle", "赠品")), num=int(g.get("num", 1)),
                                    price=0, original_price=int(g.get("originalPrice", 0)),
                                    order_item_id=state.next_id("item"), sub_oid=state.next_id("oid")))
    state.orders[order.oid] = order
    if opts.get("push", True):
        emit(state, order, "kwaishop_order_addOrder",
             {"oid": order.oid, "sellerId": order.seller_id, "createTime": order.create_time,
              "customizedInfo": {"customizedItemType": 0, "customizedUrl": "", "customizedCode": ""},
              "openId": shop.open_id, "buyerOpenId": order.buyer_open_id})
    if opts.get("paid"):
        pay(state, order, push=opts.get("push", True), at=created if opts.get("createTime") else None)
    if opts.get("updateTime"):
        order.update_time = int(opts["updateTime"])
    return order


def pay(state, order: Order, push: bool = True, at: int | None = None) -> None:
    if order.status != ORDER_UNPAID:
        raise LifecycleError(f"order {order.oid} is in status {order.status}, not 10")
    order.status = ORDER_PAID
    order.pay_time = at or state.now_ms()
    if order.promise_time_zero:
        order.promise_ship_ms = 0
    elif not order.promise_ship_ms:
        order.promise_ship_ms = order.pay_time + state.config.promise_ship_hours * HOUR_MS
    order.touch(order.pay_time if at else state.now_ms())
    if push:
        emit(state, order, "kwaishop_order_paySuccess")


def cancel(state, order: Order) -> None:
    if order.status not in (ORDER_UNPAID, ORDER_PAID):
        raise LifecycleError(f"order {order.oid} is in status {order.status}; only 10/30 can be cancelled")
    fail(state, order)


def fail(state, order: Order) -> None:
    order.status = ORDER_FAILED
    order.touch(state.now_ms())
    emit(state, order, "kwaishop_order_orderFail")


def mark_received(state, order: Order) -> None:
    if order.status != ORDER_SHIPPED:
        raise LifecycleError(f"order {order.oid} is in status {order.status}, not 40")
    order.status = ORDER_RECEIVED
    order.recv_time = state.now_ms()
    order.touch(order.recv_time)
    emit(state, order, "kwaishop_order_deliverySuccess")


def mark_succeeded(state, order: Order) -> None:
    if order.status not in (ORDER_SHIPPED, ORDER_RECEIVED):
        raise LifecycleError(f"order {order.oid} is in status {order.status}, not 40/50")
    order.recv_time = order.recv_time or state.now_ms()
    order.status = ORDER_SUCCESS
    order.touch(state.now_ms())
    emit(state, order, "kwaishop_order_orderSuccess")


def patch_order(state, order: Order, changes: dict) -> None:
    """Merchant-side edits the platform makes (hold lifted, remark added...)."""
    if "disableDeliveryReasonCode" in changes:
        order.disable_delivery_reason_codes = [int(c) for c in changes["disableDeliveryReasonCode"] or []]
    if "riskCode" in changes:
        order.risk_code = int(changes["riskCode"])
    if "remark" in changes:
        order.remark = str(changes["remark"])
    if "validPromiseShipmentTimeStamp" in changes:
        order.promise_ship_ms = int(changes["validPromiseShipmentTimeStamp"])
        order.promise_time_zero = order.promise_ship_ms == 0
    order.touch(state.now_ms())


# ---- APIs -------------------------------------------------------------------------------
def cursor_list(call, p: dict) -> dict:
    state = call.state
    view = get_int(p, "orderViewStatus", required=False, default=1, allowed=range(1, 8))
    page_size = get_int(p, "pageSize")
    if not 1 <= page_size <= 50:
        raise invalid("pageSize")
    sort = get_int(p, "sort", required=False, default=1, allowed=(1, 2))
    query_type = get_int(p, "queryType", required=False, default=1, allowed=(1, 2))
    cps_type = get_int(p, "cpsType", required=False, default=0, allowed=(0, 1, 2))
    begin, end = get_int(p, "beginTime"), get_int(p, "endTime")
    cursor = p.get("cursor", "")
    if not isinstance(cursor, str):
        raise invalid("cursor")
    check_window(state, begin, end, state.config.order_window_ms, 300004)
    data = {"pageSize": page_size, "beginTime": begin, "endTime": end, "cursor": "nomore",
            "orderList": []}
    if cursor == "nomore":
        return data

    def when(o):
        return o.create_time if query_type == 1 else o.update_time

    rows = [o for o in state.orders.values()
            if o.seller_id == call.seller_id and begin <= when(o) <= end
            and (view == 1 or o.status in VIEW_STATUS[view])
            and (cps_type == 0 or o.cps_type == cps_type)]
    page, data["cursor"] = page_by_cursor(rows, lambda o: (when(o), o.oid), sort, cursor, page_size)
    data["orderList"] = [o.to_api() for o in page]
    return data


def detail(call, p: dict) -> dict:
    return own_order(call, get_int(p, "oid")).to_api(detail=True)


def _check_reuse(call, order: Order, express_no: str) -> None:
    limit = call.state.config.merge_shipment_days * DAY_MS
    for oid, seller_id, address_key, created in call.state.waybills.get(express_no, []):
        if oid == order.oid:
            continue
        if seller_id != order.seller_id:
            raise blocked(call, f"运单号{express_no}已被其他商家使用")
        if address_key != order.address_key():
            raise blocked(call, f"运单号{express_no}已用于其他收货地址的订单，同一运单号不能用于不同地址")
        if abs(order.create_time - created) > limit:
            raise blocked(call, "合并发货的订单下单时间间隔超过30天")


def _waybill(call, p: dict) -> tuple[str, int]:
    express_no = p.get("expressNo")
    if not isinstance(express_no, str) or not express_no.strip():
        raise invalid("expressNo")
    return express_no, get_int(p, "expressCode")


def deliver(call, p: dict):
    state = call.state
    oid = get_int(p, "orderId")
    express_no, express_code = _waybill(call, p)
    get_int(p, "returnAddressId", required=False)
    call.details.update({"oid": oid, "expressNo": express_no, "expressCode": express_code})
    order = own_order(call, oid)
    if order.status != ORDER_PAID:
        raise blocked(call, f"订单当前状态({order.status})不允许发货")
    if state.config.enforce_do_not_ship:
        if order.disable_delivery_reason_codes:
            raise blocked(call, f"订单暂不可发货(disableDeliveryReasonCode={order.disable_delivery_reason_codes})")
        if order.promise_ship_ms == 0:
            raise blocked(call, "订单暂不可发货(validPromiseShipmentTimeStamp=0)")
        if any(not order.encrypted.get(f) for f in PII_FIELDS):
            raise blocked(call, "订单收货信息不完整，暂不可发货")
    problem = check_waybill(express_code, express_no)
    if problem:
        raise blocked(call, problem)
    _check_reuse(call, order, express_no)
    warnings = []
    if order.risk_code:
        warnings.append(f"riskCode {order.risk_code}: 平台不建议发货")
    if order.gifts:
        warnings.append("订单含赠品子订单，应使用open.order.goods.split.deliver发货")
    if warnings:
        call.details["warnings"] = warnings
    now = call.now_ms
    order.logistics.append({"expressNo": express_no, "expressCode": express_code,
                            "logisticsId": state.next_id("logistics")})
    order.status, order.send_time, order.delivery_num = ORDER_SHIPPED, now, order.item.num
    order.touch(now)
    state.waybills.setdefault(express_no, []).append(
        (order.oid, order.seller_id, order.address_key(), order.create_time))
    emit(state, order, "kwaishop_order_delivering")
    return None


def logistics_update(call, p: dict):
    state = call.state
    oid = get_int(p, "orderId")
    express_no, express_code = _waybill(call, p)
    logistics_id = get_int(p, "logisticsId", required=False)
    call.details.update({"oid": oid, "expressNo": express_no, "expressCode": express_code})
    order = own_order(call, oid)
    if order.status not in (ORDER_SHIPPED, ORDER_RECEIVED) or not order.logistics:
        raise blocked(call, f"订单当前状态({order.status})不能修改物流信息")
    entry = order.logistics[0]
    if logistics_id is not None:
        entry = next((e for e in order.logistics if e["logisticsId"] == logistics_id), None)
        if entry is None:
            raise invalid("logisticsId")
    problem = check_waybill(express_code, express_no)
    if problem:
        raise blocked(call, problem)
    _check_reuse(call, order, express_no)
    call.details["previous"] = copy.deepcopy(entry)
    old = state.waybills.get(entry["expressNo"], [])
    state.waybills[entry["expressNo"]] = [w for w in old if w[0] != order.oid]
    entry.update({"expressNo": express_no, "expressCode": express_code})
    state.waybills.setdefault(express_no, []).append(
        (order.oid, order.seller_id, order.address_key(), order.create_time))
    order.touch(call.now_ms)
    return None


API = {
    "open.order.cursor.list": ("GET", ORDER_SCOPE, cursor_list),
    "open.order.detail": ("GET", ORDER_SCOPE, detail),
    "open.seller.order.goods.deliver": ("POST", ORDER_SCOPE, deliver),
    "open.seller.order.logistics.update": ("POST", ORDER_SCOPE, logistics_update),
}
