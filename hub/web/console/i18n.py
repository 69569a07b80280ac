"""Languages and time for the console: Chinese (zh, the default) and English, times in the
merchant's time zone (``Merchant.time_zone``, default Asia/Shanghai; the API stays UTC).

The language is the user's choice (``User.locale``), else the one picked on the sign-in
page (kept in the session), else the browser's (``Accept-Language``), else Chinese. The
catalogues are ``hub/web/translations/<lang>/LC_MESSAGES/messages.po`` (Flask-Babel),
compiled to ``.mo`` beside them; ``make translations`` extracts, updates and compiles.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from flask import Flask, g, request, session
from flask_babel import Babel, format_datetime, get_locale, get_timezone
from flask_babel import lazy_gettext as _l

from hub.core.china import yuan
from hub.models import Merchant, User
from hub.web.console import words
from hub.web.context import request_session

LANGUAGES = {"zh": "中文", "en": "English"}
DEFAULT_LANGUAGE, DEFAULT_ZONE = "zh", "Asia/Shanghai"
TRANSLATIONS = Path(__file__).resolve().parents[1] / "translations"
ROLE_NAMES = {"merchant_admin": _l("merchant admin"), "operator": _l("operator"),
              "finance": _l("finance"), "supplier": _l("supplier")}


def init(app: Flask) -> None:
    app.config.update(BABEL_DEFAULT_LOCALE=DEFAULT_LANGUAGE,
                      BABEL_DEFAULT_TIMEZONE=DEFAULT_ZONE,
                      BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS))
    Babel(app, locale_selector=language, timezone_selector=zone)
    app.jinja_env.filters.update(when=when, money=yuan)
    app.jinja_env.globals.update(role_name=role_name, languages=LANGUAGES,
                                 language=lambda: get_locale().language,
                                 zone_name=lambda: get_timezone().zone,
                                 status_word=words.status_word, kind_word=words.kind_word,
                                 source_word=words.source_word)


def _user() -> User | None:
    who = g.get("principal")
    return request_session().get(User, who.user_id) if who and who.user_id else None


def language() -> str:
    user = _user()
    if user is not None and user.locale in LANGUAGES:
        return user.locale
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(tuple(LANGUAGES)) or DEFAULT_LANGUAGE


def zone() -> str:
    who = g.get("principal")
    merchant = request_session().get(Merchant, who.merchant_id) if who else None
    return merchant.time_zone if merchant is not None else DEFAULT_ZONE


def when(value) -> str:
    """A time for people, in their zone: ``2026-11-02 17:30``; ``—`` when there is none."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return "—"
    return format_datetime(value, "yyyy-MM-dd HH:mm")  # naive is UTC (flask_babel)


def role_name(role: str) -> str:
    return str(ROLE_NAMES.get(role, role))
