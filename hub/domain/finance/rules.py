"""The matching rules of a supplier: data, kept in its statement profile.

    rules = Rules.of(profile.rules)       # over DEFAULT; a bad document is a 422

A rules document (every field optional; what it leaves out is ``DEFAULT``'s)::

    {"keys": ["document", "order", "waybill", "amount_date"],   # in priority
     "tolerance": {"kind": "fixed", "minor": 100}                # or
                  | {"kind": "percent", "percent": "0.5"},       # of the hub's amount
     "write_off_limit_minor": 100,
     "date_window_days": 3}

The keys: ``document`` the supplier's own document id; ``order`` the platform order number
with the line (the SKU) when the supplier's file names lines, else the order alone;
``waybill`` the tracking number; ``amount_date`` the same amount within
``date_window_days``, for lines no other key could pair and whose keys do not contradict.
A pairing whose difference is within the tolerance *and* the write-off limit is written
off by itself (posted to the ledger); any other difference waits for a decision.
Percentages are exact: up to two decimals, compared in hundredths of a percent.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from hub.core.errors import ApiError

KEYS = ("document", "order", "waybill", "amount_date")
DEFAULT = {"keys": list(KEYS), "tolerance": {"kind": "fixed", "minor": 100},
           "write_off_limit_minor": 100, "date_window_days": 3}
MAX_MINOR = 10 ** 12  # fen: ten billion yuan, far beyond any statement line


@dataclass(frozen=True)
class Rules:
    keys: tuple[str, ...]
    tolerance_kind: str  # fixed | percent
    tolerance_minor: int  # fixed
    tolerance_bp: int  # percent, in hundredths of a percent (basis points)
    write_off_limit_minor: int
    date_window_days: int

    @classmethod
    def of(cls, document: dict | None) -> Rules:
        if not isinstance(document, (dict, type(None))):
            raise ApiError("the matching rules are an object", code="validation_error",
                           status=422, details={"rules": ["an object"]})
        merged = {**DEFAULT, **(document or {})}
        errors = _errors(merged, document or {})
        if errors:
            raise ApiError("the matching rules are invalid", code="validation_error",
                           status=422, details=errors)
        tol = merged["tolerance"]
        bp = int(Decimal(str(tol["percent"])) * 100) if tol["kind"] == "percent" else 0
        return cls(tuple(merged["keys"]), tol["kind"], tol.get("minor", 0), bp,
                   merged["write_off_limit_minor"], merged["date_window_days"])

    def as_dict(self) -> dict:
        tolerance = {"kind": "fixed", "minor": self.tolerance_minor} \
            if self.tolerance_kind == "fixed" else \
            {"kind": "percent", "percent": str(Decimal(self.tolerance_bp) / 100)}
        return {"keys": list(self.keys), "tolerance": tolerance,
                "write_off_limit_minor": self.write_off_limit_minor,
                "date_window_days": self.date_window_days}


def _whole(value, most: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= most


def _errors(merged: dict, given: dict) -> dict:
    errors = {}
    unknown = set(given) - set(DEFAULT)
    if unknown:
        errors["rules"] = [f"unknown field(s): {', '.join(sorted(map(str, unknown)))}"]
    keys = merged["keys"]
    if not (isinstance(keys, list) and keys and all(k in KEYS for k in keys)
            and len(set(keys)) == len(keys)):
        errors["keys"] = [f"a list of distinct keys, in priority, of {', '.join(KEYS)}"]
    tol = merged["tolerance"]
    if not isinstance(tol, dict) or tol.get("kind") not in ("fixed", "percent"):
        errors["tolerance"] = ['{"kind": "fixed", "minor": fen} or '
                               '{"kind": "percent", "percent": "0.5"}']
    elif tol["kind"] == "fixed" and (set(tol) != {"kind", "minor"}
                                     or not _whole(tol["minor"], MAX_MINOR)):
        errors["tolerance"] = ["a fixed tolerance is a whole number of fen, 0 or more"]
    elif tol["kind"] == "percent" and (set(tol) != {"kind", "percent"}
                                       or not _percent(tol["percent"])):
        errors["tolerance"] = ["a percentage from 0 to 100 with at most two decimals, "
                               'as text: "0.5"']
    if not _whole(merged["write_off_limit_minor"], MAX_MINOR):
        errors["write_off_limit_minor"] = ["a whole number of fen, 0 or more"]
    if not _whole(merged["date_window_days"], 90):
        errors["date_window_days"] = ["a whole number of days from 0 to 90"]
    return errors


def _percent(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return False
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return False
    return number.is_finite() and 0 <= number <= 100 and number == number.quantize(
        Decimal("0.01"))
