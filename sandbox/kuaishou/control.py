"""Control API, part 1: apps, shops, authorization, clock, config, pushes and logs.

JSON in, JSON out, under ``/_sandbox``. Not part of the platform: it is how tests, the
demo and the benchmarks set the world up and read back what the hub did.

    POST /_sandbox/apps                 {appKey?, appSecret?, signSecret?, messageKey?,
                                         pushUrl?, redirectUri?, scopes?, events?}
    PATCH /_sandbox/apps/<appKey>       (saving pushUrl sends the {"test":true} heartbeat)
    PUT  /_sandbox/apps/<appKey>/misbehaviour {dropRate, duplicateRate, delaySeconds,
                                         emptyOpenIdRate}
    POST /_sandbox/shops                {sellerId?, openId?, sellerNick?, shopName?}
    POST /_sandbox/shops/<id>/authorize {appKey, scopes?, accessToken?, refreshToken?}
    POST /_sandbox/shops/<id>/revoke    {appKey}
    POST /_sandbox/clock/advance        {ms|seconds|minutes|hours|days}; /clock/set {nowMs}
    GET|PUT /_sandbox/config            (camelCase keys of state.Config)
    GET  /_sandbox/pushes?appKey&event&kind&state&bizId; POST /_sandbox/pushes/<id>/repush
    GET  /_sandbox/actions?method&oid&refundId&ok   (writes the hub made, in order)
    GET  /_sandbox/deliveries?oid       (accepted shipments and tracking changes, in order)
    GET  /_sandbox/refund-decisions?refundId  (accepted approve/return/receipt/reject calls)
    GET  /_sandbox/calls?method&result             (every API call)
    POST /_sandbox/reset
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from .oauth import issue_tokens, revoke
from .state import DAY_MS, HOUR_MS, Config, Misbehaviour, snake

bp = Blueprint("ks_control", __name__, url_prefix="/_sandbox")


class ControlError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@bp.errorhandler(ControlError)
def _control_error(err: ControlError):
    return jsonify({"error": err.message}), err.status


@bp.errorhandler(ValueError)
@bp.errorhandler(TypeError)
@bp.errorhandler(KeyError)
def _bad_input(err):
    return jsonify({"error": f"bad request: {err}"}), 400


def state():
    return current_app.extensions["ks_sandbox"]


def body() -> dict:
    data = request.get_json(silent=True)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ControlError(400, "the body must be a JSON object")
    return data


def find(mapping: dict, key, what: str):
    try:
        return mapping[key]
    except KeyError:
        raise ControlError(404, f"no such {what}: {key}") from None


def _int_arg(name: str):
    value = request.args.get(name)
    return int(value) if value not in (None, "") else None


# ---- health, reset, config, clock ---------------------------------------------------------
@bp.get("/health")
def health():
    return jsonify({"ok": True, "nowMs": state().now_ms()})


@bp.post("/reset")
def reset():
    s = state()
    with s.lock:
        s.reset()
        s.config = Config.from_dict(current_app.extensions["ks_initial_config"])
        s.push.reset()
        current_app.extensions["ks_limiter"].reset()
    return jsonify({"ok": True})


@bp.route("/config", methods=["GET", "PUT", "PATCH"])
def config():
    s = state()
    with s.lock:
        if request.method != "GET":
            s.config.update(body())
        return jsonify(s.config.to_json())


@bp.get("/clock")
def clock():
    s = state()
    return jsonify({"nowMs": s.now_ms(), "offsetMs": s.clock.offset_ms})


@bp.post("/clock/advance")
def clock_advance():
    data, s = body(), state()
    units = {"ms": 1, "seconds": 1000, "minutes": 60_000, "hours": HOUR_MS, "days": DAY_MS}
    ms = int(sum(float(data.get(k, 0)) * f for k, f in units.items()))
    if ms < 0:
        raise ControlError(400, "the clock only moves forward here; use /clock/set")
    with s.lock:
        s.clock.advance(ms)
        s.push.shift(ms)
    return jsonify({"nowMs": s.now_ms(), "offsetMs": s.clock.offset_ms, "advancedMs": ms})


@bp.post("/clock/set")
def clock_set():
    data, s = body(), state()
    with s.lock:
        delta = s.clock.set_now(int(data["nowMs"]))
        s.push.shift(delta)
    return jsonify({"nowMs": s.now_ms(), "offsetMs": s.clock.offset_ms})


# ---- apps ---------------------------------------------------------------------------------
APP_FIELDS = ("appKey", "appSecret", "signSecret", "messageKey", "pushUrl", "redirectUri",
              "scopes", "events", "defaultSellerId")


@bp.post("/apps")
def create_app_():
    data, s = body(), state()
    unknown = set(data) - set(APP_FIELDS)
    if unknown:
        raise ControlError(400, f"unknown fields: {sorted(unknown)}")
    values = {snake(k): v for k, v in data.items()}
    if "scopes" in values:
        values["scopes"] = tuple(values["scopes"])
    with s.lock:
        try:
            app = s.add_app(**values)
        except ValueError as exc:
            raise ControlError(409, str(exc)) from None
    if app.push_url:
        s.push.heartbeat(app)
    return jsonify(app.to_json()), 201


@bp.get("/apps")
def list_apps():
    s = state()
    with s.lock:
        return jsonify([a.to_json() for a in s.apps.values()])


@bp.route("/apps/<app_key>", methods=["GET", "PATCH"])
def app_detail(app_key: str):
    s = state()
    heartbeat = False
    with s.lock:
        app = find(s.apps, app_key, "app")
        if request.method == "PATCH":
            data = body()
            for key in ("pushUrl", "redirectUri", "events", "defaultSellerId", "appSecret", "signSecret",
                        "messageKey", "scopes"):
                if key in data:
                    value = tuple(data[key]) if key == "scopes" else data[key]
                    setattr(app, snake(key), value)
            heartbeat = "pushUrl" in data and bool(app.push_url)
        out = app.to_json()
    if heartbeat:
        s.push.heartbeat(app)
    return jsonify(out)


@bp.put("/apps/<app_key>/misbehaviour")
def misbehaviour(app_key: str):
    s = state()
    with s.lock:
        app = find(s.apps, app_key, "app")
        app.misbehaviour = Misbehaviour(**{snake(k): float(v) for k, v in body().items()})
        return jsonify(app.misbehaviour.to_json())


@bp.post("/apps/<app_key>/heartbeat")
def heartbeat(app_key: str):
    s = state()
    with s.lock:
        app = find(s.apps, app_key, "app")
    return jsonify(s.push.heartbeat(app).to_json())


# ---- shops and authorization ------------------------------------------------------------
@bp.post("/shops")
def create_shop():
    data, s = body(), state()
    with s.lock:
        try:
            shop = s.add_shop(seller_id=data.get("sellerId"), open_id=data.get("openId"),
                              seller_nick=data.get("sellerNick"), shop_name=data.get("shopName"))
        except ValueError as exc:
            raise ControlError(409, str(exc)) from None
        return jsonify(shop.to_json()), 201


@bp.get("/shops")
def list_shops():
    s = state()
    with s.lock:
        return jsonify([shop.to_json() for shop in s.shops.values()])


@bp.get("/shops/<int:seller_id>")
def shop_detail(seller_id: int):
    s = state()
    with s.lock:
        return jsonify(find(s.shops, seller_id, "shop").to_json())


@bp.post("/shops/<int:seller_id>/authorize")
def authorize(seller_id: int):
    """The console's "copy token": authorize the shop for an app without the redirect."""
    data, s = body(), state()
    with s.lock:
        find(s.shops, seller_id, "shop")
        app = find(s.apps, data.get("appKey"), "app")
        scopes = data.get("scopes") or ["merchant_order", "merchant_refund", "merchant_logistics",
                                        "merchant_item", "merchant_user"]
        return jsonify(issue_tokens(s, app, seller_id, list(scopes), data.get("accessToken"),
                                    data.get("refreshToken")))


