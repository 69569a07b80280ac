"""Keeping OAuth shops authorized: refresh tokens ahead of expiry, flag what needs a person.

One batch (``run(app, owner)``), for every account whose connector declares ``oauth``
(Kuaishou shops) and is ``active`` or ``needs_attention``:

1. an ``active`` account: ``connector.refresh_token()`` — a refresh only when the access
   token is within the connector's margin of expiry (Kuaishou: ``token_refresh_margin_s``,
   1 h), single-flight per shop and persisted through ``ctx.save_config`` by the
   connector's ``TokenManager``; a fresh token costs no call;
2. then ``connector.authorization_status()`` decides (``ok | expiring | expired | revoked``):

   * ``revoked`` (the platform answered 24 ``AUTHORIZATION_REVOKED`` or ``100200102`` to
     an API call or a refresh) or ``expired`` (past the 180 days, or no usable token):
     alert ``shop_reauthorize`` (critical) and the account ``needs_attention`` with the
     reason, so polling stops and pushes fail at once without calling the platform;
   * ``expiring`` (the 180-day refresh limit is within ``reauthorize_warning_days``):
     alert ``shop_reauthorize`` (warning) — the shop keeps syncing until the limit;
   * ``ok`` on an ``active`` account: the alert, if open, is resolved (the merchant
     re-authorized: the linking callback stores the new grant and sets ``active``).

A transient refresh failure (timeout, 5xx) changes nothing: the current token stays in
use and the next batch tries again. The job never asks to be run again at once (it
returns 0): its schedule (every ``INTERVAL_S``) is well inside the 1-hour margin.
"""
from __future__ import annotations

import logging

from sqlalchemy import select

from connectors import registry
from connectors.base import ConnectorError, ErrorClass
from hub.core.db import Database
from hub.core.logs import scrub_text
from hub.models import Account, alerts, audit
from hub.parties.accounts import connector_for

log = logging.getLogger(__name__)

INTERVAL_S = 300
ALERT = "shop_reauthorize"
ACTOR = "job:refresh_tokens"
REASON_PREFIX = "re-authorize the shop: "
MESSAGES = {
    "revoked": "The platform no longer accepts this shop's authorization ({reason}). "
               "Syncing is stopped: re-authorize the shop.",
    "expired": "This shop's authorization has expired (the platform allows 180 days). "
               "Syncing is stopped: re-authorize the shop.",
    "expiring": "This shop's authorization ends on {until} (the platform's 180-day limit). "
                "Re-authorize the shop before then to keep it syncing.",
}


def oauth_connectors() -> list[str]:
    return [name for name, cls in registry.all().items()
            if "oauth" in cls.capabilities]


def run(app, owner: str) -> int:
    hub = app.extensions["hub"]
    for account_id in due_accounts(hub.db):
        try:
            check_account(hub.db, account_id, hub.settings.public_url)
        except Exception:  # one broken account must not stop the others
            log.exception("token check failed", extra={"account_id": account_id})
    return 0


def due_accounts(db: Database) -> list[int]:
    names = oauth_connectors()
    if not names:
        return []
    with db.session(readonly=True) as s:
        return list(s.scalars(select(Account.id).where(
            Account.connector.in_(names),
            Account.status.in_(("active", "needs_attention"))).order_by(Account.id)))


def check_account(db: Database, account_id: int, public_url: str = "") -> str:
    """Refresh one account if due and flag or clear it; answers its authorization status."""
    with db.session(readonly=True) as s:
        account = s.get(Account, account_id)
        s.expunge(account)
    connector = connector_for(db, account, public_url)
    refresh_error = None
    if account.status == "active":
        try:
            connector.refresh_token()
        except ConnectorError as e:
            refresh_error = e
            if e.error_class is not ErrorClass.FAIL_CONFIG:
                log.warning("token refresh failed; retried next run", extra={
                    "account_id": account_id, "error_class": e.error_class.value})
    status = connector.authorization_status() \
        if "authorization_status" in connector.capabilities else "ok"
    if refresh_error is not None and refresh_error.error_class is ErrorClass.FAIL_CONFIG \
            and status in ("ok", "expiring"):
        status = "revoked"  # refused without a stored reason (e.g. no refresh token)
    config = connector.config
    with db.session() as s:
        row = s.get(Account, account_id)
        if status in ("revoked", "expired"):
            reason = config.get("reauthorize_reason") or (
                refresh_error.message if refresh_error is not None else status)
            _flag(s, row, status, scrub_text(str(reason)))
        elif status == "expiring":
            until = config.get("refresh_token_expires_at") or "soon"
            alerts.raise_alert(s, row.merchant_id, ALERT, "account", row.id,
                               MESSAGES["expiring"].format(until=until),
                               details={"status": status, "refresh_token_expires_at": until})
        elif row.status == "active":
            alerts.resolve(s, row.merchant_id, ALERT, "account", row.id,
                           why="the authorization is valid again")
    return status


def _flag(s, account: Account, status: str, reason: str) -> None:
    alerts.raise_alert(s, account.merchant_id, ALERT, "account", account.id,
                       MESSAGES[status].format(reason=reason[:300]), severity="critical",
                       details={"status": status, "reason": reason[:500]})
    if account.status == "active":
        account.status = "needs_attention"
        account.status_reason = (REASON_PREFIX + reason)[:500]
        audit.record(s, account.merchant_id, ACTOR, "account.needs_attention", "account",
                     account.id, {"authorization": status})
