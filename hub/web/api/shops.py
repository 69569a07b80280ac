"""Linking shops by OAuth, and watching an account's sync.

For every connector that declares the ``oauth_link`` capability (``connectors.base``),
``<connector>`` being its name — the routes are added when the app is created, from the
connector registry, so an installed plugin gets its own:

* ``POST /shops/<connector>/link`` (merchant_admin): the connector's ``link_fields`` (the
  app credentials) and a shop name → a pending link (an account in status ``linking``,
  credentials encrypted) and the platform's authorize URL to send the merchant to. The
  platform redirects back to ``/oauth/<connector>/callback``
  (``hub.web.console.callback``), which completes the link. See ``hub.parties.linking``.
* ``POST /shops/<connector>/<id>/reauthorize`` (merchant_admin): the same for a linked
  shop (new tokens, same account), with its stored credentials.
* ``GET /accounts/<id>/sync`` (merchant_admin, operator): per poll stream the cursor
  position, progress (percent, done), last success, last error and next run.

The body of a link is a schema generated from the connector's config schema
(``<Class>LinkIn``: ``name`` and the link fields), so ``/openapi.json`` documents each.
"""
from __future__ import annotations

import copy
import functools

from marshmallow import Schema, fields, validate

from connectors.base import Connector
from hub.parties import linking
from hub.web.kit import api_blueprint as bp
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.scope import get_visible
from hub.models import Account
from hub.parties.shop_status import account_report
from hub.web.context import hub, request_session

ADMIN = {"merchant_admin"}
STAFF = {"merchant_admin", "operator"}


@functools.cache
def link_schema(cls: type[Connector]) -> type[Schema]:
    """``name`` plus the connector's link fields, as its config schema declares them."""
    declared = cls.config_schema().declared_fields
    attrs = {"name": fields.String(required=True, validate=validate.Length(1, 200),
                                   metadata={"description": "what the hub calls this shop"})}
    attrs.update({key: copy.deepcopy(declared[key]) for key in cls.link_fields})
    return Schema.from_dict(attrs, name=f"{cls.__name__}LinkIn")


class LinkOut(Schema):
    class Meta:
        ordered = True

    account_id = fields.Integer(metadata={"description": "the pending account (status linking)"})
    authorize_url = fields.String(metadata={"description": "send the merchant here"})
    redirect_uri = fields.String(metadata={"description": "register it as the app's callback"})
    state_expires_at = fields.AwareDateTime()


class StreamSyncOut(Schema):
    class Meta:
        ordered = True

    stream = fields.String()
    position = fields.String(allow_none=True, metadata={"description": "where the stream is"})
    cursor = fields.Dict(metadata={"description": "the saved cursor"})
    percent = fields.Float(allow_none=True, metadata={"description": "0-100, null if unknown"})
    done = fields.Boolean()
    running = fields.Boolean(metadata={"description": "a worker holds it now"})
    backfill = fields.Boolean(metadata={"description": "the run started without a cursor"})
    backfill_from = fields.String(allow_none=True)
    backfill_to = fields.String(allow_none=True)
    records = fields.Integer(metadata={"description": "records read in the last run"})
    new_events = fields.Integer(metadata={"description": "of which new (stored) events"})
    last_success_at = fields.AwareDateTime(allow_none=True)
    last_error_class = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
    next_run_at = fields.AwareDateTime()
    progress = fields.Dict(metadata={"description": "everything the stream reported"})


class SyncOut(Schema):
    class Meta:
        ordered = True

    id = fields.Integer()
    name = fields.String()
    connector = fields.String()
    status = fields.String()
    status_reason = fields.String(allow_none=True)
    authorization = fields.String(allow_none=True, metadata={
        "description": "ok | expiring | expired | revoked; null without OAuth"})
    percent = fields.Float(allow_none=True, metadata={"description": "mean over the streams"})
    done = fields.Boolean()
    streams = fields.List(fields.Nested(StreamSyncOut))


def _started(started: linking.LinkStarted) -> dict:
    return {"account_id": started.account_id, "authorize_url": started.authorize_url,
            "redirect_uri": started.redirect_uri, "state_expires_at": started.state_expires_at}


def _link_view(cls: type[Connector]):
    @endpoint(roles=ADMIN, body=link_schema(cls), response=LinkOut, status=201,
              summary=f"Start linking a {linking.title(cls)} (OAuth): answers the authorize URL",
              tags=["accounts"])
    def link(body):
        who, session = principal(), request_session()
        started = linking.start_link(session, hub().settings, who.merchant_id, who.actor,
                                     cls.name, body.pop("name"), body)
        session.commit()
        return _started(started)
    return link


def _reauthorize_view(cls: type[Connector]):
    @endpoint(roles=ADMIN, response=LinkOut, status=201,
              summary=f"Re-authorize a linked {linking.title(cls)}: answers the authorize URL",
              tags=["accounts"])
    def reauthorize(account_id):
        who, session = principal(), request_session()
        get_visible(session, Account, account_id, who)
        started = linking.start_reauthorization(session, hub().settings, who.merchant_id,
                                                who.actor, account_id, cls.name)
        session.commit()
        return _started(started)
    return reauthorize


@bp.record_once
def _link_routes(state) -> None:
    """One pair of routes per connector that links by OAuth (registry read per app)."""
    for name, cls in linking.linkable().items():
        state.add_url_rule(f"/shops/{name}/link", f"link_{name}", _link_view(cls),
                           methods=["POST"])
        state.add_url_rule(f"/shops/{name}/<int:account_id>/reauthorize",
                           f"reauthorize_{name}", _reauthorize_view(cls), methods=["POST"])


@bp.get("/accounts/<int:account_id>/sync")
@endpoint(roles=STAFF, response=SyncOut,
          summary="Sync progress of an account: each poll stream's position, progress, "
                  "last success and last error", tags=["accounts"])
def account_sync(account_id):
    session = request_session()
    account = get_visible(session, Account, account_id, principal())
    report = account_report(session, account)
    return {**report, "authorization": report["authorization"]["status"]}
