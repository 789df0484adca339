"""Embedding vectors of knowledge entries, cached by content hash; embedding calls counted.

Revision ID: 0007
Revises: 0006
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('entry_vectors',
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('content_hash')
    )
    op.create_table('embedding_calls',
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('model', 'outcome')
    )


def downgrade() -> None:
    op.drop_table('embedding_calls')
    op.drop_table('entry_vectors')
