"""Loading the Kuaishou code tables (data files beside this module), once per process.

Each table is ``<name>.json`` (or ``carriers.csv``). To extend one without editing the
shipped file, put ``<name>.local.json`` (or ``carriers.local.csv``) beside it: its entries
are merged over the shipped ones (JSON objects merge key by key, recursively; lists are
replaced; CSV rows are appended, a later row for the same code wins). Restart the
process to pick up a change. Values must stay within the hub's vocabularies
(``hub.models``); the tests check every shipped entry.
"""
from __future__ import annotations

import csv
import json
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@cache
def json_table(name: str) -> dict:
    table = json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))
    local = HERE / f"{name}.local.json"
    if local.exists():
        table = _merge(table, json.loads(local.read_text(encoding="utf-8")))
    table.pop("_doc", None)
    return table


@cache
def csv_rows(name: str) -> tuple[dict, ...]:
    rows: list[dict] = []
    for path in (HERE / f"{name}.csv", HERE / f"{name}.local.csv"):
        if path.exists():
            with path.open(encoding="utf-8", newline="") as f:
                rows += [dict(r) for r in csv.DictReader(
                    line for line in f if line.strip() and not line.startswith("#"))]
    return tuple(rows)
