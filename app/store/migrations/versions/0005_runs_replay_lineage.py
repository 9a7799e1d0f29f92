"""runs: replay lineage (replay_of, replay_from_node)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replay_of", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("replay_from_node", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_runs_replay_of"), ["replay_of"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_replay_of"))
        batch_op.drop_column("replay_from_node")
        batch_op.drop_column("replay_of")
