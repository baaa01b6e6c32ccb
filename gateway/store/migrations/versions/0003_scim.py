"""SCIM resources, their change log for the identity applier, and its leases

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 22:32:14.483632
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "scim_applier_leases",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "scim_changes",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("scim_changes", schema=None) as batch_op:
        batch_op.create_index("ix_scim_changes_tenant", ["tenant_id", "seq"], unique=False)

    op.create_table(
        "scim_groups",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("display_name_key", sa.String(length=256), nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=True),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("scim_groups", schema=None) as batch_op:
        batch_op.create_index("ix_scim_groups_external", ["tenant_id", "external_id"], unique=False)
        batch_op.create_index("ix_scim_groups_tenant", ["tenant_id", "seq"], unique=False)
        batch_op.create_index("ux_scim_groups_id", ["id"], unique=True)
        batch_op.create_index("ux_scim_groups_name", ["tenant_id", "display_name_key"], unique=True)

    op.create_table(
        "scim_users",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("user_name", sa.String(length=320), nullable=False),
        sa.Column("user_name_key", sa.String(length=320), nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=True),
        sa.Column("display_name", sa.String(length=256), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("scim_users", schema=None) as batch_op:
        batch_op.create_index("ix_scim_users_external", ["tenant_id", "external_id"], unique=False)
        batch_op.create_index("ix_scim_users_tenant", ["tenant_id", "seq"], unique=False)
        batch_op.create_index("ux_scim_users_id", ["id"], unique=True)
        batch_op.create_index(
            "ux_scim_users_user_name", ["tenant_id", "user_name_key"], unique=True
        )

    op.create_table(
        "scim_group_members",
        sa.Column(
            "group_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["group_seq"], ["scim_groups.seq"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_seq"], ["scim_users.seq"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_seq", "user_seq"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("scim_group_members", schema=None) as batch_op:
        batch_op.create_index("ix_scim_group_members_user", ["user_seq", "group_seq"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("scim_group_members", schema=None) as batch_op:
        batch_op.drop_index("ix_scim_group_members_user")

    op.drop_table("scim_group_members")
    with op.batch_alter_table("scim_users", schema=None) as batch_op:
        batch_op.drop_index("ux_scim_users_user_name")
        batch_op.drop_index("ux_scim_users_id")
        batch_op.drop_index("ix_scim_users_tenant")
        batch_op.drop_index("ix_scim_users_external")

    op.drop_table("scim_users")
    with op.batch_alter_table("scim_groups", schema=None) as batch_op:
        batch_op.drop_index("ux_scim_groups_name")
        batch_op.drop_index("ux_scim_groups_id")
        batch_op.drop_index("ix_scim_groups_tenant")
        batch_op.drop_index("ix_scim_groups_external")

    op.drop_table("scim_groups")
    with op.batch_alter_table("scim_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_scim_changes_tenant")

    op.drop_table("scim_changes")
    op.drop_table("scim_applier_leases")
