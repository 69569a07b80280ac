"""resubscribe_after column, one open alert per subject

Outbox messages get an index for delivering them in order per entity. Shipments get
``resubscribe_after`` (filtered in SQL; it was a ``resubscribe_after:<time>``
flag, moved here). Alerts get a partial unique index: one open alert per (merchant, kind,
entity, entity_id); duplicates already open are resolved first, keeping the newest.

Revision ID: 8ec26889ea68
Revises: c1211beb3d57
Create Date: 2026-12-04 11:51:18.116077
"""
from alembic import op
import sqlalchemy as sa
import hub.core.db


revision = '8ec26889ea68'
down_revision = 'c1211beb3d57'
branch_labels = None
depends_on = None


FLAG = "resubscribe_after:"


def upgrade() -> None:
    op.execute("UPDATE alerts SET resolved_at = CURRENT_TIMESTAMP WHERE resolved_at IS NULL "
               "AND id NOT IN (SELECT keep FROM (SELECT max(id) AS keep FROM alerts "
               "WHERE resolved_at IS NULL GROUP BY merchant_id, kind, entity, entity_id) k)")
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index('uq_alerts_open_subject', ['merchant_id', 'kind', 'entity', 'entity_id'], unique=True, postgresql_where=sa.text('resolved_at IS NULL'), sqlite_where=sa.text('resolved_at IS NULL'))

    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resubscribe_after', hub.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_shipments_resubscribe_after'), ['resubscribe_after'], unique=False)
    _move_flags()
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_messages_order', ['account_id', 'entity', 'entity_id', 'status'], unique=False)


def _move_flags() -> None:
    from datetime import datetime

    shipments = sa.table("shipments", sa.column("id", sa.BigInteger), sa.column("flags", sa.JSON),
                         sa.column("resubscribe_after", hub.core.db.UTCDateTime(timezone=True)))
    conn = op.get_bind()
    flagged = sa.cast(shipments.c.flags, sa.Text).like(f"%{FLAG}%")
    for row in conn.execute(sa.select(shipments.c.id, shipments.c.flags).where(flagged)).all():
        flags = list(row.flags or [])
        due = [f for f in flags if isinstance(f, str) and f.startswith(FLAG)]
        if not due:
            continue
        try:
            when = datetime.fromisoformat(due[0][len(FLAG):])
        except ValueError:
            when = None
        conn.execute(shipments.update().where(shipments.c.id == row.id).values(
            resubscribe_after=when, flags=[f for f in flags if f not in due]))


def downgrade() -> None:
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_messages_order')

    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipments_resubscribe_after'))
        batch_op.drop_column('resubscribe_after')

    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('uq_alerts_open_subject', postgresql_where=sa.text('resolved_at IS NULL'), sqlite_where=sa.text('resolved_at IS NULL'))

