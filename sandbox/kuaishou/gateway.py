"""The API gateway: ``/<method with dots as slashes>`` (reference §1.3).

Each call is checked the way the platform documents it, in this order: the API exists
and is called with its verb (GET APIs accept GET or POST, POST APIs only POST, form
encoded, params in the body or the query string); the eight common params are present;
``appkey`` is a known app; ``method`` equals the path; ``version`` is 1; ``signMethod``
is MD5 or HMAC_SHA256; ``timestamp`` (ms) is within ``timestamp_tolerance_ms`` of the
real or the simulated clock; ``sign`` verifies over the raw values; the access token is
valid (K0004/K0005/K0006 answers otherwise) and carries the API's scope; the per-app
and per-user QPS limits hold; ``param`` is a JSON object. Then the handler from
``orders.API``/``refunds.API`` runs under the state lock and its answer is wrapped as
``{"result":1,"error_msg":"","data":...,"requestId":...}``.

Every call is logged (``state.calls``); every POST call is also kept, with its outcome,
as an action the hub took (``state.actions``).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from flask import Blueprint, current_app, jsonify, request

from . import errors, orders, refunds
from .errors import ApiError
from .oauth import check_access_token
from .signing import SIGN_METHODS, verify_sign

bp = Blueprint("ks_gateway", __name__)
COMMON = ("appkey", "method", "version", "param", "access_token", "timestamp", "signMethod", "sign")
API = {**orders.API, **refunds.API}


@dataclass
class Call:
    """What a handler gets: the state (lock held), the calling app and the merchant."""
    state: object
    app: object
    seller_id: int
    method: str
    now_ms: int
    details: dict = field(default_factory=dict)     # extra facts for the action log

    @property
    def shop(self):
        return self.state.shops[self.seller_id]


def _state():
    return current_app.extensions["ks_sandbox"]


def _collect(spec_verb: str) -> dict:
    if spec_verb == "POST" and request.method != "POST":
        raise ApiError(100200100, "该API仅支持POST请求", http_status=405, error="invalid_request")
    params = request.args.to_dict()
    if request.method == "POST":
        if request.mimetype not in ("", "application/x-www-form-urlencoded"):
            raise ApiError(100200100, "Content-Type仅支持application/x-www-form-urlencoded",
                           http_status=415, error="invalid_request")
        params.update(request.form.to_dict())
    return params


def _verify_envelope(state, params: dict, method: str):
    missing = [k for k in COMMON if not str(params.get(k) or "").strip()]
    if missing:
        raise ApiError(100200100, f"缺少必要的请求参数: {missing[0]}", error="invalid_request")
    app = state.apps.get(params["appkey"])
    if app is None:
        raise ApiError(100200101, f"appkey不存在: {params['appkey']}", error="unauthorized_client")
    if params["method"] != method:
        raise ApiError(100200100, f"method与请求路径不一致: {params['method']}", error="invalid_request")
    if params["version"] != "1":
        raise ApiError(100200100, "version无效", error="invalid_request")
    if params["signMethod"] not in SIGN_METHODS:
        raise ApiError(errors.SIGN_PARAM_INVALID, "signMethod无效")
    if not params["timestamp"].isdigit():
        raise ApiError(errors.SIGN_PARAM_INVALID, "timestamp无效")
    tolerance = int(state.config.timestamp_tolerance_ms or 0)
    if tolerance > 0:
        ts = int(params["timestamp"])
        skew = min(abs(ts - int(time.time() * 1000)), abs(ts - state.now_ms()))
        if skew > tolerance:
            raise ApiError(errors.SIGN_PARAM_INVALID, "timestamp无效: 与服务器时间相差过大")
    if not verify_sign(params, app.sign_secret):
        raise ApiError(errors.SIGN_INVALID, "签名校验失败")
    return app


def _business_param(raw: str) -> dict:
    try:
        value = json.loads(raw)
    except ValueError:
        raise errors.invalid("param") from None
    if not isinstance(value, dict):
        raise errors.invalid("param")
    return value


@bp.route("/open/<path:rest>", methods=["GET", "POST"])
def call_api(rest: str):
    state = _state()
    limiter = current_app.extensions["ks_limiter"]
    method = "open." + rest.strip("/").replace("/", ".")
    spec = API.get(method)
    app_key = seller_id = None
    param: dict = {}
    call = None
    try:
        if spec is None:
            raise ApiError(100200100, f"api不存在: {method}", http_status=404, error="invalid_request")
        verb, scope, handler = spec
        params = _collect(verb)
        with state.lock:
            app = _verify_envelope(state, params, method)
            app_key = app.app_key
            token = check_access_token(state, app, params["access_token"], scope)
            seller_id = token.seller_id
            app_qps, user_qps = state.config.qps_for(method)
            qps_code = state.config.qps_result_code
        refusal = limiter.check(method, app_key, seller_id, app_qps, user_qps)
        if refusal:
            raise ApiError(qps_code, refusal)
        param = _business_param(params["param"])
        with state.lock:
            call = Call(state, app, seller_id, method, state.now_ms())
            data = handler(call, param)
            body = errors.ok(data, with_data=verb == "GET" or data is not None)
            _log(state, spec, method, app_key, seller_id, param, 1, "", call)
        return jsonify(body)
    except ApiError as err:
        with state.lock:
            _log(state, spec, method, app_key, seller_id, param, err.result, err.error_msg, call)
        return jsonify(err.body()), err.http_status


def _log(state, spec, method, app_key, seller_id, param, result, error_msg, call) -> None:
    state.record_call(method, app_key, seller_id, result, error_msg)
    if spec is not None and spec[0] == "POST" and app_key is not None and seller_id is not None:
        state.record_action(method, app_key, seller_id, param, result, error_msg,
                            **(call.details if call else {}))
