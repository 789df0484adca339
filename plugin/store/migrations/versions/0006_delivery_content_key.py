"""Deliveries remember a hash of the signed body: the same body posted again under a new
(unsigned) delivery id is a replay and is not stored or decided again (issue 11).

Revision ID: 0006
Revises: 0005
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_key', sa.String(length=80), nullable=True))
        batch_op.create_unique_constraint('uq_delivery_content', ['source', 'content_key'])


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint('uq_delivery_content', type_='unique')
        batch_op.drop_column('content_key')
