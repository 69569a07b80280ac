"""``GET /oauth/kuaishou/callback?code&state``: where the platform sends the merchant back.

A browser redirect from the platform, with no API token: the signed ``state`` says which
merchant and which pending link it is (``hub.parties.linking.complete_link`` verifies it, consumes
it and exchanges the code). A tampered, expired or replayed state, a refused or failed
code exchange, or a declined authorization is a friendly page with a 4xx status (502 when
the platform could not be reached) and changes nothing but the pending link's reason.

On success the answer is a short page that forwards to the shop's console page with a
``<meta http-equiv="refresh">`` (and a link): the console cookie is ``SameSite=Strict``,
and browsers withhold such cookies from a navigation that a cross-site redirect chain
started — a page of the hub's own that moves on is a same-site navigation, so the
merchant arrives signed in.
"""
from __future__ import annotations

from flask import render_template, request, url_for

from hub.parties import linking
from hub.web.console import console_blueprint as bp
from hub.web.console import error_page
from hub.web.context import hub

MAX_PARAM = 4096


def _arg(name: str) -> str | None:
    value = request.args.get(name)
    return value[:MAX_PARAM] if value else None


@bp.get(linking.CALLBACK_PATH)
def kuaishou_callback():
    ctx = hub()
    try:
        done = linking.complete_link(ctx.db, ctx.settings, _arg("state"), _arg("code"),
                                     _arg("error") or _arg("error_description"))
    except linking.LinkError as e:
        return error_page(e.status, e.title, e.message,
                          retry_url=url_for("console.link_form"))
    target = url_for("console.shop", account_id=done.account_id,
                     linked="new" if done.created else "renewed")
    return render_template("console/linked.html", done=done, target=target)
