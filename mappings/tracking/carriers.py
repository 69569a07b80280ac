"""Carrier codes: the hub's normalised ones (``sf``, ``zto``, ``yto``...) and each
tracking provider's, from ``carriers.json`` beside this module (the one place they are
defined; a merchant may add a carrier there).

    normalise("kuaidi100", "shunfeng")    # CarrierMatch("sf", "shunfeng", known=True)
    provider_code("kuaidi100", "sf")      # "shunfeng"
    requires_phone("sf")                  # True: Kuaidi100 wants the phone (or last 4)

A provider code no row knows is kept, lower-cased, as the carrier and answered with
``known=False`` (the caller flags it); nothing raises.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from mappings.tracking.codes import table

PROVIDERS = ("kuaidi100", "aftership", "track17")


@dataclass(frozen=True)
class CarrierMatch:
    carrier: str          # normalised code, or the raw code lower-cased when unknown
    raw: str
    known: bool

    @property
    def flag(self) -> str | None:
        return None if self.known else f"unknown_carrier:{self.raw}"


def carriers() -> dict[str, dict]:
    return table("carriers.json")["carriers"]


@lru_cache(maxsize=None)
def _inbound(provider: str) -> dict[str, str]:
    if provider not in PROVIDERS:
        raise ValueError(f"unknown tracking provider {provider!r}")
    out: dict[str, str] = {}
    for code, row in carriers().items():
        for theirs in row.get(provider) or ():
            out.setdefault(str(theirs).strip().lower(), code)
    return out


def normalise(provider: str, code) -> CarrierMatch:
    raw = "" if code is None else str(code).strip()
    found = _inbound(provider).get(raw.lower())
    if found is not None:
        return CarrierMatch(found, raw, True)
    if raw.lower() in carriers():          # already a normalised code
        return CarrierMatch(raw.lower(), raw, True)
    return CarrierMatch(raw.lower(), raw, False)


def provider_code(provider: str, carrier: str | None) -> str | None:
    """The code ``provider`` knows ``carrier`` by (its first listed), or None."""
    if not carrier:
        return None
    row = carriers().get(carrier.strip().lower())
    if row is None:
        return None
    codes = row.get(provider) or []
    return str(codes[0]) if codes else None


def requires_phone(carrier: str | None) -> bool:
    row = carriers().get((carrier or "").strip().lower())
    return bool(row and row.get("kuaidi100_phone"))
