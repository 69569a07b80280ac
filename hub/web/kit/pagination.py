"""Keyset (cursor) pagination, newest first.

A cursor is opaque to clients: URL-safe Base64 of ``{"before": <id>}``. Keyset paging
stays fast on large tables and never skips or repeats rows when new ones arrive between
pages. A cursor that does not decode is a 400, never a 500.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from marshmallow import Schema, fields, validate
from sqlalchemy import Select
from sqlalchemy.orm import Session

from connectors import bounded_json
from hub.core.db import MAX_ID
from hub.core.errors import ApiError

MAX_LIMIT = 200


class PageArgs(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_LIMIT),
                           metadata={"description": f"rows per page, 1 to {MAX_LIMIT}"})
    cursor = fields.String(load_default=None,
                           metadata={"description": "next_cursor from the previous page"})


@dataclass
class Page:
    items: list
    next_cursor: str | None


def encode_cursor(before_id: int) -> str:
    raw = json.dumps({"before": before_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = bounded_json.loads(base64.urlsafe_b64decode(padded.encode()))
        before = data["before"]
        if not isinstance(before, int) or isinstance(before, bool) or not 0 < before <= MAX_ID:
            raise ValueError
        return before
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError("the pagination cursor is not valid; start again without it",
                       code="invalid_cursor", details={"cursor": ["not a cursor"]}) from None


def paginate(session: Session, stmt: Select, id_column, args: dict) -> Page:
    if args.get("cursor"):
        stmt = stmt.where(id_column < decode_cursor(args["cursor"]))
    limit = args["limit"]
    rows = list(session.scalars(stmt.order_by(id_column.desc()).limit(limit + 1)).unique())
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor(rows[-1].id) if more and rows else None)
