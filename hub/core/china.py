"""How people in China read times and money: China time (UTC+8, no daylight saving since
1991) and fen shown as yuan. Inside the hub times are UTC and money integer minor units;
these are for what a person reads."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")
ZONE = "Asia/Shanghai (UTC+08:00)"


def china_time(value: datetime | str | None, seconds: bool = False) -> str:
    """A time (or an ISO 8601 text) as ``2026-12-04 18:30`` in China time; ``—`` for none."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))


def yuan(minor: int | None, currency: str = "CNY") -> str:
    """Fen as money for people: ``1234`` → ``¥12.34`` (another currency: ``USD 12.34``)."""
    if minor is None:
        return ""
    sign, amount = ("-" if minor < 0 else ""), yuan_text(abs(int(minor)))
    return f"{sign}¥{amount}" if currency == "CNY" else f"{sign}{currency} {amount}"


def yuan_text(minor: int) -> str:
    """Fen as the plain decimal a spreadsheet cell holds, exactly: ``-1230`` → ``-12.30``."""
    sign, minor = ("-" if minor < 0 else ""), abs(int(minor))
    return f"{sign}{minor // 100}.{minor % 100:02d}"
