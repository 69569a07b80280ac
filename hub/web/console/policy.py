"""The return policy (staff read; the merchant admin edits and publishes), by the same steps
as the policy API (``hub.domain.policy``): the document is edited as JSON, previewed on
the last days' returns beside the version in force, saved as a draft, then published.

| page | what |
|---|---|
| ``GET /console/policy?version=`` | the version in force (or the one asked for) as JSON, and every version |
| ``POST /console/policy`` | ``action``: ``preview`` (what it would have decided on the last ``days``' returns, and each case it decides otherwise), ``save`` (a new draft) |
| ``POST /console/policy/versions/<n>/publish`` | put a draft in force |
"""
from __future__ import annotations

import json

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from connectors import bounded_json
from hub.core.errors import ApiError
from hub.domain.policy import review, versions
from hub.web.console.kit import STAFF, page
from hub.web.console.kit import console_blueprint as bp
from hub.web.context import request_session

ADMIN = frozenset({"merchant_admin"})
READERS = STAFF | {"finance"}
MAX_TEXT = 200_000


def _page(who, text=None, status=200, **extra):
    session = request_session()
    asked = request.args.get("version", "")
    shown = versions.get(session, who.merchant_id, int(asked)).document \
        if asked.isdigit() and len(asked) < 8 \
        else versions.in_force(session, who.merchant_id).document
    return render_template(
        "console/policy.html", who=who, history=versions.history(session, who.merchant_id),
        in_force=versions.in_force(session, who.merchant_id).version,
        text=text if text is not None else json.dumps(shown, ensure_ascii=False, indent=2),
        can_edit=who.role in ADMIN, done=request.args.get("done"),
        **{"error": None, "preview": None, **extra}), status


@bp.get("/console/policy")
@page(READERS)
def policy(who):
    return _page(who)


@bp.post("/console/policy")
@page(READERS)
def policy_draft(who):
    text, action = request.form.get("document", "")[:MAX_TEXT], request.form.get("action")
    session = request_session()
    try:
        document = bounded_json.loads(text)
        if not isinstance(document, dict):
            raise ValueError
    except ValueError:
        return _page(who, text, 422, error=_("The policy is not a JSON object."))
    try:
        if action == "save":
            if who.role not in ADMIN:
                abort(403)
            row = versions.edit(session, who.merchant_id, document, who.actor,
                                request.form.get("note", "").strip()[:500] or None)
            session.commit()
            return redirect(url_for("console.policy", version=row.version, done="saved"), 303)
        days = request.form.get("days", "30")
        days = int(days) if days.isdigit() and 1 <= int(days) <= 90 else 30
        return _page(who, text, preview=review.preview(session, who.merchant_id, document, days))
    except ValidationError as e:
        session.rollback()
        return _page(who, text, 422, error="; ".join(
            f"{k}: {v}" for k, v in _flat(e.normalized_messages())))


@bp.post("/console/policy/versions/<int:version>/publish")
@page(ADMIN)
def publish_policy(who, version):
    session = request_session()
    try:
        versions.publish(session, who.merchant_id, version, who.actor)
    except ApiError as e:
        session.rollback()
        return _page(who, status=e.status, error=e.message)
    session.commit()
    return redirect(url_for("console.policy", done="published"), 303)


def _flat(messages, prefix=""):
    """``{"windows": {0: {"days": ["…"]}}}`` → ``("windows.0.days", "…")``, each."""
    for key, value in messages.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flat(value, name + ".")
        else:
            yield name, " ".join(map(str, value if isinstance(value, list) else [value]))
