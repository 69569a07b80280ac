"""Linking a shop by OAuth: the pending link, its signed state, and the callback.

Any connector that declares the ``oauth_link`` capability (``connectors.base``: its
``link_fields``, ``authorize_url``, ``complete_authorization``, ``linked_identity``) links
this way; ``<connector>`` below is its name. Starting a link (``start_link``: the API
``POST /api/v1/shops/<connector>/link`` and the console's "Link a ..." form) validates the
app credentials (the connector's ``link_fields``) with the connector's config schema and
keeps them — encrypted like every account config — in a new ``Account``
with status ``linking`` (no table of its own: a pending link is an account that is not yet
authorized). It answers the platform's authorize URL whose ``state`` is an opaque token
signed with a key derived from ``HUB_SECRET_KEY`` (itsdangerous), valid ``STATE_MAX_AGE_S``
and bound to the merchant, the pending account and a random nonce stored in that account's
``config["link"]``; the signing salt names the connector, so a state only completes at
its own connector's callback. ``start_reauthorization`` does the same for a linked shop,
copying its app credentials into a pending account.

``complete_link`` is the callback (``GET /oauth/<connector>/callback?code&state``):

1. the state must verify, be younger than ``STATE_MAX_AGE_S`` and name a pending account
   of its merchant whose nonce it carries; the nonce is consumed (committed) before the
   code is exchanged, so a tampered, expired or replayed callback changes nothing;
2. the code is exchanged by the connector (``complete_authorization``), which answers
   the grant's config updates (tokens, expiries, scopes...); they are stored encrypted;
3. if the merchant already has a shop of that connector with the same identity
   (``linked_identity``: Kuaishou's open id), that account takes the new tokens
   (re-authorization: back to ``active``, its ``shop_reauthorize`` alert resolved, its
   poll streams due now) and the pending account is removed; otherwise the pending account
   becomes the active shop with ``external_id`` = that identity and its poll states are
   created due now, so the backfill starts at the worker's next poll.

Every step is audited. Failures raise ``LinkError`` (an HTTP status and a message for a
person), never a trace.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors import registry
from connectors.base import AccountContext, ConfigInvalid, Connector, ConnectorError, ErrorClass
from hub.core import logs
from hub.core.crypto import SecretsUnavailable
from hub.core.db import Database, utcnow
from hub.core.errors import ApiError, Conflict, NotFound
from hub.models import Account, PollState, alerts, audit

log = logging.getLogger(__name__)

CAPABILITY = "oauth_link"
STATE_MAX_AGE_S = 600
PENDING_TTL = timedelta(days=1)  # older pending links can never complete: removed
REAUTHORIZE_ALERT = "shop_reauthorize"
clock = time.time  # the state signer's clock (tests move it)


class LinkError(Exception):
    """A link that cannot complete: ``status`` (4xx, or 502 when the platform failed),
    a short ``title`` and a ``message`` that says what to do."""

    def __init__(self, status: int, title: str, message: str, account_id: int | None = None):
        super().__init__(message)
        self.status, self.title, self.message, self.account_id = status, title, message, account_id


@dataclass(frozen=True)
class LinkStarted:
    account_id: int
    authorize_url: str
    redirect_uri: str
    state_expires_at: datetime


@dataclass(frozen=True)
class LinkDone:
    account_id: int
    name: str
    created: bool  # a new shop; False: an existing shop was re-authorized


def derive_secret(secret: str, purpose: str) -> str:
    """A key for one purpose (OAuth state, console session) derived from HUB_SECRET_KEY."""
    return hmac.new(secret.encode(), f"dropship-hub:{purpose}:v1".encode(),
                    hashlib.sha256).hexdigest()


class _Signer(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(clock())


def _serializer(settings, connector: str) -> URLSafeTimedSerializer:
    keys = [derive_secret(k, "oauth-state") for k in (*reversed(settings.old_secret_keys),
                                                       settings.secret_key)]
    return URLSafeTimedSerializer(keys, salt=f"hub.link.{connector}", signer=_Signer)


def callback_path(connector: str) -> str:
    return f"/oauth/{connector}/callback"


def redirect_uri(settings, connector: str) -> str:
    return settings.public_url + callback_path(connector)


def linkable() -> dict[str, type[Connector]]:
    """The connectors that link by OAuth, by name."""
    return {n: c for n, c in registry.all().items() if CAPABILITY in c.capabilities}


def connector_class(connector: str) -> type[Connector]:
    """The connector named ``connector`` if it links by OAuth, else ``NotFound``."""
    cls = linkable().get(connector)
    if cls is None:
        raise NotFound(f"no connector named {connector!r} links shops by OAuth")
    return cls


def title(cls: type[Connector]) -> str:
    return cls.link_title or cls.title or cls.name


def _validated(cls, credentials: dict) -> dict:
    given = {k: v for k, v in credentials.items() if v not in (None, "", [])}
    try:
        return cls.validate_config(given)
    except ConfigInvalid as e:
        raise ApiError("the app credentials are invalid", code="validation_error", status=422,
                       details=e.messages) from None


# -- starting ---------------------------------------------------------------------------
def start_link(session: Session, settings, merchant_id: int, actor: str, connector: str,
               name: str, credentials: dict) -> LinkStarted:
    """A pending link for a new shop named ``name``; the caller commits."""
    cls = connector_class(connector)
    name = (name or "").strip()
    if not name:
        raise ApiError("the shop needs a name", code="validation_error", status=422,
                       details={"name": ["Missing data for required field."]})
    config = _validated(cls, {k: credentials.get(k) for k in cls.link_fields})
    _purge_stale(session, merchant_id, cls.name)
    row = _by_name(session, merchant_id, cls.name, name)
    if row is not None and row.status != "linking":
        raise Conflict(f"a {title(cls)} named {name!r} already exists (account {row.id}): "
                       "re-authorize it, or choose another name")
    return _pending(session, settings, merchant_id, actor, cls, name, config, row, None)


def start_reauthorization(session: Session, settings, merchant_id: int, actor: str,
                          account_id: int, connector: str | None = None) -> LinkStarted:
    """A pending link that renews the tokens of linked shop ``account_id`` (which must be
    of ``connector`` when given)."""
    shop = session.get(Account, account_id)
    cls = linkable().get(shop.connector) if shop is not None else None
    if (cls is None or shop.merchant_id != merchant_id or shop.status == "linking"
            or connector not in (None, shop.connector)):
        raise NotFound(f"linked shop {account_id} not found")
    config = _validated(cls, {k: shop.config.get(k) for k in cls.link_fields})
    name = f"{shop.name} (re-authorization)"[:255]
    row = _by_name(session, merchant_id, cls.name, name)
    if row is not None and row.status != "linking":
        raise Conflict(f"account {row.id} is named {name!r}; rename it to re-authorize")
    return _pending(session, settings, merchant_id, actor, cls, name, config, row, shop.id)


def _by_name(session, merchant_id, connector, name) -> Account | None:
    return session.scalar(select(Account).where(
        Account.merchant_id == merchant_id, Account.connector == connector, Account.name == name))


def _purge_stale(session, merchant_id, connector) -> None:
    cutoff = utcnow() - PENDING_TTL
    try:
        with session.begin_nested():
            session.execute(delete(Account).where(
                Account.merchant_id == merchant_id, Account.connector == connector,
                Account.status == "linking", Account.created_at < cutoff))
    except IntegrityError:  # something refers to one of them: keep them, harmless
        pass


def _pending(session, settings, merchant_id, actor, cls, name, config, row, target) -> LinkStarted:
    now = utcnow()
    nonce = secrets.token_urlsafe(24)
    if row is None:
        row = Account(merchant_id=merchant_id, connector=cls.name, kind=cls.kind, name=name,
                      status="linking")
        session.add(row)
    row.config = {**config, "link": {"nonce": nonce, "created_at": now.isoformat(),
                                     "actor": actor, "target_account_id": target}}
    row.status_reason = "waiting for the merchant to authorize the app on the platform"
    session.flush()
    audit.record(session, merchant_id, actor, "account.link_started", "account", row.id,
                 {"name": name, "reauthorize_account_id": target,
                  "config_keys": sorted(config)})
    state = _serializer(settings, cls.name).dumps({"m": merchant_id, "a": row.id, "n": nonce})
    shop = cls(AccountContext(account_id=row.id, merchant_id=merchant_id, name=name,
                              config=dict(config)))
    callback = redirect_uri(settings, cls.name)
    url = shop.authorize_url(state, callback)
    return LinkStarted(row.id, url, callback, now + timedelta(seconds=STATE_MAX_AGE_S))


# -- the callback ------------------------------------------------------------------------
def read_state(settings, connector: str, state: str | None) -> dict:
    if not state:
        raise LinkError(400, "Missing state", "The platform's answer carries no state. "
                        "Start linking the shop again from the console.")
    try:
        data = _serializer(settings, connector).loads(state, max_age=STATE_MAX_AGE_S)
    except SignatureExpired:
        raise LinkError(400, "This link has expired", "The authorization took longer than "
                        f"{STATE_MAX_AGE_S // 60} minutes. Start linking the shop again.") from None
    except BadData:
        raise LinkError(400, "This link is not valid", "The platform's answer could not be "
                        "verified (the state was altered or was not issued by this hub). "
                        "Nothing was changed.") from None
    if not (isinstance(data, dict) and isinstance(data.get("m"), int)
            and isinstance(data.get("a"), int) and isinstance(data.get("n"), str)):
        raise LinkError(400, "This link is not valid", "The state is malformed. Nothing was "
                        "changed.")
    return data


def _used() -> LinkError:
    return LinkError(400, "This link was already used", "This authorization answer was "
                     "already received (or the link was replaced by a newer one). Nothing was "
                     "changed; open the shop in the console or start linking again.")


def complete_link(db: Database, settings, connector: str, state: str | None, code: str | None,
                  error: str | None = None) -> LinkDone:
    cls = linkable().get(connector)
    if cls is None:
        raise LinkError(404, "Not found", f"No connector named {connector!r} links shops "
                        "by OAuth.")
    data = read_state(settings, connector, state)
    with db.session() as s:  # claim: consume the nonce before anything else happens
        pending = s.get(Account, data["a"], with_for_update=db.is_postgres)
        link = (pending.config or {}).get("link") if pending is not None and \
            pending.status == "linking" and pending.connector == connector else None
        if (not isinstance(link, dict) or pending.merchant_id != data["m"]
                or not isinstance(link.get("nonce"), str)
                or not hmac.compare_digest(link["nonce"], data["n"])):
            raise _used()
        config = {k: v for k, v in pending.config.items() if k != "link"}
        pending.config = {**config, "link": {**link, "nonce": None,
                                             "used_at": utcnow().isoformat()}}
        pending.status_reason = "exchanging the authorization code"
        ids = (pending.id, pending.merchant_id, pending.name)
    actor = str(link.get("actor") or "oauth")
    target_id = link.get("target_account_id")
    if error or not code:
        reason = f"the merchant did not authorize the app ({error or 'no code'})"
        _failed(db, ids, actor, reason[:300])
        raise LinkError(400, "Authorization was not granted", "The platform answered without "
                        "an authorization code" + (f" ({error})" if error else "") +
                        ". Start linking again and approve the app's access.", ids[0])
    grant = _exchange(db, settings, cls, ids, actor, config, code)
    return _store(db, cls, ids, actor, config, grant, target_id)


def _exchange(db, settings, cls, ids, actor, config, code) -> dict:
    account_id, merchant_id, name = ids
    ctx = AccountContext(account_id=account_id, merchant_id=merchant_id, name=name,
                         config=dict(config))
    try:
        grant = cls(ctx).complete_authorization(code, redirect_uri(settings, cls.name))
    except ConnectorError as e:
        detail = logs.scrub_text(e.message)[:300]
        _failed(db, ids, actor, f"code exchange failed: {detail}")
        if e.error_class in (ErrorClass.FAIL_DATA, ErrorClass.FAIL_CONFIG):
            raise LinkError(400, "The platform refused the authorization", "The platform "
                            f"refused the authorization code or the app credentials ({detail}). "
                            "Codes are valid for 2 minutes and only once: start linking again; "
                            "if it fails again, check the app key and app secret.",
                            account_id) from None
        raise LinkError(502, "The platform did not answer", "The platform could not be "
                        f"reached to exchange the code ({detail}). Start linking again in a "
                        "moment.", account_id) from None
    if not grant:
        _failed(db, ids, actor, "the platform answered without tokens")
        raise LinkError(502, "The platform answered without tokens", "Start linking again.",
                        account_id)
    return dict(grant)


def _failed(db, ids, actor, reason: str) -> None:
    account_id, merchant_id, _ = ids
    with db.session() as s:
        s.execute(update(Account).where(Account.id == account_id, Account.status == "linking")
                  .values(status_reason=reason[:500]))
        audit.record(s, merchant_id, actor, "account.link_failed", "account", account_id,
                     {"reason": reason[:300]})
    log.warning("shop link failed", extra={"account_id": account_id, "reason": reason[:300]})


def identity_of(cls, account: Account) -> str | None:
    """The remote account a linked account is: its ``external_id``, else what the
    connector reads from its config (a shop added with tokens through the CLI)."""
    try:
        return account.external_id or cls.linked_identity(dict(account.config or {}))
    except SecretsUnavailable:
        return account.external_id


def _find_shop(s, cls, merchant_id, identity, exclude) -> Account | None:
    if not identity:
        return None
    for shop in s.scalars(select(Account).where(
            Account.merchant_id == merchant_id, Account.connector == cls.name,
            Account.id != exclude, Account.status != "linking").order_by(Account.id)):
        if identity_of(cls, shop) == identity:
            return shop
    return None


class _DifferentShop(Exception):
    pass


def _store(db, cls, ids, actor, config, grant: dict, target_id) -> LinkDone:
    account_id, merchant_id, _ = ids
    identity = cls.linked_identity({**config, **grant})
    secret = set(cls.secret_fields())
    summary = {"external_id": identity,
               **{k: v for k, v in grant.items() if k not in secret}}  # never a token
    try:
        with db.session() as s:
            pending = s.get(Account, account_id, with_for_update=db.is_postgres)
            if pending is None or pending.status != "linking":
                raise _used()
            shop = _find_shop(s, cls, merchant_id, identity, account_id)
            target = s.get(Account, target_id) if isinstance(target_id, int) else None
            if (shop is None and target is not None and target.merchant_id == merchant_id
                    and target.connector == cls.name and target.status != "linking"):
                if identity_of(cls, target) and identity_of(cls, target) != identity:
                    raise _DifferentShop()
                shop = target
            if shop is None:
                pending.config = {**config, **grant}
                pending.status, pending.status_reason = "active", None
                pending.external_id = identity
                audit.record(s, merchant_id, actor, "account.linked", "account", pending.id,
                             summary)
                done = LinkDone(pending.id, pending.name, True)
            else:
                if db.is_postgres:
                    s.refresh(shop, with_for_update=True)
                keep = {k: config[k] for k in cls.link_fields if k in config}
                shop.config = {**shop.config, **keep, **grant}
                shop.external_id = identity or shop.external_id
                if shop.status == "needs_attention":
                    shop.status, shop.status_reason = "active", None
                alerts.resolve(s, merchant_id, REAUTHORIZE_ALERT, "account", shop.id,
                               why="the shop was authorized again")
                s.execute(update(PollState).where(PollState.account_id == shop.id)
                          .values(next_run_at=utcnow()))
                _remove_pending(s, pending, shop.id)
                audit.record(s, merchant_id, actor, "account.reauthorized", "account", shop.id,
                             {**summary, "pending_account_id": account_id})
                done = LinkDone(shop.id, shop.name, False)
    except _DifferentShop:
        _failed(db, ids, actor, f"a different shop (id {identity}) was authorized")
        raise LinkError(400, "A different shop was authorized", "The platform authorized "
                        f"another shop (id {identity}) than the one being re-authorized. "
                        "Nothing was changed: sign in to the platform as that shop's owner "
                        "and re-authorize again.", target_id) from None
    _start_polling(db, done.account_id)
    return done


def _remove_pending(s, pending: Account, merged_into: int) -> None:
    try:
        with s.begin_nested():
            s.delete(pending)
    except IntegrityError:  # something refers to it: keep it, disabled
        pending.status = "disabled"
        pending.status_reason = f"merged into account {merged_into}"
        pending.config = {k: v for k, v in pending.config.items() if k != "link"}


def _start_polling(db, account_id: int) -> None:
    """Poll states for the shop, due now (the worker's next poll starts the backfill)."""
    from jobs.poll import ensure_poll_states

    try:
        ensure_poll_states(db, account_ids=[account_id])
    except Exception:  # the poll job creates them anyway within a minute
        log.exception("could not create poll states", extra={"account_id": account_id})
