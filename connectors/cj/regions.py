"""The buyer's province, city and county *names* for CJ's createOrderV2 (CJ takes names;
the hub holds the platform's region codes and the masked address text).

* province: the name of the code's first two digits in ``mappings/cn_regions.json``
  (every province-level region; without a code, the one the masked address starts with);
* city and county: read from the masked address after the province name — platforms
  mask the street, not the regions ("浙江省杭州市西湖区****"; the text from the first
  ``*`` on is never read): the city ends in 市, 自治州,
  地区 or 盟 (a municipality's city is the municipality itself), the county in 区, 县,
  市 or 旗.

``names(buyer)`` returns ``({"province", "city", "county"}, flags)``: a name that cannot
be worked out is ``""`` with a flag ``cj_region_unnamed:<field>=<code>`` — a code is never
sent where a name is expected.
"""
from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources

CITY = re.compile(r"^(.+?(?:自治州|地区|盟|市))")
COUNTY = re.compile(r"^(.+?(?:区|县|市|旗))")
PLACEHOLDERS = ("市辖区", "县")  # a municipality's "city" in some address texts


@cache
def _table() -> tuple[dict, frozenset]:
    data = json.loads(resources.files("mappings").joinpath("cn_regions.json").read_text("utf-8"))
    return data["provinces"], frozenset(data["municipalities"])


def _province(code: str | None, address: str) -> tuple[str | None, str | None]:
    """``(prefix, full name)`` of the province, or Nones."""
    provinces, _ = _table()
    if code:
        known = provinces.get(code[:2]) if len(code) >= 2 and code[:2].isdigit() else None
        return (code[:2], known[0]) if known else (None, None)
    for prefix, (full, short) in provinces.items():
        if address.startswith(short):
            return prefix, full
    return None, None


def _rest(address: str, *names: str) -> str | None:
    """The address after the first of ``names`` it starts with, or None."""
    for name in sorted(names, key=len, reverse=True):
        if address.startswith(name):
            return address[len(name):]
    return None


def names(buyer: dict) -> tuple[dict, list[str]]:
    address = re.sub(r"\s+", "", buyer.get("address_masked") or "").split("*")[0]
    prefix, province = _province(buyer.get("province_code"), address)
    city = county = None
    if province:
        full, short = _table()[0][prefix]
        rest = _rest(address, full, short)
        if rest is not None and prefix in _table()[1]:
            city, again = full, _rest(rest, full, short, *PLACEHOLDERS)
            rest = rest if again is None else again
        elif rest is not None and (found := CITY.match(rest)):
            city, rest = found.group(1), rest[found.end():]
        if city and rest and (found := COUNTY.match(rest)):
            county = found.group(1)
    found = {"province": province, "city": city, "county": county}
    codes = {"province": buyer.get("province_code"), "city": buyer.get("city_code"),
             "county": buyer.get("district_code")}
    flags = [f"cj_region_unnamed:{field}={codes[field] or ''}"
             for field, name in found.items() if not name]
    return {field: name or "" for field, name in found.items()}, flags
