"""webhook_results counts requests per hour, source and result instead of holding a row per
request: a flood of refused requests no longer grows the database (issue 11).

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_results', schema=None) as batch_op:
        batch_op.add_column(sa.Column('count', sa.Integer(), nullable=False, server_default='1'))


def downgrade() -> None:
    with op.batch_alter_table('webhook_results', schema=None) as batch_op:
        batch_op.drop_column('count')
