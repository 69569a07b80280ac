"""Orders and after-sale cases of the simulated platform, and their wire shapes.

``Order.to_api()`` answers the blocks of ``open.order.cursor.list``/``open.order.detail``
(reference §2.1): ``orderBaseInfo`` (fees in fen, times in ms, ship-by, holds),
``orderItemInfo`` (ONE object: one oid = one SKU line), ``subOrderInfo`` (gifts),
``orderAddress`` (ciphertext + masked text + region codes; the ciphertext is fresh per
order even for the same address), ``orderLogisticsInfo``, ``orderRefundList`` (newest
first) and ``orderDeliveryInfo``. ``Refund.to_list_item()``/``to_detail()`` answer the
after-sale shapes of §3.1/§3.2. Plain buyer contact stays inside the simulator.
"""
from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field

ORDER_UNPAID, ORDER_PAID, ORDER_SHIPPED, ORDER_RECEIVED, ORDER_SUCCESS, ORDER_FAILED = \
    10, 30, 40, 50, 70, 80
VIEW_STATUS = {2: {10}, 3: {30}, 4: {40}, 5: {50}, 6: {70}, 7: {80}}   # orderViewStatus -> status
REFUND_ONLY, RETURN_REFUND, EXCHANGE, RESHIP, REPAIR = 10, 1, 3, 4, 5
REFUND_DONE = {60, 70}
REFUND_WAITING = {10, 11, 20, 21, 22, 30, 40, 45, 50}                 # type 8 "等待退款"

DEFAULT_ADDRESS = {"consignee": "张三", "mobile": "13812345678",
                   "address": "文三路100号1幢101室", "province": "浙江省", "provinceCode": 330000,
                   "city": "杭州市", "cityCode": 330100, "district": "西湖区",
                   "districtCode": 330106, "town": "西溪街道", "townCode": 330106004}


def encrypt_pii(value: str) -> str:
    """Opaque ciphertext, different on every call (as on the platform)."""
    nonce = os.urandom(12)
    tag = hashlib.sha256(nonce + value.encode("utf-8")).digest()[:24]
    return "#" + base64.b64encode(nonce).decode() + "#" + base64.b64encode(tag).decode() + "#"


def mask_name(name: str) -> str:
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def mask_mobile(mobile: str) -> str:
    return mobile[:3] + "****" + mobile[-4:] if len(mobile) >= 7 else "****"


@dataclass
class Item:
    sku_id: int
    rel_sku_id: int
    item_id: int
    rel_item_id: int
    sku_nick: str
    item_title: str
    num: int
    price: int
    original_price: int
    discount_fee: int = 0
    sku_desc: str = ""
    goods_code: str = ""
    warehouse_code: str = ""
    item_pic_url: str = ""
    order_item_id: int = 0
    sub_oid: int = 0               # gifts only

    def to_api(self) -> dict:
        out = {"orderItemId": self.order_item_id, "skuId": self.sku_id, "relSkuId": self.rel_sku_id,
               "itemId": self.item_id, "relItemId": self.rel_item_id, "skuNick": self.sku_nick,
               "goodsCode": self.goods_code, "warehouseCode": self.warehouse_code,
               "skuDesc": self.sku_desc, "itemTitle": self.item_title,
               "itemPicUrl": self.item_pic_url, "itemType": 1, "num": self.num,
               "price": self.price, "originalPrice": self.original_price,
               "discountFee": self.discount_fee, "itemPrevInfo": None, "serviceInfo": None}
        if self.sub_oid:
            out = {"subOrderId": self.sub_oid, "oid": self.sub_oid, **out}
        return out


