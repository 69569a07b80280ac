"""Registering connector accounts (a linked shop, a supplier channel, a courier account).

``add_account`` validates the config against the connector's schema, stores it encrypted,
and audits the change without recording any config value.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors import registry
from connectors.base import ConfigInvalid
from hub import audit
from hub.errors import ApiError, Conflict
from hub.models import Account, Merchant


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
