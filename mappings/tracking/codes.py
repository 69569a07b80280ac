"""Provider status codes → the normalised vocabulary, from the data files beside this
module (``kuaidi100_states.json``, ``aftership_statuses.json``, ``track17_statuses.json``).

    kuaidi100(state="3", status_code="304")          # CodeMatch(status="delivered", ...)
    aftership("Exception", "Exception_011")          # returned
    track17("DeliveryFailure", "DeliveryFailure_Rejected")   # refused

Rules, the same for every provider:

* a known **sub-code beats its main code** (Kuaidi100 ``304`` over ``3``; AfterShip
  ``Exception_003`` over ``Exception``; 17TRACK ``Exception_Returned`` over ``Exception``),
  wherever the sub-code arrives — Kuaidi100 may put an advanced code straight into
  ``lastResult.state``;
* an unknown sub-code falls back to its known main code, and the match is flagged;
* a code in no table is ``unknown`` with the raw code kept and ``known=False`` — never
  an exception; the caller records a flag;
* no code at all answers ``None`` (the event carries no status information).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from mappings.tracking.vocabulary import UNKNOWN

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class CodeMatch:
    status: str                   # a vocabulary status ("unknown" when not in the table)
    raw: str                      # the provider code the status came from
    sub_status: str | None = None
    known: bool = True
    flags: tuple[str, ...] = field(default=())


@lru_cache(maxsize=None)
def table(name: str) -> dict:
    """A data file beside this module, parsed (cached; the files are read-only at run time)."""
    with open(HERE / name, encoding="utf-8") as f:
        return json.load(f)


def _clean(value) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


# -- Kuaidi100 --------------------------------------------------------------------------------
def kuaidi100_codes() -> dict[str, dict]:
    return table("kuaidi100_states.json")["codes"]


@lru_cache(maxsize=1)
def _kuaidi100_names() -> dict[str, str]:
    return {entry["name"]: code for code, entry in kuaidi100_codes().items()}


def kuaidi100(state=None, status_code=None, status_name=None) -> CodeMatch | None:
    """The status for one Kuaidi100 event: its own ``statusCode``, the parcel-level
    ``lastResult.state`` (pass it for the newest event only) and the state *name* in
    ``data[].status`` (used when no code is given, as with ``resultv2`` below 4)."""
    codes = kuaidi100_codes()
    given = [c for c in (_clean(status_code), _clean(state)) if c is not None]
    name = _clean(status_name)
    if not given and name is not None and name in _kuaidi100_names():
        given = [_kuaidi100_names()[name]]
    if not given:
        return None
    known = [c for c in given if c in codes]
    if not known:
        return CodeMatch(UNKNOWN, given[0], known=False,
                         flags=(f"unknown_status:kuaidi100:{given[0]}",))
    # a sub-code beats a main code; between equals the event's own code comes first
    best = next((c for c in known if codes[c]["level"] == "sub"), known[0])
    entry = codes[best]
    flags = tuple(f"unknown_status:kuaidi100:{c}" for c in given if c not in codes)
    return CodeMatch(entry["status"], best, entry.get("sub_status"), True, flags)


def kuaidi100_parent(code: str) -> str | None:
    entry = kuaidi100_codes().get(str(code))
    if entry is None:
        return None
    return entry.get("parent") or str(code)


# -- AfterShip --------------------------------------------------------------------------------
def aftership(tag=None, subtag=None) -> CodeMatch | None:
    data = table("aftership_statuses.json")
    tag, subtag = _clean(tag), _clean(subtag)
    if subtag is not None and subtag in data["subtags"]:
        entry = data["subtags"][subtag]
        return CodeMatch(entry["status"], subtag, entry.get("sub_status"))
    if tag is None and subtag is not None:   # an unknown subtag still names its tag
        tag = subtag.split("_", 1)[0]
    flags = (f"unknown_status:aftership:{subtag}",) if subtag is not None else ()
    if tag is not None and tag in data["tags"]:
        entry = data["tags"][tag]
        return CodeMatch(entry["status"], subtag or tag, entry.get("sub_status"), True, flags)
    raw = subtag or tag
    if raw is None:
        return None
    return CodeMatch(UNKNOWN, raw, known=False,
                     flags=flags or (f"unknown_status:aftership:{raw}",))


# -- 17TRACK ----------------------------------------------------------------------------------
def track17(status=None, sub_status=None, stage=None) -> CodeMatch | None:
    """A 17TRACK status: ``sub_status`` beats ``status``; an event's milestone ``stage``
    (``PickedUp``, ``Returning``...) is used when it carries no status of its own."""
    data = table("track17_statuses.json")
    status, sub_status, stage = _clean(status), _clean(sub_status), _clean(stage)
    if sub_status is not None and sub_status in data["sub_statuses"]:
        entry = data["sub_statuses"][sub_status]
        return CodeMatch(entry["status"], sub_status, entry.get("sub_status"))
    if status is None and sub_status is not None:
        status = sub_status.split("_", 1)[0]
    flags = (f"unknown_status:track17:{sub_status}",) if sub_status is not None else ()
    if status is not None and status in data["statuses"]:
        entry = data["statuses"][status]
        return CodeMatch(entry["status"], sub_status or status, entry.get("sub_status"), True,
                         flags)
    if stage is not None and stage in data["stages"]:
        entry = data["stages"][stage]
        return CodeMatch(entry["status"], stage, entry.get("sub_status"), True, flags)
    raw = sub_status or status or stage
    if raw is None:
        return None
    return CodeMatch(UNKNOWN, raw, known=False,
                     flags=flags or (f"unknown_status:track17:{raw}",))
