"""What a person sees of a connector account's sync: authorization, open alerts, and the
progress of each poll stream (``PollState``).

    report = account_report(session, account)   # {"authorization", "alerts", "streams"...}
    stream_report(poll_state)                    # one stream

Streams report their progress in ``PollState.progress``: the Kuaishou streams write
``percent`` (0-100), ``position``, ``backfill_from``, ``backfill_to`` and ``done``; the
poll job adds the run's ``records``, ``new_events``, ``complete`` and ``finished_at``.
A stream that reports no ``percent`` (the generic shop) is at 100 once a run completed,
unknown before. Used by ``GET /api/v1/accounts/<id>/sync``, the console and ``hub sync``.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors import registry
from connectors.base import AccountContext
from hub.core.crypto import SecretsUnavailable
from hub.core.db import utcnow
from hub.models import Account, Alert, PollState

AUTH_FIELDS = ("access_token_expires_at", "refresh_token_expires_at", "scopes", "open_id")


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return round(min(100.0, max(0.0, float(value))), 1)


def _text(value) -> str | None:
    return None if value is None else str(value)


def stream_report(state: PollState, now: datetime | None = None) -> dict:
    now = now or utcnow()
    progress = dict(state.progress or {})
    done = progress["done"] if isinstance(progress.get("done"), bool) \
        else progress.get("complete") is True
    percent = _number(progress.get("percent"))
    if percent is None and done:
        percent = 100.0
    return {
        "stream": state.stream,
        "position": _text(progress.get("position")),
        "cursor": dict(state.cursor or {}),
        "percent": percent,
        "done": done,
        "running": state.lease_expires_at is not None and state.lease_expires_at > now,
        "backfill": bool(progress.get("backfill")),
        "backfill_from": _text(progress.get("backfill_from")),
        "backfill_to": _text(progress.get("backfill_to")),
        "records": int(progress.get("records") or 0),
        "new_events": int(progress.get("new_events") or 0),
        "last_success_at": state.last_success_at,
        "last_error_class": state.last_error_class,
        "last_error": state.last_error,
        "next_run_at": state.next_run_at,
        "progress": progress,
    }


def streams_of(session: Session, account_id: int) -> list[dict]:
    now = utcnow()
    rows = session.scalars(select(PollState).where(PollState.account_id == account_id)
                           .order_by(PollState.id))
    return [stream_report(row, now) for row in rows]


def authorization(account: Account) -> dict:
    """``{"status": ok|expiring|expired|revoked|unknown|None, ...token expiries}``: the
    connector's ``authorization_status`` when it declares that capability; None for other
    accounts and for pending links."""
    if account.status == "linking":
        return {"status": None}
    try:
        cls = registry.get(account.connector)
    except registry.UnknownConnector:
        return {"status": None}
    if "authorization_status" not in cls.capabilities:
        return {"status": None}
    try:
        config = dict(account.config or {})
    except SecretsUnavailable:
        return {"status": "unknown"}
    shop = cls(AccountContext(account_id=account.id, merchant_id=account.merchant_id,
                              name=account.name, config=config))
    status = shop.authorization_status()
    return {"status": status, **{k: config.get(k) for k in AUTH_FIELDS},
            "reauthorize_reason": config.get("reauthorize_reason")}


def open_alerts(session: Session, account: Account) -> list[Alert]:
    return list(session.scalars(select(Alert).where(
        Alert.merchant_id == account.merchant_id, Alert.entity == "account",
        Alert.entity_id == account.id, Alert.resolved_at.is_(None)).order_by(Alert.id)))


def overall_percent(streams: list[dict]) -> float | None:
    """The mean of the streams' percentages (None when none reports one)."""
    known = [s["percent"] for s in streams if s["percent"] is not None]
    return round(sum(known) / len(known), 1) if known else None


def account_report(session: Session, account: Account) -> dict:
    streams = streams_of(session, account.id)
    return {"id": account.id, "name": account.name, "connector": account.connector,
            "kind": account.kind, "status": account.status,
            "status_reason": account.status_reason, "external_id": account.external_id,
            "authorization": authorization(account), "alerts": open_alerts(session, account),
            "streams": streams, "percent": overall_percent(streams),
            "done": bool(streams) and all(s["done"] for s in streams)}
