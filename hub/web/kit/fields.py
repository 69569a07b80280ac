"""The field types both APIs' schemas are made of: strict integers, money, ids the
caller gives, times, and a supplier's contract terms."""
from __future__ import annotations

import math
from datetime import timezone

from marshmallow import ValidationError, fields, validate

from hub.core.db import MAX_ID, MAX_INT
from hub.domain.policy import liability


class Integer(fields.Integer):
    """An integer: ``12``, ``12.0`` or ``"12"``; a fraction (``1299.99``) is invalid, never
    truncated."""

    def _validated(self, value):
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        return super()._validated(value)


Id = Integer
Time = fields.AwareDateTime


def Money(metadata=None, **kw):  # noqa: N802 (reads as a field type)
    return Integer(metadata={"description": "integer minor units (fen)", **(metadata or {})},
                   **kw)


def RefId(**kw):  # noqa: N802 (reads as a field type)
    """An id the caller gives (in a body or a query): a positive 64-bit integer."""
    return Integer(validate=validate.Range(1, MAX_ID), **kw)


class UtcTime(fields.AwareDateTime):
    """A time the caller gives: ISO 8601 with an offset, loaded as UTC."""

    def _deserialize(self, value, attr, data, **kwargs):
        when = super()._deserialize(value, attr, data, **kwargs)
        try:
            return when.astimezone(timezone.utc)
        except OverflowError:  # e.g. 9999-12-31T23:30-01:00 is past the year 9999 in UTC
            raise ValidationError("not a representable time once converted to UTC") from None


class ContractTerms(fields.Dict):
    """A supplier's ``contract_terms``: free keys, but ``stop_ship_sla_hours`` is a number of
    hours in (0, 720], ``receives_returns`` a boolean, ``liability`` the supplier's
    liability terms (``hub.domain.policy.liability``), and every number anywhere in them
    finite and within 64 bits (errors are keyed by the term)."""

    def _deserialize(self, value, attr, data, **kwargs):
        terms = super()._deserialize(value, attr, data, **kwargs)
        errors = {}
        sla = terms.get("stop_ship_sla_hours")
        if "stop_ship_sla_hours" in terms and (
                not _is_number(sla) or not 0 < sla <= STOP_SHIP_SLA_MAX_HOURS):
            errors["stop_ship_sla_hours"] = [
                f"must be a number of hours above 0 and at most {STOP_SHIP_SLA_MAX_HOURS}"]
        if "receives_returns" in terms and not isinstance(terms["receives_returns"], bool):
            errors["receives_returns"] = ["must be true or false"]
        if "liability" in terms:  # the supplier's own liability terms (hub.domain.policy)
            try:
                terms["liability"] = liability.validated(terms["liability"])
            except ValidationError as e:
                errors["liability"] = e.messages
        for key, item in terms.items():
            if key not in errors and not _numbers_sane(item):
                errors[key] = [f"numbers must be finite and within ±{MAX_ID}"]
        if errors:
            raise ValidationError(errors)
        return terms


STOP_SHIP_SLA_MAX_HOURS = 24 * 30  # as sla_hours (hub.domain.fulfilment.stopship reads it)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _numbers_sane(value) -> bool:
    """Every number in a JSON value finite and within 64 bits (walked without recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, (int, float)) and not isinstance(item, bool) and not (
                math.isfinite(item) and -MAX_INT <= item <= MAX_INT):
            return False
    return True
