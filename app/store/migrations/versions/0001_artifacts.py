"""Artifacts: compiled workflows by digest.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("workflow_name", sa.String(64), nullable=False),
        sa.Column("dsl_sha256", sa.String(64), nullable=False),
        sa.Column("compiler", sa.JSON(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("component_sha256", sa.String(64), nullable=False),
        sa.Column("component_size", sa.BigInteger(), nullable=False),
        sa.Column("bundle", sa.JSON(), nullable=False),
        sa.Column("compile_seconds", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("digest", name="pk_artifacts"),
    )
    op.create_index("ix_artifacts_workflow_name", "artifacts", ["workflow_name"])
    op.create_table(
        "schema_info",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schema_info"),
    )


def downgrade() -> None:
    op.drop_table("schema_info")
    op.drop_index("ix_artifacts_workflow_name", table_name="artifacts")
    op.drop_table("artifacts")
