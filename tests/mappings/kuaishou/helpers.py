"""Fixture loading and JSON-ready normalised values for the Kuaishou mapping tests."""
from __future__ import annotations

import json
from pathlib import Path

from tests.connector_suite import plain  # noqa: F401 (re-exported for the tests)

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def cases() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("*.json") if not p.name.endswith(".golden.json"))
