"""Small pure helpers shared by the Kuaishou mappers: ms timestamps, integers, ids."""
from __future__ import annotations

import re
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


WHOLE = re.compile(r"-?\d+(\.0*)?")


def fen(value, field: str) -> int:
    """An amount in fen (integer minor units), parsed exactly; missing → 0. Anything that
    is not a whole number of fen ("19.90", 19.9, "abc") is a ``MappingError`` naming the
    field, never a wrong number."""
    if value is None or value == "":
        return 0
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (int, str)) and not isinstance(value, bool) \
            and WHOLE.fullmatch(str(value).strip()):
        return int(str(value).strip().partition(".")[0])
    raise MappingError(f"{field}: {value!r} is not a whole number of fen")


def cut(value: str | None, limit: int, field: str, flags: list[str]) -> str | None:
    """``value`` cut to the ``limit`` characters the hub keeps, flagging ``truncated:<field>``."""
    if value is not None and len(value) > limit:
        flags.append(f"truncated:{field}")
        return value[:limit]
    return value


def text(value) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def id_text(value) -> str | None:
    """An id as text; ``0`` and empty mean absent."""
    value = text(value)
    return None if value in (None, "0") else value