@dataclass
class Order:
    oid: int
    seller_id: int
    seller_open_id: str
    seller_nick: str
    buyer_open_id: str
    buyer_nick: str
    item: Item
    address: dict
    create_time: int
    update_time: int
    status: int = ORDER_UNPAID
    pay_time: int = 0
    send_time: int = 0
    recv_time: int = 0
    refund_time: int = 0
    express_fee: int = 0
    discount_fee: int = 0
    remark: str = ""
    promise_ship_ms: int = 0
    promise_delivery_ms: int = 0
    promise_time_zero: bool = False
    disable_delivery_reason_codes: list = field(default_factory=list)
    risk_code: int = 0
    cps_type: int = 1
    pay_type: int = 1
    pre_sale: int = 0
    gifts: list = field(default_factory=list)
    encrypted: dict = field(default_factory=dict)    # consignee/mobile/address -> ciphertext
    logistics: list = field(default_factory=list)    # [{expressNo, expressCode, logisticsId}]
    refunds: list = field(default_factory=list)      # model.Refund, newest first
    delivery_num: int = 0

    @property
    def total_fee(self) -> int:
        return self.item.price * self.item.num + self.express_fee - self.discount_fee

    def touch(self, now_ms: int) -> None:
        """A strictly later updateTime, so every change shows in update-time polling."""
        self.update_time = max(now_ms, self.update_time + 1)

    def address_key(self) -> tuple:
        a = self.address
        return (a["consignee"], a["mobile"], a["province"], a["city"], a["district"],
                a.get("town", ""), a["address"])

    def to_api(self, detail: bool = False) -> dict:
        a = self.address
        base = {
            "oid": self.oid, "status": self.status, "buyerOpenId": self.buyer_open_id,
            "buyerNick": self.buyer_nick, "buyerImage": "", "sellerOpenId": self.seller_open_id,
            "sellerNick": self.seller_nick, "remark": self.remark,
            "totalFee": self.total_fee, "expressFee": self.express_fee,
            "discountFee": self.discount_fee, "createTime": self.create_time,
            "payTime": self.pay_time, "sendTime": self.send_time, "recvTime": self.recv_time,
            "refundTime": self.refund_time, "updateTime": self.update_time,
            "validPromiseShipmentTimeStamp": self.promise_ship_ms,
            "promiseTimeStampOfDelivery": self.promise_delivery_ms,
            "disableDeliveryReasonCode": list(self.disable_delivery_reason_codes),
            "riskCode": self.risk_code, "preSale": self.pre_sale, "cpsType": self.cps_type,
            "payType": self.pay_type, "allActivityType": [], "orderLabels": [],
            "priorityDelivery": False, "remindShipmentSign": 0, "remindShipmentTime": 0,
            "enableSplitDeliveryOrder": bool(self.gifts),
        }
        out = {
            "orderBaseInfo": base,
            "orderItemInfo": self.item.to_api(),
            "subOrderInfo": [g.to_api() for g in self.gifts],
            "orderRefundList": [{"refundId": r.refund_id, "refundStatus": r.status}
                                for r in self.refunds],
            "orderLogisticsInfo": [dict(entry) for entry in self.logistics],
            "orderAddress": {
                "encryptedConsignee": self.encrypted.get("consignee", ""),
                "desensitiseConsignee": mask_name(a["consignee"]),
                "encryptedMobile": self.encrypted.get("mobile", ""),
                "desensitiseMobile": mask_mobile(a["mobile"]),
                "encryptedAddress": self.encrypted.get("address", ""),
                "desensitiseAddress": f"{a['province']}{a['city']}{a['district']}****",
                "province": a["province"], "provinceCode": a["provinceCode"],
                "city": a["city"], "cityCode": a["cityCode"],
                "district": a["district"], "districtCode": a["districtCode"],
                "town": a.get("town", ""), "townCode": a.get("townCode", 0),
            },
            "orderDeliveryInfo": {"deliveryNum": self.delivery_num,
                                  "packageNum": len(self.logistics),
                                  "enableAppendPackage": self.status == ORDER_SHIPPED},
            "orderNote": {"orderNoteInfo": []},
            "orderCpsInfo": None,
        }
        if detail:
            out["addressUpdateAuditInfo"] = None
            out["orderCustomizedInfo"] = None
        return out


@dataclass
class Refund:
    refund_id: int
    order: Order
    handling_way: int
    status: int
    refund_fee: int
    create_time: int
    update_time: int
    expire_time: int
    negotiate_status: int = 1
    refund_type: int = 1
    refund_reason: int = 0
    refund_reason_desc: str = ""
    refund_desc: str = ""
    special_refund_type: int = 0
    negotiate_update_time: int = 0
    end_time: int = 0
    receipt_status: int = 2
    pictures: list = field(default_factory=list)
    logistics: dict | None = None                  # buyer's return {expressNo, expressCode}
    logistics_id: int = 0
    seller_disagree_reason: int = 0
    seller_disagree_desc: str = ""
    seller_disagree_images: list = field(default_factory=list)
    return_address_id: int = 0
    return_address: str = ""
    return_freight: dict | None = None
    buyer_cancelled: bool = False
    exchange_info: dict | None = None

    def touch(self, now_ms: int) -> None:
        self.update_time = max(now_ms, self.update_time + 1)

    def to_list_item(self) -> dict:
        item = self.order.item
        return {
            "oid": self.order.oid, "refundId": self.refund_id, "handlingWay": self.handling_way,
            "negotiateStatus": self.negotiate_status, "refundFee": self.refund_fee,
            "skuId": item.sku_id, "relSkuId": item.rel_sku_id, "skuNick": item.sku_nick,
            "itemId": item.item_id, "relItemId": item.rel_item_id,
            "refundReason": self.refund_reason, "refundReasonDesc": self.refund_reason_desc,
            "status": self.status, "refundType": self.refund_type,
            "sellerId": self.order.seller_id, "refundDesc": self.refund_desc,
            "submitTime": self.create_time, "createTime": self.create_time,
            "updateTime": self.update_time, "negotiateUpdateTime": self.negotiate_update_time,
            "endTime": self.end_time, "expireTime": self.expire_time,
            "logisticsId": self.logistics_id, "receiptStatus": self.receipt_status,
            "buyerId": 0, "specialRefundType": self.special_refund_type,
        }

    def to_detail(self) -> dict:
        out = self.to_list_item()
        out.update({
            "pictures": list(self.pictures),
            "sellerDisagreeReason": self.seller_disagree_reason,
            "sellerDisagreeDesc": self.seller_disagree_desc,
            "sellerDisagreeImages": list(self.seller_disagree_images),
            "logisticsInfo": dict(self.logistics) if self.logistics else None,
            "logisticsRiskInfos": [],
            "negotiateReason": 0,
            "validNegotiateBuyerModifyTimeStamp": 0,
            "timeLimitNegotiateChange": 0,
            "productNum": 0,
            "buyerOpenId": self.order.buyer_open_id,
            "address": self.return_address,
            "buyerExchangeAddress": (self.order.encrypted.get("address", "")
                                     if self.handling_way == EXCHANGE else ""),
            "exchangeInfo": self.exchange_info,
            "returnFreightInfo": dict(self.return_freight) if self.return_freight else None,
        })
        return out
