"""Small pure helpers shared by the Kuaishou mappers: ms timestamps, integers, ids."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

CURRENCY = "CNY"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class MappingError(ValueError):
    """The payload cannot be mapped at all (e.g. no id): that one record is bad."""


def ms_to_dt(value) -> datetime | None:
    """Kuaishou ms timestamps → aware UTC datetimes; 0, empty or junk → None."""
    number = to_int(value)
    if not number or number <= 0:
        return None
    return EPOCH + timedelta(milliseconds=number)


def to_int(value, default: int | None = None) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(str(value).strip())
        except ValueError:
            return default


def fen(value) -> int:
    """An amount in fen (integer minor units); missing → 0."""
    return to_int(value, 0) or 0


def text(value) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def id_text(value) -> str | None:
    """An id as text; ``0`` and empty mean absent."""
    value = text(value)
    return None if value in (None, "0") else value
