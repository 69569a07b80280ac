"""The web console: server-rendered pages for the merchant's staff, its suppliers and its
finance clerks (templates in ``hub/web/templates/console/``, the stylesheet in
``hub/web/console/static/``), in Chinese and English (``i18n``).

* Sign-in: a user's login and password, and its authenticator's code when it turned TOTP
  on (``hub.parties.users``; API tokens are for machines). The session is a row on the
  server; the Flask session cookie holds its secret, encrypted (``hub.core.crypto``),
  signed with a key derived from ``HUB_SECRET_KEY``, ``HttpOnly``, ``SameSite=Strict``,
  path ``/console``, ``Secure`` when ``HUB_PUBLIC_URL`` is https. It ends on sign-out,
  when the user is disabled or changes its password, and after ``users.SESSION_HOURS``.
* Every POST form carries the session's CSRF token (``csrf_token()`` in templates); a
  POST without it, or with another, is a 400 page and changes nothing.
* Errors are friendly HTML pages with a 4xx status (or 500 with a reference to find it in
  the log); no trace is ever shown.

``kit`` holds the blueprint, session, ``page`` decorator and error pages; ``i18n`` the
languages and time zones; the pages are ``sign_in`` (sign-in, invitations, the language),
``account`` (your own account), ``people`` (the merchant's users), ``dashboard``,
``orders`` (with the stop-ship board), ``returns`` (evidence and decisions), ``portal`` and ``portal_account`` (the supplier's: what to answer, its claims and
statements), ``finance`` (balances, claims, statements), ``analytics`` (charts, scorecards,
insights), ``suppliers`` (suppliers, SKU mappings), ``policy``
(the return policy: edit, preview, publish), ``ops`` (alerts,
dead messages), ``shops`` (with the link form, ``link_form``) and ``callback`` (the OAuth
callback the platform redirects to); ``words`` gives the hub's codes their words.
The console answers under ``/console`` and ``/oauth/...``; ``/`` leads to it.
"""
from hub.web.console import (  # noqa: F401 (routes)
    account, analytics, callback, dashboard, finance, ops, orders, people, portal,
    policy, portal_account, returns, shops, sign_in, suppliers,
)
from hub.web.console.kit import console_blueprint

__all__ = ["console_blueprint"]
