"""runs: key_base (idempotency keys shared by the attempts of a child run) and active_seconds (time limit)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_base", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("active_seconds", sa.Float(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("active_seconds")
        batch_op.drop_column("key_base")
