"""Linking shops by OAuth, and watching an account's sync.

* ``POST /shops/kuaishou/link`` (merchant_admin): the app credentials of a self-developed
  app and a shop name → a pending link (an account in status ``linking``, credentials
  encrypted) and the platform's authorize URL to send the merchant to. The platform
  redirects back to ``/oauth/kuaishou/callback`` (``hub.web.console.callback``), which
  completes the link. See ``hub.parties.linking``.
* ``POST /shops/kuaishou/<id>/reauthorize`` (merchant_admin): the same for a linked shop
  (new tokens, same account), with its stored credentials.
* ``GET /accounts/<id>/sync`` (merchant_admin, operator): per poll stream the cursor
  position, progress (percent, done), last success, last error and next run.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from hub.parties import linking
from hub.web.kit import api_blueprint as bp
from hub.web.kit.endpoint import endpoint, principal
from hub.web.kit.scope import get_visible
from hub.models import Account
from hub.parties.shop_status import account_report
from hub.web.context import hub, request_session

ADMIN = {"merchant_admin"}
STAFF = {"merchant_admin", "operator"}


def _secret(description: str, required: bool = True):
    if required:
        return fields.String(required=True, validate=validate.Length(1, 512),
                             metadata={"description": description})
    return fields.String(load_default=None, allow_none=True,
                         validate=validate.Length(max=512), metadata={"description": description})


class KuaishouLinkIn(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 200),
                         metadata={"description": "what the hub calls this shop"})
    app_key = fields.String(required=True, validate=validate.Length(1, 64),
                            metadata={"description": "the app's appKey (ks...)"})
    app_secret = _secret("appSecret (OAuth)")
    sign_secret = _secret("signSecret (API signatures)")
    message_key = _secret("message-push AES key, Base64 of 16 bytes", required=False)
    sign_method = fields.String(load_default=None, allow_none=True,
                                validate=validate.OneOf(("HMAC_SHA256", "MD5")))
    api_base_url = fields.String(load_default=None, allow_none=True,
                                 metadata={"description": "default https://openapi.kwaixiaodian.com"})
    oauth_base_url = fields.String(load_default=None, allow_none=True,
                                   metadata={"description": "default https://open.kwaixiaodian.com"})
    scopes = fields.List(fields.String(), load_default=None, allow_none=True,
                         metadata={"description": "default merchant_order, merchant_refund, "
                                   "merchant_logistics, merchant_item, merchant_user"})


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


@bp.post("/shops/kuaishou/link")
@endpoint(roles=ADMIN, body=KuaishouLinkIn, response=LinkOut, status=201,
          summary="Start linking a Kuaishou shop (OAuth): answers the authorize URL",
          tags=["accounts"])
def link_kuaishou(body):
    who, session = principal(), request_session()
    started = linking.start_link(session, hub().settings, who.merchant_id, who.actor,
                                 body.pop("name"), body)
    session.commit()
    return _started(started)


@bp.post("/shops/kuaishou/<int:account_id>/reauthorize")
@endpoint(roles=ADMIN, response=LinkOut, status=201,
          summary="Re-authorize a linked Kuaishou shop: answers the authorize URL",
          tags=["accounts"])
def reauthorize_kuaishou(account_id):
    who, session = principal(), request_session()
    get_visible(session, Account, account_id, who)
    started = linking.start_reauthorization(session, hub().settings, who.merchant_id,
                                            who.actor, account_id)
    session.commit()
    return _started(started)


@bp.get("/accounts/<int:account_id>/sync")
@endpoint(roles=STAFF, response=SyncOut,
          summary="Sync progress of an account: each poll stream's position, progress, "
                  "last success and last error", tags=["accounts"])
def account_sync(account_id):
    session = request_session()
    account = get_visible(session, Account, account_id, principal())
    report = account_report(session, account)
    return {**report, "authorization": report["authorization"]["status"]}
