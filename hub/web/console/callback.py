"""``GET /oauth/<connector>/callback?code&state``: where the platform sends the merchant
back, for every connector that declares ``oauth_link`` (``hub.parties.linking``).

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
from hub.web.console.kit import console_blueprint as bp
from hub.web.console.kit import error_page
from hub.web.context import hub

MAX_PARAM = 4096


def _arg(name: str) -> str | None:
    value = request.args.get(name)
    return value[:MAX_PARAM] if value else None


@bp.get(linking.callback_path("<connector>"))
def oauth_callback(connector: str):
    ctx = hub()
    try:
        done = linking.complete_link(ctx.db, ctx.settings, connector, _arg("state"),
                                     _arg("code"), _arg("error") or _arg("error_description"))
    except linking.LinkError as e:
        retry = url_for("console.link_form", connector=connector) \
            if connector in linking.linkable() else url_for("console.link_choice")
        return error_page(e.status, e.title, e.message, retry_url=retry)
    target = url_for("console.shop", account_id=done.account_id,
                     linked="new" if done.created else "renewed")
    return render_template("console/linked.html", done=done, target=target)
