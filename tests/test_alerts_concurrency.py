"""One open alert per subject, even when two transactions raise it at once: a partial
unique index enforces it and ``raise_alert`` refreshes the alert the other one opened
(issue 10, item 10). Real concurrent transactions on PostgreSQL; on SQLite writers are
serialised by the database, so the same race cannot start there."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from hub.models import Alert, alerts
from tests import factories as f
from tests.race import race


def open_alerts(database, merchant_id):
    with database.session(readonly=True) as s:
        return list(s.scalars(select(Alert).where(Alert.merchant_id == merchant_id,
                                                  Alert.resolved_at.is_(None))))


def test_two_transactions_raising_the_same_alert_leave_one_open(database):
    if not database.is_postgres:
        pytest.skip("a race of concurrent writers needs PostgreSQL")
    with database.session() as s:
        merchant_id = f.merchant(s).id

    def second():
        with database.session() as s:
            alerts.raise_alert(s, merchant_id, "parcel_problem", "shipment", 7, "second")

    race(database, lambda s: alerts.raise_alert(s, merchant_id, "parcel_problem", "shipment",
                                                 7, "first"), second)
    [alert] = open_alerts(database, merchant_id)
    assert alert.message == "second"         # the later raise refreshed it


def test_a_resolved_alert_can_open_again(database):
    with database.session() as s:
        merchant_id = f.merchant(s).id
        alerts.raise_alert(s, merchant_id, "parcel_problem", "shipment", 7, "once")
        alerts.resolve(s, merchant_id, "parcel_problem", "shipment", 7, why="moved on")
        alerts.raise_alert(s, merchant_id, "parcel_problem", "shipment", 7, "again")
    [alert] = open_alerts(database, merchant_id)
    assert alert.message == "again"
