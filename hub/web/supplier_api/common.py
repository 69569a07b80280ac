"""Plumbing shared by the supplier API views: the role, locking a row for an answer,
committing (a unique clash under a race is a 409, never a 500), and the fulfilment view."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hub.web.kit.endpoint import principal
from hub.web.kit.scope import get_visible
from hub.core.errors import Conflict
from hub.domain.fulfilment import dispatch_lines
from hub.models import Fulfilment, Shipment
from hub.web.context import hub, request_session

SUPPLIER = {"supplier"}
TAGS = ["supplier"]


def locked(model, row_id: int):
    """The caller's row, or 404; row-locked on PostgreSQL so concurrent answers to the
    same record queue (SQLite write transactions are already serial)."""
    session = request_session()
    row = get_visible(session, model, row_id, principal())
    session.refresh(row, with_for_update=True)
    return row


def commit() -> None:
    session = request_session()
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict("the record changed at the same time; read it again and retry") from None


def var_dir():
    return hub().settings.var_dir


class FulfilmentView:
    """A fulfilment with what a supplier needs beside it: the lines to ship (with its own
    SKU) and the outbound parcel once there is one."""

    def __init__(self, fulfilment: Fulfilment):
        session = request_session()
        self._f = fulfilment
        self.view_lines = dispatch_lines(session, fulfilment)
        self.view_shipment = session.scalar(
            select(Shipment).where(Shipment.fulfilment_id == fulfilment.id,
                                   Shipment.direction == "outbound")
            .order_by(Shipment.id.desc()).limit(1))

    def __getattr__(self, name):
        return getattr(self._f, name)
