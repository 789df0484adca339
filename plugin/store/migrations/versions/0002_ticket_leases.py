"""Several workers: deliveries know their ticket and how far they got; leases.

Revision ID: 0002
Revises: 0001
"""

import json

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ticket_key', sa.String(length=130), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('progress', sa.Integer(), nullable=False, server_default='0'))
    # Waiting deliveries need their ticket to be picked up; finished ones keep ''.
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, source, events FROM deliveries WHERE state = 'pending'")).all()
    for pk, source, events in rows:
        first = json.loads(events)[:1]
        key = f"{source}:{first[0]['ticket_id'] if first else ''}"
        conn.execute(sa.text("UPDATE deliveries SET ticket_key = :key WHERE id = :pk"), {"key": key, "pk": pk})
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.alter_column('ticket_key', server_default=None)
        batch_op.alter_column('progress', server_default=None)
        batch_op.create_index(batch_op.f('ix_deliveries_ticket_key'), ['ticket_key'], unique=False)
    op.create_table('leases',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('leases')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_ticket_key'))
        batch_op.drop_column('progress')
        batch_op.drop_column('ticket_key')
