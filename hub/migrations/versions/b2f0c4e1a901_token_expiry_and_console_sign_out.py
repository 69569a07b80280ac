"""API token expiry, console sign-out

API tokens get ``expires_at`` (optional: a token without one works until revoked) and
``signed_out_at`` (console sessions signed in with the token before it are over).

Revision ID: b2f0c4e1a901
Revises: 8ec26889ea68
Create Date: 2026-12-04 12:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
import hub.core.db


revision = 'b2f0c4e1a901'
down_revision = '8ec26889ea68'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', hub.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('signed_out_at', hub.core.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('signed_out_at')
        batch_op.drop_column('expires_at')
