"""Linking a shop (OAuth2 authorization code) and keeping its tokens alive.

* ``authorize_url(...)``: where to send the merchant (``/oauth/authorize`` on
  ``oauth_base_url``, ``scope`` comma-separated, ``response_type=code``).
* ``OAuthClient``: ``exchange_code`` (``GET /oauth2/access_token``, ``grant_type=code`` —
  the literal ``code``) and ``refresh`` (``POST /oauth2/refresh_token``; parameters in the
  query string as the S3 SDK sends them), both on ``api_base_url``.
* ``TokenManager(ctx, oauth)``: ``access_token()`` answers a token that is valid for at
  least ``margin``, refreshing ahead of expiry; ``refresh(rejected=tok)`` after the API
  rejected ``tok``. Refreshing is single-flight per shop: one lock per account id in the
  process, and under it the newest stored tokens are re-read (``reload``, and the tokens
  other ``TokenManager`` objects of this process obtained), so N concurrent callers cause
  one refresh. A new refresh token is persisted through ``ctx.save_config`` (the hub
  merges it in its own transaction, with a row lock on PostgreSQL) *before* the new
  access token is used.
* ``authorization_status(config, now)``: ``ok | expiring | expired | revoked`` for the hub.

Platform facts this relies on (reference §1.2): access tokens last ``expires_in`` (48 h);
each refresh returns a new refresh token whose expiry is *inherited* — 180 days from the
first authorization, never extended — and the previous refresh token stays valid for
about 5 minutes. So a refresh whose answer was lost (timeout) is simply retried with the
stored token; nothing is written until an answer arrives. Reusing a token after those
5 minutes answers 100200102 ``refreshToken.discarded``: before concluding the shop must be
re-authorized the manager re-reads the stored token once (another process may have
rotated it) — pass ``reload`` to make that see other processes' writes.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable
from urllib.parse import urlencode

from connectors.base import AccountContext, ConnectorError, ErrorClass
from connectors.http import HttpAdapter
from connectors.kuaishou.client import DEFAULT_API_BASE
from connectors.kuaishou.errors import KuaishouError, Verdict, error_for, parse_body

DEFAULT_OAUTH_BASE = "https://open.kwaixiaodian.com"
ACCESS_TOKEN_LIFETIME_S = 172_800          # 48 h, when the answer omits expires_in
REFRESH_TOKEN_LIFETIME = timedelta(days=180)
DEFAULT_MARGIN_S = 3600
DEFAULT_WARNING_DAYS = 14
TOKEN_FIELDS = ("access_token", "refresh_token", "access_token_expires_at",
                "refresh_token_expires_at", "scopes", "open_id", "reauthorize_reason")
STATUSES = ("ok", "expiring", "expired", "revoked")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def parse_time(value) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat() if moment else None


def authorize_url(oauth_base_url: str, app_key: str, redirect_uri: str, scopes, state: str) -> str:
    scope = scopes if isinstance(scopes, str) else ",".join(s.strip() for s in scopes if s.strip())
    query = urlencode({"app_id": app_key, "redirect_uri": redirect_uri, "scope": scope,
                       "response_type": "code", "state": state})
    return f"{(oauth_base_url or DEFAULT_OAUTH_BASE).rstrip('/')}/oauth/authorize?{query}"


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_token_expires_in: int | None = None
    scopes: tuple[str, ...] = ()
    open_id: str | None = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def parse(cls, payload: dict) -> "TokenGrant":
        access, refresh = payload.get("access_token"), payload.get("refresh_token")
        if not access or not refresh:
            # Retrying with the same (still valid) refresh token is safe; keep nothing.
            raise KuaishouError(Verdict(ErrorClass.RETRY, "kuaishou oauth: a success answer "
                                        "without access_token/refresh_token"), payload=None)
        scopes = payload.get("scopes") or payload.get("scope") or ()
        if isinstance(scopes, str):
            scopes = [s for s in scopes.replace(" ", ",").split(",") if s]

        def seconds(key):
            try:
                return int(payload[key]) if payload.get(key) not in (None, "") else None
            except (TypeError, ValueError):
                return None
        return cls(access_token=str(access), refresh_token=str(refresh),
                   expires_in=seconds("expires_in") or ACCESS_TOKEN_LIFETIME_S,
                   refresh_token_expires_in=seconds("refresh_token_expires_in"),
                   scopes=tuple(str(s) for s in scopes),
                   open_id=str(payload["open_id"]) if payload.get("open_id") else None,
                   raw={k: v for k, v in payload.items()
                        if k not in ("access_token", "refresh_token")})


def grant_updates(grant: TokenGrant, now: datetime, previous: dict | None = None) -> dict:
    """The config changes for a new grant. The refresh token's expiry is never extended:
    a refresh keeps the stored (first authorization's) expiry; only when none is stored
    is it taken from ``refresh_token_expires_in`` (or 180 days for a first authorization)."""
    previous = previous or {}
    stored = parse_time(previous.get("refresh_token_expires_at"))
    reported = (now + timedelta(seconds=grant.refresh_token_expires_in)
                if grant.refresh_token_expires_in else None)
    if stored and reported:
        expiry = min(stored, reported)
    else:
        expiry = stored or reported
    updates = {"access_token": grant.access_token, "refresh_token": grant.refresh_token,
               "access_token_expires_at": iso(now + timedelta(seconds=grant.expires_in)),
               "refresh_token_expires_at": iso(expiry), "reauthorize_reason": None}
    if grant.scopes:
        updates["scopes"] = list(grant.scopes)
    if grant.open_id:
        updates["open_id"] = grant.open_id
    return updates


class OAuthClient(HttpAdapter):
    """The token endpoints. Secrets travel in the query string; they never reach a message."""

    def __init__(self, config: dict, *, session=None, sleep=None):
        super().__init__(config.get("api_base_url") or DEFAULT_API_BASE, session=session,
                         sleep=sleep)
        self.app_key = config["app_key"]
        self.app_secret = config["app_secret"]

    def _oauth_error(self, response) -> KuaishouError | None:
        payload = parse_body(response.text)
        if (response.status_code < 400 and payload and payload.get("access_token")
                and str(payload.get("result", 1)) == "1"):
            return None
        kerr = error_for(response, "kuaishou oauth")
        if kerr is not None and kerr.error_class is ErrorClass.REFRESH_TOKEN_THEN_RETRY:
            # On the token endpoint itself "token invalid" means the refresh token.
            kerr = KuaishouError(Verdict(ErrorClass.FAIL_CONFIG, kerr.message + " — re-authorize "
                                         "the shop", kerr.code, reauthorize=True, revoked=True),
                                 status_code=kerr.status_code, payload=kerr.payload,
                                 raw=kerr.response_excerpt)
        return kerr

    def classify(self, response):
        error = self._oauth_error(response)
        return error.error_class if error else None

    def error_message(self, response) -> str:
        return f"kuaishou oauth: HTTP {response.status_code}"

    def _attempt(self, method, url, kwargs):
        response, error = super()._attempt(method, url, kwargs)
        if error is None or response is None:
            return response, error
        return response, self._oauth_error(response) or error

    def _grant(self, method: str, path: str, params: dict) -> TokenGrant:
        response = self.request(method, path, params=params)
        return TokenGrant.parse(parse_body(response.text) or {})

    def exchange_code(self, code: str) -> TokenGrant:
        return self._grant("GET", "/oauth2/access_token", {
            "app_id": self.app_key, "app_secret": self.app_secret, "grant_type": "code",
            "code": code})

    def refresh(self, refresh_token: str) -> TokenGrant:
        return self._grant("POST", "/oauth2/refresh_token", {
            "app_id": self.app_key, "app_secret": self.app_secret,
            "grant_type": "refresh_token", "refresh_token": refresh_token})


def authorization_status(config: dict, now: datetime | None = None,
                         warning_days: int | None = None) -> str:
    """``revoked`` (the platform said so), ``expired`` (no usable token, or past the
    180-day limit), ``expiring`` (within ``warning_days`` of it) or ``ok``."""
    now = now or utcnow()
    if warning_days is None:
        warning_days = int(config.get("reauthorize_warning_days") or DEFAULT_WARNING_DAYS)
    if config.get("reauthorize_reason"):
        return "revoked"
    access_ok = bool(config.get("access_token")) and (
        (parse_time(config.get("access_token_expires_at")) or now + timedelta(seconds=1)) > now)
    refresh_until = parse_time(config.get("refresh_token_expires_at"))
    if config.get("refresh_token") and (refresh_until is None or refresh_until > now):
        if refresh_until and refresh_until - now <= timedelta(days=warning_days):
            return "expiring"
        return "ok"
    return "expiring" if access_ok else "expired"


# -- single flight --------------------------------------------------------------------------
_locks: dict[int, threading.Lock] = {}
_latest: dict[int, dict] = {}     # the newest tokens any TokenManager of this process saw
_guard = threading.Lock()


def _lock_for(account_id: int) -> threading.Lock:
    with _guard:
        return _locks.setdefault(account_id, threading.Lock())


def reset_process_state() -> None:
    """Forget shared locks and tokens (tests)."""
    with _guard:
        _locks.clear()
        _latest.clear()


def _newest(*candidates: dict | None) -> dict:
    """The candidate with the latest access-token expiry (tokens only); the first on a tie."""
    best: dict = {}
    best_at = None
    for candidate in candidates:
        if not candidate:
            continue
        at = parse_time(candidate.get("access_token_expires_at"))
        if not best or (at is not None and (best_at is None or at > best_at)):
            best, best_at = candidate, at
    return {k: best.get(k) for k in TOKEN_FIELDS if k in best}


class TokenManager:
    def __init__(self, ctx: AccountContext, oauth: OAuthClient, *,
                 margin_s: float | None = None, clock: Callable[[], datetime] = utcnow,
                 reload: Callable[[], dict] | None = None):
        self.ctx = ctx
        self.oauth = oauth
        cfg = ctx.config
        self.margin = timedelta(seconds=margin_s if margin_s is not None
                                else float(cfg.get("token_refresh_margin_s") or DEFAULT_MARGIN_S))
        self.clock = clock
        self.reload = reload or getattr(ctx, "reload_config", None)

    # -- views --------------------------------------------------------------------------------
    def _view(self, reload: bool = False) -> dict:
        stored = self.reload() if (reload and self.reload) else None
        with _guard:
            shared = _latest.get(self.ctx.account_id)
        tokens = _newest(shared, stored, self.ctx.config)
        self.ctx.config.update(tokens)
        return tokens

    def _fresh(self, tokens: dict, now: datetime) -> bool:
        if not tokens.get("access_token"):
            return False
        expires = parse_time(tokens.get("access_token_expires_at"))
        return expires is None or expires - self.margin > now

    def _reauthorize(self, reason: str) -> ConnectorError:
        return ConnectorError(ErrorClass.FAIL_CONFIG, f"re-authorize the Kuaishou shop: {reason}")

    # -- public ------------------------------------------------------------------------------
    def access_token(self) -> str:
        tokens = self._view()
        if tokens.get("reauthorize_reason"):
            raise self._reauthorize(tokens["reauthorize_reason"])
        now = self.clock()
        if self._fresh(tokens, now):
            return tokens["access_token"]
        try:
            return self.refresh()
        except ConnectorError as e:
            # A refresh ahead of expiry failed transiently: the current token still works.
            expires = parse_time(tokens.get("access_token_expires_at"))
            if e.error_class.retryable and tokens.get("access_token") and expires and expires > now:
                return tokens["access_token"]
            raise

    def refresh(self, rejected: str | None = None) -> str:
        """A usable access token: refreshed here unless another caller just did it."""
        with _lock_for(self.ctx.account_id):
            tokens = self._view(reload=True)
            if tokens.get("reauthorize_reason"):
                raise self._reauthorize(tokens["reauthorize_reason"])
            now = self.clock()
            current = tokens.get("access_token")
            if rejected is None and self._fresh(tokens, now):
                return current
            if rejected is not None and current and current != rejected:
                expires = parse_time(tokens.get("access_token_expires_at"))
                if expires is None or expires > now:
                    return current
            return self._refresh_locked(tokens, now)

    def mark_revoked(self, reason: str) -> None:
        """Record that the platform revoked the authorization (shown as ``revoked``)."""
        with _lock_for(self.ctx.account_id):
            try:
                self._persist({"reauthorize_reason": reason[:500]})
            except ConnectorError:
                pass  # the caller raises the platform's error anyway

    def authorize(self, code: str) -> dict:
        """Exchange the callback's code and store the grant (a new or renewed authorization)."""
        with _lock_for(self.ctx.account_id):
            now = self.clock()
            grant = self.oauth.exchange_code(code)
            updates = grant_updates(grant, now)
            if not grant.refresh_token_expires_in:
                updates["refresh_token_expires_at"] = iso(now + REFRESH_TOKEN_LIFETIME)
            self._persist(updates)
            return updates

    # -- internals -----------------------------------------------------------------------------
    def _refresh_locked(self, tokens: dict, now: datetime, second_try: bool = False) -> str:
        refresh_token = tokens.get("refresh_token")
        if not refresh_token:
            raise self._reauthorize("no refresh token is stored; authorize the shop")
        until = parse_time(tokens.get("refresh_token_expires_at"))
        if until is not None and until <= now:
            raise self._reauthorize("the 180-day authorization has expired")
        try:
            grant = self.oauth.refresh(refresh_token)
        except KuaishouError as e:
            if not e.revoked:
                raise  # timeouts etc.: the stored refresh token stays valid; try again later
            if not second_try and self.reload:
                again = self._view(reload=True)  # another process may have rotated it
                if again.get("refresh_token") and again["refresh_token"] != refresh_token:
                    if self._fresh(again, now):
                        return again["access_token"]
                    return self._refresh_locked(again, now, second_try=True)
            self._persist({"reauthorize_reason": e.message[:500]})
            raise
        self._persist(grant_updates(grant, now, tokens))
        return grant.access_token

    def _persist(self, updates: dict) -> None:
        try:
            self.ctx.save_config(updates)
        except Exception as e:
            raise ConnectorError(ErrorClass.RETRY, f"could not store the Kuaishou tokens: "
                                 f"{type(e).__name__}; the previous refresh token stays valid "
                                 "for a few minutes") from e
        self.ctx.config.update(updates)
        with _guard:
            merged = {**_latest.get(self.ctx.account_id, {}), **updates}
            _latest[self.ctx.account_id] = {k: merged.get(k) for k in TOKEN_FIELDS if k in merged}
