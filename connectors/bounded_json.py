"""Parsing JSON from outside the hub with a bound on nesting.

``json.loads`` recurses once per level: a body of a few kilobytes of ``[`` ends in a
``RecursionError`` (and whatever walks the result recurses as deep). ``loads`` refuses
anything nested deeper than ``MAX_DEPTH`` before parsing, with a ``json.JSONDecodeError``
(a ``ValueError``), so every caller's "not JSON" path handles it. Every parse of an
outside body goes through it: webhook verification here, the API's request bodies in
the hub (``hub.web``).
"""
from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 64
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_BRACKETS = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def too_deep(text: str, max_depth: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects nest deeper than ``max_depth`` in ``text`` (brackets
    inside strings do not count)."""
    if text.count("[") + text.count("{") <= max_depth:
        return False  # the count bounds the depth, and is cheap
    steps = [_BRACKETS[c] for c in map(ord, _STRING.sub("", text)) if c in _BRACKETS]
    return max(accumulate(steps), default=0) > max_depth


def loads(data: bytes | bytearray | str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads``, refusing input nested deeper than ``max_depth``."""
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data).decode(json.detect_encoding(data), "surrogatepass")
    elif not isinstance(data, str):
        raise TypeError(f"JSON must be str or bytes, not {type(data).__name__}")
    if too_deep(data, max_depth):
        raise json.JSONDecodeError(f"nested deeper than {max_depth} levels", data, 0)
    try:
        return json.loads(data)
    except RecursionError:  # a bound lower than the caller's stack allows
        raise json.JSONDecodeError("nested too deeply", data, 0) from None
