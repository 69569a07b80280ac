"""Every recorded Kuaishou fixture maps to its golden normalised JSON.

``UPDATE_GOLDEN=1`` rewrites the golden files; review the diff before committing."""
from __future__ import annotations

import json
import os

import pytest

from mappings.kuaishou import map_order, map_refund
from tests.mappings.kuaishou.helpers import cases, plain


@pytest.mark.parametrize("case", cases(), ids=lambda p: p.stem)
def test_fixture_maps_to_golden(case):
    payload = json.loads(case.read_text(encoding="utf-8"))
    values = map_order(payload) if case.stem.startswith("order_") else map_refund(payload)
    got = {"type": type(values).__name__, "values": plain(values)}
    golden = case.with_name(case.stem + ".golden.json")
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    assert golden.exists(), f"{golden.name} is missing (UPDATE_GOLDEN=1 writes it)"
    assert got == json.loads(golden.read_text(encoding="utf-8"))


def test_there_are_order_and_refund_fixtures():
    names = [c.stem for c in cases()]
    assert sum(n.startswith("order_") for n in names) >= 5
    assert sum(not n.startswith("order_") for n in names) >= 6