@bp.post("/shops/<int:seller_id>/revoke")
def revoke_authorization(seller_id: int):
    data, s = body(), state()
    with s.lock:
        if not revoke(s, data.get("appKey"), seller_id):
            raise ControlError(404, "no such authorization")
    return jsonify({"ok": True})


@bp.get("/grants")
def grants():
    s = state()
    with s.lock:
        return jsonify([{"appKey": g.app_key, "sellerId": g.seller_id, "scopes": g.scopes,
                         "authorizedMs": g.authorized_ms, "refreshExpiresMs": g.refresh_expires_ms,
                         "revoked": g.revoked} for g in s.grants.values()])


# ---- what happened -------------------------------------------------------------------------
@bp.get("/pushes")
def pushes():
    return jsonify(state().push.list(app_key=request.args.get("appKey"),
                                     event=request.args.get("event"),
                                     kind=request.args.get("kind"),
                                     state=request.args.get("state"),
                                     biz_id=_int_arg("bizId")))


@bp.post("/pushes/<msg_id>/repush")
def repush(msg_id: str):
    msg = state().push.repush(msg_id)
    if msg is None:
        raise ControlError(404, f"no such push: {msg_id}")
    return jsonify({"ok": True, "id": msg.id})


@bp.get("/actions")
def actions():
    s = state()
    method, oid, refund_id = request.args.get("method"), _int_arg("oid"), _int_arg("refundId")
    ok = request.args.get("ok")
    with s.lock:
        found = [a for a in s.actions
                 if (method is None or a["method"] == method)
                 and (oid is None or a.get("oid") == oid)
                 and (refund_id is None or a.get("refundId") == refund_id)
                 and (ok is None or a["ok"] == (ok.lower() in ("1", "true", "yes")))]
        return jsonify(found)


