"""OAuth2 of the simulated platform (reference §1.2, APP授权说明).

* ``GET /oauth/authorize?app_id&redirect_uri&scope&response_type=code&state`` -- the
  merchant (``seller_id`` query parameter, else the app's default shop, else the first
  shop) approves at once: 302 to ``redirect_uri?code=...&state=...``. A code is valid for
  ``code_ttl_s`` (2 minutes) and can be exchanged once.
* ``GET /oauth2/access_token?app_id&app_secret&grant_type=code&code`` -- the grant type
  is the literal ``code``; ``client_credentials`` gives an app-level token.
* ``POST|GET /oauth2/refresh_token`` with ``grant_type=refresh_token, refresh_token,
  app_id, app_secret`` -- a NEW refresh_token every time. A used one still works for
  ``refresh_grace_s`` (5 minutes), then answers ``refreshToken.discarded``. Refresh tokens
  inherit the absolute expiry (180 days from authorization); access tokens live 48 h and
  old and new ones stay valid independently.

Errors are ``{"result":1002001xx,"error":...,"error_msg":...}``. ``revoke`` models the
merchant cancelling: API calls then answer result 24 ``AUTHORIZATION_REVOKED``.
"""
from __future__ import annotations

import secrets
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Blueprint, current_app, jsonify, redirect, request

from . import errors
from .errors import ApiError, oauth_error
from .state import DAY_MS, AccessToken, AuthCode, Grant, RefreshToken

bp = Blueprint("ks_oauth", __name__)


def _state():
    return current_app.extensions["ks_sandbox"]


def _param(name: str) -> str:
    value = request.values.get(name)
    if value is None or not value.strip():
        raise oauth_error(100200100, f"缺少必要的请求参数: {name}")
    return value


def _app(app_id: str, app_secret: str | None = None):
    app = _state().apps.get(app_id)
    if app is None or (app_secret is not None and not secrets.compare_digest(app_secret, app.app_secret)):
        raise oauth_error(100200101, "app非法: appKey或appSecret错误")
    return app


def _oauth_json(err: ApiError):
    return jsonify(errors.oauth_body(err)), err.http_status


# ---- token issuing (shared with the control API) -----------------------------------------
def issue_tokens(state, app, seller_id: int, scopes: list, access_token: str | None = None,
                 refresh_token: str | None = None) -> dict:
    """Authorize (or re-authorize) ``seller_id`` for ``app`` and answer the token body."""
    now = state.now_ms()
    key = (app.app_key, seller_id)
    grant = state.grants.get(key)
    if grant is None:
        grant = state.grants[key] = Grant(app.app_key, seller_id, list(scopes), now, 0)
    elif grant.revoked:
        grant.revoked = False
        grant.epoch += 1
    grant.scopes = list(scopes)
    grant.authorized_ms = now
    grant.refresh_expires_ms = now + state.config.refresh_token_ttl_days * DAY_MS
    body = _new_tokens(state, app, grant, now, access_token, refresh_token)
    body["open_id"] = state.shops[seller_id].open_id
    return body


