"""The console's catalogues (issue 15): every string a page shows is in the Chinese
catalogue, translated, with its placeholders; the compiled ``.mo`` is the ``.po``'s
(``make translations`` keeps them so)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
ZH = ROOT / "hub/web/translations/zh/LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> dict:
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "-F",
                    "babel.cfg", "-k", "_l", "-o", str(pot), "--no-location", "."],
                   cwd=ROOT, check=True)
    with pot.open("rb") as f:
        return {m.id: m for m in read_po(f) if m.id}


@pytest.fixture(scope="module")
def chinese():
    with (ZH / "messages.po").open("rb") as f:
        return read_po(f)


def test_every_string_of_the_console_is_translated_to_chinese(extracted, chinese):
    missing = [i for i in extracted if i not in chinese or not chinese[i].string]
    assert missing == [], "run `make translations` and translate these"
    fuzzy = [m.id for m in chinese if m.id and m.fuzzy]
    assert fuzzy == []


def test_translations_keep_their_placeholders(chinese):
    for message in chinese:
        if message.id and message.string:
            assert set(PLACEHOLDER.findall(message.id)) == \
                set(PLACEHOLDER.findall(message.string)), message.id


def test_the_compiled_catalogue_is_the_translated_one(chinese):
    with (ZH / "messages.mo").open("rb") as f:
        compiled = read_mo(f)
    assert {m.id: m.string for m in compiled if m.id} == \
        {m.id: m.string for m in chinese if m.id and m.string}
