"""workspaces and memberships; workflows, secrets and API tokens belong to a workspace; who deployed; the
sign-in throttle shared by the server processes (issue 13)

Everything that exists moves into the workspace ``default``, and every user becomes a member of it with the
role they had.

Revision ID: 0008
Revises: 0007
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    workspaces = op.create_table(
        "workspaces",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_workspaces")),
    )
    op.bulk_insert(workspaces, [{"name": "default", "title": "Default", "created_at": datetime.now(UTC)}])
    op.create_table(
        "memberships",
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "user_id", name=op.f("pk_memberships")),
    )
    op.create_index(op.f("ix_memberships_user_id"), "memberships", ["user_id"], unique=False)
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failures")),
    )
    op.create_index(op.f("ix_sign_in_failures_key_hash"), "sign_in_failures", ["key_hash"], unique=False)
    op.execute(
        "INSERT INTO memberships (workspace, user_id, role, created_at) SELECT 'default', id, role, created_at FROM users"
    )
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("workspace", sa.String(length=64), nullable=False, server_default="default"))
        batch_op.create_index(batch_op.f("ix_workflows_workspace"), ["workspace"], unique=False)
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("workspace", sa.String(length=64), nullable=False, server_default="default"))
    with op.batch_alter_table("workflow_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by", sa.String(length=254), nullable=True))
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deployed_by", sa.String(length=254), nullable=True))
    with op.batch_alter_table("secrets", schema=None, recreate="always") as batch_op:
        batch_op.add_column(sa.Column("workspace", sa.String(length=64), nullable=False, server_default="default"))
        batch_op.add_column(sa.Column("workflows", sa.JSON(), nullable=True))
        batch_op.drop_constraint("pk_secrets", type_="primary")
        batch_op.create_primary_key("pk_secrets", ["workspace", "name"])


def downgrade() -> None:
    with op.batch_alter_table("secrets", schema=None, recreate="always") as batch_op:
        batch_op.drop_constraint("pk_secrets", type_="primary")
        batch_op.drop_column("workflows")
        batch_op.drop_column("workspace")
        batch_op.create_primary_key("pk_secrets", ["name"])
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("deployed_by")
    with op.batch_alter_table("workflow_versions", schema=None) as batch_op:
        batch_op.drop_column("created_by")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("workspace")
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflows_workspace"))
        batch_op.drop_column("workspace")
    op.drop_index(op.f("ix_sign_in_failures_key_hash"), table_name="sign_in_failures")
    op.drop_table("sign_in_failures")
    op.drop_index(op.f("ix_memberships_user_id"), table_name="memberships")
    op.drop_table("memberships")
    op.drop_table("workspaces")
