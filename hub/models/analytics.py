"""Analytics rollups: per merchant, per day in the merchant's time zone, the sums the
analytics pages read (``hub.domain.analytics``), rebuilt a day at a time from the orders,
returns, fulfilments and claims by the ``analytics_rollup`` job, so a page over a year
reads thousands of rows, not millions.

* ``SalesDay``: orders and units sold, by shop, supplier (none: the merchant's own
  stock) and SKU, on the day the order was placed.
* ``ReturnDay``: returns and units returned, by shop, supplier, SKU and reason, on the day
  the return was requested.
* ``RegionDay``: orders and returns by shop, supplier and province (``""``: unknown); an
  order split between two suppliers counts once for each.
* ``SupplierDay``: a supplier's scorecard sums: dispatches and the seconds to ship them,
  stop-ship requests, answers, stops and the seconds to answer, returns of its goods
  inspected, damaged and the seconds from request to inspection, claims sent and answered.
* ``RollupMark``: how far a merchant's rollups are built (``rolled_to``), leased by the job.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.db import Base
from hub.models.common import Id, Tenant, fk
from hub.models.pipeline import Leased


# a SupplierDay's sums
SCORES = ("dispatched", "shipped", "ship_seconds", "stops_asked", "stops_answered",
          "stops_made", "stop_answer_seconds", "inspected", "damaged", "handling_seconds",
          "claims_sent", "claims_answered", "claims_accepted")


class _Day(Tenant):
    __preassigned_ids__ = False  # written by Core statements (hub.core.ids)
    id: Mapped[Id]
    day: Mapped[date] = mapped_column(Date)


class SalesDay(_Day, Base):
    __tablename__ = "sales_days"
    __table_args__ = (Index("ix_sales_days_day", "merchant_id", "day"),)

    shop_account_id: Mapped[int] = fk("accounts.id", index=False)
    supplier_id: Mapped[int | None] = fk("suppliers.id", nullable=True, index=False)
    sku: Mapped[str] = mapped_column(String(128))
    orders: Mapped[int]
    units: Mapped[int]


class ReturnDay(_Day, Base):
    __tablename__ = "return_days"
    __table_args__ = (Index("ix_return_days_day", "merchant_id", "day"),)

    shop_account_id: Mapped[int] = fk("accounts.id", index=False)
    supplier_id: Mapped[int | None] = fk("suppliers.id", nullable=True, index=False)
    sku: Mapped[str] = mapped_column(String(128))
    reason_code: Mapped[str] = mapped_column(String(128))
    returns: Mapped[int]
    units: Mapped[int]


class RegionDay(_Day, Base):
    __tablename__ = "region_days"
    __table_args__ = (Index("ix_region_days_day", "merchant_id", "day"),)

    shop_account_id: Mapped[int] = fk("accounts.id", index=False)
    supplier_id: Mapped[int | None] = fk("suppliers.id", nullable=True, index=False)
    province_code: Mapped[str] = mapped_column(String(16))
    orders: Mapped[int]
    returns: Mapped[int]


class SupplierDay(_Day, Base):
    __tablename__ = "supplier_days"
    __table_args__ = (Index("ix_supplier_days_day", "merchant_id", "day"),)

    supplier_id: Mapped[int] = fk("suppliers.id", index=False)
    dispatched: Mapped[int]
    shipped: Mapped[int]
    ship_seconds: Mapped[int] = mapped_column(BigInteger)
    stops_asked: Mapped[int]
    stops_answered: Mapped[int]
    stops_made: Mapped[int]
    stop_answer_seconds: Mapped[int] = mapped_column(BigInteger)
    inspected: Mapped[int]
    damaged: Mapped[int]
    handling_seconds: Mapped[int] = mapped_column(BigInteger)
    claims_sent: Mapped[int]
    claims_answered: Mapped[int]
    claims_accepted: Mapped[int]


class RollupMark(Tenant, Leased, Base):
    __tablename__ = "rollup_marks"
    __preassigned_ids__ = False
    __table_args__ = (UniqueConstraint("merchant_id"),)

    id: Mapped[Id]
    rolled_to: Mapped[datetime | None]  # rows changed before it are in the rollups
    refreshed_at: Mapped[datetime | None]
