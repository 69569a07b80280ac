"""Control API, part 2: the buyer's and the platform's side of orders and refunds.

    POST  /_sandbox/orders              {sellerId?, paid?, item{skuId, relSkuId, skuNick,
                                         itemTitle, num, price...}, expressFee, discountFee,
                                         gift (true | [..]), disableDeliveryReasonCode [..],
                                         riskCode, promiseTimeZero, emptyEncryptedField,
                                         address{..}, remark, cpsType, createTime, push}
    POST  /_sandbox/orders/bulk         {count, paid?, spreadMs?, push?, ...order options}
    GET   /_sandbox/orders?sellerId     GET|PATCH /_sandbox/orders/<oid>
    POST  /_sandbox/orders/<oid>/pay | cancel | receive | succeed
    POST  /_sandbox/orders/<oid>/refunds {handlingWay, refundFee?, refundReason?,
                                         refundReasonDesc?, returnFreightAmount?, createTime?}
    GET|PATCH /_sandbox/refunds/<id>    (PATCH: status, negotiateStatus, refundFee, expireTime)
    POST  /_sandbox/refunds/<id>/return-shipment {expressNo, expressCode}
    POST  /_sandbox/refunds/<id>/cancel | escalate

Orders and refunds are answered in their API shape (``order``/``refund``) plus the plain
buyer address the platform would never hand out (``plainAddress``), for assertions.
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from . import orders, refunds
from .control import ControlError, body, find, state
from .orders import LifecycleError

bp = Blueprint("ks_control_orders", __name__, url_prefix="/_sandbox")


@bp.errorhandler(LifecycleError)
def _conflict(err: LifecycleError):
    return jsonify({"error": str(err)}), 409


@bp.errorhandler(ControlError)
def _control_error(err: ControlError):
    return jsonify({"error": err.message}), err.status


@bp.errorhandler(ValueError)
@bp.errorhandler(TypeError)
@bp.errorhandler(KeyError)
def _bad_input(err):
    return jsonify({"error": f"bad request: {err}"}), 400


def order_json(order) -> dict:
    return {"oid": order.oid, "sellerId": order.seller_id, "status": order.status,
            "updateTime": order.update_time, "order": order.to_api(detail=True),
            "plainAddress": dict(order.address)}


def refund_json(refund) -> dict:
    return {"refundId": refund.refund_id, "oid": refund.order.oid, "status": refund.status,
            "negotiateStatus": refund.negotiate_status, "updateTime": refund.update_time,
            "refund": refund.to_detail()}


def _shop(s, data: dict):
    seller_id = data.get("sellerId")
    if seller_id is None:
        shop = s.default_shop()
        if shop is None:
            raise ControlError(409, "create a shop first")
        return shop
    return find(s.shops, int(seller_id), "shop")


@bp.post("/orders")
def create_order():
    data, s = body(), state()
    with s.lock:
        order = orders.create_order(s, _shop(s, data), data)
        return jsonify(order_json(order)), 201


@bp.post("/orders/bulk")
def create_orders():
    """Many orders at once (benchmarks): createTime spread evenly over the last spreadMs."""
    data, s = body(), state()
    count = int(data.pop("count", 1))
    spread = int(data.pop("spreadMs", 0))
    if not 1 <= count <= 100_000:
        raise ControlError(400, "count must be 1..100000")
    oids = []
    with s.lock:
        shop, now = _shop(s, data), s.now_ms()
        for i in range(count):
            opts = dict(data)
            if spread:
                opts["createTime"] = now - spread + (spread * (i + 1)) // count
            oids.append(orders.create_order(s, shop, opts).oid)
    return jsonify({"count": count, "oids": oids}), 201


@bp.get("/orders")
def list_orders():
    s = state()
    seller = request.args.get("sellerId")
    with s.lock:
        return jsonify([order_json(o) for o in s.orders.values()
                        if seller is None or o.seller_id == int(seller)])


@bp.route("/orders/<int:oid>", methods=["GET", "PATCH"])
def order_detail(oid: int):
    s = state()
    with s.lock:
        order = find(s.orders, oid, "order")
        if request.method == "PATCH":
            orders.patch_order(s, order, body())
        return jsonify(order_json(order))


_ORDER_STEPS = {"pay": orders.pay, "cancel": orders.cancel, "receive": orders.mark_received,
                "succeed": orders.mark_succeeded}


@bp.post("/orders/<int:oid>/<step>")
def order_step(oid: int, step: str):
    s = state()
    if step not in _ORDER_STEPS:
        raise ControlError(404, f"no such order step: {step}")
    with s.lock:
        order = find(s.orders, oid, "order")
        _ORDER_STEPS[step](s, order)
        return jsonify(order_json(order))


@bp.post("/orders/<int:oid>/refunds")
def create_refund(oid: int):
    data, s = body(), state()
    with s.lock:
        refund = refunds.create_refund(s, find(s.orders, oid, "order"), data)
        return jsonify(refund_json(refund)), 201


@bp.route("/refunds/<int:refund_id>", methods=["GET", "PATCH"])
def refund_detail(refund_id: int):
    s = state()
    with s.lock:
        refund = find(s.refunds, refund_id, "refund")
        if request.method == "PATCH":
            refunds.patch_refund(s, refund, body())
        return jsonify(refund_json(refund))


@bp.post("/refunds/<int:refund_id>/return-shipment")
def return_shipment(refund_id: int):
    data, s = body(), state()
    with s.lock:
        refund = find(s.refunds, refund_id, "refund")
        refunds.ship_return(s, refund, str(data["expressNo"]), int(data["expressCode"]))
        return jsonify(refund_json(refund))


@bp.post("/refunds/<int:refund_id>/<step>")
def refund_step(refund_id: int, step: str):
    s = state()
    steps = {"cancel": refunds.buyer_cancel, "escalate": refunds.escalate}
    if step not in steps:
        raise ControlError(404, f"no such refund step: {step}")
    with s.lock:
        refund = find(s.refunds, refund_id, "refund")
        steps[step](s, refund)
        return jsonify(refund_json(refund))
