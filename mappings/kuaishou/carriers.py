"""Kuaishou integer ``expressCode`` ↔ the hub's carrier codes (``carriers.csv``).

    carrier_for_code(4)            -> Carrier("sf", "4", known=True, name="顺丰速运")
    carrier_for_code(777)          -> Carrier("unknown", "777", known=False)  + flag
    express_code_for("jitu")       -> 109  (the preferred code; 百世 1 is merged into it)
    express_code_for("kuaishou:4") -> 4    (an explicit platform code passes through)

Both directions come from the same rows: several codes may map to one carrier (merged or
renamed companies); ``preferred=1`` picks the code used when pushing; ``direction=push``
rows are aliases for pushing only (the hub's ``best`` — 百世, merged into 极兔 — is pushed
as 109, while code 1 and 109 both read back as ``jitu``).
"""
from __future__ import annotations

from dataclasses import dataclass

from mappings.kuaishou.tables import csv_rows

UNKNOWN = "unknown"


class UnknownCarrier(ValueError):
    """No Kuaishou express code is known for a hub carrier code."""


@dataclass(frozen=True)
class Carrier:
    code: str                 # the hub's carrier code, or "unknown"
    raw: str                  # the Kuaishou expressCode as text
    known: bool
    name: str = ""

    @property
    def flag(self) -> str | None:
        return None if self.known else f"unknown_express_code:{self.raw}"


def _tables() -> tuple[dict[int, tuple[str, str]], dict[str, int]]:
    by_code: dict[int, tuple[str, str]] = {}
    preferred: dict[str, int] = {}
    fallback: dict[str, int] = {}
    for row in csv_rows("carriers"):
        try:
            code = int(str(row.get("express_code", "")).strip())
        except ValueError:
            continue
        carrier = (row.get("carrier") or "").strip().lower()
        if not carrier:
            continue
        if (row.get("direction") or "both").strip().lower() != "push":
            by_code[code] = (carrier, (row.get("name") or "").strip())
        fallback.setdefault(carrier, code)
        if str(row.get("preferred", "")).strip() == "1":
            preferred[carrier] = code
    return by_code, {**fallback, **preferred}


_BY_CODE, _BY_CARRIER = _tables()


def carrier_for_code(express_code) -> Carrier:
    raw = "" if express_code is None else str(express_code).strip()
    try:
        found = _BY_CODE.get(int(raw))
    except ValueError:
        found = None
    if found is None:
        return Carrier(UNKNOWN, raw, known=False)
    return Carrier(found[0], raw, known=True, name=found[1])


def express_code_for(carrier: str) -> int:
    """The code to push for a hub carrier code (or ``kuaishou:<n>`` / a bare number)."""
    value = str(carrier or "").strip().lower()
    if value.startswith("kuaishou:"):
        value = value.split(":", 1)[1]
    if value.isdigit():
        return int(value)
    try:
        return _BY_CARRIER[value]
    except KeyError:
        raise UnknownCarrier(f"no Kuaishou express code for carrier {carrier!r}; add it to "
                             "mappings/kuaishou/carriers.local.csv") from None


def known_carriers() -> dict[str, int]:
    return dict(_BY_CARRIER)


def known_codes() -> dict[int, str]:
    return {code: carrier for code, (carrier, _) in _BY_CODE.items()}


def waybill(info) -> tuple[str | None, str | None, list[str]]:
    """``(carrier, tracking number, flags)`` of a Kuaishou ``{expressNo, expressCode}``, or
    Nones; an unknown express code is kept as ``kuaishou:<code>`` and flagged."""
    number = str(info.get("expressNo") or "").strip() if isinstance(info, dict) else ""
    if not number:
        return None, None, []
    carrier = carrier_for_code(info.get("expressCode"))
    if carrier.known:
        return carrier.code, number[:64], []
    code = f"kuaishou:{carrier.raw}"[:64] if carrier.raw else carrier.code
    return code, number[:64], [carrier.flag]