def _new_tokens(state, app, grant, now, access_token=None, refresh_token=None) -> dict:
    access = AccessToken(access_token or "ChFvYXV0aC5hY2Nlc3NUb2tlbh" + secrets.token_urlsafe(48),
                         app.app_key, grant.seller_id, list(grant.scopes),
                         now + state.config.access_token_ttl_s * 1000, grant.epoch)
    refresh = RefreshToken(refresh_token or "ChJvYXV0aC5yZWZyZXNoVG9rZW4S" + secrets.token_urlsafe(72),
                           app.app_key, grant.seller_id, grant.epoch)
    state.access_tokens[access.token] = access
    state.refresh_tokens[refresh.token] = refresh
    return {"result": 1, "access_token": access.token, "refresh_token": refresh.token,
            "open_id": state.shops[grant.seller_id].open_id,
            "expires_in": state.config.access_token_ttl_s,
            "refresh_token_expires_in": max(0, (grant.refresh_expires_ms - now) // 1000),
            "token_type": "bearer", "scopes": list(grant.scopes)}


def revoke(state, app_key: str, seller_id: int) -> bool:
    grant = state.grants.get((app_key, seller_id))
    if grant is None:
        return False
    grant.revoked = True
    return True


def check_access_token(state, app, token: str, needs_scope: str | None) -> AccessToken:
    """The token record for an API call, or the platform's refusal (K0004/K0005/K0006)."""
    record = state.access_tokens.get(token)
    if record is None or record.app_key != app.app_key:
        raise ApiError(errors.TOKEN_INVALID, "鉴权失败")
    if record.seller_id is None:
        if needs_scope:
            raise ApiError(errors.NO_MAIN_ACCOUNT, "主账号不存在", data=None)
        return record
    grant = state.grants.get((app.app_key, record.seller_id))
    if grant is None or grant.revoked:
        raise ApiError(errors.AUTH_REVOKED, "AUTHORIZATION_REVOKED")
    if grant.epoch != record.epoch:
        raise ApiError(errors.TOKEN_INVALID, "鉴权失败")
    if state.now_ms() >= record.expires_ms:
        raise ApiError(errors.TOKEN_INVALID, "TOKEN过期")
    if needs_scope and needs_scope not in record.scopes:
        raise ApiError(errors.NO_SCOPE, "token中无scope权限")
    return record


# ---- endpoints --------------------------------------------------------------------------
@bp.get("/oauth/authorize")
def authorize():
    state = _state()
    try:
        with state.lock:
            app = _app(_param("app_id"))
            redirect_uri = _param("redirect_uri")
            scope = _param("scope")
            response_type = request.values.get("response_type") or "code"
            if response_type != "code":
                raise oauth_error(100200103, f"unsupported response_type: {response_type}")
            if app.redirect_uri and redirect_uri != app.redirect_uri:
                raise oauth_error(100200100, "Invalid url: redirect_uri与应用回调地址不一致")
            scopes = [s.strip() for s in scope.split(",") if s.strip()]
            unknown = [s for s in scopes if s not in app.scopes]
            if unknown:
                raise oauth_error(100200106, f"invalid scope: {','.join(unknown)}")
            seller = request.values.get("seller_id") or request.values.get("sellerId")
            if seller:
                seller_id = int(seller) if seller.isdigit() else -1
            else:
                seller_id = app.default_seller_id or getattr(state.default_shop(), "seller_id", -1)
            if seller_id not in state.shops:
                raise oauth_error(100200107, "不存在的商家用户")
            code = secrets.token_hex(36)
            state.codes[code] = AuthCode(code, app.app_key, seller_id, scopes, redirect_uri,
                                         state.now_ms())
    except ApiError as err:
        return jsonify(errors.oauth_body(err)), 400
    query = {"code": code}
    if request.values.get("state") is not None:
        query["state"] = request.values["state"]
    parts = urlsplit(redirect_uri)
    joined = "&".join(p for p in (parts.query, urlencode(query)) if p)
    return redirect(urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment)), 302)


@bp.route("/oauth2/access_token", methods=["GET", "POST"])
def access_token():
    state = _state()
    try:
        with state.lock:
            app_id, secret = _param("app_id"), _param("app_secret")
            grant_type = _param("grant_type")
            app = _app(app_id, secret)
            now = state.now_ms()
            if grant_type == "client_credentials":
                token = AccessToken("ChFvYXV0aC5hY2Nlc3NUb2tlbh" + secrets.token_urlsafe(48),
                                    app.app_key, None, [], now + state.config.access_token_ttl_s * 1000)
                state.access_tokens[token.token] = token
                return jsonify({"result": 1, "access_token": token.token, "token_type": "bearer",
                                "expires_in": state.config.access_token_ttl_s})
            if grant_type != "code":
                raise oauth_error(100200104, f"unsupported grant_type: {grant_type}")
            code = state.codes.get(_param("code"))
            if code is None or code.app_key != app.app_key:
                raise oauth_error(100200105, "invalid code")
            if code.used:
                raise oauth_error(100200105, "code已使用")
            if now - code.created_ms > state.config.code_ttl_s * 1000:
                raise oauth_error(100200105, "code已过期")
            code.used = True
            return jsonify(issue_tokens(state, app, code.seller_id, code.scopes))
    except ApiError as err:
        return _oauth_json(err)


@bp.route("/oauth2/refresh_token", methods=["GET", "POST"])
def refresh_token():
    state = _state()
    try:
        with state.lock:
            grant_type = _param("grant_type")
            token_value = _param("refresh_token")
            app = _app(_param("app_id"), _param("app_secret"))
            if grant_type != "refresh_token":
                raise oauth_error(100200104, f"unsupported grant_type: {grant_type}")
            now = state.now_ms()
            token = state.refresh_tokens.get(token_value)
            if token is None or token.app_key != app.app_key:
                raise oauth_error(100200102, "invalid refresh_token")
            grant = state.grants.get((app.app_key, token.seller_id))
            if grant is None or grant.revoked:
                raise oauth_error(100200102, "refreshToken.revokedAuthorization")
            if grant.epoch != token.epoch or now >= grant.refresh_expires_ms:
                raise oauth_error(100200102, "invalid refresh_token")
            if token.used_ms is not None and now - token.used_ms > state.config.refresh_grace_s * 1000:
                raise oauth_error(100200102, "refreshToken.discarded")
            if token.used_ms is None:
                token.used_ms = now
            return jsonify(_new_tokens(state, app, grant, now))
    except ApiError as err:
        return _oauth_json(err)
