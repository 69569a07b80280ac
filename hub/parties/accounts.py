"""Registering connector accounts (a linked shop, a supplier channel, a courier account).

``add_account`` validates the config against the connector's schema, stores it encrypted,
and audits the change without recording any config value.

``AccountCache`` holds accounts for the webhook receiver, so that a delivery costs no
database read. The trade-off: an entry lives at most ``ACCOUNT_CACHE_TTL_S`` seconds.
Any change this process commits to an account through the ORM (``save_config``, a status
change, an edit anywhere in the hub) drops the account from every cache in the process
at once. A change committed by another process (another gunicorn worker, the scheduler,
the CLI) is seen within the TTL: until then a changed webhook secret is not yet accepted
and the previous one still is. (The receiver does not look at an account's status.)
Unknown account ids are never cached.
"""
from __future__ import annotations

import functools
import threading
import time
import weakref

from sqlalchemy import Text, bindparam, event, select, type_coerce
from sqlalchemy.orm import Session, object_session

from connectors import registry
from connectors.base import ConfigInvalid
from hub.core import crypto
from hub.core.db import MAX_ID
from hub.core.errors import ApiError, Conflict
from hub.models import Account, Merchant, audit

ACCOUNT_CACHE_TTL_S = 2.0
MAX_CACHED_ACCOUNTS = 10_000  # past this many, a cache starts over


def add_account(session: Session, merchant_id: int, connector: str, name: str, config: dict,
                actor: str) -> Account:
    if session.get(Merchant, merchant_id) is None:
        raise ApiError(f"merchant {merchant_id} does not exist", code="not_found", status=404)
    try:
        cls = registry.get(connector)
        config = cls.validate_config(config)
    except registry.UnknownConnector as e:
        raise ApiError(str(e), code="unknown_connector", status=422) from None
    except ConfigInvalid as e:
        raise ApiError("the connector config is invalid", code="validation_error", status=422,
                       details={"config": e.messages}) from None
    clash = session.scalar(select(Account.id).where(
        Account.merchant_id == merchant_id, Account.connector == connector, Account.name == name))
    if clash:
        raise Conflict(f"merchant {merchant_id} already has a {connector} account named {name!r}")
    account = Account(merchant_id=merchant_id, connector=connector, kind=cls.kind, name=name,
                      config=config)
    session.add(account)
    session.flush()
    audit.record(session, merchant_id, actor, "account.created", "account", account.id,
                 {"connector": connector, "name": name, "config_keys": sorted(config)})
    return account


def save_config(db, account_id: int, updates: dict) -> None:
    """Merge ``updates`` into an account's encrypted config in its own transaction, at once.

    Used for refreshed OAuth tokens: a single-use refresh token must be persisted the
    moment it is received, whatever happens to the job that asked for it.
    """
    with db.session() as s:
        stmt = select(Account).where(Account.id == account_id)
        if db.is_postgres:
            stmt = stmt.with_for_update()
        account = s.scalar(stmt)
        account.config = {**account.config, **updates}


_accounts = Account.__table__
_ACCOUNT_BY_ID = select(
    _accounts.c.id, _accounts.c.merchant_id, _accounts.c.connector, _accounts.c.kind,
    _accounts.c.name, _accounts.c.status,
    type_coerce(_accounts.c.config, Text).label("config"),  # the ciphertext, undecrypted
).where(_accounts.c.id == bindparam("id"))


@functools.lru_cache(maxsize=1024)
def _decrypt(ciphertext: str) -> dict:
    return crypto.decrypt_json(ciphertext)


def load_account(db, account_id: int) -> Account | None:
    """The account as a detached ``Account``, from one cached Core query in a read-only
    transaction; its config is decrypted once per stored ciphertext (a changed config is
    a new ciphertext)."""
    if not 0 < account_id <= MAX_ID:
        return None
    with db.engine.execution_options(hub_readonly=True).connect() as conn:
        row = conn.execute(_ACCOUNT_BY_ID, {"id": account_id}).first()
    if row is None:
        return None
    return Account(id=row.id, merchant_id=row.merchant_id, connector=row.connector,
                   kind=row.kind, name=row.name, status=row.status,
                   config=dict(_decrypt(row.config)))


class AccountCache:
    """``load_account`` results kept for at most ``ttl_s`` seconds (see the module
    docstring). The ``Account`` returned is shared: read it, never change it."""

    def __init__(self, ttl_s: float = ACCOUNT_CACHE_TTL_S):
        self.ttl_s = ttl_s
        self._entries: dict[int, tuple[float, Account]] = {}  # id -> (expires at, account)
        self._forgets = 0  # bumped by forget(): a load that overlapped one is not kept
        with _caches_lock:
            _caches.add(self)

    def get(self, db, account_id: int) -> Account | None:
        now = time.monotonic()
        entry = self._entries.get(account_id)
        if entry is not None and now < entry[0]:
            return entry[1]
        forgets = self._forgets
        account = load_account(db, account_id)
        if account is None:
            self._entries.pop(account_id, None)
        elif forgets == self._forgets:
            if len(self._entries) >= MAX_CACHED_ACCOUNTS:
                self._entries.clear()
            self._entries[account_id] = (now + self.ttl_s, account)
        return account

    def forget(self, account_id: int) -> None:
        self._forgets += 1
        self._entries.pop(account_id, None)

    def clear(self) -> None:
        self._forgets += 1
        self._entries.clear()


_caches: weakref.WeakSet[AccountCache] = weakref.WeakSet()
_caches_lock = threading.Lock()
_CHANGED = "hub_changed_accounts"


def forget(account_id: int) -> None:
    """Drop an account from every ``AccountCache`` in this process (after a commit)."""
    with _caches_lock:
        caches = list(_caches)
    for cache in caches:
        cache.forget(account_id)


def forget_all() -> None:
    """Empty every ``AccountCache`` in this process: for a database replaced behind its
    back (the tests' wipe, which starts ids again at 1)."""
    with _caches_lock:
        caches = list(_caches)
    for cache in caches:
        cache.clear()


@event.listens_for(Account, "after_update")
@event.listens_for(Account, "after_delete")
def _note_changed(_mapper, _connection, account: Account) -> None:
    session = object_session(account)
    if session is not None:
        session.info.setdefault(_CHANGED, set()).add(account.id)


@event.listens_for(Session, "after_commit")
def _forget_changed(session: Session) -> None:
    # after the commit, so a concurrent load cannot re-read the old row and keep it (a
    # rolled-back change stays noted until the next commit: one needless reload)
    for account_id in session.info.pop(_CHANGED, ()):
        forget(account_id)


def connector_for(db, account: Account, public_url: str = ""):
    """The account's connector, bound to it (``connectors.base.Connector`` instance)."""
    from connectors.base import AccountContext

    cls = registry.get(account.connector)

    def _save(updates: dict) -> None:
        save_config(db, account.id, updates)
        ctx.config.update(updates)

    def _reload() -> dict:
        with db.session(readonly=True) as s:
            fresh = dict(s.get(Account, account.id).config)
        ctx.config.update(fresh)
        return fresh

    ctx = AccountContext(account_id=account.id, merchant_id=account.merchant_id,
                         name=account.name, config=dict(account.config), save_config=_save,
                         public_url=public_url, reload_config=_reload)
    return cls(ctx)
