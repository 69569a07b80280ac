"""Statement periods: a supplier's cycle cut into periods of China time.

    Period.of("2026-11")                    # by its key; a bad key is a 422
    Period.containing(when, "monthly")      # the period a time falls in
    period.next()                           # the one after

Cycles and their keys: ``monthly`` ``2026-11`` (the default), ``semimonthly``
``2026-11-H1`` (days 1–15) and ``2026-11-H2`` (16 to the month's end), ``weekly``
``2026-W47`` (ISO weeks, Monday to Sunday). A period runs from its first day's 00:00 China
time to the next period's, as UTC times ``starts_at`` ≤ t < ``ends_at``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from hub.core.china import CHINA
from hub.core.errors import ApiError

CYCLES = ("monthly", "semimonthly", "weekly")
_KEYS = {"monthly": re.compile(r"(\d{4})-(0[1-9]|1[0-2])", re.ASCII),
         "semimonthly": re.compile(r"(\d{4})-(0[1-9]|1[0-2])-H([12])", re.ASCII),
         "weekly": re.compile(r"(\d{4})-W(0[1-9]|[1-4]\d|5[0-3])", re.ASCII)}


@dataclass(frozen=True)
class Period:
    key: str
    cycle: str
    first: date  # China dates
    after: date  # the first day of the next period

    @property
    def starts_at(self) -> datetime:
        return _utc(self.first)

    @property
    def ends_at(self) -> datetime:
        return _utc(self.after)

    @classmethod
    def of(cls, key: str) -> Period:
        for cycle, pattern in _KEYS.items():
            found = pattern.fullmatch(key) if isinstance(key, str) else None
            if found and 2000 <= int(found[1]) <= 2999:
                return cls._parsed(cycle, key, *map(int, found.groups()))
        raise ApiError("a period is a month (2026-11), a half month (2026-11-H2) or an ISO "
                       "week (2026-W47)", code="validation_error", status=422,
                       details={"period": ["2026-11, 2026-11-H2 or 2026-W47, of the years 2000 to 2999"]})

    @classmethod
    def _parsed(cls, cycle: str, key: str, year: int, part: int, half: int = 0) -> Period:
        if cycle == "weekly":
            try:
                first = date.fromisocalendar(year, part, 1)
            except ValueError:
                raise ApiError(f"{year} has no ISO week {part}", code="validation_error",
                               status=422, details={"period": ["an existing ISO week"]})
            return cls(key, cycle, first, first + timedelta(days=7))
        month_start = date(year, part, 1)
        next_month = (month_start + timedelta(days=32)).replace(day=1)
        if cycle == "monthly":
            return cls(key, cycle, month_start, next_month)
        middle = month_start.replace(day=16)
        return cls(key, cycle, *((month_start, middle) if half == 1 else (middle, next_month)))

    @classmethod
    def containing(cls, when: datetime, cycle: str) -> Period:
        day = when.astimezone(CHINA).date()
        if cycle == "weekly":
            year, week, _ = day.isocalendar()
            return cls.of(f"{year}-W{week:02d}")
        if cycle == "semimonthly":
            return cls.of(f"{day:%Y-%m}-H{1 if day.day <= 15 else 2}")
        return cls.of(f"{day:%Y-%m}")

    def next(self) -> Period:
        return Period.containing(self.ends_at, self.cycle)

    def previous(self) -> Period:
        return Period.containing(self.starts_at - timedelta(seconds=1), self.cycle)


def _utc(day: date) -> datetime:
    return datetime.combine(day, time(), CHINA).astimezone(timezone.utc)
