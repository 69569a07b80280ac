"""The web console: server-rendered pages for merchants (templates in
``hub/web/templates/console/``, the stylesheet in ``hub/web/console/static/``).

* Sign-in: the merchant pastes an API token (role ``merchant_admin`` or ``operator``). It
  is kept, encrypted (``hub.core.crypto``), in the Flask session cookie — signed with a key
  derived from ``HUB_SECRET_KEY``, ``HttpOnly``, ``SameSite=Strict``, path ``/console``,
  ``Secure`` when ``HUB_PUBLIC_URL`` is https — and checked against the database on every
  page, so a revoked token ends the session. Sessions last ``SESSION_HOURS``.
* Every POST form carries the session's CSRF token (``csrf_token()`` in templates); a
  POST without it, or with another, is a 400 page and changes nothing.
* Errors are friendly HTML pages with a 4xx status (or 500 with a reference to find it in
  the log); no trace is ever shown.

The blueprint, session, ``page`` decorator and error pages are in ``kit.py``; pages are
in ``views.py``, the link form in ``link_form.py``, and the OAuth callback the platform
redirects to is ``callback.py``. The console answers under ``/console`` and ``/oauth/...``.
"""
from hub.web.console import callback, views  # noqa: F401 (registers the routes)
from hub.web.console.kit import console_blueprint

__all__ = ["console_blueprint"]