@bp.get("/calls")
def calls():
    s = state()
    method, result = request.args.get("method"), _int_arg("result")
    with s.lock:
        return jsonify([c for c in s.calls
                        if (method is None or c["method"] == method)
                        and (result is None or c["result"] == result)])


@bp.get("/deliveries")
def deliveries():
    """Accepted ``goods.deliver`` and ``logistics.update`` calls, flattened, in order."""
    s, oid = state(), _int_arg("oid")
    kinds = {"open.seller.order.goods.deliver": "deliver", "open.seller.order.logistics.update": "update"}
    with s.lock:
        return jsonify([{"seq": a["seq"], "kind": kinds[a["method"]], "oid": a.get("oid"),
                         "expressNo": a.get("expressNo"), "expressCode": a.get("expressCode"),
                         "sellerId": a["sellerId"], "appKey": a["appKey"], "warnings": a.get("warnings", []),
                         "atMs": a["atMs"], "at": a["at"]}
                        for a in s.actions if a["ok"] and a["method"] in kinds
                        and (oid is None or a.get("oid") == oid)])


@bp.get("/refund-decisions")
def refund_decisions():
    """Accepted merchant decisions on refunds, flattened, in order."""
    s, refund_id = state(), _int_arg("refundId")
    with s.lock:
        return jsonify([{"seq": a["seq"], "decision": a.get("decision"), "refundId": a.get("refundId"),
                         "oid": a.get("oid"), "refundAmount": a.get("refundAmount"),
                         "reasonCode": a.get("reasonCode"), "sellerId": a["sellerId"],
                         "appKey": a["appKey"], "param": a["param"], "atMs": a["atMs"], "at": a["at"]}
                        for a in s.actions if a["ok"] and a.get("decision")
                        and (refund_id is None or a.get("refundId") == refund_id)])
