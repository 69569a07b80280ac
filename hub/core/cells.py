"""A spreadsheet cell a person opens: a text that starts like a formula (``=``, ``+``,
``-``, ``@``, a tab or a carriage return) is written with a leading apostrophe, so Excel
or WPS never runs what a buyer, supplier or merchant typed (CSV injection)."""
from __future__ import annotations

RISKY = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(RISKY) else text
